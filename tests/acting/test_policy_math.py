"""The actors' distributions and the acting policy: scales, floors, mode, exploration.

The actor's last layer is set to known biases (zero kernel), so its
distribution's parameters and the policy's actions are known in closed form.
"""

import numpy as np
import tensorflow as tf
from support.fixed_noise import assign_fixed_weights, fixed_normal_noise, shape_noise
from support.tiny import pixel_spaces, tiny_config

from dreamer_tf.agent import Dreamer
from dreamer_tf.layers import OneHotActor, TanhNormalActor

ENVS = 512


def softplus(x):
    return np.log1p(np.exp(x))


def set_output_bias(actor, bias) -> None:
    kernel, output_bias = actor.output_layer.weights
    kernel.assign(tf.zeros_like(kernel))
    output_bias.assign(np.asarray(bias, np.float32))


def squashed_mode(raw_mean, mean_scale=5.0):
    return np.tanh(mean_scale * np.tanh(np.asarray(raw_mean) / mean_scale))


class TanhNormalActorTest(tf.test.TestCase):
    def _normal(self, bias, **kwargs):
        actor = TanhNormalActor(2, num_layers=1, units=8, **kwargs)
        actor(tf.zeros([3, 5]))
        set_output_bias(actor, bias)
        distribution = actor(tf.zeros([3, 5]))
        # SampleDist -> Independent -> TransformedDistribution -> Normal.
        return distribution, distribution.distribution.distribution.distribution

    def test_mean_scale_squashes_the_mean_and_std_starts_at_init_std(self):
        _, normal = self._normal([20.0, -1.0, 0.0, 0.0], init_std=2.0, mean_scale=3.0)
        self.assertAllClose(normal.loc[0], 3.0 * np.tanh(np.array([20.0, -1.0]) / 3.0))
        self.assertAllClose(normal.scale[0], [2.0 + 1e-4] * 2, rtol=1e-6)

    def test_std_is_softplus_shifted_and_floored(self):
        _, normal = self._normal([0.0, 0.0, 1.5, -1e4], min_std=0.01)
        shift = np.log(np.expm1(5.0))
        self.assertAllClose(normal.scale[0], [softplus(1.5 + shift) + 0.01, 0.01])

    def test_mode_is_the_most_likely_of_the_samples(self):
        distribution, normal = self._normal(
            [0.3, -0.2, -0.5, 0.5], init_std=0.5, num_samples=50
        )
        with fixed_normal_noise():
            mode = distribution.mode().numpy()
        loc, scale = normal.loc.numpy(), normal.scale.numpy()
        noise = shape_noise([50, 3, 2]).numpy()
        pre_tanh = loc + scale * noise
        samples = np.tanh(pre_tanh)
        log_prob = np.sum(
            -0.5 * noise**2 - np.log(scale) - np.log(1 - samples**2 + 1e-12), -1
        )
        best = samples[np.argmax(log_prob, 0), np.arange(3)]
        self.assertAllClose(mode, best, atol=1e-5)


class OneHotActorTest(tf.test.TestCase):
    def test_logits_come_from_the_output_layer(self):
        actor = OneHotActor(3, num_layers=1, units=8)
        actor(tf.zeros([2, 5]))
        set_output_bias(actor, [0.5, 2.0, -1.0])
        distribution = actor(tf.zeros([2, 5]))
        self.assertAllClose(distribution.logits[0], [0.5, 2.0, -1.0])
        self.assertAllEqual(distribution.mode(), [[0, 1, 0]] * 2)


