"""Each encoder and decoder layer as Keras runs it against the phase layer.

For every stride-2 layer of the paper's encoder and decoder, on the update's
shapes (``--images`` = batch x length), times forward and backward (the
gradients of the weights and of the input) of the Keras layer and of the
equal phase layer (``dreamer_tf.layers.PhaseConv2D`` /
``PhaseConv2DTranspose``) with the same weights, and prints both and their
ratio. This is the table behind the choice of which layers run by phases::

    python benchmarks/phase_layers.py
    python benchmarks/phase_layers.py --images 2500 --repeats 3

Float32; each layer in one process, one after the other. About a minute.
"""

from __future__ import annotations

import argparse

import keras
import numpy as np
import tensorflow as tf
from timing import median_seconds

from dreamer_tf.layers import PhaseConv2D, PhaseConv2DTranspose

# (name, input size, input channels, kernel, output channels) of each layer.
ENCODER = [
    ("encoder 1", 64, 3, 4, 32),
    ("encoder 2", 31, 32, 4, 64),
    ("encoder 3", 14, 64, 4, 128),
    ("encoder 4", 6, 128, 4, 256),
]
DECODER = [
    ("decoder 1", 1, 1024, 5, 128),
    ("decoder 2", 5, 128, 5, 64),
    ("decoder 3", 13, 64, 6, 32),
    ("decoder 4", 30, 32, 6, 3),
]


def seconds_per_step(layer, inputs, repeats: int) -> float:
    """Median seconds of one forward and backward pass after a warm-up."""

    @tf.function
    def step(inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            outputs = layer(inputs)
            loss = tf.reduce_sum(outputs * outputs)
        return tape.gradient(loss, [inputs, *layer.trainable_variables])

    return median_seconds(step, inputs, repeats=repeats)


def layer_pair(transposed: bool, size, channels, kernel, filters):
    """The Keras layer and the phase layer, built, with the same weights."""
    keras_class = keras.layers.Conv2DTranspose if transposed else keras.layers.Conv2D
    phase_class = PhaseConv2DTranspose if transposed else PhaseConv2D
    pair = [keras_class(filters, kernel, strides=2), phase_class(filters, kernel)]
    for layer in pair:
        layer.build((None, size, size, channels))
    pair[1].set_weights(pair[0].get_weights())
    return pair


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=800, help="16x50 = 800.")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print("layer       Keras ms  phases ms  phases / Keras")
    for transposed, layers in ((False, ENCODER), (True, DECODER)):
        for name, size, channels, kernel, filters in layers:
            inputs = tf.constant(
                rng.normal(size=(args.images, size, size, channels)), tf.float32
            )
            keras_layer, phase_layer = layer_pair(
                transposed, size, channels, kernel, filters
            )
            keras_s = seconds_per_step(keras_layer, inputs, args.repeats)
            phase_s = seconds_per_step(phase_layer, inputs, args.repeats)
            print(
                f"{name:<10} {1e3 * keras_s:9.0f} {1e3 * phase_s:10.0f} "
                f"{phase_s / keras_s:15.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
