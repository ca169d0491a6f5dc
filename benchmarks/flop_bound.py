"""The update against this machine's limit: FLOPs, sustained throughput, share.

1. Measures this CPU's sustained throughput in fp32 (and bf16 where the CPU
   computes it natively): a 2048x2048 matmul, and the best of the model's
   seven strided convolutions at 800 images, forward and both gradients
   (each printed in fp32), since a rate one of the update's own layers beats
   is no bound.
2. Counts one update's matmul and convolution FLOPs from its compiled graph
   (``hlo_flops.py``: XLA's optimized HLO, loops and gradients included).
3. Times the update (``train_step.py``, float32, no XLA) and prints the time
   the FLOPs need at the measured rates as a share of the measured time.

It also prints what the seven convolutions take with every direction at its
own measured rate, against the best rate: how far oneDNN's kernels on these
shapes, not the code around them, keep the update from the bound.

    python benchmarks/flop_bound.py                  # 16x50 and 50x50
    python benchmarks/flop_bound.py --batch_sizes 16 --steps 3

Paper-size model, 64x64x3 pixels, 6-dim actions. Takes about 5 minutes.
"""

from __future__ import annotations

import argparse
from unittest import mock

import gymnasium as gym
import keras
import numpy as np
import tensorflow as tf
from hlo_flops import hlo_flops
from phase_layers import DECODER, ENCODER
from timing import median_seconds
from train_step import run_setting

from dreamer_tf.agent import Dreamer
from dreamer_tf.config import DreamerConfig
from dreamer_tf.layers import decoders
from dreamer_tf.learning.precision import cpu_has_native_bfloat16

MATMUL_SIZE = 2048
IMAGES = 800  # One 16x50 batch.
REPEATS = 10  # Timed runs of each matmul and convolution.
# Every strided convolution of the paper's model (``phase_layers``' table) as
# (name, input size, input channels, output channels, kernel); a decoder layer
# as the convolution whose input gradient it is. The decoder's first layer, on
# a 1x1 input, is a matmul.
CONVOLUTIONS = tuple(
    (name, size, channels, filters, kernel)
    for name, size, channels, kernel, filters in ENCODER
) + tuple(
    (name, 2 * (size - 1) + kernel, filters, channels, kernel)
    for name, size, channels, kernel, filters in DECODER
    if size > 1
)
DIRECTIONS = ("forward", "input gradient", "filter gradient")
# The update never differentiates the images.
UNUSED = {("encoder 1", "input gradient")}


def matmul_rate(dtype) -> float:
    """Sustained FLOP/s of a square matmul of ``MATMUL_SIZE``."""
    a = tf.random.normal([MATMUL_SIZE] * 2, dtype=tf.float32)
    a = tf.cast(a, dtype)
    function = tf.function(lambda x: tf.reduce_sum(tf.matmul(x, x)))
    return 2 * MATMUL_SIZE**3 / median_seconds(function, a, repeats=REPEATS)


def conv_rates(dtype, size, channels, filters, kernel_size) -> tuple:
    """FLOP/s of one stride-2 convolution: forward, input and filter gradient."""
    images = tf.cast(tf.random.normal([IMAGES, size, size, channels]), dtype)
    kernel = tf.cast(
        tf.random.normal([kernel_size, kernel_size, channels, filters]), dtype
    )
    outputs = tf.nn.conv2d(images, kernel, 2, "VALID")
    flops = conv_flops(IMAGES, size, channels, filters, kernel_size)
    strides = [1, 2, 2, 1]
    functions = (
        lambda: tf.nn.conv2d(images, kernel, 2, "VALID"),
        lambda: tf.raw_ops.Conv2DBackpropInput(
            input_sizes=images.shape,
            filter=kernel,
            out_backprop=outputs,
            strides=strides,
            padding="VALID",
        ),
        lambda: tf.raw_ops.Conv2DBackpropFilter(
            input=images,
            filter_sizes=kernel.shape,
            out_backprop=outputs,
            strides=strides,
            padding="VALID",
        ),
    )
    return tuple(
        flops
        / median_seconds(tf.function(lambda f=f: tf.reduce_sum(f())), repeats=REPEATS)
        for f in functions
    )


def conv_flops(images, size, channels, filters, kernel_size) -> float:
    """FLOPs of one direction of a stride-2 VALID convolution."""
    output_size = (size - kernel_size) // 2 + 1
    return 2.0 * images * output_size**2 * filters * kernel_size**2 * channels


