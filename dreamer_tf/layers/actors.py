"""Policies: a tanh-Gaussian for continuous and a one-hot for discrete actions."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from dreamer_tf.distributions import (
    OneHotDist,
    SampleDist,
    tanh_normal,
    truncated_normal,
)
from dreamer_tf.layers._mlp import apply_stack, build_stack, dense_stack


@keras.saving.register_keras_serializable(package="dreamer_tf")
class TanhNormalActor(keras.layers.Layer):
    """A tanh-transformed diagonal Gaussian policy (the paper's actor).

    An MLP outputs ``2 * action_size`` values split into mean and raw std:
    ``mean = mean_scale * tanh(mean / mean_scale)`` and ``std =
    softplus(raw + log(exp(init_std) - 1)) + min_std``, so that the initial
    std is ``init_std``. Mode, mean and entropy are estimated from samples.

    Args:
        action_size: Dimensions of the action vector.
        num_layers: Hidden layers.
        units: Width of every hidden layer.
        activation: Activation of the hidden layers.
        init_std: Std when the raw output is zero.
        min_std: Lower bound of the std.
        mean_scale: Bound of the pre-tanh mean.
        num_samples: Samples for mode, mean and entropy estimates.
        **kwargs: Passed to :class:`keras.layers.Layer`.

    Call args:
        features: Model features ``[..., feature_dim]``.

    Returns:
        A :class:`~dreamer_tf.distributions.SampleDist` over actions in
        ``(-1, 1)^action_size``.
    """

    def __init__(
        self,
        action_size: int,
        num_layers: int = 4,
        units: int = 400,
        activation: str = "elu",
        init_std: float = 5.0,
        min_std: float = 1e-4,
        mean_scale: float = 5.0,
        num_samples: int = 100,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.action_size = action_size
        self.num_layers = num_layers
        self.units = units
        self.activation = activation
        self.init_std = init_std
        self.min_std = min_std
        self.mean_scale = mean_scale
        self.num_samples = num_samples
        self.hidden_layers = dense_stack(units, num_layers, activation)
        self.output_layer = keras.layers.Dense(2 * action_size)

    def build(self, input_shape):
        self.output_layer.build(build_stack(self.hidden_layers, input_shape))

    def call(self, features) -> SampleDist:
        outputs = apply_stack([*self.hidden_layers, self.output_layer], features)
        mean, raw_std = tf.split(tf.cast(outputs, tf.float32), 2, -1)
        mean = self.mean_scale * tf.tanh(mean / self.mean_scale)
        raw_init_std = np.log(np.expm1(self.init_std))
        std = tf.nn.softplus(raw_std + raw_init_std) + self.min_std
        return tanh_normal(mean, std, self.num_samples)

    def get_config(self):
        return {
            **super().get_config(),
            "action_size": self.action_size,
            "num_layers": self.num_layers,
            "units": self.units,
            "activation": self.activation,
            "init_std": self.init_std,
            "min_std": self.min_std,
            "mean_scale": self.mean_scale,
            "num_samples": self.num_samples,
        }


@keras.saving.register_keras_serializable(package="dreamer_tf")
class OneHotActor(keras.layers.Layer):
    """A categorical policy over one-hot actions with straight-through samples.

    Args:
        action_size: Number of discrete actions.
        num_layers: Hidden layers.
        units: Width of every hidden layer.
        activation: Activation of the hidden layers.
        **kwargs: Passed to :class:`keras.layers.Layer`.

    Call args:
        features: Model features ``[..., feature_dim]``.

    Returns:
        A :class:`~dreamer_tf.distributions.OneHotDist` over ``action_size``.
    """

    def __init__(
        self,
        action_size: int,
        num_layers: int = 4,
        units: int = 400,
        activation: str = "elu",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.action_size = action_size
        self.num_layers = num_layers
        self.units = units
        self.activation = activation
        self.hidden_layers = dense_stack(units, num_layers, activation)
        self.output_layer = keras.layers.Dense(action_size)

    def build(self, input_shape):
        self.output_layer.build(build_stack(self.hidden_layers, input_shape))

    def call(self, features) -> OneHotDist:
        logits = apply_stack([*self.hidden_layers, self.output_layer], features)
        return OneHotDist(logits=tf.cast(logits, tf.float32))

    def get_config(self):
        return {
            **super().get_config(),
            "action_size": self.action_size,
            "num_layers": self.num_layers,
            "units": self.units,
            "activation": self.activation,
        }


@keras.saving.register_keras_serializable(package="dreamer_tf")
class TruncatedNormalActor(keras.layers.Layer):
    """DreamerV2's continuous policy: a truncated normal on ``[-1, 1]``.

    An MLP, then two output layers on its last hidden layer: ``mean =
    tanh(out)`` and ``std = 2 * sigmoid((raw + init_std) / 2) + min_std``
    (so the std lies in ``(min_std, 2 + min_std)``). Mode, entropy and
    log-density are exact (:func:`~dreamer_tf.distributions.truncated_normal`).

    Args:
        action_size: Dimensions of the action vector.
        num_layers: Hidden layers.
        units: Width of every hidden layer.
        activation: Activation of the hidden layers.
        min_std: Lower bound of the std.
        init_std: Offset of the raw std.
        **kwargs: Passed to :class:`keras.layers.Layer`.

    Call args:
        features: Model features ``[..., feature_dim]``.

    Returns:
        An ``Independent`` truncated normal over ``action_size`` dims.
    """

    def __init__(
        self,
        action_size: int,
        num_layers: int = 4,
        units: int = 400,
        activation: str = "elu",
        min_std: float = 0.1,
        init_std: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.action_size = action_size
        self.num_layers = num_layers
        self.units = units
        self.activation = activation
        self.min_std = min_std
        self.init_std = init_std
        self.hidden_layers = dense_stack(units, num_layers, activation)
        self.mean_layer = keras.layers.Dense(action_size)
        self.std_layer = keras.layers.Dense(action_size)

    def build(self, input_shape):
        shape = build_stack(self.hidden_layers, input_shape)
        self.mean_layer.build(shape)
        self.std_layer.build(shape)

    def call(self, features):
        hidden = apply_stack(self.hidden_layers, features)
        mean = tf.cast(apply_stack([self.mean_layer], hidden), tf.float32)
        raw_std = tf.cast(apply_stack([self.std_layer], hidden), tf.float32)
        std = 2 * tf.sigmoid((raw_std + self.init_std) / 2) + self.min_std
        return truncated_normal(tf.tanh(mean), std)

    def get_config(self):
        return {
            **super().get_config(),
            "action_size": self.action_size,
            "num_layers": self.num_layers,
            "units": self.units,
            "activation": self.activation,
            "min_std": self.min_std,
            "init_std": self.init_std,
        }
