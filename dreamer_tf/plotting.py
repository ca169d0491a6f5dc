"""Plots the eval return of dreamer_tf runs, one curve per config, against the papers'.

Each run is a logdir of the training program: its evaluations are the lines
of ``metrics.jsonl`` with ``eval/return``, those of ``--eval_only`` runs of
its checkpoints the lines with ``eval_only/return``, and ``config.json`` holds
its task and config. Runs are grouped by config, and each group is one curve:
the mean of its runs' returns and their min-max band, against environment
frames. Grouping ignores :data:`BOOKKEEPING_FIELDS`, which change neither the
trained agent nor the expected return, so the seeds of a config pool, and so
do runs stopped at different lengths. When the configs differ, one warning
line names the fields in which they do, and each curve is labelled with its
values of these fields (``batch_size=16, train_steps=10``) unless
``--label LABEL=RUN`` names the curve of RUN's config. A run without
``config.json`` is a curve of its own, named after its directory.

The figure also shows each curve's eval-only results as markers; the paper
curves of the runs' agents for the same task (mean and min-max band over their
5 seeds, a marker at each of their points): the Dreamer paper's if a run is
the paper's Dreamer (``agent`` ``dreamer``, or no ``config.json``), evaluated
at 5k frames and then every 100k; the DreamerV2 paper's (the authors'
``scores/dmc-vision-dreamerv2.json``) if a run is DreamerV2 (``agent``
``dreamerv2``), each point the mean return of a 30k-frame bin ending there;
and the final scores of the Dreamer paper's baselines (D4PG, A3C, PlaNet,
SLAC) as horizontal lines. The papers' data ship in ``dreamer_tf/data``. The
x axis spans the runs' frames and the papers' first points, so a short run is
shown next to them; ``--paper_range`` spans the papers' frames too (Dreamer:
5M, DreamerV2: 2M)::

    dreamer-tf plot runs/walker/seed0 runs/walker/seed1 --output walker.png
    dreamer-tf plot runs/small/seed* runs/large/seed* \\
        --label small=runs/small/seed0 --label large=runs/large/seed0

``examples/plot.py`` is the same program. This module imports neither
TensorFlow nor pyplot.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backend_bases import FigureCanvasBase
from matplotlib.figure import Figure

from dreamer_tf.config import DreamerConfig
from dreamer_tf.errors import first_line

PROG = "dreamer-tf plot"
EVAL_KEY = "eval/return"
EVAL_ONLY_KEY = "eval_only/return"
#: Config fields that group runs as one config whatever their values: the
#: seed (what a curve's band is over), when a run stops, logs, checkpoints and
#: evaluates, and how many episodes an evaluation averages.
BOOKKEEPING_FIELDS = frozenset(
    {
        "seed",
        "steps",
        "log_every",
        "checkpoint_every_minutes",
        "eval_every",
        "eval_episodes",
    }
)
# Ours; the papers' curves are orange and teal, the baselines' lines the next.
RUN_COLORS = ("tab:blue", "tab:pink", "tab:olive", "tab:cyan", "black", "gold")
BASELINE_COLORS = ("tab:green", "tab:red", "tab:purple", "tab:brown", "tab:gray")
BASELINE_LABELS = {
    "d4pg_100m": "D4PG (1e8 frames, proprio)",
    "a3c_100m_proprio": "A3C (1e8 frames, proprio)",
    "planet_1e6": "PlaNet (1e6 frames)",
    "slac_3e6": "SLAC (3e6 frames)",
}
# Of the shown frames, on either side of the data.
X_MARGIN = 0.03

Curve = tuple[np.ndarray, np.ndarray]


@dataclasses.dataclass(frozen=True)
class Paper:
    """A paper whose curves the runs of one agent are compared with.

    Attributes:
        name: Its name in the legend, before "paper".
        agent: The ``agent`` of runs compared with it, and the ``method`` of
            its records in ``data``.
        data: Its file in ``dreamer_tf/data``: records of ``task``,
            ``method``, ``seed``, ``xs`` (environment frames) and ``ys``.
        color: Its curve's colour.
    """

    name: str
    agent: str
    data: str
    color: str


DREAMER_PAPER = Paper("Dreamer", "dreamer", "paper_scores.json", "tab:orange")
DREAMERV2_PAPER = Paper("DreamerV2", "dreamerv2", "dreamerv2_paper_scores.json", "teal")
#: The papers, in the order their curves are drawn.
PAPERS = (DREAMER_PAPER, DREAMERV2_PAPER)


@dataclasses.dataclass(frozen=True)
class Run:
    """What a run's logdir holds for a plot.

    Attributes:
        path: The logdir.
        config: Its ``config.json``, fields added to
            :class:`~dreamer_tf.config.DreamerConfig` since it was written at
            their defaults; None if it has no ``config.json``.
        returns: ``(frames, returns)`` sorted by frames, under
            ``EVAL_KEY`` and ``EVAL_ONLY_KEY``, for each of the two it has.
    """

    path: Path
    config: dict | None
    returns: dict[str, Curve]


@dataclasses.dataclass(frozen=True)
class Group:
    """Runs of one config, such as its seeds: one curve.

    Attributes:
        label: The curve's name in the legend.
        runs: The runs.
    """

    label: str
    runs: tuple[Run, ...]

    def curves(self, key: str) -> list[Curve]:
        """The runs' ``(frames, returns)`` under ``key``, of those that have it."""
        return [run.returns[key] for run in self.runs if key in run.returns]


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Runs grouped by config, and the papers' curves they are compared with.

    Attributes:
        task: The task of the papers' curves and baselines.
        groups: One per config, in the order of their first run.
        differing_fields: The config fields in which the groups differ.
        papers: The papers of the runs' agents (see :func:`run_papers`), in
            the order of :data:`PAPERS`, and their curves of ``task``, one per
            seed; empty if the paper has none.
    """

    task: str
    groups: list[Group]
    differing_fields: list[str]
    papers: dict[Paper, list[Curve]]


def read_data(name: str):
    """Reads a JSON file shipped in ``dreamer_tf/data``."""
    path = resources.files("dreamer_tf") / "data" / name
    return json.loads(path.read_text(encoding="utf-8"))


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
        ValueError: If the run has no ``metrics.jsonl``, neither kind of
            return, or a line other than the last that is not valid JSON.
    """
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        raise ValueError(f"{path} does not exist; is {run_dir} a run's logdir?")
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
            f"{path} has no evaluations (lines with {EVAL_KEY!r} or "
            f"{EVAL_ONLY_KEY!r}); plot the run after its first evaluation."
        )
    return {
        key: tuple(np.array(sorted(key_points), dtype=np.float64).T)
        for key, key_points in points.items()
        if key_points
    }


