"""Plots the evaluation return of dreamer_tf runs against the paper's Dreamer curve.

Each run is a logdir written by ``examples/dmc_train.py``; its evaluations
are the lines of ``metrics.jsonl`` that have ``eval/return``, and those of
``--eval_only`` runs of its checkpoints the lines with ``eval_only/return``.
The figure shows, against environment frames: over the runs (seeds), the
mean eval return and its min-max band; every eval-only result as its own
marker; the Dreamer paper's curve for the same task (mean and min-max band
over its 5 seeds, shipped in ``dreamer_tf/data``), with a marker at each
frame the paper evaluated, up to the first one at or beyond our runs' last
frame but never fewer than two, so that even a short run is shown next to
the paper's; and the final scores of the paper's baselines (D4PG, A3C,
PlaNet, SLAC) as horizontal lines::

    python examples/plot.py --runs runs/walker/seed0 runs/walker/seed1 \\
        --output walker.png

This script needs only NumPy and Matplotlib: it does not import TensorFlow.
"""

from __future__ import annotations

import argparse
import dataclasses
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

EVAL_KEY = "eval/return"
EVAL_ONLY_KEY = "eval_only/return"
# The paper evaluated every 100k frames from 5k on: show at least its first two.
MIN_PAPER_POINTS = 2

Curve = tuple[np.ndarray, np.ndarray]


@dataclasses.dataclass(frozen=True)
class Runs:
    """The returns read from a set of runs of one task."""

    task: str
    evaluations: list[Curve]
    eval_only: list[Curve]


def data_file(name: str) -> Path:
    """A data file shipped with dreamer_tf: installed, or beside this script."""
    try:
        path = Path(str(resources.files("dreamer_tf") / "data" / name))
    except ModuleNotFoundError:
        return DATA_DIR / name
    return path if path.is_file() else DATA_DIR / name


def read_returns(run_dir: Path) -> dict[str, Curve]:
    """Reads a run's eval and eval-only returns from its ``metrics.jsonl``.

    A truncated last line (a crash mid-write) is skipped, as by
    :func:`dreamer_tf.run.summaries.read_metrics`, which this mirrors without
    importing TensorFlow.

    Args:
        run_dir: The run's logdir.

    Returns:
        ``(frames, returns)`` sorted by frames, under ``EVAL_KEY`` and
        ``EVAL_ONLY_KEY``, for each of the two the run has.

    Raises:
        FileNotFoundError: If the run has no ``metrics.jsonl``.
        ValueError: If it has neither kind of return, or a line other than
            the last is not valid JSON.
    """
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; is {run_dir} a run's logdir?")
    lines = [line for line in path.read_text(encoding="utf-8").split("\n") if line]
    points = {EVAL_KEY: [], EVAL_ONLY_KEY: []}
    for index, line in enumerate(lines):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if index == len(lines) - 1:
                break
            raise ValueError(f"{path}, line {index + 1}: not valid JSON.") from None
        for key, key_points in points.items():
            if key in record:
                key_points.append((record["frames"], record[key]))
    if not any(points.values()):
        raise ValueError(
            f"{path} has no evaluations (lines with {EVAL_KEY!r} or {EVAL_ONLY_KEY!r})."
        )
    return {
        key: tuple(np.array(sorted(key_points), dtype=np.float64).T)
        for key, key_points in points.items()
        if key_points
    }


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


def paper_window(curve: Curve, last_frame: float) -> Curve:
    """The paper's points up to the first at or beyond ``last_frame``.

    At least ``MIN_PAPER_POINTS`` are kept, so a run shorter than the paper's
    first evaluations is still shown next to them.
    """
    xs, ys = curve
    count = int(np.searchsorted(xs, last_frame, side="left")) + 1
    count = max(count, MIN_PAPER_POINTS)
    return xs[:count], ys[:count]


