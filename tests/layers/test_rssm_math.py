"""The RSSM's equations against a numpy re-implementation from its weights.

Transition prior ``q(s_t | s_{t-1}, a_{t-1})``: ``h = elu([stoch, action] W
+ b)``, ``deter = GRU(h, deter_{t-1})``, stats from ``elu(deter W + b)``.
Representation posterior: stats from ``elu([deter_t, embed_t] W + b)``, the
new ``deter_t`` of the same step. ``std = softplus(raw) + min_std``; samples
``mean + std * noise`` with the fixed noise of ``fixed_noise.py``.
"""

import numpy as np
import tensorflow as tf
from support.fixed_noise import assign_fixed_weights, fixed_normal_noise, shape_noise

from dreamer_tf.layers import RSSMCell

STOCH, DETER, HIDDEN, MIN_STD = 3, 5, 4, 0.1


def tensors(state):
    return {key: tf.constant(value) for key, value in state.items()}


def elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softplus(x):
    return np.log1p(np.exp(x))


def dense(layer, inputs, activation=None):
    kernel, bias = (weight.numpy() for weight in layer.weights)
    outputs = inputs @ kernel + bias
    return elu(outputs) if activation == "elu" else outputs


def gru(cell, inputs, state):
    """Keras' GRU with ``reset_after``: gates z, r, candidate h, in that order."""
    kernel, recurrent, bias = (weight.numpy() for weight in cell.weights)
    x_z, x_r, x_h = np.split(inputs @ kernel + bias[0], 3, -1)
    h_z, h_r, h_h = np.split(state @ recurrent + bias[1], 3, -1)
    update = sigmoid(x_z + h_z)
    reset = sigmoid(x_r + h_r)
    candidate = np.tanh(x_h + reset * h_h)
    return update * state + (1 - update) * candidate


def gaussian(stats, deter):
    mean, raw_std = np.split(stats, 2, -1)
    std = softplus(raw_std) + MIN_STD
    noise = shape_noise([1, *mean.shape]).numpy()[0]
    return {"mean": mean, "std": std, "stoch": mean + std * noise, "deter": deter}


def numpy_prior(cell, state, action):
    hidden = dense(
        cell.prior_input, np.concatenate([state["stoch"], action], -1), "elu"
    )
    deter = gru(cell.gru, hidden, state["deter"])
    stats = dense(cell.prior_stats, dense(cell.prior_hidden, deter, "elu"))
    return gaussian(stats, deter)


def numpy_posterior(cell, state, action, embed):
    prior = numpy_prior(cell, state, action)
    inputs = np.concatenate([prior["deter"], embed], -1)
    stats = dense(cell.posterior_stats, dense(cell.posterior_hidden, inputs, "elu"))
    return gaussian(stats, prior["deter"]), prior


class RSSMEquationsTest(tf.test.TestCase):
    def setUp(self):
        super().setUp()
        self.cell = RSSMCell(STOCH, DETER, HIDDEN, "elu", MIN_STD)
        rng = np.random.default_rng(0)
        self.state = {
            "mean": rng.normal(size=(2, STOCH)),
            "std": rng.uniform(0.2, 1, size=(2, STOCH)),
            "stoch": rng.normal(size=(2, STOCH)),
            "deter": rng.normal(size=(2, DETER)),
        }
        self.state = {k: v.astype(np.float32) for k, v in self.state.items()}
        self.action = rng.uniform(-1, 1, size=(2, 2)).astype(np.float32)
        self.embed = rng.normal(size=(2, 7)).astype(np.float32)
        self.cell(self.state, self.action, self.embed)
        assign_fixed_weights(self.cell.weights, seed=3)

    def assertStatesClose(self, actual, expected):
        for key in ("mean", "std", "stoch", "deter"):
            self.assertAllClose(actual[key], expected[key], atol=1e-5, msg=key)

    def test_prior_step(self):
        with fixed_normal_noise():
            prior = self.cell.prior_step(tensors(self.state), tf.constant(self.action))
        self.assertStatesClose(prior, numpy_prior(self.cell, self.state, self.action))

    def test_posterior_step_sees_the_new_deterministic_state(self):
        with fixed_normal_noise():
            posterior, prior = self.cell.posterior_step(
                tensors(self.state), tf.constant(self.action), tf.constant(self.embed)
            )
        expected_posterior, expected_prior = numpy_posterior(
            self.cell, self.state, self.action, self.embed
        )
        self.assertStatesClose(prior, expected_prior)
        self.assertStatesClose(posterior, expected_posterior)

    def test_std_floor(self):
        self.cell.prior_stats.weights[0].assign(
            tf.zeros_like(self.cell.prior_stats.weights[0])
        )
        self.cell.prior_stats.weights[1].assign(tf.fill([2 * STOCH], -1e4))
        prior = self.cell.prior_step(tensors(self.state), tf.constant(self.action))
        self.assertAllClose(prior["std"], np.full((2, STOCH), MIN_STD))

    def test_observe_and_imagine_follow_the_steps(self):
        rng = np.random.default_rng(1)
        embed = rng.normal(size=(2, 4, 7)).astype(np.float32)
        action = rng.uniform(-1, 1, size=(2, 4, 2)).astype(np.float32)
        with fixed_normal_noise():
            posterior, prior = self.cell.observe(embed, action)
            imagined = self.cell.imagine(action, tensors(self.state))
        zero = {
            key: np.zeros((2, value.shape[-1]), np.float32)
            for key, value in self.state.items()
        }
        state = zero
        for t in range(4):
            expected_posterior, expected_prior = numpy_posterior(
                self.cell, state, action[:, t], embed[:, t]
            )
            self.assertStatesClose(
                {k: v[:, t] for k, v in posterior.items()}, expected_posterior
            )
            self.assertStatesClose(
                {k: v[:, t] for k, v in prior.items()}, expected_prior
            )
            state = expected_posterior
        state = self.state
        for t in range(4):
            state = numpy_prior(self.cell, state, action[:, t])
            self.assertStatesClose({k: v[:, t] for k, v in imagined.items()}, state)

    def test_features_are_stoch_then_deter(self):
        features = self.cell.features(self.state)
        expected = np.concatenate([self.state["stoch"], self.state["deter"]], -1)
        self.assertAllEqual(features, expected)

    def test_distribution_is_diagonal_gaussian_over_stoch(self):
        distribution = self.cell.distribution(self.state)
        value = self.state["stoch"] + 0.3
        expected = np.sum(
            -0.5 * ((value - self.state["mean"]) / self.state["std"]) ** 2
            - np.log(self.state["std"] * np.sqrt(2 * np.pi)),
            -1,
        )
        self.assertAllClose(distribution.log_prob(value), expected, rtol=1e-5)