def read_config(run_dir: Path) -> dict | None:
    """The run's ``config.json`` with defaults for newer fields, or None."""
    path = run_dir / "config.json"
    if not path.is_file():
        return None
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is damaged: {first_line(error)}.") from None
    if not isinstance(saved, dict):
        raise ValueError(f"{path} holds a JSON {type(saved).__name__}, not an object.")
    return {**DreamerConfig().to_dict(), **saved}


def read_run(run_dir: str) -> Run:
    """Reads a run's returns and config.

    Args:
        run_dir: The run's logdir.

    Returns:
        The run.

    Raises:
        ValueError: If ``run_dir`` is not a directory, or its files are
            missing or damaged (see :func:`read_returns`).
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise ValueError(f"{run_dir} is not a directory; pass the logdir of a run.")
    return Run(path=path, config=read_config(path), returns=read_returns(path))


def results_config(config: dict) -> dict:
    """The fields of a config that can change a run's results."""
    return {
        key: value for key, value in config.items() if key not in BOOKKEEPING_FIELDS
    }


def group_by_config(runs: Sequence[Run]) -> list[tuple[Run, ...]]:
    """Groups runs whose configs agree but in ``BOOKKEEPING_FIELDS``.

    Args:
        runs: The runs; one without a config is a group of its own.

    Returns:
        The groups, in the order of their first run.
    """
    groups: dict[str, list[Run]] = {}
    for run in runs:
        if run.config is None:
            key = str(run.path.resolve())
        else:
            key = json.dumps(results_config(run.config), sort_keys=True)
        groups.setdefault(key, []).append(run)
    return [tuple(group) for group in groups.values()]


