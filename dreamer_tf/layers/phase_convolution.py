"""Stride-2 convolutions computed as stride-1 ones over the four stride phases."""

from __future__ import annotations

import keras
import tensorflow as tf

STRIDE = 2


@keras.saving.register_keras_serializable(package="dreamer_tf")
class PhaseConv2DTranspose(keras.layers.Conv2DTranspose):
    """``Conv2DTranspose`` of stride 2 and VALID padding, computed by phases.

    Output pixel ``(2i + p, 2j + r)`` of a stride-2 transposed convolution
    sees only the kernel taps ``[p::2, r::2]``: each of the four phases
    ``(p, r)`` is an ordinary stride-1 convolution with a kernel of size
    ``ceil(k / 2)``. The four phase kernels are stacked on the output channels
    of one stride-1 convolution (taps past the kernel's edge are zero) and
    ``depth_to_space`` interleaves the phases. On a ``1x1`` input the layer
    is a matrix product.

    The weights, their shapes and the products summed are those of
    :class:`keras.layers.Conv2DTranspose` (only the order of float additions
    differs), so checkpoints are interchangeable. On CPUs it is faster
    because oneDNN's stride-1 convolutions and their gradients run closer to
    peak than its strided transposed ones (see BUILD_NOTES.md).

    Args:
        filters: Output channels.
        kernel_size: Square kernel size.
        **kwargs: Passed to :class:`keras.layers.Conv2DTranspose`; strides
            must be 2, padding ``"valid"``, data format ``"channels_last"``.

    Raises:
        ValueError: For any other strides, padding, data format, dilation or
            output padding.
    """

    def __init__(self, filters: int, kernel_size: int, **kwargs):
        kwargs.setdefault("strides", STRIDE)
        super().__init__(filters, kernel_size, **kwargs)
        _check_geometry(self)

    def call(self, inputs):
        kernel = tf.cast(self.kernel, inputs.dtype)
        if inputs.shape[1] == 1 and inputs.shape[2] == 1:
            outputs = self._from_single_pixel(inputs, kernel)
        else:
            outputs = self._by_phases(inputs, kernel)
        return _bias_and_activation(self, outputs)

    def _from_single_pixel(self, inputs, kernel):
        size, _, filters, channels = kernel.shape
        matrix = tf.reshape(tf.transpose(kernel, [3, 0, 1, 2]), [channels, -1])
        outputs = tf.matmul(tf.reshape(inputs, [-1, channels]), matrix)
        return tf.reshape(outputs, [-1, size, size, filters])

    def _by_phases(self, inputs, kernel):
        size, _, filters, channels = kernel.shape
        kernel, phase_size = _split_taps(kernel)
        # Flipped because a transposed convolution is a convolution with the
        # reversed kernel.
        kernel = tf.reverse(tf.transpose(kernel, [0, 2, 5, 1, 3, 4]), [0, 1])
        kernel = tf.reshape(
            kernel, [phase_size, phase_size, channels, STRIDE * STRIDE * filters]
        )
        border = phase_size - 1
        padded = tf.pad(inputs, [[0, 0], [border, border], [border, border], [0, 0]])
        outputs = tf.nn.depth_to_space(tf.nn.conv2d(padded, kernel, 1, "VALID"), STRIDE)
        height, width = _spatial_size(inputs)
        return _crop(outputs, STRIDE * (height - 1) + size, STRIDE * (width - 1) + size)


