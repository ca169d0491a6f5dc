"""The stack of dense layers shared by encoders, heads and actors."""

import keras


def dense_stack(units: int, num_layers: int, activation: str) -> list:
    """Returns ``num_layers`` dense layers of ``units`` with ``activation``."""
    return [keras.layers.Dense(units, activation) for _ in range(num_layers)]


def apply_stack(stack: list, inputs):
    """Applies the layers of ``stack`` in order."""
    hidden = inputs
    for layer in stack:
        hidden = layer(hidden)
    return hidden