def differing_fields(groups: Sequence[tuple[Run, ...]]) -> list[str]:
    """The config fields in which groups differ, in ``config.json`` order."""
    configs = [results_config(group[0].config) for group in groups if group[0].config]
    fields = dict.fromkeys(field for config in configs for field in config)
    return [
        field
        for field in fields
        if len({json.dumps(config.get(field)) for config in configs}) > 1
    ]


def parse_labels(specs: Sequence[str], runs: Sequence[Run]) -> dict[Path, str]:
    """Reads ``--label LABEL=RUN`` options.

    Args:
        specs: The options' values. Either part may contain ``=``: the split
            is at the first ``=`` that leaves one of ``runs`` on its right.
        runs: The runs plotted.

    Returns:
        Each labelled run's resolved path and its label.

    Raises:
        ValueError: If a spec names no run among ``runs``, or has no label.
    """
    paths = {run.path.resolve() for run in runs}
    labels = {}
    for spec in specs:
        splits = [
            (spec[:index], Path(spec[index + 1 :]).resolve())
            for index, character in enumerate(spec)
            if character == "=" and index > 0
        ]
        match = next(((label, path) for label, path in splits if path in paths), None)
        if match is None:
            raise ValueError(
                f"--label {spec!r} names no run to plot; give LABEL=RUN with RUN "
                "one of the run directories."
            )
        labels[match[1]] = match[0]
    return labels


def group_label(
    group: tuple[Run, ...], differing: list[str], labels: dict[Path, str]
) -> str:
    """The label of a group's curve: given, or from its config or directory.

    Args:
        group: The group's runs.
        differing: The config fields in which the groups differ.
        labels: Labels given by run path (see :func:`parse_labels`).

    Returns:
        The label given to one of its runs; otherwise the group's values of
        the differing fields, or ``dreamer_tf`` if there are none, or, for a
        run without a config, its directory's name.

    Raises:
        ValueError: If its runs are given different labels.
    """
    given = {
        labels[run.path.resolve()] for run in group if run.path.resolve() in labels
    }
    if len(given) > 1:
        raise ValueError(
            f"the labels {sorted(given)} name runs of one config (one curve: "
            f"{', '.join(str(run.path) for run in group)}); give each config one."
        )
    config = group[0].config
    if given:
        return given.pop()
    if config is None:
        return group[0].path.resolve().name
    if not differing:
        return "dreamer_tf"
    return ", ".join(f"{field}={config.get(field)}" for field in differing)


def label_groups(
    grouped: Sequence[tuple[Run, ...]], labels: dict[Path, str]
) -> list[Group]:
    """Labels each group's curve (see :func:`group_label`).

    Args:
        grouped: Runs grouped by config.
        labels: Labels given by run path (see :func:`parse_labels`).

    Returns:
        The labelled groups.

    Raises:
        ValueError: If a group's runs are given different labels, or two
            groups would have the same.
    """
    differing = differing_fields(grouped)
    groups = [Group(group_label(group, differing, labels), group) for group in grouped]
    names = [group.label for group in groups]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(
            f"two curves would be labelled {repeated[0]!r}; give each config its "
            "own --label."
        )
    return groups


def comparison_task(runs: Sequence[Run], task: str | None) -> str:
    """The task given, else the one task the runs' configs name."""
    if task is not None:
        return task
    tasks = {run.config.get("task") if run.config else None for run in runs}
    if len(tasks) != 1 or None in tasks:
        raise ValueError(
            f"the runs' config.json files name the tasks {sorted(map(str, tasks))}; "
            "plot one task at a time, or pass --task (the paper curve to compare "
            "with)."
        )
    return tasks.pop()


