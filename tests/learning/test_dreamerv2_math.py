"""DreamerV2's parts against independent computations (Hafner et al., 2021).

Each part is checked against numpy from its own weights, hand-derived
gradients or finite differences: the layer-normalised GRU, the categorical
RSSM (one-hot straight-through states, KL and entropy), KL balancing (values
and the split of the gradient between prior and posterior), the truncated
normal actor, ActorCriticV2 (target critic, weights, the three actor
objectives and the entropy bonus, the target's schedule) and DreamerV2's
update (model first, weight decay, window starts, agent selection).
"""

import dataclasses
import json
import math
import types
from unittest import mock

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from support.fixed_noise import (
    assign_fixed_weights,
    fixed_batch,
    fixed_normal_noise,
    fixed_sampling_noise,
    fixed_v2_agent,
    shape_noise,
)
from support.tiny import pixel_spaces, tiny_config
from test_behavior_math import SliceHead
from test_returns import numpy_lambda_return

from dreamer_tf.agent import Dreamer
from dreamer_tf.agent_v2 import DreamerV2
from dreamer_tf.architecture import (
    agent_class,
    agent_from_architecture,
    describe_agent,
)
from dreamer_tf.distributions import (
    ClippedTruncatedNormal,
    OneHotDist,
    truncated_normal,
)
from dreamer_tf.layers import (
    CategoricalRSSMCell,
    NormGRUCell,
    OneHotActor,
    TruncatedNormalActor,
)
from dreamer_tf.learning.actor_critic_v2 import ActorCriticV2
from dreamer_tf.learning.losses import FreeNatsKL, KLBalance
from dreamer_tf.learning.world_model import WorldModel

tfd = tfp.distributions


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softplus(x):
    return np.log1p(np.exp(x))


def elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))


def log_softmax(logits):
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def softmax(logits):
    return np.exp(log_softmax(logits))


def dense(layer, inputs, activation=None):
    outputs = inputs @ layer.kernel.numpy() + layer.bias.numpy()
    return elu(outputs) if activation == "elu" else outputs


def v2_config(**changes):
    return tiny_config(agent="dreamerv2", rssm_classes=4, **changes)


def finite_difference(function, point, step=1e-6):
    """Central differences of a scalar numpy ``function`` at ``point``."""
    gradient = np.zeros(point.shape)
    for position in np.ndindex(point.shape):
        offset = np.zeros(point.shape)
        offset[position] = step
        gradient[position] = (function(point + offset) - function(point - offset)) / (
            2 * step
        )
    return gradient


# NormGRUCell ------------------------------------------------------------------


def layer_norm(x, gamma, beta, epsilon=1e-3):
    """Keras' ``LayerNormalization`` with its default epsilon."""
    mean, variance = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + epsilon) * gamma + beta


def numpy_norm_gru(cell, inputs, state):
    """DreamerV2's GRU (the authors' ``GRUCell`` with ``norm=True``)."""
    parts = dense(cell.projection, np.concatenate([inputs, state], -1))
    if cell.norm is not None:
        parts = layer_norm(parts, cell.norm.gamma.numpy(), cell.norm.beta.numpy())
    reset, candidate, update = np.split(parts, 3, -1)
    candidate = np.tanh(sigmoid(reset) * candidate)
    update = sigmoid(update - 1.0)
    return update * candidate + (1 - update) * state


class NormGRUCellTest(tf.test.TestCase):
    units, inputs = 5, 3

    def _cell_and_inputs(self, use_norm: bool):
        cell = NormGRUCell(self.units, layer_norm=use_norm)
        cell.build((None, self.inputs))
        assign_fixed_weights(cell.projection.weights, seed=1)
        if use_norm:
            rng = np.random.default_rng(2)
            cell.norm.gamma.assign(1 + 0.2 * rng.normal(size=3 * self.units))
            cell.norm.beta.assign(0.2 * rng.normal(size=3 * self.units))
        rng = np.random.default_rng(3)
        # Small inputs give gate pre-activations of small variance, where
        # the layer norm's epsilon visibly matters.
        inputs = 0.1 * rng.normal(size=(4, self.inputs))
        state = 0.1 * rng.normal(size=(4, self.units))
        return cell, inputs.astype(np.float32), state.astype(np.float32)

    def test_equals_the_numpy_equations(self):
        for use_norm in (True, False):
            cell, inputs, state = self._cell_and_inputs(use_norm)
            output, states = cell(tf.constant(inputs), [tf.constant(state)])
            expected = numpy_norm_gru(cell, inputs, state)
            self.assertAllClose(output, expected, atol=1e-6, msg=f"norm={use_norm}")
            self.assertAllClose(states[0], expected, atol=1e-6)
            unnested, _ = cell(tf.constant(inputs), tf.constant(state))
            self.assertAllClose(unnested, expected, atol=1e-6)

    def test_keras_default_epsilon_and_update_bias(self):
        cell, inputs, state = self._cell_and_inputs(True)
        self.assertEqual(cell.norm.epsilon, 1e-3)
        self.assertEqual(cell.update_bias, -1.0)
        # The case is sensitive to the epsilon: Keras 2's 1e-5 would show.
        output, _ = cell(tf.constant(inputs), [tf.constant(state)])
        parts = dense(cell.projection, np.concatenate([inputs, state], -1))
        gamma, beta = cell.norm.gamma.numpy(), cell.norm.beta.numpy()
        reset, candidate, update = np.split(
            layer_norm(parts, gamma, beta, epsilon=1e-5), 3, -1
        )
        other = sigmoid(update - 1) * np.tanh(sigmoid(reset) * candidate)
        other += (1 - sigmoid(update - 1)) * state
        self.assertGreater(np.abs(output.numpy() - other).max(), 1e-4)

    def test_gradients_match_finite_differences(self):
        for use_norm in (True, False):
            cell, inputs, state = self._cell_and_inputs(use_norm)
            cotangent = np.random.default_rng(4).normal(size=(4, self.units))
            inputs_tensor, state_tensor = tf.constant(inputs), tf.constant(state)
            with tf.GradientTape() as tape:
                tape.watch([inputs_tensor, state_tensor])
                output, _ = cell(inputs_tensor, [state_tensor])
                loss = tf.reduce_sum(output * cotangent)
            gradients = tape.gradient(
                loss, [inputs_tensor, state_tensor, *cell.trainable_variables]
            )
            for gradient in gradients:
                self.assertIsNotNone(gradient)
                self.assertTrue(np.all(np.isfinite(gradient)))
                self.assertGreater(float(tf.reduce_max(tf.abs(gradient))), 0.0)

            def numpy_loss(x, h):
                return np.sum(numpy_norm_gru(cell, x, h) * cotangent)

            inputs64, state64 = inputs.astype(np.float64), state.astype(np.float64)
            expected = [
                finite_difference(lambda x: numpy_loss(x, state64), inputs64),
                finite_difference(lambda h: numpy_loss(inputs64, h), state64),
            ]
            self.assertAllClose(gradients[0], expected[0], atol=2e-5)
            self.assertAllClose(gradients[1], expected[1], atol=2e-5)