@keras.saving.register_keras_serializable(package="dreamer_tf")
class PhaseConv2D(keras.layers.Conv2D):
    """``Conv2D`` of stride 2 and VALID padding, computed by phases.

    ``space_to_depth`` stacks the four stride phases of the input on its
    channels; tap ``(2a + p, 2b + r)`` of the kernel then meets phase
    ``(p, r)`` at offset ``(a, b)``, so one stride-1 convolution with a kernel
    of size ``ceil(k / 2)`` over ``4 * channels`` computes the layer (taps
    past an odd kernel's edge are zero). Same weights and products as
    :class:`keras.layers.Conv2D`, only the order of float additions differs.
    On CPUs it is faster where the input has few channels (the encoder's
    first layer sees 3): oneDNN vectorizes 12 channels better (BUILD_NOTES.md).

    Args:
        filters: Output channels.
        kernel_size: Square kernel size.
        **kwargs: Passed to :class:`keras.layers.Conv2D`; strides must be 2,
            padding ``"valid"``, data format ``"channels_last"``.

    Raises:
        ValueError: For any other strides, padding, data format or dilation.
    """

    def __init__(self, filters: int, kernel_size: int, **kwargs):
        kwargs.setdefault("strides", STRIDE)
        super().__init__(filters, kernel_size, **kwargs)
        _check_geometry(self)

    def call(self, inputs):
        kernel = tf.cast(self.kernel, inputs.dtype)
        size, _, channels, filters = kernel.shape
        kernel, phase_size = _split_taps(kernel)
        kernel = tf.reshape(
            tf.transpose(kernel, [0, 2, 1, 3, 4, 5]),
            [phase_size, phase_size, STRIDE * STRIDE * channels, filters],
        )
        height, width = _spatial_size(inputs)
        # space_to_depth needs even sizes; the added row and column meet only
        # zero taps or fall in outputs that are cropped.
        padded = tf.pad(inputs, [[0, 0], [0, height % 2], [0, width % 2], [0, 0]])
        outputs = tf.nn.conv2d(tf.nn.space_to_depth(padded, STRIDE), kernel, 1, "VALID")
        outputs = _crop(
            outputs, (height - size) // STRIDE + 1, (width - size) // STRIDE + 1
        )
        return _bias_and_activation(self, outputs)


def _split_taps(kernel) -> tuple:
    """Splits a square kernel's rows and columns by the phase of their taps.

    Returns:
        ``kernel`` as ``[phase_size, 2, phase_size, 2, ...]``, where
        ``[a, p, b, r]`` is tap ``(2a + p, 2b + r)`` (zero past an odd
        kernel's edge), and ``phase_size = ceil(size / 2)``.
    """
    size = kernel.shape[0]
    phase_size = -(-size // STRIDE)
    extra = STRIDE * phase_size - size
    kernel = tf.pad(kernel, [[0, extra], [0, extra], [0, 0], [0, 0]])
    return (
        tf.reshape(kernel, [phase_size, STRIDE, phase_size, STRIDE, *kernel.shape[2:]]),
        phase_size,
    )


def _crop(outputs, height, width):
    """``outputs[:, :height, :width]``, or ``outputs`` where that is all of it.

    Skipping a crop that keeps everything saves a copy of the activations in
    the backward pass (``StridedSliceGrad``).
    """
    if all(isinstance(size, int) for size in (height, width)) and tuple(
        outputs.shape[1:3]
    ) == (height, width):
        return outputs
    return outputs[:, :height, :width]


def _bias_and_activation(layer, outputs):
    if layer.use_bias:
        outputs = outputs + tf.cast(layer.bias, outputs.dtype)
    if layer.activation is not None:
        outputs = layer.activation(outputs)
    return outputs


def _spatial_size(inputs) -> tuple:
    """Static height and width where known, else dynamic."""
    dynamic = tf.unstack(tf.shape(inputs)[1:3])
    return tuple(
        static if static is not None else size
        for static, size in zip(inputs.shape[1:3], dynamic)
    )


def _check_geometry(layer) -> None:
    unsupported = {
        "strides": layer.strides != (STRIDE, STRIDE),
        "padding": layer.padding != "valid",
        "data_format": layer.data_format != "channels_last",
        "dilation_rate": layer.dilation_rate != (1, 1),
        "output_padding": getattr(layer, "output_padding", None) is not None,
        "kernel_size": layer.kernel_size[0] != layer.kernel_size[1],
    }
    wrong = [name for name, is_wrong in unsupported.items() if is_wrong]
    if wrong:
        raise ValueError(
            f"{type(layer).__name__} supports square kernels, strides 2, "
            f"VALID padding and channels_last only; got {', '.join(wrong)}."
        )
