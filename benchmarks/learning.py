"""Trains Dreamer on tasks and seeds within a time budget; plots against the paper.

Each (task, seed) run is ``examples/dmc_train.py`` with the given preset
in ``<logroot>/<task>/seed<seed>``; it is stopped when its wall-clock budget
runs out (its finished episodes, metrics and last checkpoint stay; rerunning
resumes it). Then prints the evaluation returns of every run and draws
``<logroot>/<task>.png`` with ``examples/plot.py`` (the paper's curve at equal
frames). Runs one at a time: on 2 cores, parallel runs only slow each other.

    python benchmarks/learning.py --tasks dmc_cartpole_balance \\
        --preset cpu --minutes 60 --logroot runs/learning
    python benchmarks/learning.py --tasks dmc_cartpole_balance --minutes 20 \\
        --preset cpu --extra=--observation=proprio
"""

from __future__ import annotations

import argparse
import json
import pathlib
import signal
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def train_with_budget(task: str, seed: int, args, logdir: pathlib.Path) -> None:
    """Runs one training process and stops it when the budget is spent."""
    command = [
        sys.executable,
        str(ROOT / "examples" / "dmc_train.py"),
        f"--preset={args.preset}",
        f"--task={task}",
        f"--seed={seed}",
        f"--logdir={logdir}",
        *args.extra,
    ]
    print("+", " ".join(command), flush=True)
    with open(logdir.parent / f"seed{seed}.log", "a") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            process.wait(timeout=args.minutes * 60)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def eval_returns(logdir: pathlib.Path) -> list[tuple[int, float]]:
    """``(frames, eval return)`` of every evaluation of a run."""
    path = logdir / "metrics.jsonl"
    if not path.exists():
        return []
    events = []
    for line in path.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return [
        (event["frames"], event["eval/return"])
        for event in events
        if "eval/return" in event
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["dmc_cartpole_balance"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--preset", default="cpu", help="A preset's name or path.")
    parser.add_argument("--minutes", type=float, default=60.0, help="Budget per run.")
    parser.add_argument("--logroot", default="runs/learning")
    parser.add_argument(
        "--extra", action="append", default=[], help="Extra flag for every run."
    )
    args = parser.parse_args()
    for task in args.tasks:
        run_dirs = []
        for seed in args.seeds:
            logdir = pathlib.Path(args.logroot) / task / f"seed{seed}"
            logdir.parent.mkdir(parents=True, exist_ok=True)
            start = time.time()
            train_with_budget(task, seed, args, logdir)
            minutes = (time.time() - start) / 60
            returns = eval_returns(logdir)
            print(f"{task} seed {seed} ({minutes:.0f} min):")
            for frames, value in returns:
                print(f"  {frames:>8d} frames  eval return {value:8.1f}")
            run_dirs.append(str(logdir))
        output = pathlib.Path(args.logroot) / f"{task}.png"
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "examples" / "plot.py"),
                "--runs",
                *run_dirs,
                "--task",
                task,
                "--output",
                str(output),
            ],
            check=False,
        )
        print(f"plot: {output}")


if __name__ == "__main__":
    main()
