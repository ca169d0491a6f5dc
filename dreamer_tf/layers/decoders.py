"""The observation decoder: model features to a distribution over images."""

from __future__ import annotations

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from dreamer_tf.layers._shapes import flatten_batch, restore_batch
from dreamer_tf.layers.phase_convolution import PhaseConv2DTranspose

tfd = tfp.distributions


@keras.saving.register_keras_serializable(package="dreamer_tf")
class ConvDecoder(keras.layers.Layer):
    """Reconstructs images with transposed convolutions (the paper's decoder).

    ``Dense(32 * depth)`` is reshaped to ``1x1``, then ``Conv2DTranspose``
    layers of stride 2 with ``kernel_sizes`` (5, 5, 6, 6) and channels
    ``(4d, 2d, d, channels)`` grow it to 64x64. The result is the mean of an
    ``Independent(Normal(mean, 1), 3)``. The first and last layers run as the
    equal :class:`~dreamer_tf.layers.PhaseConv2DTranspose`.

    For another image size, pass kernel sizes that reach it from 1x1 (each
    layer maps ``n`` to ``2 * (n - 1) + kernel``), or subclass and override
    :meth:`upsample`.

    Args:
        depth: Channel multiplier.
        activation: Activation of every layer but the last.
        image_shape: ``(height, width, channels)`` of the images.
        kernel_sizes: Kernel size of each transposed convolution.
        **kwargs: Passed to :class:`keras.layers.Layer`.

    Call args:
        features: Model features ``[..., feature_dim]``.

    Returns:
        ``Independent(Normal(mean, 1), 3)`` with batch shape ``[...]``.

    Raises:
        ValueError: On the first call, if the layers do not produce
            ``image_shape``.
    """

    def __init__(
        self,
        depth: int = 32,
        activation: str = "relu",
        image_shape: tuple[int, int, int] = (64, 64, 3),
        kernel_sizes: tuple[int, ...] = (5, 5, 6, 6),
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.depth = depth
        self.activation = activation
        self.image_shape = tuple(int(size) for size in image_shape)
        self.kernel_sizes = tuple(int(size) for size in kernel_sizes)
        self.projection = keras.layers.Dense(32 * depth)
        num_hidden = len(self.kernel_sizes) - 1
        channels = [
            depth * 2 ** (num_hidden - 1 - index) for index in range(num_hidden)
        ]
        units = [*channels, self.image_shape[-1]]
        last = len(units) - 1
        self.transposed_convolutions = [
            _transposed_convolution(
                units[index],
                kernel,
                activation if index < last else None,
                by_phases=index in (0, last),
            )
            for index, kernel in enumerate(self.kernel_sizes)
        ]

    def build(self, input_shape):
        self.projection.build((None, input_shape[-1]))
        shape = (None, 1, 1, 32 * self.depth)
        for convolution in self.transposed_convolutions:
            convolution.build(shape)
            shape = convolution.compute_output_shape(shape)

    def upsample(self, hidden: tf.Tensor) -> tf.Tensor:
        """Maps ``[batch, 1, 1, 32 * depth]`` to ``[batch, *image_shape]``."""
        for convolution in self.transposed_convolutions:
            hidden = convolution(hidden)
        return hidden

    def call(self, features):
        flat, batch_shape = flatten_batch(features, 1)
        hidden = tf.reshape(self.projection(flat), [-1, 1, 1, 32 * self.depth])
        mean = self.upsample(hidden)
        if tuple(mean.shape[1:]) != self.image_shape:
            raise ValueError(
                f"{type(self).__name__} produces images of shape "
                f"{tuple(mean.shape[1:])}, not image_shape={self.image_shape}; "
                "choose kernel_sizes that reach it or override upsample()."
            )
        mean = restore_batch(tf.cast(mean, tf.float32), batch_shape)
        return tfd.Independent(tfd.Normal(mean, 1.0), 3)

    def get_config(self):
        return {
            **super().get_config(),
            "depth": self.depth,
            "activation": self.activation,
            "image_shape": self.image_shape,
            "kernel_sizes": self.kernel_sizes,
        }


def _transposed_convolution(units, kernel, activation, by_phases: bool):
    """One stride-2 layer of the decoder.

    The first layer (a matrix product on its 1x1 input) and the last (few
    output channels) run faster as :class:`PhaseConv2DTranspose`; the middle
    ones, whose phases would add zero taps, do not (BUILD_NOTES.md).
    """
    layer = PhaseConv2DTranspose if by_phases else keras.layers.Conv2DTranspose
    return layer(units, kernel, strides=2, activation=activation)
