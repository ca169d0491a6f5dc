"""Plots the evaluation return of dreamer_tf runs against the paper's Dreamer curve.

Each run is a logdir written by ``examples/dmc_train.py``; its eval events are
the lines of ``metrics.jsonl`` that have ``eval/return``. The figure shows,
over the runs (seeds), the mean eval return and its min-max band against
environment frames; the Dreamer paper's curve for the same task (mean and
min-max band over its 5 seeds, shipped in ``dreamer_tf/data``) up to one
point beyond our runs' last frame; and the final scores of the paper's
baselines (D4PG, A3C, PlaNet, SLAC) as horizontal lines::

    python examples/plot.py --runs runs/walker/seed0 runs/walker/seed1 \\
        --output walker.png

This script needs only NumPy and Matplotlib: it does not import TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

DATA_DIR = Path(__file__).resolve().parents[1] / "dreamer_tf" / "data"
BASELINE_LABELS = {
    "d4pg_100m": "D4PG (1e8 frames, proprio)",
    "a3c_100m_proprio": "A3C (1e8 frames, proprio)",
    "planet_1e6": "PlaNet (1e6 frames)",
    "slac_3e6": "SLAC (3e6 frames)",
}

Curve = tuple[np.ndarray, np.ndarray]


def data_file(name: str) -> Path:
    """A data file shipped with dreamer_tf: installed, or beside this script."""
    try:
        path = Path(str(resources.files("dreamer_tf") / "data" / name))
    except ModuleNotFoundError:
        return DATA_DIR / name
    return path if path.is_file() else DATA_DIR / name


def read_eval_curve(run_dir: Path) -> Curve:
    """Reads ``(frames, eval returns)`` of a run's ``metrics.jsonl``.

    A truncated last line (a crash mid-write) is skipped, as by
    :func:`dreamer_tf.summaries.read_metrics`, which this mirrors without
    importing TensorFlow.

    Args:
        run_dir: The run's logdir.

    Returns:
        Frames and eval returns, sorted by frames.

    Raises:
        FileNotFoundError: If the run has no ``metrics.jsonl``.
        ValueError: If it has no eval events, or a line other than the last is
            not valid JSON.
    """
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; is {run_dir} a run's logdir?")
    lines = [line for line in path.read_text(encoding="utf-8").split("\n") if line]
    points = []
    for index, line in enumerate(lines):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if index == len(lines) - 1:
                break
            raise ValueError(f"{path}, line {index + 1}: not valid JSON.") from None
        if "eval/return" in record:
            points.append((record["frames"], record["eval/return"]))
    if not points:
        raise ValueError(f"{path} has no eval events (lines with 'eval/return').")
    frames, returns = np.array(sorted(points), dtype=np.float64).T
    return frames, returns


def run_task(run_dir: Path) -> str | None:
    """The task in the run's ``config.json``, or None if it has none."""
    path = run_dir / "config.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8")).get("task")


def aggregate(curves: Sequence[Curve]) -> tuple[np.ndarray, ...]:
    """Mean, min and max over curves, on the union of their x values.

    Each curve is linearly interpolated and counts only within its own x
    range, so seeds that were evaluated at different frames, or that ran for
    different lengths, can be combined.

    Args:
        curves: ``(xs, ys)`` pairs, xs increasing.

    Returns:
        ``(xs, mean, low, high)``.
    """
    grid = np.unique(np.concatenate([xs for xs, _ in curves]))
    values = np.full((len(curves), len(grid)), np.nan)
    for row, (xs, ys) in enumerate(curves):
        inside = (grid >= xs[0]) & (grid <= xs[-1])
        values[row, inside] = np.interp(grid[inside], xs, ys)
    return grid, np.nanmean(values, 0), np.nanmin(values, 0), np.nanmax(values, 0)


def paper_curves(task: str) -> list[Curve]:
    """The Dreamer paper's eval curves of ``task``, one per seed."""
    records = json.loads(data_file("paper_scores.json").read_text(encoding="utf-8"))
    return [
        (np.asarray(record["xs"], np.float64), np.asarray(record["ys"], np.float64))
        for record in records
        if record["task"] == task and record["method"] == "dreamer"
    ]


def clip_to(curve: Curve, last_frame: float) -> Curve:
    """Keeps the points up to ``last_frame`` and the first one beyond it."""
    xs, ys = curve
    count = int(np.searchsorted(xs, last_frame, side="right")) + 1
    return xs[:count], ys[:count]


def plot_curves(run_dirs: Sequence[str], task: str | None, output: str) -> None:
    """Draws our runs' eval return, the paper's curve and baselines to a PNG.

    Args:
        run_dirs: Logdirs of runs of one task (e.g. one per seed).
        task: The task, e.g. ``"dmc_walker_walk"``; if None, read from the runs'
            ``config.json``.
        output: The image file to write.

    Raises:
        FileNotFoundError: If a run has no ``metrics.jsonl``.
        ValueError: If a run has no eval events, or the task is not given and
            the runs' ``config.json`` files do not name exactly one.
    """
    runs = [Path(run_dir) for run_dir in run_dirs]
    ours = [read_eval_curve(run) for run in runs]
    if task is None:
        tasks = {run_task(run) for run in runs}
        if len(tasks) != 1 or None in tasks:
            raise ValueError(
                f"The runs' config.json files name the tasks {sorted(map(str, tasks))}; "
                "pass --task."
            )
        task = tasks.pop()

    figure, axes = plt.subplots(figsize=(7, 4.5))
    xs, mean, low, high = aggregate(ours)
    label = f"dreamer_tf ({len(ours)} run{'s' if len(ours) > 1 else ''})"
    axes.plot(xs, mean, color="tab:blue", label=label)
    axes.fill_between(xs, low, high, color="tab:blue", alpha=0.2, linewidth=0)

    last_frame = max(curve_xs[-1] for curve_xs, _ in ours)
    paper = [clip_to(curve, last_frame) for curve in paper_curves(task)]
    if paper:
        xs, mean, low, high = aggregate(paper)
        axes.plot(
            xs, mean, color="tab:orange", label=f"Dreamer paper ({len(paper)} seeds)"
        )
        axes.fill_between(xs, low, high, color="tab:orange", alpha=0.2, linewidth=0)
    else:
        print(
            f"warning: no paper data for task {task!r}; plotting ours only.",
            file=sys.stderr,
        )

    baselines = json.loads(data_file("baselines.json").read_text(encoding="utf-8"))
    colors = iter(["tab:green", "tab:red", "tab:purple", "tab:brown", "tab:gray"])
    for method, score in sorted(baselines.get(task, {}).items()):
        axes.axhline(
            score,
            color=next(colors, "black"),
            linestyle="--",
            linewidth=1,
            label=f"{BASELINE_LABELS.get(method, method)}: {score:g}",
        )

    axes.set_title(task)
    axes.set_xlabel("environment frames")
    axes.set_ylabel("eval return")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small", loc="best")
    figure.tight_layout()
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=120)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--runs",
        nargs="+",
        required=True,
        metavar="DIR",
        help="Logdirs of runs of one task, each holding metrics.jsonl (e.g. seeds).",
    )
    parser.add_argument(
        "--task",
        default=None,
        help="Task to compare with, e.g. dmc_walker_walk; default: the 'task' "
        "of the runs' config.json.",
    )
    parser.add_argument(
        "--output", default="curves.png", help="PNG file to write the figure to."
    )
    args = parser.parse_args()
    try:
        plot_curves(args.runs, args.task, args.output)
    except (OSError, ValueError) as error:
        sys.exit(f"error: {error}")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