def read_runs(run_dirs: Sequence[str], task: str | None) -> Runs:
    """Reads the returns of runs of one task.

    Args:
        run_dirs: Logdirs of runs of one task (e.g. one per seed).
        task: The task, e.g. ``"dmc_walker_walk"``; if None, read from the runs'
            ``config.json``.

    Returns:
        The task, and each run's evaluations and eval-only results (runs with
        none of a kind are left out of that list).

    Raises:
        FileNotFoundError: If a run has no ``metrics.jsonl``.
        ValueError: If a run has no evaluations, or the task is not given and
            the runs' ``config.json`` files do not name exactly one.
    """
    runs = [Path(run_dir) for run_dir in run_dirs]
    returns = [read_returns(run) for run in runs]
    if task is None:
        tasks = {run_task(run) for run in runs}
        if len(tasks) != 1 or None in tasks:
            raise ValueError(
                "The runs' config.json files name the tasks "
                f"{sorted(map(str, tasks))}; "
                "pass --task."
            )
        task = tasks.pop()
    return Runs(
        task=task,
        evaluations=[curves[EVAL_KEY] for curves in returns if EVAL_KEY in curves],
        eval_only=[
            curves[EVAL_ONLY_KEY] for curves in returns if EVAL_ONLY_KEY in curves
        ],
    )


def draw_band(axes, curves: Sequence[Curve], color: str, label: str, **style) -> None:
    """Draws the mean of ``curves`` as a line and their min-max range as a band."""
    xs, mean, low, high = aggregate(curves)
    axes.plot(xs, mean, color=color, label=label, **style)
    axes.fill_between(xs, low, high, color=color, alpha=0.2, linewidth=0)


def draw_baselines(axes, task: str) -> None:
    """Draws the baselines' final scores as horizontal lines, all in view."""
    baselines = json.loads(data_file("baselines.json").read_text(encoding="utf-8"))
    scores = sorted(baselines.get(task, {}).items())
    colors = iter(["tab:green", "tab:red", "tab:purple", "tab:brown", "tab:gray"])
    for method, score in scores:
        axes.axhline(
            score,
            color=next(colors, "black"),
            linestyle="--",
            linewidth=1,
            label=f"{BASELINE_LABELS.get(method, method)}: {score:g}",
        )
    if scores:
        # Horizontal lines do not widen the autoscaled range.
        highest = max(score for _, score in scores)
        low, high = axes.get_ylim()
        axes.set_ylim(low, max(high, highest + 0.03 * (highest - low)))


def make_figure(runs: Runs) -> plt.Figure:
    """Draws our runs' returns, the paper's curve and the baselines.

    Args:
        runs: What :func:`read_runs` returns.

    Returns:
        The figure; each line's label names what it shows.
    """
    figure, axes = plt.subplots(figsize=(7, 4.5))
    last_frames = [xs[-1] for xs, _ in runs.evaluations + runs.eval_only]
    if runs.evaluations:
        count = len(runs.evaluations)
        label = f"dreamer_tf ({count} run{'s' if count > 1 else ''})"
        draw_band(axes, runs.evaluations, "tab:blue", label, marker=".")
    if runs.eval_only:
        xs, ys = (np.concatenate(values) for values in zip(*runs.eval_only))
        axes.plot(
            xs, ys, "D", color="tab:cyan", label="dreamer_tf, --eval_only", zorder=3
        )
    paper = [paper_window(curve, max(last_frames)) for curve in paper_curves(runs.task)]
    if paper:
        label = f"Dreamer paper ({len(paper)} seeds, mean and min-max)"
        draw_band(axes, paper, "tab:orange", label, marker="o", markersize=4)
    else:
        print(
            f"warning: no paper data for task {runs.task!r}; plotting ours only.",
            file=sys.stderr,
        )
    draw_baselines(axes, runs.task)
    axes.set_title(runs.task)
    axes.set_xlabel("environment frames")
    axes.set_ylabel("eval return")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small", loc="best")
    figure.tight_layout()
    return figure


def plot_curves(run_dirs: Sequence[str], task: str | None, output: str) -> None:
    """Draws our runs' returns, the paper's curve and baselines to a PNG.

    Args:
        run_dirs: Logdirs of runs of one task (e.g. one per seed).
        task: The task, e.g. ``"dmc_walker_walk"``; if None, read from the runs'
            ``config.json``.
        output: The image file to write.

    Raises:
        FileNotFoundError: If a run has no ``metrics.jsonl``.
        ValueError: If a run has no evaluations, or the task is not given and
            the runs' ``config.json`` files do not name exactly one.
    """
    figure = make_figure(read_runs(run_dirs, task))
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
