"""The stack of dense layers shared by encoders, heads and actors."""

import keras


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
    """Applies the layers of ``stack`` in order."""
    hidden = inputs
    for layer in stack:
        hidden = layer(hidden)
    return hidden
