"""What a run says about itself: its start block, progress while it waits, its end.

A newcomer's first run must not be silent for minutes: the start block
names the task, the presets and flags, the logdir, and the schedule with
what comes first; :class:`Ticker` prints a line every few seconds through
the prefill and the pretraining; :func:`end_summary` says what the run
reached, where it is kept and how to look at it.

This module does not import TensorFlow.
"""

from __future__ import annotations

import math
import pathlib
import shlex
import shutil
import sys
import time

from dreamer_tf.config import DreamerConfig

# Ticker lines: the first after a few seconds, then at most this often.
FIRST_TICK_S = 5.0
TICK_EVERY_S = 20.0


def format_duration(seconds: float) -> str:
    """``1h02m``, ``3m05s`` or ``42s``; ``?`` when not finite."""
    if not math.isfinite(seconds):
        return "?"
    minutes, seconds = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def start_block(
    command: str,
    task: str,
    task_given: bool,
    presets: list[str],
    overrides: list[str],
    logdir: str,
    resumes: bool,
    config: DreamerConfig,
    allocator: str | None = None,
) -> str:
    """The lines a training run prints first, before TensorFlow is imported.

    Args:
        command: How the program was called (``dreamer-tf train``).
        task: The task.
        task_given: Whether ``--task`` was given (else it is the default).
        presets: The presets and flag files used.
        overrides: The flags given on the command line itself.
        logdir: The run directory.
        resumes: Whether the logdir holds a run this one resumes.
        config: The run's config.
        allocator: The memory allocator in words
            (:func:`dreamer_tf.allocator.describe`); no row if ``None``.

    Returns:
        The block, without a trailing newline.
    """
    given = [flag for flag in overrides if not flag.startswith(("--task", "--logdir"))]
    lines = [f"{command}: {task}" + ("" if task_given else _DEFAULT_TASK)]
    unset = "the run's saved config" if resumes else "the paper's defaults"
    lines.append(_row("presets", ", ".join(presets) or f"none ({unset})"))
    if given:
        lines.append(_row("flags", " ".join(shlex.quote(flag) for flag in given)))
    state = "resumes the run there, with its saved config" if resumes else "a new run"
    lines.append(_row("logdir", f"{logdir} ({state})"))
    schedule = schedule_lines(config)
    lines.append(_row("schedule", schedule[0]))
    lines += [_row("", line) for line in schedule[1:]]
    if allocator:
        lines.append(_row("allocator", allocator))
    return "\n".join(lines)


_DEFAULT_TASK = " (the default: --task was not given)"


def schedule_lines(config: DreamerConfig) -> list[str]:
    """The schedule in words: what comes first, then the rhythm, then the end."""
    first = f"{config.prefill} frames of random actions"
    if config.pretrain:
        first += f", then {_count(config.pretrain, 'pretraining update')}"
    if config.steps <= config.prefill:
        return [first + f"; {config.steps} frames in all, no training"]
    rhythm = (
        f"then {_count(config.train_steps, 'update')} of {config.batch_size}x"
        f"{config.batch_length} every {config.train_every} frames, "
        f"evaluation ({_count(config.eval_episodes, 'episode')}) every "
        f"{config.eval_every}"
    )
    return [first, rhythm, f"until {config.steps} frames"]


def _count(number: int, noun: str) -> str:
    """``"1 update"``, ``"5 updates"``."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def command_path() -> str:
    """How to call ``dreamer-tf`` from here: by name when it is on ``PATH``.

    In a virtual environment that is not activated, the path of the one
    installed beside this Python (relative to the working directory when
    inside it, as ``.venv/bin/dreamer-tf``).
    """
    installed = pathlib.Path(sys.executable).parent / "dreamer-tf"
    found = shutil.which("dreamer-tf")
    if not installed.exists() or (
        found and pathlib.Path(found).resolve() == installed.resolve()
    ):
        return "dreamer-tf"
    try:
        return str(installed.relative_to(pathlib.Path.cwd()))
    except ValueError:
        return str(installed)


def device_line(where: str, compute: str, strategy_replicas: int) -> str:
    """The start block's device row, once TensorFlow knows its devices.

    Args:
        where: What the model runs on (``CPU (2 cores)``, ``2 GPUs``).
        compute: The precision in words
            (:func:`dreamer_tf.learning.precision.describe_policy`).
        strategy_replicas: Replicas in sync (1 without a strategy).
    """
    if strategy_replicas > 1:
        where += f" ({strategy_replicas} replicas in sync)"
    return _row("device", f"{where}, {compute}")


def _row(name: str, text: str) -> str:
    return f"  {name:<9} {text}"


class Ticker:
    """Prints ``label done/total unit`` now and then while a long step runs.

    The first line comes after :data:`FIRST_TICK_S` seconds, then one every
    :data:`TICK_EVERY_S`, each with the rate and the time left at that rate.

    Args:
        label: What is going on (``prefill``).
        total: The count it ends at.
        unit: What is counted (``frames``).
        start: The count it starts from (a resumed step).
        clock: Seconds, monotonic (for tests).
    """

    def __init__(self, label, total, unit, start=0, clock=time.monotonic):
        self.label, self.total, self.unit = label, total, unit
        self.start, self.clock = start, clock
        self.start_time = clock()
        self.next_time = self.start_time + FIRST_TICK_S

    def update(self, done: int) -> str | None:
        """Prints a line if one is due; returns it (None if not due)."""
        now = self.clock()
        if now < self.next_time or done >= self.total:
            return None
        self.next_time = now + TICK_EVERY_S
        rate = (done - self.start) / max(now - self.start_time, 1e-9)
        left = (self.total - done) / rate if rate > 0 else float("inf")
        speed = f"{rate:.1f} {self.unit}/s" if rate >= 1 else f"{1 / rate:.1f} s each"
        line = (
            f"{self.label}: {done}/{self.total} {self.unit} "
            f"({speed if rate > 0 else 'none yet'}, about {format_duration(left)} "
            "left)"
        )
        print(line, flush=True)
        return line


def end_summary(
    frames: int,
    updates: int,
    seconds: float,
    returns: list[float] | None,
    checkpoint: str | None,
    logdir: str,
    program: str = "dreamer-tf",
) -> str:
    """The lines a finished training run prints last.

    Args:
        frames: Environment frames of the run.
        updates: Its gradient updates.
        seconds: Wall time of this start (a resumed run: since the resume).
        returns: The final evaluation's episode returns, if there was one.
        checkpoint: The final checkpoint's path.
        logdir: The run directory.
        program: How to call ``dreamer-tf`` (see :func:`command_path`).

    Returns:
        The summary, without a trailing newline.
    """
    lines = [
        f"run finished: {frames} frames, {updates} updates, "
        f"{format_duration(seconds)} this start"
    ]
    if returns:
        mean = sum(returns) / len(returns)
        spread = (sum((value - mean) ** 2 for value in returns) / len(returns)) ** 0.5
        count = f"{len(returns)} episode{'s' if len(returns) != 1 else ''}"
        result = f"eval return {mean:.1f} (std {spread:.1f}, {count})"
        lines.append(_row("final", result))
    if checkpoint:
        lines.append(_row("saved", checkpoint))
    quoted = shlex.quote(logdir)
    lines.append(_row("look", f"{program} tensorboard {quoted}"))
    lines.append(_row("", f"{program} plot {quoted} --output {quoted}/returns.png"))
    lines.append(_row("", f"{program} eval --logdir={quoted} --eval_episodes=10"))
    return "\n".join(lines)
