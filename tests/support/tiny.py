"""Tiny agents and batches shared by the tests (seconds, not minutes, on a CPU)."""

import gymnasium as gym
import numpy as np

from dreamer_tf.config import DreamerConfig

TINY = {
    "cnn_depth": 4,
    "deter_size": 16,
    "stoch_size": 4,
    "rssm_hidden": 16,
    "num_units": 16,
    "horizon": 4,
    "batch_size": 4,
    "batch_length": 6,
}


def tiny_config(**changes) -> DreamerConfig:
    return DreamerConfig(**{**TINY, **changes})


def pixel_spaces(action_size: int = 2, one_hot: bool = False):
    observation = gym.spaces.Dict(
        {"image": gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)}
    )
    low = 0.0 if one_hot else -1.0
    action = gym.spaces.Box(low, 1.0, (action_size,), np.float32)
    return observation, action


def random_batch(config: DreamerConfig, action_size: int = 2, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    shape = (config.batch_size, config.batch_length)
    # Smooth images so a few updates visibly lower the reconstruction loss.
    image = np.tile(
        rng.integers(0, 255, (*shape, 1, 1, 3), np.uint8), (1, 1, 64, 64, 1)
    )
    return {
        "image": image,
        "action": rng.uniform(-1, 1, (*shape, action_size)).astype(np.float32),
        "reward": rng.normal(size=shape).astype(np.float32),
        "discount": np.ones(shape, np.float32),
    }
