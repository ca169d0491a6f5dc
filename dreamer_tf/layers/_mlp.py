"""The stack of dense layers shared by encoders, heads and actors."""

import keras

from dreamer_tf.layers._shapes import flatten_batch, restore_batch


def dense_stack(units: int, num_layers: int, activation: str) -> list:
    """Returns ``num_layers`` dense layers of ``units`` with ``activation``."""
    return [keras.layers.Dense(units, activation) for _ in range(num_layers)]


def build_stack(stack: list, input_shape: tuple) -> tuple:
    """Builds the layers of ``stack`` in order; returns the output shape."""
    shape = tuple(input_shape)
    for layer in stack:
        layer.build(shape)
        shape = layer.compute_output_shape(shape)
    return shape


def apply_stack(stack: list, inputs):
    """Applies the layers of ``stack`` in order, on inputs flattened to 2-D.

    On more dimensions Keras' ``Dense`` runs a ``tensordot``, whose reshapes
    keep TensorFlow from fusing the matmul with its bias and activation; the
    leading dimensions are merged once for the whole stack instead.
    """
    flatten = (inputs.shape.rank or 0) > 2  # Unknown rank: as Keras does.
    hidden, batch_shape = flatten_batch(inputs, 1) if flatten else (inputs, None)
    for layer in stack:
        hidden = layer(hidden)
    return restore_batch(hidden, batch_shape) if flatten else hidden
