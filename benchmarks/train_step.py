"""Seconds per Dreamer update and peak memory, with and without XLA.

Each setting runs in its own subprocess so that its peak resident memory is
its own. Prints one line per setting, then the policy latency for one
environment. Paper-size model, 64x64x3 pixels, 6-dim actions; float32
unless ``--precision 16`` (or ``auto``: 16 where the hardware computes it
natively).

    python benchmarks/train_step.py                     # 16x50 and 50x50
    python benchmarks/train_step.py --batch_sizes 16 --steps 5
    python benchmarks/train_step.py --batch_sizes 16 --xla off --precision 16
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys

from dreamer_tf.allocator import preload_environment

ROOT = pathlib.Path(__file__).resolve().parents[1]
SETTING_SCRIPT = r"""
import json, resource, statistics, sys, time
import gymnasium as gym, numpy as np
import dreamer_tf
from dreamer_tf.agent import Dreamer
from dreamer_tf.config import DreamerConfig

batch_size, length, xla, steps, warmup, precision = json.loads(sys.argv[1])
config = DreamerConfig(
    batch_size=batch_size, batch_length=length, jit_compile=xla, precision=precision)
observation_space = gym.spaces.Dict(
    {"image": gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)})
agent = Dreamer(config, observation_space, gym.spaces.Box(-1, 1, (6,), np.float32))
rng = np.random.default_rng(0)
shape = (batch_size, length)
batch = {
    "image": rng.integers(0, 255, (*shape, 64, 64, 3), np.uint8),
    "action": rng.uniform(-1, 1, (*shape, 6)).astype(np.float32),
    "reward": rng.normal(size=shape).astype(np.float32),
    "discount": np.ones(shape, np.float32),
}
durations = []
for step in range(warmup + steps):
    start = time.perf_counter()
    agent.train(batch)["model_loss"].numpy()
    durations.append(time.perf_counter() - start)
observation = {"image": batch["image"][:1, 0], "is_first": np.zeros(1, bool)}
_, state = agent.policy(observation, None, training=True)
latencies = []
for _ in range(50):
    start = time.perf_counter()
    action, state = agent.policy(observation, state, training=True)
    action.numpy()
    latencies.append(time.perf_counter() - start)
print(json.dumps({
    "package": dreamer_tf.__file__,
    "first_update_s": durations[0],
    "median_update_s": statistics.median(durations[warmup:]),
    "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    "policy_latency_ms": 1000 * statistics.median(latencies[5:]),
}))
"""


def timed_environment() -> dict[str, str]:
    """The environment of a timed process.

    This process's, with TensorFlow's C++ log off and tcmalloc preloaded as a
    training run would have it (:mod:`dreamer_tf.allocator`).
    """
    return preload_environment({**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def run_setting(
    batch_size: int,
    length: int,
    xla: bool,
    steps: int,
    warmup: int,
    tree: pathlib.Path = ROOT,
    precision: str = "32",
    environment: dict[str, str] | None = None,
) -> dict:
    """Runs one setting in a fresh process and returns its figures.

    Args:
        tree: The checkout whose ``dreamer_tf`` is timed. The process starts
            in it (``python -c`` puts the working directory first on the
            import path, before ``PYTHONPATH``), and the package it imported
            is checked.
        environment: The process's environment variables, but
            ``PYTHONPATH``, which is ``tree``; :func:`timed_environment`
            by default.

    Raises:
        RuntimeError: If the setting fails or timed another checkout's code.
    """
    arguments = json.dumps([batch_size, length, xla, steps, warmup, precision])
    if environment is None:
        environment = timed_environment()
    environment = {**environment, "PYTHONPATH": str(tree)}
    result = subprocess.run(
        [sys.executable, "-c", SETTING_SCRIPT, arguments],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tree,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"setting failed:\n{result.stderr[-3000:]}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    package = pathlib.Path(figures.pop("package")).resolve()
    if not package.is_relative_to(tree.resolve()):
        raise RuntimeError(f"timed {package}, not the checkout {tree}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch_sizes", type=int, nargs="+", default=[16, 50])
    parser.add_argument("--length", type=int, default=50)
    parser.add_argument("--steps", type=int, default=5, help="Timed updates.")
    parser.add_argument("--warmup", type=int, default=2, help="Untimed updates.")
    parser.add_argument("--xla", choices=["both", "on", "off"], default="both")
    parser.add_argument(
        "--precision", choices=["32", "16", "auto"], default="32", help="As the flag."
    )
    args = parser.parse_args()
    xla_settings = {"both": [False, True], "on": [True], "off": [False]}[args.xla]
    print("batch  xla    median s/update  first (compile) s  peak GiB  policy ms")
    for batch_size in args.batch_sizes:
        for xla in xla_settings:
            figures = run_setting(
                batch_size,
                args.length,
                xla,
                args.steps,
                args.warmup,
                precision=args.precision,
            )
            print(
                f"{batch_size}x{args.length:<3} {xla!s:<6} "
                f"{figures['median_update_s']:>15.2f}  "
                f"{figures['first_update_s']:>17.1f}  "
                f"{figures['peak_rss_gib']:>8.2f}  "
                f"{figures['policy_latency_ms']:>9.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
