"""Reproducible randomness for tests that pin the math.

TensorFlow's stateful random ops draw from streams whose seeds depend on the
order in which ops are created, so any refactor of a graph changes every
draw after it. These helpers make the noise a function of its shape alone:
``fixed_normal_noise`` patches every ``Normal`` sample (the RSSM's states,
the tanh-Normal actor, exploration) to ``loc + scale * noise(shape)``, and
``assign_fixed_weights`` sets variables from a seeded numpy generator, so a
pinned result changes only when the math does. ``fixed_sampling_noise`` adds
DreamerV2's samplers (one-hot categoricals and truncated normals) to it.
"""

from __future__ import annotations

import contextlib
from unittest import mock

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from dreamer_tf.agent import Dreamer
from dreamer_tf.agent_v2 import DreamerV2
from dreamer_tf.distributions import OneHotDist
from support.tiny import pixel_spaces

tfd = tfp.distributions

NOISE_SEED = (7, 11)
PARTS = ("model", "actor", "value")


def shape_noise(shape, dtype=tf.float32) -> tf.Tensor:
    """Standard-normal noise that depends only on ``shape``."""
    # One algorithm on every device: XLA would otherwise pick its own.
    return tf.random.stateless_normal(shape, seed=NOISE_SEED, dtype=dtype, alg="philox")


def _fixed_sample_n(self, n, seed=None):
    loc = tf.convert_to_tensor(self.loc)
    scale = tf.convert_to_tensor(self.scale)
    batch_shape = tf.broadcast_dynamic_shape(tf.shape(loc), tf.shape(scale))
    noise = shape_noise(tf.concat([[n], batch_shape], 0), self.dtype)
    return noise * scale + loc


@contextlib.contextmanager
def fixed_normal_noise():
    """Within the block, ``Normal`` samples use :func:`shape_noise`.

    Functions traced inside the block keep the patched sampling.
    """
    with mock.patch.object(tfd.Normal, "_sample_n", _fixed_sample_n):
        yield


def shape_uniform(shape, dtype=tf.float32) -> tf.Tensor:
    """Uniform noise in ``[1e-6, 1 - 1e-6)`` that depends only on ``shape``."""
    return tf.random.stateless_uniform(
        shape, NOISE_SEED, 1e-6, 1.0 - 1e-6, dtype=dtype, alg="philox"
    )


def _gumbel_max_sample_n(self, n, seed=None):
    logits = self.logits_parameter()
    uniform = shape_uniform(tf.concat([[n], tf.shape(logits)], 0), logits.dtype)
    gumbel = -tf.math.log(-tf.math.log(uniform))
    classes = tf.shape(logits)[-1]
    return tf.one_hot(tf.argmax(logits + gumbel, -1), classes, dtype=self.dtype)


def _standard_normal_cdf(x):
    return 0.5 * tf.math.erfc(-x / np.sqrt(2.0))


def _inverse_cdf_sample_n(self, n, seed=None):
    loc, scale, low, high = (
        tf.convert_to_tensor(parameter, self.dtype)
        for parameter in (self.loc, self.scale, self.low, self.high)
    )
    batch_shape = tf.shape(loc + scale + low + high)
    low_cdf = _standard_normal_cdf((low - loc) / scale)
    high_cdf = _standard_normal_cdf((high - loc) / scale)
    uniform = shape_uniform(tf.concat([[n], batch_shape], 0), self.dtype)
    # Differentiable in loc and scale: the reparameterised gradient.
    return loc + scale * tf.math.ndtri(low_cdf + uniform * (high_cdf - low_cdf))


@contextlib.contextmanager
def fixed_sampling_noise():
    """Within the block, every sampler of Dreamer and DreamerV2 uses shape noise.

    ``Normal`` as in :func:`fixed_normal_noise`; :class:`OneHotDist` by
    Gumbel-max on :func:`shape_uniform` (its straight-through gradient is
    kept); ``TruncatedNormal`` (DreamerV2's actor) by the inverse CDF of
    :func:`shape_uniform`, which keeps the reparameterised gradient.
    Functions traced inside the block keep the patched sampling.
    """
    with (
        fixed_normal_noise(),
        mock.patch.object(OneHotDist, "_sample_n", _gumbel_max_sample_n),
        mock.patch.object(tfd.TruncatedNormal, "_sample_n", _inverse_cdf_sample_n),
    ):
        yield


def assign_fixed_weights(variables, seed: int = 0) -> None:
    """Sets ``variables``, in order, to seeded values of a sensible scale.

    Kernels get ``normal / sqrt(fan_in)``; vectors (biases) ``0.1 * normal``.
    """
    rng = np.random.default_rng(seed)
    for variable in variables:
        shape = tuple(variable.shape)
        if len(shape) >= 2:
            fan_in = int(np.prod(shape[:-1]))
            values = rng.normal(size=shape) / np.sqrt(fan_in)
        else:
            values = 0.1 * rng.normal(size=shape)
        variable.assign(values.astype(np.float32))


def fixed_agent(config, seed: int = 0) -> Dreamer:
    """A pixel agent (2-dim actions) whose parts' weights come from ``seed + i``.

    The world model, actor and value model (``PARTS``, in order) get the
    seeds ``seed``, ``seed + 1`` and ``seed + 2``.
    """
    agent = Dreamer(config, *pixel_spaces())
    for offset, part in enumerate(PARTS):
        assign_fixed_weights(getattr(agent, f"{part}_variables"), seed + offset)
    return agent


def fixed_v2_agent(config, seed: int = 0, one_hot: bool = False) -> DreamerV2:
    """A pixel DreamerV2 (2-dim actions, one-hot if ``one_hot``) with fixed weights.

    The parts get seeds as in :func:`fixed_agent`, and the target critic,
    which the first update reads before any copy, ``seed + 3``.
    """
    agent = DreamerV2(config, *pixel_spaces(one_hot=one_hot))
    for offset, part in enumerate(PARTS):
        assign_fixed_weights(getattr(agent, f"{part}_variables"), seed + offset)
    assign_fixed_weights(agent.actor_critic.target_value.variables, seed + 3)
    return agent


def fixed_batch(config, action_size: int = 2, seed: int = 0) -> dict:
    """A batch of ``[batch_size, batch_length]`` sequences with varied images."""
    rng = np.random.default_rng(seed)
    shape = (config.batch_size, config.batch_length)
    return {
        "image": rng.integers(0, 256, (*shape, 64, 64, 3), dtype=np.uint8),
        "action": rng.uniform(-1, 1, (*shape, action_size)).astype(np.float32),
        "reward": rng.normal(size=shape).astype(np.float32),
        "discount": (rng.uniform(size=shape) > 0.1).astype(np.float32),
    }
