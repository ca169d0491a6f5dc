"""Behaviour learning: imagination, value targets and weights, actor and value losses.

Stand-in heads read one channel of the features each, so every target is
recomputed in numpy from the features alone.
"""

import types

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from support.fixed_noise import assign_fixed_weights, fixed_batch, fixed_normal_noise
from support.tiny import tiny_config
from test_returns import numpy_lambda_return

from dreamer_tf.learning.actor_critic import ActorCritic
from dreamer_tf.learning.world_model import WorldModel

tfd = tfp.distributions


class SliceHead:
    """``Normal(features[..., channel], 1)``, or a Bernoulli with those logits."""

    def __init__(self, channel: int, bernoulli: bool = False):
        self.channel, self.bernoulli = channel, bernoulli

    def __call__(self, features):
        values = features[..., self.channel]
        if self.bernoulli:
            return tfd.Bernoulli(logits=values, dtype=tf.float32)
        return tfd.Normal(values, 1.0)


def stand_in_world_model(pcont: bool):
    continue_head = SliceHead(2, bernoulli=True) if pcont else None
    return types.SimpleNamespace(reward_head=SliceHead(0), continue_head=continue_head)


def numpy_nstep(reward, value, pcont, bootstrap, steps):
    horizon = len(reward)
    values = np.concatenate([value, bootstrap[None]], 0)
    returns = np.zeros_like(reward)
    for t in range(horizon):
        end = min(t + steps, horizon)
        total, weight = np.zeros_like(bootstrap), np.ones_like(bootstrap)
        for n in range(t, end):
            total += weight * reward[n]
            weight *= pcont[n]
        returns[t] = total + weight * values[end]
    return returns


class ValueTargetsTest(tf.test.TestCase):
    horizon = 6

    def _targets(self, **changes):
        config = tiny_config(horizon=self.horizon, discount=0.9, lambda_=0.7, **changes)
        actor_critic = ActorCritic(config, action_size=2, discrete=False)
        actor_critic.value = SliceHead(1)
        features = np.random.default_rng(0).normal(size=(self.horizon, 5, 4))
        features = tf.constant(features, tf.float32)
        world_model = stand_in_world_model(config.pcont)
        returns, weights = actor_critic.value_targets(world_model, features)
        features = features.numpy()
        reward, value = features[..., 0], features[..., 1]
        if config.pcont:
            pcont = 1 / (1 + np.exp(-features[..., 2]))
        else:
            pcont = np.full_like(reward, 0.9)
        return config, returns.numpy(), weights.numpy(), (reward, value, pcont)

    def test_lambda_return_with_learned_continuation(self):
        _, returns, weights, (reward, value, pcont) = self._targets(pcont=True)
        expected = numpy_lambda_return(
            reward[:-1], value[:-1], pcont[:-1], value[-1], 0.7
        )
        self.assertAllClose(returns, expected, rtol=1e-5, atol=1e-5)
        cumulative = np.cumprod(
            np.concatenate([np.ones_like(pcont[:1]), pcont[:-2]], 0), 0
        )
        self.assertAllClose(weights, cumulative, rtol=1e-5)

    def test_nstep_estimator(self):
        _, returns, _, (reward, value, pcont) = self._targets(
            value_estimator="nstep", nstep=2
        )
        expected = numpy_nstep(reward[:-1], value[:-1], pcont[:-1], value[-1], 2)
        self.assertAllClose(returns, expected, rtol=1e-5, atol=1e-5)

    def test_reward_sum_estimator_uses_no_value(self):
        _, returns, _, (reward, _, pcont) = self._targets(value_estimator="reward_sum")
        expected = np.zeros_like(reward[:-1])
        later = np.zeros_like(reward[0])
        for t in reversed(range(self.horizon - 1)):
            later = reward[t] + pcont[t] * later
            expected[t] = later
        self.assertAllClose(returns, expected, rtol=1e-5, atol=1e-5)

    def test_weights_carry_no_gradient(self):
        config = tiny_config(horizon=4, pcont=True)
        actor_critic = ActorCritic(config, action_size=2, discrete=False)
        actor_critic.value = SliceHead(1)
        features = tf.Variable(tf.random.normal([4, 3, 4]))
        with tf.GradientTape() as tape:
            _, weights = actor_critic.value_targets(
                stand_in_world_model(True), features
            )
            total = tf.reduce_sum(weights)
        self.assertIsNone(tape.gradient(total, features))