def conv_rate(dtype, table: bool = False) -> tuple[float, dict]:
    """The best FLOP/s of the model's convolutions in any direction.

    The machine's conv limit is what oneDNN reaches on the most favourable of
    the update's own convolutions: a rate the update beats on some layer
    would not bound it.

    Returns:
        The best rate, and each layer's rates by direction.
    """
    layer_rates = {}
    for name, *shape in CONVOLUTIONS:
        layer_rates[name] = conv_rates(dtype, *shape)
        if table:
            print(
                f"  {name:10}" + "".join(f"{r / 1e9:17.0f}" for r in layer_rates[name]),
                flush=True,
            )
    return max(max(rates) for rates in layer_rates.values()), layer_rates


def seconds_at_layer_rates(layer_rates: dict, images: int) -> float:
    """The seven convolutions' time, each direction the update takes at its rate."""
    seconds = 0.0
    for name, *shape in CONVOLUTIONS:
        flops = conv_flops(images, *shape)
        for direction, rate in zip(DIRECTIONS, layer_rates[name]):
            if (name, direction) not in UNUSED:
                seconds += flops / rate
    return seconds


def update_flops(batch_size: int, length: int):
    """Matmul and convolution FLOPs of one paper-size update."""
    config = DreamerConfig(batch_size=batch_size, batch_length=length, jit_compile=True)
    observation_space = gym.spaces.Dict(
        {"image": gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)}
    )
    # Count the math's FLOPs: the decoder's phase layers equal plain transposed
    # convolutions, whose zero taps the counter skips, while theirs it cannot.
    with mock.patch.object(
        decoders, "PhaseConv2DTranspose", keras.layers.Conv2DTranspose
    ):
        agent = Dreamer(
            config, observation_space, gym.spaces.Box(-1, 1, (6,), np.float32)
        )
    shape = (batch_size, length)
    batch = {
        "image": tf.zeros((*shape, 64, 64, 3), tf.uint8),
        "action": tf.zeros((*shape, 6)),
        "reward": tf.zeros(shape),
        "discount": tf.ones(shape),
    }
    hlo = agent._train_function.experimental_get_compiler_ir(batch)(
        stage="optimized_hlo"
    )
    return hlo_flops(hlo)


def report_seven_convolutions(layer_rates: dict, conv: float, args) -> None:
    """Prints the seven convolutions' time at their own rates and at the best."""
    for batch_size in args.batch_sizes:
        images = batch_size * args.length
        flops = sum(
            conv_flops(images, *shape)
            * sum((name, d) not in UNUSED for d in DIRECTIONS)
            for name, *shape in CONVOLUTIONS
        )
        print(
            f"{batch_size}x{args.length}: the seven convolutions take "
            f"{seconds_at_layer_rates(layer_rates, images):.2f} s at each "
            f"direction's own rate (measured at {IMAGES} images), "
            f"{flops / conv:.2f} s at the best",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch_sizes", type=int, nargs="+", default=[16, 50])
    parser.add_argument("--length", type=int, default=50)
    parser.add_argument("--steps", type=int, default=4, help="Timed updates.")
    parser.add_argument("--warmup", type=int, default=2, help="Untimed updates.")
    args = parser.parse_args()
    dtypes = [tf.float32] + ([tf.bfloat16] if cpu_has_native_bfloat16() else [])
    rates, layer_rates = {}, {}
    print(
        f"fp32 GFLOP/s at {IMAGES} images  " + "".join(f"{d:>17}" for d in DIRECTIONS)
    )
    for dtype in dtypes:
        best_conv, layer_rates[dtype.name] = conv_rate(dtype, dtype == tf.float32)
        rates[dtype.name] = (matmul_rate(dtype), best_conv)
        print(
            f"{dtype.name}: matmul {rates[dtype.name][0] / 1e9:.0f} GFLOP/s, "
            f"conv {rates[dtype.name][1] / 1e9:.0f} GFLOP/s",
            flush=True,
        )
    matmul, conv = rates["float32"]
    report_seven_convolutions(layer_rates["float32"], conv, args)
    print("batch   matmul GFLOP  conv GFLOP  bound s  update s  share of bound")
    for batch_size in args.batch_sizes:
        flops = update_flops(batch_size, args.length)
        bound = flops.dot / matmul + flops.convolution / conv
        figures = run_setting(batch_size, args.length, False, args.steps, args.warmup)
        seconds = figures["median_update_s"]
        print(
            f"{batch_size}x{args.length:<4} {flops.dot / 1e9:12.1f}  "
            f"{flops.convolution / 1e9:10.1f}  {bound:7.2f}  {seconds:8.2f}  "
            f"{100 * bound / seconds:13.0f}%",
            flush=True,
        )


if __name__ == "__main__":
    main()