# CategoricalRSSMCell ----------------------------------------------------------

VARIABLES, CLASSES, DETER, HIDDEN = 3, 4, 5, 6


def numpy_categorical_kl(logits, other_logits):
    """``KL(p || q)`` of one-hot categoricals ``[..., V, C]``, summed over V."""
    log_p, log_q = log_softmax(logits), log_softmax(other_logits)
    return np.sum(np.exp(log_p) * (log_p - log_q), (-2, -1))


def softmax_jacobian(logits):
    probs = softmax(logits)
    return np.diag(probs) - np.outer(probs, probs)


class CategoricalRSSMCellTest(tf.test.TestCase):
    def setUp(self):
        super().setUp()
        self.cell = CategoricalRSSMCell(VARIABLES, CLASSES, DETER, HIDDEN)
        rng = np.random.default_rng(0)
        self.state = self.cell.initial_state(2)
        self.state["deter"] = tf.constant(rng.normal(size=(2, DETER)), tf.float32)
        classes = rng.integers(0, CLASSES, (2, VARIABLES))
        self.state["stoch"] = tf.reshape(tf.one_hot(classes, CLASSES), (2, -1))
        self.action = tf.constant(rng.uniform(-1, 1, (2, 2)), tf.float32)
        self.embed = tf.constant(rng.normal(size=(2, 7)), tf.float32)
        self.cell(self.state, self.action, self.embed)
        assign_fixed_weights(self.cell.weights, seed=3)

    def test_state_entries_and_shapes(self):
        size = VARIABLES * CLASSES
        self.assertEqual(
            self.cell.state_shapes,
            {"logits": (size,), "stoch": (size,), "deter": (DETER,)},
        )
        posterior, prior = self.cell(self.state, self.action, self.embed)
        for state in (posterior, prior):
            self.assertEqual(set(state), {"logits", "stoch", "deter"})
            self.assertEqual(state["logits"].shape, (2, size))
            self.assertEqual(state["stoch"].shape, (2, size))
            self.assertEqual(state["deter"].shape, (2, DETER))
        self.assertEqual(self.cell.feature_size, size + DETER)
        self.assertEqual(self.cell.features(prior).shape, (2, size + DETER))

    def test_steps_follow_the_numpy_equations(self):
        self.assertIsInstance(self.cell.gru, NormGRUCell)
        with fixed_sampling_noise():
            posterior, prior = self.cell(self.state, self.action, self.embed)
        state = {key: value.numpy() for key, value in self.state.items()}
        inputs = np.concatenate([state["stoch"], self.action.numpy()], -1)
        hidden = dense(self.cell.prior_input, inputs, "elu")
        deter = numpy_norm_gru(self.cell.gru, hidden, state["deter"])
        prior_logits = dense(
            self.cell.prior_stats, dense(self.cell.prior_hidden, deter, "elu")
        )
        hidden = np.concatenate([deter, self.embed.numpy()], -1)
        posterior_logits = dense(
            self.cell.posterior_stats, dense(self.cell.posterior_hidden, hidden, "elu")
        )
        self.assertAllClose(prior["deter"], deter, atol=1e-5)
        self.assertAllClose(posterior["deter"], deter, atol=1e-5)
        self.assertAllClose(prior["logits"], prior_logits, atol=1e-5)
        self.assertAllClose(posterior["logits"], posterior_logits, atol=1e-5)

    def test_stoch_is_one_hot_per_variable(self):
        posterior, prior = self.cell(self.state, self.action, self.embed)
        for state in (posterior, prior):
            stoch = state["stoch"].numpy().reshape(2, VARIABLES, CLASSES)
            # One-hot up to the round-off of ``one_hot + probs - probs``.
            self.assertAllClose(stoch, np.round(stoch), atol=1e-6)
            self.assertAllEqual(np.round(stoch).sum(-1), np.ones((2, VARIABLES)))

    def test_straight_through_gradient_is_the_softmax_jacobian(self):
        logits = np.random.default_rng(5).normal(size=VARIABLES * CLASSES)
        stats = tf.constant(logits[None], tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(stats)
            stoch = self.cell.latent_state(stats, self.state["deter"][:1])["stoch"]
        jacobian = tape.jacobian(stoch, stats)
        self.assertIsNotNone(jacobian, "no gradient reaches the logits")
        jacobian = jacobian.numpy().reshape(12, 12)
        expected = np.zeros((12, 12))
        for variable in range(VARIABLES):
            block = slice(variable * CLASSES, (variable + 1) * CLASSES)
            expected[block, block] = softmax_jacobian(logits[block])
        self.assertAllClose(jacobian, expected, atol=1e-6)
        one_hot = stoch.numpy().reshape(VARIABLES, CLASSES)
        self.assertAllEqual(one_hot.sum(-1), np.ones(VARIABLES))

    def test_kl_and_entropy_match_numpy(self):
        rng = np.random.default_rng(6)
        logits = 2 * rng.normal(size=(2, 5, VARIABLES * CLASSES))
        other = 2 * rng.normal(size=(2, 5, VARIABLES * CLASSES))
        first = self.cell.distribution({"logits": tf.constant(logits, tf.float32)})
        second = self.cell.distribution({"logits": tf.constant(other, tf.float32)})
        grouped = logits.reshape(2, 5, VARIABLES, CLASSES)
        other_grouped = other.reshape(2, 5, VARIABLES, CLASSES)
        self.assertAllClose(
            first.kl_divergence(second),
            numpy_categorical_kl(grouped, other_grouped),
            rtol=1e-5,
            atol=1e-6,
        )
        probs = softmax(grouped)
        entropy = -np.sum(probs * log_softmax(grouped), (-2, -1))
        self.assertAllClose(first.entropy(), entropy, rtol=1e-5)

    def test_one_hot_draws_follow_each_rows_probabilities(self):
        # The draw flattens the batch and transposes the draws back: a wrong
        # order would give one row the classes of another.
        logits = np.random.default_rng(7).normal(size=(2, 3, CLASSES)) * 1.5
        samples = OneHotDist(logits=tf.constant(logits, tf.float32)).sample(5000)
        self.assertEqual(samples.shape, (5000, 2, 3, CLASSES))
        frequencies = tf.reduce_mean(samples, 0)
        self.assertAllClose(frequencies, softmax(logits), atol=0.03)


# KLBalance -------------------------------------------------------------------


def categorical_rssm_stand_in():
    """An RSSM-like object whose states hold logits ``[batch, time, V, C]``."""
    return types.SimpleNamespace(
        distribution=lambda state: tfd.Independent(
            OneHotDist(logits=state["logits"]), 1
        )
    )


def floor_between_elements(divergence):
    """Free nats halfway between the 2nd and 3rd smallest divergence.

    Below the mean and above some elements: the mean is not floored, some
    elements are, and none is within round-off of the floor.
    """
    smallest = np.sort(divergence, None)
    return float(smallest[1] + smallest[2]) / 2


class KLBalanceTest(tf.test.TestCase):
    scale = 1.5

    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(8)
        shape = (2, 3, VARIABLES, CLASSES)
        self.posterior_logits = rng.normal(size=shape)
        self.prior_logits = rng.normal(size=shape)

    def _run(self, **options):
        posterior = tf.Variable(self.posterior_logits, dtype=tf.float32)
        prior = tf.Variable(self.prior_logits, dtype=tf.float32)
        term = KLBalance(scale=self.scale, **options)
        with tf.GradientTape() as tape:
            loss, metrics = term(
                categorical_rssm_stand_in(), {"logits": posterior}, {"logits": prior}
            )
        posterior_gradient, prior_gradient = tape.gradient(loss, [posterior, prior])
        return loss, metrics, posterior_gradient, prior_gradient

    def _expected(self, balance, free_nats, free_average, forward):
        """Loss and gradients, from ``dKL(p||q)/dq = q - p`` and
        ``dKL(p||q)/dp = p (log p - log q - KL)`` (per variable)."""
        post, prior = self.posterior_logits, self.prior_logits
        source, target = (prior, post) if forward else (post, prior)
        divergence = numpy_categorical_kl(source, target)
        count = divergence.size
        if free_average:
            value = max(divergence.mean(), free_nats)
            active = np.full(divergence.shape, divergence.mean() > free_nats)
        else:
            value = np.maximum(divergence, free_nats).mean()
            active = divergence > free_nats
        factor = self.scale * active[..., None, None] / count
        log_source, log_target = log_softmax(source), log_softmax(target)
        elementwise = log_source - log_target
        per_variable_kl = np.sum(np.exp(log_source) * elementwise, -1, keepdims=True)
        source_gradient = np.exp(log_source) * (elementwise - per_variable_kl)
        target_gradient = np.exp(log_target) - np.exp(log_source)
        # The prior's share of the gradient is ``balance``, whichever side of
        # the divergence it is on.
        if forward:
            prior_gradient = balance * factor * source_gradient
            posterior_gradient = (1 - balance) * factor * target_gradient
        else:
            prior_gradient = balance * factor * target_gradient
            posterior_gradient = (1 - balance) * factor * source_gradient
        return self.scale * value, divergence, posterior_gradient, prior_gradient

    def test_value_and_gradient_split_match_numpy(self):
        for forward in (False, True):
            source, target = (
                (self.prior_logits, self.posterior_logits)
                if forward
                else (self.posterior_logits, self.prior_logits)
            )
            divergence = numpy_categorical_kl(source, target)
            free_nats = floor_between_elements(divergence)
            self.assertGreater(divergence.mean(), free_nats)
            for free_average in (True, False):
                for balance in (0.8, 0.5):
                    options = dict(
                        balance=balance,
                        free_nats=free_nats,
                        free_average=free_average,
                        forward=forward,
                    )
                    loss, metrics, posterior_gradient, prior_gradient = self._run(
                        **options
                    )
                    expected = self._expected(**options)
                    message = str(options)
                    self.assertAllClose(loss, expected[0], rtol=1e-5, msg=message)
                    self.assertAllClose(metrics["kl_loss"], loss, msg=message)
                    self.assertAllClose(
                        metrics["kl"], expected[1].mean(), rtol=1e-5, msg=message
                    )
                    self.assertAllClose(
                        posterior_gradient, expected[2], atol=1e-6, msg=message
                    )
                    self.assertAllClose(
                        prior_gradient, expected[3], atol=1e-6, msg=message
                    )

    def test_per_element_and_mean_floors_differ(self):
        # So the test above tells the two ``free_average`` modes apart.
        divergence = numpy_categorical_kl(self.posterior_logits, self.prior_logits)
        free_nats = floor_between_elements(divergence)
        losses = [
            float(self._run(free_nats=free_nats, free_average=average)[0])
            for average in (True, False)
        ]
        self.assertGreater(abs(losses[0] - losses[1]), 1e-3)

    def test_active_floor_passes_no_gradient(self):
        for free_average in (True, False):
            loss, _, posterior_gradient, prior_gradient = self._run(
                free_nats=100.0, free_average=free_average
            )
            self.assertAllClose(loss, self.scale * 100.0)
            self.assertAllEqual(posterior_gradient, np.zeros_like(posterior_gradient))
            self.assertAllEqual(prior_gradient, np.zeros_like(prior_gradient))

    def test_world_model_takes_its_kl_term_from_the_config(self):
        config = v2_config(
            kl_balance=0.8,
            kl_scale=0.3,
            free_nats=0.5,
            kl_free_average=False,
            kl_forward=True,
        )
        term = WorldModel(config).kl_loss
        self.assertIsInstance(term, KLBalance)
        self.assertEqual(
            term.get_config(),
            {
                "scale": 0.3,
                "balance": 0.8,
                "free_nats": 0.5,
                "free_average": False,
                "forward": True,
            },
        )
        self.assertIsInstance(WorldModel(v2_config(kl_balance=0.5)).kl_loss, FreeNatsKL)


# Truncated normal actor ----------------------------------------------------------


def normal_cdf(x):
    return 0.5 * (1 + np.vectorize(math.erf)(x / np.sqrt(2)))


def numpy_truncated_log_density(x, loc, scale, low=-1.0, high=1.0):
    standard = (x - loc) / scale
    mass = normal_cdf((high - loc) / scale) - normal_cdf((low - loc) / scale)
    return -0.5 * standard**2 - 0.5 * np.log(2 * np.pi) - np.log(scale * mass)


def at_bounds_sample_n(targets):
    """A ``_sample_n`` that draws ``targets`` with the gradient ``d draw/d loc = 1``."""

    def sample_n(self, n, seed=None):
        loc = tf.convert_to_tensor(self.loc)
        draw = loc - tf.stop_gradient(loc) + targets
        return tf.broadcast_to(draw, tf.concat([[n], tf.shape(loc)], 0))

    return sample_n


class TruncatedNormalTest(tf.test.TestCase):
    loc = np.array([[0.3, -0.8, 0.95], [0.0, 0.6, -0.2]])
    scale = np.array([[0.5, 0.2, 1.7], [0.05, 1.0, 2.1]])

    def _distribution(self):
        return truncated_normal(
            tf.constant(self.loc, tf.float32), tf.constant(self.scale, tf.float32)
        )

    def test_log_prob_matches_the_truncated_density(self):
        values = np.array([[0.1, -0.99, 0.999], [0.02, -0.5, 0.7]])
        expected = numpy_truncated_log_density(values, self.loc, self.scale).sum(-1)
        actual = self._distribution().log_prob(tf.constant(values, tf.float32))
        self.assertAllClose(actual, expected, rtol=1e-4)

    def test_entropy_matches_numerical_integration(self):
        grid = np.linspace(-1, 1, 200_001)
        log_density = numpy_truncated_log_density(
            grid, self.loc[..., None], self.scale[..., None]
        )
        integrand = -np.exp(log_density) * log_density
        entropy = np.sum((integrand[..., 1:] + integrand[..., :-1]) / 2, -1) * (
            grid[1] - grid[0]
        )
        self.assertAllClose(
            self._distribution().entropy(), entropy.sum(-1), rtol=1e-4, atol=1e-5
        )

    def test_mode_is_the_clipped_mean(self):
        loc = np.array([1.5, -2.0, 0.3], np.float32)
        distribution = truncated_normal(loc, np.ones(3, np.float32))
        self.assertAllClose(distribution.mode(), np.clip(loc, -1, 1))

    def test_samples_stay_inside_the_bounds(self):
        loc = tf.constant([0.999999, -0.999999, 0.0, 0.9])
        scale = tf.constant([0.5, 2.0, 3.0, 1e-4])
        samples = truncated_normal(loc, scale).sample(3000).numpy()
        self.assertTrue(np.all(np.abs(samples) <= 1 - 1e-6))
        self.assertTrue(
            np.all(np.isfinite(truncated_normal(loc, scale).log_prob(samples)))
        )

    def test_draws_at_the_bounds_are_clipped_straight_through(self):
        # Independent(...).sample() must reach ClippedTruncatedNormal.sample.
        targets = tf.constant([1.0, -1.0, 0.25])
        loc = tf.constant([0.9, -0.9, 0.2])
        with mock.patch.object(
            tfd.TruncatedNormal, "_sample_n", at_bounds_sample_n(targets)
        ):
            with tf.GradientTape() as tape:
                tape.watch(loc)
                sample = truncated_normal(loc, tf.ones(3)).sample()
                total = tf.reduce_sum(sample)
            gradient = tape.gradient(total, loc)
        self.assertAllClose(sample, [1 - 1e-6, -1 + 1e-6, 0.25], atol=1e-7)
        self.assertTrue(np.all(np.abs(sample.numpy()) < 1))
        self.assertAllClose(gradient, np.ones(3))

    def test_clipped_draw_has_the_unclipped_draws_gradient(self):
        loc = tf.constant([0.3, -0.7, 0.9])
        scale = tf.constant([0.4, 1.3, 0.2])
        gradients = []
        for distribution in (ClippedTruncatedNormal, tfd.TruncatedNormal):
            with tf.GradientTape() as tape:
                tape.watch([loc, scale])
                draw = distribution(loc, scale, -1.0, 1.0).sample(5, seed=(1, 2))
                loss = tf.reduce_sum(draw * tf.range(1.0, 4.0))
            gradients.append(tape.gradient(loss, [loc, scale]))
        for clipped, unclipped in zip(*gradients):
            self.assertAllClose(clipped, unclipped)
            self.assertGreater(float(tf.reduce_min(tf.abs(clipped))), 0.0)

    def test_actor_mean_and_std_from_its_own_layers(self):
        actor = TruncatedNormalActor(
            2, num_layers=2, units=5, activation="elu", min_std=0.1, init_std=0.7
        )
        features = np.random.default_rng(9).normal(size=(3, 4)).astype(np.float32)
        actor(features)
        assign_fixed_weights(actor.weights, seed=10)
        distribution = actor(features)
        hidden = features
        for layer in actor.hidden_layers:
            hidden = dense(layer, hidden, "elu")
        mean = np.tanh(dense(actor.mean_layer, hidden))
        std = 2 * sigmoid((dense(actor.std_layer, hidden) + 0.7) / 2) + 0.1
        inner = distribution.distribution
        self.assertIsInstance(inner, ClippedTruncatedNormal)
        self.assertAllClose(inner.loc, mean, atol=1e-6)
        self.assertAllClose(inner.scale, std, atol=1e-6)
        self.assertAllEqual([inner.low, inner.high], [-1.0, 1.0])
        self.assertEqual(distribution.event_shape, (2,))

    def test_v2_actors_from_the_config(self):
        config = v2_config(actor_min_std=0.1, actor_grad="auto")
        continuous = ActorCriticV2(config, 2, discrete=False)
        self.assertIsInstance(continuous.actor, TruncatedNormalActor)
        self.assertEqual(continuous.actor.min_std, 0.1)
        self.assertEqual(continuous.actor_gradient, "dynamics")
        discrete = ActorCriticV2(config, 3, discrete=True)
        self.assertIsInstance(discrete.actor, OneHotActor)
        self.assertEqual(discrete.actor_gradient, "reinforce")


# ActorCriticV2 ---------------------------------------------------------------

FEATURES, ACTIONS, HORIZON = 4, 2, 5
BATCH, LENGTH = 2, 3
DISCOUNT, LAMBDA, MIX, ENTROPY_SCALE = 0.9, 0.7, 0.3, 0.1
REWARD, VALUE, CONTINUE, TARGET = 0, 1, 2, 3


class LinearActor:
    """``Normal(f[:2] * loc_weight, softplus(f[1:3] * scale_weight) + 0.1)``."""

    def __init__(self):
        self.loc_weight = tf.Variable([0.8, -0.5])
        self.scale_weight = tf.Variable([0.6, 1.2])
        self.trainable_variables = [self.loc_weight, self.scale_weight]

    def __call__(self, features):
        loc = features[..., :ACTIONS] * self.loc_weight
        scale = tf.nn.softplus(features[..., 1:3] * self.scale_weight) + 0.1
        return tfd.Independent(tfd.Normal(loc, scale), 1)


def numpy_policy(features, loc_weight, scale_weight):
    loc = features[..., :ACTIONS] * loc_weight
    return loc, softplus(features[..., 1:3] * scale_weight) + 0.1


def normal_log_prob(value, loc, scale):
    return -0.5 * ((value - loc) / scale) ** 2 - np.log(scale) - 0.5 * np.log(2 * np.pi)


class TanhDynamics:
    """``stoch' = tanh(stoch M + action K)``; the features are ``stoch``.

    ``deter``, which a state must hold, is a copy of ``stoch``.
    """

    def __init__(self):
        rng = np.random.default_rng(11)
        self.transition = 0.6 * rng.normal(size=(FEATURES, FEATURES))
        self.action_map = 0.6 * rng.normal(size=(ACTIONS, FEATURES))

    def features(self, state):
        return state["stoch"]

    def prior_step(self, state, action):
        transition = tf.constant(self.transition, tf.float32)
        action_map = tf.constant(self.action_map, tf.float32)
        stoch = tf.tanh(state["stoch"] @ transition + action @ action_map)
        return {"stoch": stoch, "deter": stoch}


class ActorCriticV2Test(tf.test.TestCase):
    """Stand-ins whose every output numpy recomputes: tanh dynamics, heads that
    read one feature each (reward, critic, continuation, target critic) and a
    Gaussian actor with two weight vectors; the actor's noise is fixed."""

    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(12)
        stoch = tf.constant(
            0.8 * rng.normal(size=(BATCH, LENGTH, FEATURES)), tf.float32
        )
        self.posterior = {"stoch": stoch, "deter": stoch}
        self.data = {"discount": np.array([[1, 1, 0], [1, 0, 1]], np.float32)}
        self.dynamics = TanhDynamics()
        count = BATCH * LENGTH
        self.noise = shape_noise([1, count, ACTIONS]).numpy()[0].astype(np.float64)

    def _actor_critic(self, actor_grad="dynamics"):
        config = v2_config(
            horizon=HORIZON,
            discount=DISCOUNT,
            lambda_=LAMBDA,
            actor_grad=actor_grad,
            actor_grad_mix=MIX,
            actor_entropy=ENTROPY_SCALE,
        )
        actor_critic = ActorCriticV2(config, ACTIONS, discrete=False)
        actor_critic.actor = LinearActor()
        actor_critic.value = SliceHead(VALUE)
        actor_critic.target_value = SliceHead(TARGET)
        return actor_critic

    def _world_model(self, pcont: bool):
        return types.SimpleNamespace(
            rssm=self.dynamics,
            reward_head=SliceHead(REWARD),
            continue_head=SliceHead(CONTINUE, bernoulli=True) if pcont else None,
        )

    def _numpy_rollout(self, loc_weight, scale_weight, actor_inputs=None):
        """States and actions; the actor reads ``actor_inputs`` if given (frozen)."""
        states = [self.posterior["stoch"].numpy().reshape(-1, FEATURES)]
        states[0] = states[0].astype(np.float64)
        actions = [np.zeros((len(states[0]), ACTIONS))]
        for t in range(HORIZON):
            inputs = states[t] if actor_inputs is None else actor_inputs[t]
            loc, scale = numpy_policy(inputs, loc_weight, scale_weight)
            action = loc + scale * self.noise
            states.append(
                np.tanh(
                    states[t] @ self.dynamics.transition
                    + action @ self.dynamics.action_map
                )
            )
            actions.append(action)
        return np.stack(states), np.stack(actions)

    def _numpy_losses(self, mode, pcont, loc_weight, scale_weight, frozen=None):
        """The class doc's losses in numpy; ``frozen`` holds what carries no
        gradient (the actor's inputs, weights, advantages, stopped actions)."""
        actor_inputs = None if frozen is None else frozen["features"]
        features, actions = self._numpy_rollout(loc_weight, scale_weight, actor_inputs)
        reward, value = features[..., REWARD], features[..., VALUE]
        slow_value = features[..., TARGET]
        if pcont:
            discount = sigmoid(features[..., CONTINUE])
            discount[0] = DISCOUNT * self.data["discount"].reshape(-1)
        else:
            discount = np.full(reward.shape, DISCOUNT)
        weights = np.cumprod(
            np.concatenate([np.ones_like(discount[:1]), discount[:-1]], 0), 0
        )
        returns = numpy_lambda_return(
            reward[:-1], slow_value[:-1], discount[:-1], slow_value[-1], LAMBDA
        )
        advantage = returns[1:] - slow_value[:-2]
        taken = actions[1:-1]
        if frozen is not None:
            weights, advantage = frozen["weights"], frozen["advantage"]
            if mode == "reinforce":
                taken = frozen["actions"][1:-1]
        policy_inputs = features if frozen is None else frozen["features"]
        loc, scale = numpy_policy(policy_inputs[:-2], loc_weight, scale_weight)
        log_prob = normal_log_prob(taken, loc, scale).sum(-1)
        objective = {
            "dynamics": returns[1:],
            "reinforce": log_prob * advantage,
            "both": MIX * returns[1:] + (1 - MIX) * log_prob * advantage,
        }[mode]
        entropy = np.sum(0.5 * np.log(2 * np.pi * np.e) + np.log(scale), -1)
        objective = objective + ENTROPY_SCALE * entropy
        value_log_prob = normal_log_prob(returns, value[:-1], 1.0)
        return {
            "actor_loss": -np.mean(weights[:-2] * objective),
            "value_loss": -np.mean(value_log_prob * weights[:-1]),
            "imagined_return": returns.mean(),
            "critic": value[:-1].mean(),
            "critic_slow": slow_value.mean(),
            "actor_entropy": entropy.mean(),
            "frozen": {
                "features": features,
                "actions": actions,
                "weights": weights,
                "advantage": advantage,
            },
        }

    def _library(self, mode, pcont):
        actor_critic = self._actor_critic(mode)
        actor = actor_critic.actor
        with fixed_normal_noise(), tf.GradientTape() as tape:
            actor_loss, value_loss, metrics, features = actor_critic.behavior_losses(
                self._world_model(pcont), self.posterior, self.data
            )
        gradients = tape.gradient(actor_loss, actor.trainable_variables)
        metrics = {key: float(value) for key, value in metrics.items()}
        metrics.update(actor_loss=float(actor_loss), value_loss=float(value_loss))
        return metrics, features, [gradient.numpy() for gradient in gradients]

    def test_imagine_sequence_starts_at_the_posterior_with_a_zero_action(self):
        actor_critic = self._actor_critic()
        with fixed_normal_noise():
            states, actions = actor_critic.imagine_sequence(
                self._world_model(False), self.posterior
            )
        features, expected_actions = self._numpy_rollout(
            np.array([0.8, -0.5]), np.array([0.6, 1.2])
        )
        count = BATCH * LENGTH
        self.assertEqual(states["stoch"].shape, (HORIZON + 1, count, FEATURES))
        self.assertEqual(actions.shape, (HORIZON + 1, count, ACTIONS))
        self.assertAllEqual(actions[0], np.zeros((count, ACTIONS)))
        self.assertAllClose(states["stoch"], features, atol=1e-5)
        self.assertAllClose(actions, expected_actions, atol=1e-5)

    def test_discounts_take_the_batch_at_the_start_only_with_a_continue_head(self):
        actor_critic = self._actor_critic()
        features = tf.constant(
            np.random.default_rng(13).normal(size=(HORIZON + 1, 6, FEATURES)),
            tf.float32,
        )
        predicted = actor_critic.discounts(self._world_model(True), features, self.data)
        expected = sigmoid(features.numpy()[..., CONTINUE])
        expected[0] = DISCOUNT * self.data["discount"].reshape(-1)
        self.assertAllClose(predicted, expected, atol=1e-6)
        constant = actor_critic.discounts(self._world_model(False), features, self.data)
        self.assertAllClose(constant, np.full((HORIZON + 1, 6), DISCOUNT))

    def test_losses_and_metrics_match_numpy(self):
        loc_weight, scale_weight = np.array([0.8, -0.5]), np.array([0.6, 1.2])
        for mode in ("dynamics", "reinforce", "both"):
            for pcont in (False, True):
                actual, _, _ = self._library(mode, pcont)
                expected = self._numpy_losses(mode, pcont, loc_weight, scale_weight)
                for key in (
                    "actor_loss",
                    "value_loss",
                    "imagined_return",
                    "critic",
                    "critic_slow",
                    "actor_entropy",
                ):
                    self.assertAllClose(
                        actual[key],
                        expected[key],
                        rtol=1e-5,
                        atol=1e-6,
                        msg=f"{mode}, pcont={pcont}: {key}",
                    )

    def test_returns_bootstrap_from_the_target_critic(self):
        # With the online critic's channel as target, the numpy returns
        # would differ: the check above tells the two critics apart.
        actual, _, _ = self._library("dynamics", True)
        features = self._numpy_losses(
            "dynamics", True, np.array([0.8, -0.5]), np.array([0.6, 1.2])
        )["frozen"]["features"]
        discount = sigmoid(features[..., CONTINUE])
        discount[0] = DISCOUNT * self.data["discount"].reshape(-1)
        value = features[..., VALUE]
        online = numpy_lambda_return(
            features[:-1, :, REWARD], value[:-1], discount[:-1], value[-1], LAMBDA
        )
        self.assertGreater(abs(actual["imagined_return"] - online.mean()), 1e-3)

    def test_actor_gradients_match_finite_differences(self):
        loc_weight, scale_weight = np.array([0.8, -0.5]), np.array([0.6, 1.2])
        for mode in ("dynamics", "reinforce", "both"):
            for pcont in (False, True):
                _, _, gradients = self._library(mode, pcont)
                frozen = self._numpy_losses(mode, pcont, loc_weight, scale_weight)[
                    "frozen"
                ]
                expected = [
                    finite_difference(
                        lambda w: self._numpy_losses(
                            mode, pcont, w, scale_weight, frozen
                        )["actor_loss"],
                        loc_weight,
                    ),
                    finite_difference(
                        lambda w: self._numpy_losses(
                            mode, pcont, loc_weight, w, frozen
                        )["actor_loss"],
                        scale_weight,
                    ),
                ]
                for actual, wanted in zip(gradients, expected):
                    self.assertAllClose(
                        actual, wanted, rtol=1e-3, atol=1e-5, msg=f"{mode}, {pcont}"
                    )

    def test_target_critic_is_copied_after_update_1_then_every_n(self):
        actor_critic = ActorCriticV2(v2_config(slow_target_every=3), 2, False)
        actor_critic.build_parts(tf.zeros([1, 6]))
        self.assertFalse(actor_critic.target_value.trainable)
        value, target = actor_critic.value, actor_critic.target_value
        self.assertEqual(len(value.variables), len(target.variables))
        assign_fixed_weights(target.variables, seed=100)
        copied = []
        for iterations in range(0, 9):
            assign_fixed_weights(value.variables, seed=iterations)
            before = [variable.numpy() for variable in target.variables]
            actor_critic.update_target(tf.constant(iterations, tf.int64))
            after = [variable.numpy() for variable in target.variables]
            if all(
                np.array_equal(a, b.numpy()) for a, b in zip(after, value.variables)
            ):
                copied.append(iterations)
            else:
                for a, b in zip(after, before):
                    self.assertAllEqual(a, b)
        self.assertEqual(copied, [1, 4, 7])


# DreamerV2 agent ---------------------------------------------------------------


def numpy_variables(variables):
    return [variable.numpy() for variable in variables]


class DreamerV2AgentTest(tf.test.TestCase):
    """One fixed batch and agents from the same fixed weights."""

    decay = 0.1

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        learning_rates = dict(model_lr=1e-2, actor_lr=1e-2, value_lr=1e-2)
        cls.config = v2_config(
            kl_balance=0.8, free_nats=0.0, slow_target_every=2, **learning_rates
        )
        cls.batch = fixed_batch(cls.config)
        cls.initial = fixed_v2_agent(cls.config)
        cls.weights = {
            part: numpy_variables(getattr(cls.initial, f"{part}_variables"))
            for part in ("model", "actor", "value")
        }
        with fixed_sampling_noise():
            cls._train_whole(cls)
            cls._imagine_before_and_after_the_model_step(cls)
            cls._train_behavior_alone(cls)
            cls._train_with_decay(cls)

    def _train_whole(self):
        agent = fixed_v2_agent(self.config)
        self.first_metrics = agent.train(self.batch)
        self.trained = {
            part: numpy_variables(getattr(agent, f"{part}_variables"))
            for part in ("model", "value")
        }
        self.target_after_first = numpy_variables(
            agent.actor_critic.target_value.variables
        )
        agent.train(self.batch)
        self.value_after_second = numpy_variables(agent.value_variables)
        self.target_after_second = numpy_variables(
            agent.actor_critic.target_value.variables
        )
        self.agent = agent

    def _imagine_before_and_after_the_model_step(self):
        """The behaviour losses from the batch's posterior under the initial
        weights, with the initial model and with the once-updated one."""
        world_model, actor_critic = self.initial.world_model, self.initial.actor_critic
        _, posterior, _ = world_model.loss(self.batch)
        self.old_model_losses = actor_critic.behavior_losses(
            world_model, posterior, self.batch
        )[:2]
        for variable, value in zip(self.initial.model_variables, self.trained["model"]):
            variable.assign(value)
        self.new_model_losses = actor_critic.behavior_losses(
            world_model, posterior, self.batch
        )[:2]
        for variable, value in zip(self.initial.model_variables, self.weights["model"]):
            variable.assign(value)

    def _train_behavior_alone(self):
        agent = fixed_v2_agent(self.config)
        agent.train_behavior(self.batch)
        self.behavior_only = {
            part: numpy_variables(getattr(agent, f"{part}_variables"))
            for part in ("actor", "value")
        }

    def _train_with_decay(self):
        config = dataclasses.replace(self.config, weight_decay=self.decay)
        agent = fixed_v2_agent(config)
        agent.train_behavior(self.batch)
        self.decayed = {
            part: numpy_variables(getattr(agent, f"{part}_variables"))
            for part in ("actor", "value")
        }
        agent.train_model(self.batch)
        self.decayed["model"] = numpy_variables(agent.model_variables)

    def test_the_model_is_updated_before_imagination(self):
        metrics = self.first_metrics
        new_actor_loss, new_value_loss = self.new_model_losses
        old_actor_loss, _ = self.old_model_losses
        self.assertAllClose(metrics["actor_loss"], new_actor_loss, rtol=1e-4)
        self.assertAllClose(metrics["value_loss"], new_value_loss, rtol=1e-4)
        # The model step moves the imagination visibly.
        self.assertGreater(abs(float(new_actor_loss - old_actor_loss)), 1e-3)

    def test_weight_decay_scales_the_weights_before_the_adam_step(self):
        # The plain steps: train's model step and train_behavior's step, both
        # from the initial weights. Adam's step does not depend on the weights.
        plain_steps = {"model": self.trained["model"], **self.behavior_only}
        for part, plain in plain_steps.items():
            for initial, step_alone, decayed in zip(
                self.weights[part], plain, self.decayed[part]
            ):
                adam_step = step_alone - initial
                expected = (1 - self.decay) * initial + adam_step
                self.assertAllClose(decayed, expected, atol=2e-6, msg=part)
            # Decay after the step, or scaled by the learning rate, is off by
            # more than that.
            change = [p - i for p, i in zip(plain, self.weights[part])]
            self.assertGreater(max(np.abs(c).max() for c in change) * self.decay, 1e-4)

    def test_target_critic_copies_after_the_first_value_update_only(self):
        for target, value in zip(self.target_after_first, self.trained["value"]):
            self.assertAllEqual(target, value)
        for target, value in zip(self.target_after_second, self.target_after_first):
            self.assertAllEqual(target, value)
        differs = [
            not np.array_equal(a, b)
            for a, b in zip(self.value_after_second, self.target_after_second)
        ]
        self.assertTrue(any(differs))

    def test_a_windows_first_action_is_zeroed(self):
        changed = dict(self.batch)
        changed["action"] = self.batch["action"].copy()
        changed["action"][:, 0] = 0.9
        later = dict(self.batch)
        later["action"] = self.batch["action"].copy()
        later["action"][:, 1] = 0.9
        v1_model = WorldModel(tiny_config())
        with fixed_sampling_noise():
            v1_model.loss(self.batch)
            assign_fixed_weights(v1_model.trainable_variables, seed=0)
            losses = {
                name: [
                    float(model.loss(batch)[0])
                    for batch in (self.batch, changed, later)
                ]
                for name, model in (
                    ("v2", self.initial.world_model),
                    ("v1", v1_model),
                )
            }
        self.assertTrue(self.initial.world_model.resets_window_start)
        self.assertFalse(v1_model.resets_window_start)
        self.assertAllClose(losses["v2"][0], losses["v2"][1], rtol=1e-7)
        self.assertNotAlmostEqual(losses["v2"][0], losses["v2"][2], places=3)
        self.assertNotAlmostEqual(losses["v1"][0], losses["v1"][1], places=3)

    def test_agent_and_config_must_agree(self):
        observation_space, action_space = pixel_spaces()
        for cls, config in ((Dreamer, v2_config()), (DreamerV2, tiny_config())):
            with self.assertRaisesRegex(ValueError, "agent_class") as raised:
                cls(config, observation_space, action_space)
            message = str(raised.exception)
            self.assertNotIn("\n", message)
            self.assertIn(repr(config.agent), message)

    def test_agent_class_picks_the_config_agent(self):
        self.assertIs(agent_class(v2_config()), DreamerV2)
        self.assertIs(agent_class(tiny_config()), Dreamer)

    def test_architecture_rebuilds_a_dreamerv2(self):
        architecture = json.loads(json.dumps(describe_agent(self.agent)))
        rebuilt = agent_from_architecture(self.config, architecture)
        self.assertIsInstance(rebuilt, DreamerV2)
        self.assertIsInstance(rebuilt.actor_critic, ActorCriticV2)
        self.assertIsInstance(rebuilt.world_model.rssm, CategoricalRSSMCell)
        names = {
            name: tuple(variable.shape)
            for name, variable in self.agent.variables_by_name().items()
        }
        rebuilt_names = {
            name: tuple(variable.shape)
            for name, variable in rebuilt.variables_by_name().items()
        }
        self.assertEqual(rebuilt_names, names)
        self.assertTrue(any("target_value" in name for name in names))