class PolicyTest(tf.test.TestCase):
    """``Dreamer.policy`` on identical observations of many environments."""

    raw_mean = (0.5, -0.5)

    def _agent(self, raw_std=-1e4, **changes):
        agent = Dreamer(tiny_config(**changes), *pixel_spaces())
        assign_fixed_weights(agent.model_variables, seed=0)
        set_output_bias(agent.actor_critic.actor, [*self.raw_mean, raw_std, raw_std])
        return agent

    def _actions(self, agent, training, state=None, is_first=None):
        observation = {"image": np.zeros((ENVS, 64, 64, 3), np.uint8)}
        if is_first is not None:
            observation["is_first"] = np.full(ENVS, is_first)
        with fixed_normal_noise():
            action, state = agent.policy(observation, state, training=training)
        return action.numpy(), state

    def test_evaluation_takes_the_mode_without_noise(self):
        action, _ = self._actions(self._agent(), training=False)
        expected = squashed_mode(self.raw_mean)
        self.assertAllClose(action, np.broadcast_to(expected, action.shape), atol=1e-3)

    def test_evaluation_noise(self):
        action, _ = self._actions(self._agent(eval_noise=0.2), training=False)
        deviation = action - squashed_mode(self.raw_mean)
        self.assertAllInRange(np.std(deviation, 0), 0.15, 0.25)

    def test_training_adds_gaussian_noise_of_expl_amount(self):
        agent = self._agent(expl_amount=0.3)
        action, _ = self._actions(agent, training=True)
        deviation = action - squashed_mode(self.raw_mean)
        self.assertAllInRange(np.std(deviation, 0), 0.25, 0.35)
        self.assertAllInRange(action, -1.0, 1.0)

    def test_training_action_is_a_sample_or_the_mode(self):
        sampled, _ = self._actions(
            self._agent(raw_std=0.0, expl_amount=0.0), training=True
        )
        self.assertGreater(float(np.std(sampled[:, 0])), 0.3)
        agent = self._agent(raw_std=0.0, expl_amount=0.0, train_action="mode")
        mode, _ = self._actions(agent, training=True)
        evaluated, _ = self._actions(agent, training=False)
        self.assertAllClose(mode, evaluated)

    def test_epsilon_greedy_replaces_a_fraction_of_actions(self):
        agent = self._agent(exploration="epsilon_greedy", expl_amount=0.5)
        action, _ = self._actions(agent, training=True)
        changed = np.any(np.abs(action - squashed_mode(self.raw_mean)) > 1e-2, -1)
        self.assertBetween(float(np.mean(changed)), 0.4, 0.6)

    def test_completely_random_is_uniform(self):
        agent = self._agent(exploration="completely_random")
        action, _ = self._actions(agent, training=True)
        self.assertAllInRange(action, -1.0, 1.0)
        self.assertAllClose(np.std(action, 0), [np.sqrt(1 / 3)] * 2, atol=0.05)

    def test_exploration_amount_decays_with_frames_to_a_floor(self):
        agent = self._agent(expl_amount=0.4, expl_decay=500.0, expl_min=0.05)
        agent.frames.assign(1000)
        self.assertAllClose(agent.exploration_amount(tf.constant(True)), 0.1)
        agent.frames.assign(5000)
        self.assertAllClose(agent.exploration_amount(tf.constant(True)), 0.05)
        self.assertAllClose(agent.exploration_amount(tf.constant(False)), 0.0)

    def test_episode_start_resets_the_state(self):
        agent = self._agent()
        _, fresh = self._actions(agent, training=False, state=None)
        rng = np.random.default_rng(0)
        latent, previous_action = fresh
        stale = (
            {
                key: tf.constant(rng.normal(size=value.shape), tf.float32)
                for key, value in latent.items()
            },
            tf.constant(rng.uniform(-1, 1, previous_action.shape), tf.float32),
        )
        _, reset = self._actions(agent, training=False, state=stale, is_first=True)
        _, carried = self._actions(agent, training=False, state=stale, is_first=False)
        self.assertAllClose(reset[0]["deter"], fresh[0]["deter"], atol=1e-6)
        self.assertNotAllClose(carried[0]["deter"], fresh[0]["deter"], atol=1e-3)

    def test_a_nan_state_ends_with_its_episode(self):
        agent = self._agent()
        _, fresh = self._actions(agent, training=False, state=None)
        latent, previous_action = fresh
        poisoned = (
            {key: tf.fill(value.shape, np.nan) for key, value in latent.items()},
            tf.fill(previous_action.shape, np.nan),
        )
        action, reset = self._actions(
            agent, training=False, state=poisoned, is_first=True
        )
        self.assertTrue(np.all(np.isfinite(action)))
        self.assertAllClose(reset[0]["deter"], fresh[0]["deter"], atol=1e-6)
