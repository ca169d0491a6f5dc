"""The FLOP counter of benchmarks/: loops, their gradients and convolutions."""

import pathlib
import sys

import tensorflow as tf

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "benchmarks"))
from hlo_flops import hlo_flops

STEPS, BATCH, WIDTH = 7, 5, 8
MATMUL = 2 * BATCH * WIDTH * WIDTH


def optimized_hlo(function, *args) -> str:
    return function.experimental_get_compiler_ir(*args)(stage="optimized_hlo")


class HloFlopsTest(tf.test.TestCase):
    def test_scan_body_counts_once_per_step_and_convolution_by_window(self):
        @tf.function(jit_compile=True)
        def forward(carry, weight, kernel):
            states = tf.scan(lambda c, _: tf.matmul(c, weight), tf.range(STEPS), carry)
            images = tf.nn.conv2d(tf.ones([2, 16, 16, 3]), kernel, 2, "VALID")
            return states, images

        flops = hlo_flops(
            optimized_hlo(
                forward,
                tf.ones([BATCH, WIDTH]),
                tf.ones([WIDTH, WIDTH]),
                tf.ones([4, 4, 3, 6]),
            )
        )
        self.assertEqual(flops.dot, STEPS * MATMUL)
        # 7x7 outputs of 6 channels for 2 images, each over a 4x4x3 window.
        self.assertEqual(flops.convolution, 2 * 2 * 7 * 7 * 6 * 4 * 4 * 3)

    def test_gradient_loop_runs_as_often_as_the_forward_loop(self):
        @tf.function(jit_compile=True)
        def gradient(carry, weight):
            with tf.GradientTape() as tape:
                tape.watch(weight)
                states = tf.scan(
                    lambda c, _: tf.tanh(tf.matmul(c, weight)), tf.range(STEPS), carry
                )
                loss = tf.reduce_sum(states)
            return tape.gradient(loss, weight)

        flops = hlo_flops(
            optimized_hlo(gradient, tf.ones([BATCH, WIDTH]), tf.ones([WIDTH, WIDTH]))
        )
        # Forward product, then per step the carry's and the weight's gradient.
        self.assertEqual(flops.dot, 3 * STEPS * MATMUL)

    def test_transposed_convolution_counts_no_products_with_inserted_zeros(self):
        @tf.function(jit_compile=True)
        def decode(features, kernel):
            return tf.nn.conv2d_transpose(features, kernel, [2, 12, 12, 3], 2, "VALID")

        flops = hlo_flops(
            optimized_hlo(decode, tf.ones([2, 5, 5, 8]), tf.ones([4, 4, 3, 8]))
        )
        # Every input element meets every kernel tap once.
        self.assertEqual(flops.convolution, 2 * (2 * 5 * 5 * 8) * (4 * 4 * 3))

    def test_strided_convolution_gradients(self):
        @tf.function(jit_compile=True)
        def gradients(images, kernel):
            with tf.GradientTape() as tape:
                tape.watch([images, kernel])
                loss = tf.reduce_sum(tf.nn.conv2d(images, kernel, 2, "VALID") ** 2)
            return tape.gradient(loss, [images, kernel])

        flops = hlo_flops(
            optimized_hlo(gradients, tf.ones([2, 16, 16, 3]), tf.ones([4, 4, 3, 6]))
        )
        # The forward product, the input's and the kernel's gradients.
        self.assertEqual(flops.convolution, 3 * 2 * 2 * 7 * 7 * 6 * 4 * 4 * 3)