def compare(
    run_dirs: Sequence[str], task: str | None = None, labels: Sequence[str] = ()
) -> Comparison:
    """Reads runs, groups them by config, and labels each group.

    Args:
        run_dirs: Logdirs of runs of one task: seeds of one or more configs.
        task: The task to compare with, e.g. ``"dmc_walker_walk"``; if None,
            the one that the runs' ``config.json`` files name.
        labels: ``LABEL=RUN`` strings; LABEL names the curve of RUN's config.

    Returns:
        The comparison.

    Raises:
        ValueError: If a run directory is missing or holds no evaluations
            (see :func:`read_run`), the task is not given and the runs do not
            name exactly one, or the labels do not fit the runs (see
            :func:`parse_labels` and :func:`group_label`).
    """
    runs = [read_run(run_dir) for run_dir in run_dirs]
    task = comparison_task(runs, task)
    grouped = group_by_config(runs)
    groups = label_groups(grouped, parse_labels(labels, runs))
    papers = {paper: paper_curves(task, paper) for paper in run_papers(runs)}
    return Comparison(task, groups, differing_fields(grouped), papers)


def config_warning(comparison: Comparison) -> str | None:
    """The warning that the runs' configs differ, or None if they do not."""
    if len(comparison.groups) < 2:
        return None
    unknown = [
        str(group.runs[0].path)
        for group in comparison.groups
        if group.runs[0].config is None
    ]
    reasons = []
    if comparison.differing_fields:
        reasons.append(f"in {', '.join(comparison.differing_fields)}")
    if unknown:
        reasons.append(f"or are unknown (no config.json in {', '.join(unknown)})")
    return (
        f"warning: the runs' configs differ {' '.join(reasons)}; "
        "plotting one curve per config."
    )


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


def run_agent(run: Run) -> str:
    """The run's ``agent``; a run without ``config.json`` is taken for Dreamer."""
    if run.config is None:
        return DREAMER_PAPER.agent
    return run.config.get("agent", DREAMER_PAPER.agent)


def run_papers(runs: Sequence[Run]) -> list[Paper]:
    """The papers of the runs' agents, in the order of :data:`PAPERS`."""
    agents = {run_agent(run) for run in runs}
    return [paper for paper in PAPERS if paper.agent in agents]


def paper_curves(task: str, paper: Paper = DREAMER_PAPER) -> list[Curve]:
    """A paper's eval curves of ``task``, one per seed (the Dreamer paper's)."""
    return [
        (np.asarray(record["xs"], np.float64), np.asarray(record["ys"], np.float64))
        for record in read_data(paper.data)
        if record["task"] == task and record["method"] == paper.agent
    ]


def clip_curve(curve: Curve, right: float) -> Curve:
    """The curve up to ``right``, ending there by linear interpolation."""
    xs, ys = curve
    if not xs[0] < right < xs[-1]:
        return xs[xs <= right], ys[xs <= right]
    inside = xs < right
    return np.append(xs[inside], right), np.append(ys[inside], np.interp(right, xs, ys))


def x_range(comparison: Comparison, paper_range: bool) -> tuple[float, float]:
    """The frames shown: the runs', and the papers' first or all, with margins.

    Args:
        comparison: The runs and the papers' curves.
        paper_range: Span all of the papers' frames, not just their first.

    Returns:
        ``(left, right)``.
    """
    frames = [
        xs
        for group in comparison.groups
        for key in (EVAL_KEY, EVAL_ONLY_KEY)
        for xs, _ in group.curves(key)
    ]
    frames += [
        xs if paper_range else xs[:1]
        for curves in comparison.papers.values()
        for xs, _ in curves
    ]
    low, high = min(map(np.min, frames)), max(map(np.max, frames))
    margin = X_MARGIN * (high - low) or 1.0
    return low - margin, high + margin


