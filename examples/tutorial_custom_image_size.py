"""Tutorial: Dreamer on 32x32 images with a custom encoder and decoder.

The paper's networks are built for 64x64 images. For another size, subclass
the layers and hand them to the agent with ``encoder=`` and ``decoder=``:

- the encoder's strided convolutions map a side of ``n`` pixels to
  ``(n - kernel) // 2 + 1``, so three of them bring 32 down to 2 (a fourth
  would leave nothing);
- the decoder starts from a 1x1 map and each transposed convolution of
  stride 2 maps ``n`` to ``2 * (n - 1) + kernel``: kernels (3, 3, 3, 4) give
  1 -> 3 -> 7 -> 15 -> 32, as the paper's (5, 5, 6, 6) give 1 -> 5 -> 13 -> 30
  -> 64.

The agent trains a few updates on random 32x32 sequences and prints its
losses. Runs in seconds on a CPU with the tiny sizes below::

    python examples/tutorial_custom_image_size.py --steps 3
"""

from __future__ import annotations

# dreamer_tf first: importing it hides TensorFlow's start-up log lines.
import dreamer_tf  # noqa: F401

# isort: split
import argparse

import gymnasium as gym
import keras
import numpy as np

from dreamer_tf.agent import Dreamer
from dreamer_tf.config import DreamerConfig
from dreamer_tf.layers import ConvDecoder, ConvEncoder

IMAGE_SHAPE = (32, 32, 3)


def upsampled_size(kernel_sizes: tuple[int, ...]) -> int:
    """Side length that stride-2 transposed convolutions reach from 1x1."""
    size = 1
    for kernel in kernel_sizes:
        size = 2 * (size - 1) + kernel
    return size


@keras.saving.register_keras_serializable(package="tutorial")
class SmallImageEncoder(ConvEncoder):
    """The paper's encoder with three convolutions: 32x32 -> 2x2 x 4*depth."""

    def __init__(self, depth: int = 32, num_layers: int = 3, **kwargs):
        super().__init__(depth=depth, num_layers=num_layers, **kwargs)


@keras.saving.register_keras_serializable(package="tutorial")
class SmallImageDecoder(ConvDecoder):
    """The paper's decoder with kernels that grow a 1x1 map to 32x32."""

    def __init__(
        self,
        depth: int = 32,
        image_shape: tuple[int, int, int] = IMAGE_SHAPE,
        kernel_sizes: tuple[int, ...] = (3, 3, 3, 4),
        **kwargs,
    ):
        if upsampled_size(kernel_sizes) != image_shape[0]:
            raise ValueError(
                f"kernel_sizes {kernel_sizes} reach {upsampled_size(kernel_sizes)} "
                f"pixels, not {image_shape[0]}."
            )
        super().__init__(
            depth=depth, image_shape=image_shape, kernel_sizes=kernel_sizes, **kwargs
        )


def random_batch(config: DreamerConfig, action_size: int, seed: int) -> dict:
    """Random sequences in the replay layout: images, actions, rewards."""
    rng = np.random.default_rng(seed)
    shape = (config.batch_size, config.batch_length)
    # One colour per frame, so the decoder has something learnable to fit.
    colours = rng.integers(0, 256, (*shape, 1, 1, 3), dtype=np.uint8)
    return {
        "image": np.tile(colours, (1, 1, *IMAGE_SHAPE[:2], 1)),
        "action": rng.uniform(-1, 1, (*shape, action_size)).astype(np.float32),
        "reward": rng.normal(size=shape).astype(np.float32),
        "discount": np.ones(shape, np.float32),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=3, help="Updates to run.")
    parser.add_argument("--depth", type=int, default=4, help="cnn_depth (paper: 32).")
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    # Tiny sizes so the example runs in seconds; drop them for the paper's.
    config = DreamerConfig(
        cnn_depth=args.depth,
        deter_size=16,
        stoch_size=4,
        rssm_hidden=16,
        num_units=16,
        horizon=4,
        batch_size=4,
        batch_length=8,
    )
    observation_space = gym.spaces.Dict(
        {"image": gym.spaces.Box(0, 255, IMAGE_SHAPE, np.uint8)}
    )
    action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    # WorldModel passes the observation space's image shape to its default
    # decoder only: a custom decoder must be given the shape itself.
    agent = Dreamer(
        config,
        observation_space,
        action_space,
        encoder=SmallImageEncoder(config.cnn_depth),
        decoder=SmallImageDecoder(config.cnn_depth),
    )
    batch = random_batch(config, action_space.shape[0], seed=0)
    embedding = agent.world_model.embed({"image": batch["image"][:1, :1]})
    print(f"32x32x3 images embed to {embedding.shape[-1]} numbers")
    for step in range(args.steps):
        metrics = agent.train(batch)
        print(
            f"update {step}: "
            + ", ".join(
                f"{key}={float(metrics[key]):.2f}"
                for key in ("model_loss", "image_loss", "kl", "actor_loss")
            )
        )
    truth, prediction = agent.world_model.open_loop_prediction(batch, context=3)
    print(f"open-loop prediction: {tuple(prediction.shape)} (truth {truth.shape})")
    assert tuple(prediction.shape[-3:]) == IMAGE_SHAPE


if __name__ == "__main__":
    main()
