"""World-model loss, behaviour learning and the compiled train step."""

import subprocess
import sys

import keras
import numpy as np
import tensorflow as tf
from support import TESTS
from support.tiny import pixel_spaces, random_batch, tiny_config

from dreamer_tf.agent import Dreamer
from dreamer_tf.learning.world_model import WorldModel


def weights(variables):
    return [variable.numpy().copy() for variable in variables]


class WorldModelTest(tf.test.TestCase):
    def _kl_gradient(self, free_nats: float):
        gradients = []
        for kl_scale in (1.0, 0.0):
            config = tiny_config(free_nats=free_nats, kl_scale=kl_scale)
            keras.utils.set_random_seed(0)
            model = WorldModel(config)
            batch = random_batch(config)
            with tf.GradientTape() as tape:
                loss, _, metrics = model.loss(batch)
            gradients.append(tape.gradient(loss, model.trainable_variables))
        with_kl, without_kl = gradients
        return metrics["kl"], [a - b for a, b in zip(with_kl, without_kl)]

    def test_free_nats_zero_the_kl_gradient_below_the_threshold(self):
        kl, difference = self._kl_gradient(free_nats=1e6)
        self.assertLess(float(kl), 1e6)
        for gradient in difference:
            self.assertAllClose(gradient, tf.zeros_like(gradient))

    def test_kl_gradient_is_nonzero_above_the_threshold(self):
        _, difference = self._kl_gradient(free_nats=0.0)
        total = sum(float(tf.reduce_sum(tf.abs(gradient))) for gradient in difference)
        self.assertGreater(total, 1e-3)

    def test_loss_terms_per_representation(self):
        expected = {
            "reconstruction": {"image_loss", "reward_loss"},
            "contrastive": {"contrastive_loss", "reward_loss"},
            "reward": {"reward_loss"},
        }
        for representation, losses in expected.items():
            config = tiny_config(representation=representation, pcont=True)
            _, _, metrics = WorldModel(config).loss(random_batch(config))
            terms = {key for key in metrics if key.endswith("_loss")} - {"model_loss"}
            self.assertEqual(terms, losses | {"pcont_loss"}, representation)

    def test_open_loop_prediction_shapes(self):
        config = tiny_config()
        truth, prediction = WorldModel(config).open_loop_prediction(
            random_batch(config), context=2
        )
        self.assertEqual(truth.shape, (4, 6, 64, 64, 3))
        self.assertEqual(prediction.shape, (4, 6, 64, 64, 3))
        self.assertAllInRange(prediction, 0.0, 1.0)


class DreamerTrainTest(tf.test.TestCase):
    def _agent(self, **changes):
        keras.utils.set_random_seed(0)
        config = tiny_config(**changes)
        return Dreamer(config, *pixel_spaces()), random_batch(config)

    def test_metrics(self):
        agent, batch = self._agent()
        metrics = agent.train(batch)
        for key in (
            "model_loss",
            "image_loss",
            "reward_loss",
            "kl",
            "actor_loss",
            "value_loss",
            "model_grad_norm",
            "actor_grad_norm",
            "value_grad_norm",
            "prior_entropy",
            "posterior_entropy",
            "action_entropy",
        ):
            self.assertIn(key, metrics)
            self.assertTrue(np.isfinite(metrics[key].numpy()), key)

    def test_state_values_give_one_value_per_step_of_any_length(self):
        agent, batch = self._agent()
        for length in (6, 3):
            episode = {key: value[1, :length] for key, value in batch.items()}
            values = agent.state_values(episode)
            self.assertEqual(values.shape, (length,))
            self.assertEqual(values.dtype, tf.float32)
            self.assertTrue(np.all(np.isfinite(values.numpy())))

    def _assert_update_changes_only(self, updated: str):
        """Trains with every optimizer but ``updated``'s frozen (rate 0)."""
        agent, batch = self._agent()
        parts = ("model", "actor", "value")
        for part in parts:
            if part != updated:
                getattr(agent, f"{part}_optimizer").learning_rate.assign(0.0)
        before = {part: weights(getattr(agent, f"{part}_variables")) for part in parts}
        agent.train(batch)
        for part in parts:
            after = weights(getattr(agent, f"{part}_variables"))
            if part == updated:
                self.assertNotAllClose(after, before[part])
            else:
                self.assertAllClose(after, before[part], msg=part)

    def test_actor_update_changes_only_the_actor(self):
        self._assert_update_changes_only("actor")

    def test_value_update_changes_only_the_value(self):
        self._assert_update_changes_only("value")

    def test_world_model_loss_decreases_on_a_fixed_batch(self):
        agent, batch = self._agent(model_lr=3e-3)
        losses = [float(agent.train(batch)["model_loss"]) for _ in range(30)]
        self.assertLess(np.mean(losses[-3:]), np.mean(losses[:3]) - 10.0)

    def test_policy_shapes_and_bounds(self):
        agent, batch = self._agent()
        observation = {"image": batch["image"][:, 0], "is_first": np.ones(4, bool)}
        action, state = agent.policy(observation, None, training=True)
        self.assertEqual(action.shape, (4, 2))
        self.assertAllInRange(action, -1.0, 1.0)
        action, _ = agent.policy(observation, state, training=False)
        self.assertAllInRange(action, -1.0, 1.0)

    def test_one_hot_actions(self):
        keras.utils.set_random_seed(0)
        config = tiny_config(exploration="epsilon_greedy")
        agent = Dreamer(config, *pixel_spaces(3, one_hot=True))
        self.assertTrue(agent.discrete)
        batch = random_batch(config, action_size=3)
        batch["action"] = np.eye(3, dtype=np.float32)[
            np.random.default_rng(0).integers(0, 3, batch["reward"].shape)
        ]
        self.assertTrue(np.isfinite(agent.train(batch)["actor_loss"].numpy()))
        action, _ = agent.policy({"image": batch["image"][:, 0]}, None, training=True)
        self.assertAllClose(tf.reduce_sum(action, -1), tf.ones([4]))

    def test_rejects_mismatched_spaces(self):
        observation, action = pixel_spaces()
        with self.assertRaisesRegex(ValueError, "image"):
            Dreamer(tiny_config(), type(observation)({}), action)