def draw_band(
    axes: Axes,
    curves: Sequence[Curve],
    color: str,
    label: str,
    marked: np.ndarray | None = None,
    **style,
) -> None:
    """Draws the mean of ``curves`` as a line and their min-max range as a band.

    Args:
        axes: Where to draw.
        curves: ``(xs, ys)`` pairs.
        color: The line's and band's color.
        label: The line's legend entry.
        marked: The xs to mark, if ``style`` has a marker; None: all.
        **style: Further ``Axes.plot`` arguments.
    """
    xs, mean, low, high = aggregate(curves)
    every = None if marked is None else np.flatnonzero(np.isin(xs, marked)).tolist()
    axes.plot(xs, mean, color=color, label=label, markevery=every, **style)
    axes.fill_between(xs, low, high, color=color, alpha=0.2, linewidth=0)


def draw_group(axes: Axes, group: Group, color: str) -> None:
    """Draws a group's evaluations as a band and its eval-only results as markers."""
    evaluations = group.curves(EVAL_KEY)
    if evaluations:
        count = len(evaluations)
        label = f"{group.label} ({count} run{'s' if count > 1 else ''})"
        draw_band(axes, evaluations, color, label, marker=".")
    eval_only = group.curves(EVAL_ONLY_KEY)
    if eval_only:
        xs, ys = (np.concatenate(values) for values in zip(*eval_only))
        label = f"{group.label}, --eval_only"
        axes.plot(xs, ys, "D", color=color, label=label, zorder=3)


def draw_paper(axes: Axes, paper: Paper, curves: Sequence[Curve], right: float) -> None:
    """Draws a paper's curves up to ``right``, marking its points."""
    clipped = [clip_curve(curve, right) for curve in curves]
    label = f"{paper.name} paper ({len(curves)} seeds, mean and min-max)"
    evaluated = np.concatenate([xs for xs, _ in curves])
    draw_band(axes, clipped, paper.color, label, evaluated, marker="o", markersize=4)


def draw_baselines(axes: Axes, task: str) -> None:
    """Draws the baselines' final scores as horizontal lines, all in view."""
    scores = sorted(read_data("baselines.json").get(task, {}).items())
    colors = itertools.chain(BASELINE_COLORS, itertools.repeat("black"))
    for (method, score), color in zip(scores, colors):
        axes.axhline(
            score,
            color=color,
            linestyle="--",
            linewidth=1,
            label=f"{BASELINE_LABELS.get(method, method)}: {score:g}",
        )
    if scores:
        # Horizontal lines do not widen the autoscaled range.
        highest = max(score for _, score in scores)
        low, high = axes.get_ylim()
        axes.set_ylim(low, max(high, highest + 0.03 * (highest - low)))


def make_figure(comparison: Comparison, paper_range: bool = False) -> Figure:
    """Draws one curve per config, the papers' curves and the baselines.

    Args:
        comparison: What :func:`compare` returns.
        paper_range: Span the x axis over all of the papers' frames; by
            default it spans the runs' frames and the papers' first points.

    Returns:
        The figure; each line's label names what it shows.
    """
    figure = Figure(figsize=(7, 4.5))
    axes = figure.subplots()
    for group, color in zip(comparison.groups, itertools.cycle(RUN_COLORS)):
        draw_group(axes, group, color)
    left, right = x_range(comparison, paper_range)
    for paper, curves in comparison.papers.items():
        if curves:
            draw_paper(axes, paper, curves, right)
    draw_baselines(axes, comparison.task)
    axes.set_xlim(left, right)
    axes.set_title(comparison.task)
    axes.set_xlabel("environment frames")
    axes.set_ylabel("eval return")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small", loc="best")
    figure.tight_layout()
    return figure


