"""MLP heads that map model features to distributions over targets."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from dreamer_tf.layers._mlp import apply_stack, build_stack, dense_stack

tfd = tfp.distributions

HEAD_DISTRIBUTIONS = ("normal", "bernoulli")


@keras.saving.register_keras_serializable(package="dreamer_tf")
class DenseHead(keras.layers.Layer):
    """An MLP whose output parameterises a distribution of a given shape.

    ``normal`` gives ``Independent(Normal(mean, 1))`` (a squared error with a
    unit-variance likelihood, as in the paper); ``bernoulli`` gives an
    ``Independent(Bernoulli(logits))`` whose ``log_prob`` accepts soft labels.

    Args:
        output_shape: Event shape of the target; ``()`` for a scalar.
        num_layers: Hidden layers; ``None`` takes the class's
            ``default_num_layers``.
        units: Width of every hidden layer.
        activation: Activation of the hidden layers.
        distribution: ``"normal"`` or ``"bernoulli"``; ``None`` takes the
            class's ``default_distribution``.
        **kwargs: Passed to :class:`keras.layers.Layer`.

    Call args:
        features: Model features ``[..., feature_dim]``.

    Returns:
        A TFP distribution with batch shape ``[...]`` and event shape
        ``output_shape``.

    Raises:
        ValueError: For an unknown ``distribution``.
    """

    default_num_layers = 3
    default_distribution = "normal"

    def __init__(
        self,
        output_shape: tuple[int, ...] = (),
        num_layers: int | None = None,
        units: int = 400,
        activation: str = "elu",
        distribution: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        num_layers = self.default_num_layers if num_layers is None else num_layers
        distribution = distribution or self.default_distribution
        if distribution not in HEAD_DISTRIBUTIONS:
            raise ValueError(
                f"distribution must be one of {HEAD_DISTRIBUTIONS}, got "
                f"{distribution!r}."
            )
        self.event_shape = tuple(int(size) for size in output_shape)
        self.num_layers = num_layers
        self.units = units
        self.activation = activation
        self.distribution = distribution
        self.hidden_layers = dense_stack(units, num_layers, activation)
        self.output_layer = keras.layers.Dense(int(np.prod(self.event_shape)))

    def build(self, input_shape):
        self.output_layer.build(build_stack(self.hidden_layers, input_shape))

    def call(self, features):
        outputs = apply_stack([*self.hidden_layers, self.output_layer], features)
        outputs = tf.cast(outputs, tf.float32)
        outputs = tf.reshape(
            outputs, tf.concat([tf.shape(outputs)[:-1], self.event_shape], 0)
        )
        if self.distribution == "bernoulli":
            base = tfd.Bernoulli(logits=outputs, dtype=tf.float32)
        else:
            base = tfd.Normal(outputs, 1.0)
        return tfd.Independent(base, len(self.event_shape))

    def get_config(self):
        return {
            **super().get_config(),
            "output_shape": self.event_shape,
            "num_layers": self.num_layers,
            "units": self.units,
            "activation": self.activation,
            "distribution": self.distribution,
        }


@keras.saving.register_keras_serializable(package="dreamer_tf")
class RewardHead(DenseHead):
    """Predicts the reward as ``Normal(mean, 1)``; two hidden layers of 400."""

    default_num_layers = 2


@keras.saving.register_keras_serializable(package="dreamer_tf")
class ValueHead(DenseHead):
    """Predicts the value as ``Normal(mean, 1)``; three hidden layers of 400."""

    default_num_layers = 3


@keras.saving.register_keras_serializable(package="dreamer_tf")
class ContinueHead(DenseHead):
    """Predicts continuation (discount) as a Bernoulli; three layers of 400."""

    default_num_layers = 3
    default_distribution = "bernoulli"