class LossesTest(tf.test.TestCase):
    def test_actor_loss_is_the_negative_weighted_mean_return(self):
        rng = np.random.default_rng(4)
        returns = rng.normal(size=(3, 5)).astype(np.float32)
        weights = rng.uniform(size=(3, 5)).astype(np.float32)
        loss = ActorCritic.actor_loss(returns, weights)
        self.assertAllClose(loss, -np.mean(weights * returns), rtol=1e-6)

    def test_value_loss_stops_gradients_at_features_and_targets(self):
        actor_critic = ActorCritic(tiny_config(horizon=4), 2, discrete=False)
        features = tf.Variable(tf.random.normal([4, 3, 20]))
        returns = tf.Variable(tf.random.normal([3, 3]))
        with tf.GradientTape(persistent=True) as tape:
            loss = actor_critic.value_loss(features, returns, tf.ones([3, 3]))
        self.assertIsNone(tape.gradient(loss, features))
        self.assertIsNone(tape.gradient(loss, returns))
        value_gradients = tape.gradient(loss, actor_critic.value.trainable_variables)
        self.assertTrue(all(g is not None for g in value_gradients))


class ImaginationTest(tf.test.TestCase):
    def _setup(self, **changes):
        config = tiny_config(**changes)
        batch = fixed_batch(config)
        world_model = WorldModel(config)
        world_model.loss(batch)
        actor_critic = ActorCritic(config, action_size=2, discrete=False)
        features = world_model.rssm.features(world_model.rssm.initial_state(1))
        actor_critic.actor(features)
        actor_critic.value(features)
        assign_fixed_weights(world_model.trainable_variables, seed=1)
        assign_fixed_weights(actor_critic.trainable_variables, seed=2)
        with fixed_normal_noise():
            posterior, _ = world_model(batch)
        return config, world_model, actor_critic, posterior

    def _expected_rollout(self, world_model, actor_critic, start, horizon):
        rssm, states = world_model.rssm, []
        state = start
        for _ in range(horizon):
            action = actor_critic.actor(rssm.features(state)).sample()
            state = rssm.prior_step(state, action)
            states.append(state)
        return states

    def _check_rollout(self, pcont: bool):
        config, world_model, actor_critic, posterior = self._setup(pcont=pcont)
        with fixed_normal_noise():
            imagined = actor_critic.imagine(world_model, posterior)
            kept = config.batch_length - 1 if pcont else config.batch_length
            # Start states are the posterior states, batch-major, flattened.
            start = {
                key: tf.reshape(value[:, :kept], [-1, value.shape[-1]])
                for key, value in posterior.items()
            }
            expected = self._expected_rollout(
                world_model, actor_critic, start, config.horizon
            )
        count = config.batch_size * kept
        self.assertEqual(imagined["deter"].shape, (config.horizon, count, 16))
        for step, state in enumerate(expected):
            for key in ("mean", "std", "stoch", "deter"):
                self.assertAllClose(imagined[key][step], state[key], atol=1e-5)

    def test_rollout_starts_from_every_posterior_state(self):
        self._check_rollout(pcont=False)

    def test_with_continuation_the_last_step_starts_no_rollout(self):
        self._check_rollout(pcont=True)

    def test_gradients_reach_the_actor_through_the_dynamics_only(self):
        _, world_model, actor_critic, posterior = self._setup(horizon=3)
        value_output = actor_critic.value.output_layer
        for weight in value_output.weights:
            weight.assign(tf.zeros_like(weight))
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(posterior["stoch"])
            imagined = actor_critic.imagine(world_model, posterior)
            features = world_model.rssm.features(imagined)
            returns, weights = actor_critic.value_targets(world_model, features)
            loss = actor_critic.actor_loss(returns, weights)
        # The value model is zero: the actor's gradient flows only through
        # imagined rewards, that is through the learned dynamics.
        actor_gradients = tape.gradient(loss, actor_critic.actor.trainable_variables)
        norm = tf.linalg.global_norm(actor_gradients)
        self.assertGreater(float(norm), 1e-6)
        self.assertIsNone(tape.gradient(loss, posterior["stoch"]))
