"""Observation encoders: pixels through a CNN, vectors through an MLP."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from dreamer_tf.layers._mlp import apply_stack, build_stack, dense_stack
from dreamer_tf.layers._shapes import flatten_batch, restore_batch
from dreamer_tf.layers.phase_convolution import PhaseConv2D


@keras.saving.register_keras_serializable(package="dreamer_tf")
class ConvEncoder(keras.layers.Layer):
    """Embeds images with strided convolutions (the paper's encoder).

    Four ``Conv2D(kernel 4, stride 2, VALID)`` layers with ``depth * (1, 2, 4,
    8)`` channels; a 64x64x3 image becomes a ``32 * depth`` = 1024-dim vector.
    The first runs as the equal :class:`~dreamer_tf.layers.PhaseConv2D`.

    Args:
        depth: Channels of the first convolution; later ones double it.
        activation: Activation of every convolution.
        kernel_size: Kernel size of every convolution.
        num_layers: Number of convolutions.
        **kwargs: Passed to :class:`keras.layers.Layer`.

    Call args:
        image: Float images ``[..., height, width, channels]`` (preprocessed).

    Returns:
        Embeddings ``[..., embed_dim]``.
    """

    def __init__(
        self,
        depth: int = 32,
        activation: str = "relu",
        kernel_size: int = 4,
        num_layers: int = 4,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.depth = depth
        self.activation = activation
        self.kernel_size = kernel_size
        self.num_layers = num_layers
        # The first layer, on 3 channels, runs faster by phases (BUILD_NOTES.md).
        self.convolutions = [
            (PhaseConv2D if index == 0 else keras.layers.Conv2D)(
                depth * 2**index, kernel_size, strides=2, activation=activation
            )
            for index in range(num_layers)
        ]

    def build(self, input_shape):
        build_stack(self.convolutions, (None, *input_shape[-3:]))

    def call(self, image):
        hidden, batch_shape = flatten_batch(image, 3)
        for convolution in self.convolutions:
            hidden = convolution(hidden)
        hidden = tf.reshape(hidden, [-1, int(np.prod(hidden.shape[1:]))])
        return restore_batch(hidden, batch_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "depth": self.depth,
            "activation": self.activation,
            "kernel_size": self.kernel_size,
            "num_layers": self.num_layers,
        }


@keras.saving.register_keras_serializable(package="dreamer_tf")
class MLPEncoder(keras.layers.Layer):
    """Embeds vector observations with a multi-layer perceptron.

    Args:
        units: Width of every layer.
        num_layers: Number of dense layers.
        activation: Activation of every layer.
        **kwargs: Passed to :class:`keras.layers.Layer`.

    Call args:
        vector: Float observations ``[..., features]``.

    Returns:
        Embeddings ``[..., units]``.
    """

    def __init__(
        self, units: int = 400, num_layers: int = 2, activation: str = "elu", **kwargs
    ):
        super().__init__(**kwargs)
        self.units = units
        self.num_layers = num_layers
        self.activation = activation
        self.hidden_layers = dense_stack(units, num_layers, activation)

    def build(self, input_shape):
        build_stack(self.hidden_layers, input_shape)

    def call(self, vector):
        return apply_stack(self.hidden_layers, vector)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "num_layers": self.num_layers,
            "activation": self.activation,
        }