MIRRORED_SCRIPT = r"""
import keras, numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from support.tiny import pixel_spaces, random_batch, tiny_config
from dreamer_tf.agent import Dreamer

def run(strategy):
    keras.utils.set_random_seed(0)
    config = tiny_config(batch_size=4)
    agent = Dreamer(config, *pixel_spaces(), strategy=strategy)
    initial = agent.model_variables[0].numpy()
    dataset = tf.data.Dataset.from_tensors(random_batch(config)).repeat()
    iterator = iter(agent.distribute_dataset(dataset))
    steps = [agent.train(next(iterator)) for _ in range(3)]
    metrics = {key: [float(step[key]) for step in steps] for key in steps[0]}
    episode = {key: value[0] for key, value in random_batch(config).items()}
    assert agent.state_values(episode).shape == (config.batch_length,)
    return initial, metrics

single_weights, single = run(tf.distribute.get_strategy())
mirrored_weights, mirrored = run(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
for key in ("model_loss", "reward_loss", "model_grad_norm", "value_grad_norm"):
    print(key, single[key], mirrored[key])
np.testing.assert_array_equal(single_weights, mirrored_weights)
np.testing.assert_allclose(single["model_loss"], mirrored["model_loss"], rtol=2e-3)
# Gradient norms are of the global batch's gradient: replicas summing their
# halves' gradients without the 1/replicas scaling would double them.
np.testing.assert_allclose(
    single["model_grad_norm"], mirrored["model_grad_norm"], rtol=0.02
)
print("MATCH")
"""


class MirroredStrategyTest(tf.test.TestCase):
    def test_two_replicas_match_one_device(self):
        # Logical devices must be configured before TensorFlow initialises,
        # which in this test process has already happened.
        result = subprocess.run(
            [sys.executable, "-c", MIRRORED_SCRIPT],
            capture_output=True,
            text=True,
            cwd=TESTS,
            timeout=600,
            check=False,
        )
        self.assertIn("MATCH", result.stdout, result.stdout + result.stderr[-3000:])


class _SliceHead:
    """A stand-in head: ``Normal(one channel of the features, 1)``."""

    def __init__(self, channel: int):
        self.channel = channel

    def __call__(self, features):
        import tensorflow_probability as tfp

        return tfp.distributions.Normal(features[..., self.channel], 1.0)


class ValueTargetsTest(tf.test.TestCase):
    """The indices of V_lambda: reward and value of the same imagined state."""

    def test_alignment_matches_the_spec(self):
        import types

        from dreamer_tf.learning.actor_critic import ActorCritic

        horizon, gamma, lambda_ = 5, 0.9, 0.8
        config = tiny_config(horizon=horizon, discount=gamma, lambda_=lambda_)
        actor_critic = ActorCritic(config, action_size=2, discrete=False)
        actor_critic.value = _SliceHead(1)
        world_model = types.SimpleNamespace(
            reward_head=_SliceHead(0), continue_head=None
        )
        features = np.random.default_rng(0).normal(size=(horizon, 3, 4))
        returns, weights = actor_critic.value_targets(
            world_model, tf.constant(features, tf.float32)
        )
        reward, value = features[..., 0], features[..., 1]
        expected = np.zeros((horizon - 1, 3))
        later = value[-1]
        for t in reversed(range(horizon - 1)):
            later = reward[t] + gamma * ((1 - lambda_) * value[t + 1] + lambda_ * later)
            expected[t] = later
        self.assertAllClose(returns, expected, rtol=1e-5, atol=1e-5)
        expected_weights = gamma ** np.arange(horizon - 1)[:, None] * np.ones((1, 3))
        self.assertAllClose(weights, expected_weights)

    def test_value_loss_regresses_the_value_of_the_same_state(self):
        from dreamer_tf.learning.actor_critic import ActorCritic

        actor_critic = ActorCritic(tiny_config(horizon=4), 2, discrete=False)
        actor_critic.value = _SliceHead(1)
        features = np.random.default_rng(1).normal(size=(4, 3, 4)).astype(np.float32)
        returns = np.random.default_rng(2).normal(size=(3, 3)).astype(np.float32)
        weights = np.random.default_rng(3).uniform(size=(3, 3)).astype(np.float32)
        loss = actor_critic.value_loss(features, returns, weights)
        log_prob = -0.5 * (returns - features[:-1, :, 1]) ** 2 - 0.5 * np.log(2 * np.pi)
        self.assertAllClose(loss, -np.mean(weights * log_prob), rtol=1e-5)