def prepare_output(output: str) -> Path:
    """Checks that the image can be written, making its folder if need be.

    Args:
        output: The image file; its suffix picks the format (PNG without one).

    Returns:
        Its path.

    Raises:
        ValueError: If it is a directory, its folder cannot be made or written
            to, or its suffix names no image format Matplotlib writes.
    """
    path = Path(output)
    if path.is_dir():
        raise ValueError(f"--output {output} is a directory; give a file name.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(
            f"cannot write {output}: its folder cannot be made ({first_line(error)})."
        ) from None
    if not os.access(path.parent, os.W_OK):
        raise ValueError(f"cannot write {output}: its folder is not writable.")
    image_format = path.suffix.lstrip(".").lower() or "png"
    if image_format not in FigureCanvasBase.get_supported_filetypes():
        raise ValueError(
            f"--output {output}: no image format is called {image_format!r}; "
            "end the file name in .png, .pdf or .svg."
        )
    return path


def plot(
    run_dirs: Sequence[str],
    output: str,
    task: str | None = None,
    labels: Sequence[str] = (),
    paper_range: bool = False,
) -> None:
    """Plots runs against the papers to an image file, warning on stderr.

    Args:
        run_dirs: Logdirs of runs of one task: seeds of one or more configs.
        output: The image file; its suffix picks the format (PNG without one).
        task: The task to compare with (see :func:`compare`).
        labels: ``LABEL=RUN`` strings (see :func:`compare`).
        paper_range: Span the x axis over all of the papers' frames.

    Raises:
        ValueError: For bad input (see :func:`compare`) or an output that
            cannot be written.
        OSError: If writing the image fails.
    """
    comparison = compare(run_dirs, task, labels)
    path = prepare_output(output)
    warning = config_warning(comparison)
    if warning:
        print(warning, file=sys.stderr)
    for paper, curves in comparison.papers.items():
        if not curves:
            print(
                f"warning: no {paper.name} paper data for task {comparison.task!r}; "
                "plotting without its curve.",
                file=sys.stderr,
            )
    figure = make_figure(comparison, paper_range)
    figure.savefig(path, dpi=120, format=path.suffix.lstrip(".").lower() or "png")


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """Parses the command line; ``--runs DIR ...`` still gives the runs."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "runs",
        nargs="+",
        metavar="RUN",
        help="Logdir of a run (metrics.jsonl, config.json); give every seed of "
        "each config to compare.",
    )
    parser.add_argument(
        "--output",
        default="curves.png",
        metavar="FILE",
        help="Image file to write; its suffix picks the format (.png, .pdf, "
        ".svg; none: PNG). Default: %(default)s.",
    )
    parser.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="LABEL=RUN",
        help="Name the curve of RUN's config, RUN being one of the runs given; "
        "repeat for other configs. Default: the config fields in which the "
        "curves differ.",
    )
    parser.add_argument(
        "--task",
        default=None,
        help="Task whose paper curves to compare with, e.g. dmc_walker_walk. "
        "Default: the 'task' of the runs' config.json.",
    )
    parser.add_argument(
        "--paper_range",
        action="store_true",
        help="Span the x axis over the papers' frames (Dreamer: 5M, DreamerV2: "
        "2M), not just the runs'.",
    )
    argv = sys.argv[1:] if argv is None else argv
    # Older scripts pass --runs DIR ...: the same words without it are RUNs.
    argv = [word.removeprefix("--runs=") for word in argv if word != "--runs"]
    return parser.parse_intermixed_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Runs ``dreamer-tf plot``: bad input exits 2 with one line on stderr.

    Args:
        argv: The arguments after the program's name; None: ``sys.argv``'s.

    Returns:
        The exit code: 0, or 2 for bad input or an unwritable output.

    Raises:
        SystemExit: From argparse: for ``--help`` (code 0), or arguments it
            cannot parse (code 2, after the usage).
    """
    args = parse_arguments(argv)
    try:
        plot(args.runs, args.output, args.task, args.label, args.paper_range)
    except (OSError, ValueError) as error:
        print(f"{PROG}: error: {first_line(error)}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}")
    return 0
