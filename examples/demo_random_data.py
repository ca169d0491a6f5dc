"""Builds a paper-size Dreamer agent and trains it a few steps on random data.

A smoke test of the install: no environment, no rendering. Prints the losses
of each update and the parameter counts.

    python examples/demo_random_data.py --steps 3 --batch_size 4 --batch_length 20
"""

import argparse
import time

import gymnasium as gym
import numpy as np

from dreamer_tf.agent import Dreamer
from dreamer_tf.config import DreamerConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=3, help="Updates to run.")
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--batch_length", type=int, default=20)
    args = parser.parse_args()
    config = DreamerConfig(batch_size=args.batch_size, batch_length=args.batch_length)
    observation_space = gym.spaces.Dict(
        {"image": gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)}
    )
    agent = Dreamer(config, observation_space, gym.spaces.Box(-1, 1, (6,), np.float32))
    for name, variables in (
        ("world model", agent.model_variables),
        ("actor", agent.actor_variables),
        ("value", agent.value_variables),
    ):
        print(f"{name}: {sum(int(np.prod(v.shape)) for v in variables):,} parameters")
    rng = np.random.default_rng(0)
    shape = (args.batch_size, args.batch_length)
    batch = {
        "image": rng.integers(0, 255, (*shape, 64, 64, 3), np.uint8),
        "action": rng.uniform(-1, 1, (*shape, 6)).astype(np.float32),
        "reward": rng.normal(size=shape).astype(np.float32),
        "discount": np.ones(shape, np.float32),
    }
    for step in range(args.steps):
        start = time.perf_counter()
        metrics = agent.train(batch)
        losses = ", ".join(
            f"{key}={float(metrics[key]):.2f}"
            for key in ("model_loss", "kl", "actor_loss", "value_loss")
        )
        print(f"update {step}: {losses} ({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
