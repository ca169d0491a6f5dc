"""The run directory: what a run is, and the checks made before it starts.

This module does not import TensorFlow, so bad input fails in a second.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import math
import os
import pathlib
import re
import tempfile

from dreamer_tf import envs
from dreamer_tf.config import DreamerConfig
from dreamer_tf.envs.make import check_make_env_arguments
from dreamer_tf.errors import first_line
from dreamer_tf.files import write_atomically
from dreamer_tf.parallel.options import (
    ActorOptions,
    LearnerOptions,
    check_actor_options,
    check_learner_options,
    worker_logdir,
)

# Fields that may change between a run and its resumption.
RESUMABLE_FIELDS = frozenset(
    {
        "steps",
        "log_every",
        "eval_every",
        "eval_episodes",
        "jit_compile",
        "envs",
        "checkpoint_every_minutes",
    }
)
# Fields --eval_only may change: how the evaluation runs, not what was trained.
EVALUATION_FIELDS = frozenset({"eval_episodes", "eval_noise"})
LOCK_FILE_NAME = "run.lock"
CHECKPOINT_FILE_PATTERN = re.compile(r"^ckpt-(?P<number>\d+)\.(index|data-.*)$")

# Open lock files of the logdirs this process runs in, by resolved path. The
# kernel drops an flock when its process dies, even by SIGKILL.
_held_locks: dict[pathlib.Path, int] = {}


#: The run's recorded agent (see :mod:`dreamer_tf.run.saved_agent`).
ARCHITECTURE_FILE_NAME = "architecture.json"
CONFIG_FILE_NAME = "config.json"
# What a run keeps in its logdir, by kind; checked before anything is written.
_RUN_ENTRIES = {
    CONFIG_FILE_NAME: "file",
    ARCHITECTURE_FILE_NAME: "file",
    LOCK_FILE_NAME: "file",
    "episodes": "dir",
    "checkpoints": "dir",
}


def checkpoint_numbers(directory: str | os.PathLike) -> list[int]:
    """The numbers ``N`` of the ``ckpt-N`` files in a directory, newest first.

    A checkpoint counts as soon as one of its files (index or data) exists,
    so a damaged one is listed too and can be named.

    Args:
        directory: A checkpoint directory; a missing one has none.

    Returns:
        The distinct numbers, in decreasing order.
    """
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        return []
    numbers = {
        int(match["number"])
        for match in map(CHECKPOINT_FILE_PATTERN.match, os.listdir(directory))
        if match
    }
    return sorted(numbers, reverse=True)


def holds_run(logdir: str | os.PathLike) -> bool:
    """Whether ``logdir`` holds a run's checkpoints or episodes to resume."""
    logdir = pathlib.Path(logdir).expanduser()
    episodes = logdir / "episodes"
    return bool(checkpoint_numbers(logdir / "checkpoints")) or (
        episodes.is_dir() and any(episodes.iterdir())
    )


def max_episode_entries(config: DreamerConfig) -> int:
    """Most entries (steps + 1) an episode can have under the time limit."""
    return math.ceil(config.time_limit / config.action_repeat) + 1


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """What to run: the config, the task and where to keep everything.

    Attributes:
        config: The hyperparameters.
        task: ``dmc_<domain>_<task>``, ``gym_<id>`` or ``atari_<game>``.
        logdir: The run directory.
        deterministic: Enable TensorFlow's op determinism.
        eval_only: Load the latest checkpoint and only evaluate.
        export_only: With ``eval_only``, skip the evaluation: restore the
            latest checkpoint and export its policy to ``export_dir``.
        export_dir: Export the policy as a SavedModel here at the end.
        random_data_only: Allow a schedule that never trains (``steps`` at or
            below ``prefill``): a run that only collects random episodes.
        actors: Whether and how actors collect in parallel with learning.
        learner: The learner's ``tf.distribute`` strategy.
    """

    config: DreamerConfig
    task: str
    logdir: str
    deterministic: bool = False
    eval_only: bool = False
    export_only: bool = False
    export_dir: str | None = None
    random_data_only: bool = False
    actors: ActorOptions = dataclasses.field(default_factory=ActorOptions)
    learner: LearnerOptions = dataclasses.field(default_factory=LearnerOptions)


def check_run(spec: RunSpec) -> pathlib.Path:
    """Validates task and logdir before anything expensive starts.

    Writes ``config.json`` on a new run; on a resumed run, checks that the
    saved config and task agree with ``spec``.

    Args:
        spec: The run.

    Returns:
        The run directory as a path: the logdir, or a worker's own
        subdirectory of it (see :func:`~dreamer_tf.parallel.options.worker_logdir`).

    Also takes the logdir's lock (see :func:`lock_logdir`), which this
    process then holds until :func:`unlock_logdir` or its exit.

    Raises:
        ValueError: For an unknown task, a ``batch_length`` longer than any
            episode, an ``export_dir`` that is a file, an unwritable logdir, a
            logdir another process runs in, a resume with a conflicting
            config, ``eval_only`` without a checkpoint (nothing is created
            then), a schedule that never trains (unless
            ``random_data_only``), a damaged or
            non-object ``config.json``, a run file or folder that is a link to
            nowhere or of the wrong kind (nothing is written then), bad actor
            options
            (see :func:`~dreamer_tf.parallel.options.check_actor_options`), or bad
            learner options (see
            :func:`~dreamer_tf.parallel.options.check_learner_options`).
    """
    task = _check_options(spec)
    logdir = pathlib.Path(worker_logdir(spec.logdir, task)).expanduser()
    if spec.eval_only:
        _check_has_checkpoint(logdir, spec.export_only)
    try:
        logdir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=logdir):
            pass
    except OSError as error:
        raise ValueError(f"logdir {str(logdir)!r} is not writable: {error}") from None
    _check_entries(logdir)
    _check_written_by_this_version(logdir)
    current = {"task": spec.task, **spec.config.to_dict()}
    saved = saved_run(logdir)
    if saved is not None:
        _check_same_run(logdir, saved, current, spec.eval_only)
    # Every check above reads only: a refused logdir is left as it was.
    lock_logdir(logdir)
    saved_path = logdir / CONFIG_FILE_NAME
    text = json.dumps(current, indent=2)
    # An evaluation records nothing of its own here; a rerun changes nothing.
    if not spec.eval_only and (
        not saved_path.exists() or saved_path.read_text() != text
    ):
        write_atomically(saved_path, text)
    return logdir


def _check_has_checkpoint(logdir: pathlib.Path, export_only: bool) -> None:
    """Refuses to evaluate or export a logdir without a checkpoint (creates none)."""
    if not checkpoint_numbers(logdir / "checkpoints"):
        what = "export" if export_only else "evaluate"
        where = "has no checkpoint" if logdir.is_dir() else "does not exist"
        raise ValueError(
            f"nothing to {what}: logdir {str(logdir)!r} {where}; train a run "
            "there first (dreamer-tf train --logdir=...)."
        )


def _check_schedule(spec: RunSpec) -> None:
    """Refuses a training schedule that can never train or evaluate."""
    config = spec.config
    if spec.eval_only or spec.random_data_only:
        return
    if config.steps <= config.prefill:
        raise ValueError(
            f"--steps={config.steps} is not above --prefill={config.prefill}: the "
            "run would only collect random episodes, with no update and no "
            "evaluation; raise --steps, lower --prefill, or pass "
            "--random_data_only if that is what you want."
        )
    if not config.pretrain and not config.train_steps:
        raise ValueError(
            "--pretrain=0 with --train_steps=0 never updates the agent; set one "
            "of them above 0, or pass --random_data_only to only collect."
        )


def _check_options(spec: RunSpec):
    """Checks the options, task and config; returns this process's worker task."""
    config = spec.config
    check_actor_options(spec.actors, spec.deterministic)
    task = check_learner_options(
        spec.learner, config.batch_size, spec.actors.actors, spec.eval_only
    )
    envs.validate_task(spec.task)
    check_make_env_arguments(
        spec.task,
        life_done=config.life_done,
        pixels=config.observation == "pixels",
        grayscale=config.grayscale,
    )
    _check_batch_length(config)
    _check_schedule(spec)
    if spec.export_only and not (spec.eval_only and spec.export_dir):
        raise ValueError("exporting needs --export_dir=DIR and --logdir=RUN.")
    if spec.export_dir and pathlib.Path(spec.export_dir).expanduser().is_file():
        raise ValueError(
            f"--export_dir {spec.export_dir!r} is a file; pass a directory path."
        )
    return task


def _check_same_run(logdir, saved: dict, current: dict, eval_only: bool) -> None:
    """Refuses to resume a run with a config other than the one it saved."""
    changeable = RESUMABLE_FIELDS | (EVALUATION_FIELDS if eval_only else set())
    # Fields added since the run started compare at their defaults, and saved
    # values as the config holds them today (precision: the number 32 then,
    # the text "32" now).
    defaults = DreamerConfig().to_dict()
    saved = {**defaults, **saved}
    try:
        saved.update(DreamerConfig.from_dict({k: saved[k] for k in defaults}).to_dict())
    except ValueError:
        pass  # A value today's config refuses differs, and is named, below.
    conflicts = sorted(
        key
        for key in set(saved) | set(current)
        if key not in changeable and saved.get(key) != current.get(key)
    )
    if conflicts:
        details = ", ".join(
            f"{key}: saved {saved.get(key)!r} vs now {current.get(key)!r}"
            for key in conflicts
        )
        raise ValueError(
            f"logdir {str(logdir)!r} holds a run with another config ({details}); "
            "use a new --logdir or the same flags."
        )


def saved_run(logdir: str | os.PathLike) -> dict | None:
    """The task and config a run saved in ``logdir/config.json``, if any.

    Args:
        logdir: The run directory.

    Returns:
        The saved dict (``task`` and every config field it had), or None.

    Raises:
        ValueError: If the file is damaged, empty, not a JSON object, or a
            link that leads nowhere; the message names it.
    """
    path = pathlib.Path(logdir).expanduser() / CONFIG_FILE_NAME
    if not path.exists() and not path.is_symlink():
        return None
    _check_entry(path, "file")
    try:
        saved = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(
            f"{str(path)!r} is damaged ({first_line(error)}); restore it from a "
            "copy, or train in a new --logdir."
        ) from None
    if not isinstance(saved, dict):
        raise ValueError(
            f"{str(path)!r} holds a JSON {type(saved).__name__}, not the run's "
            "config object; restore it from a copy, or train in a new --logdir."
        )
    return saved


def _check_entries(logdir: pathlib.Path) -> None:
    """Refuses a logdir whose run files are links to nowhere or of a wrong kind."""
    for name, kind in _RUN_ENTRIES.items():
        _check_entry(logdir / name, kind)


def _check_entry(path: pathlib.Path, kind: str) -> None:
    """Refuses ``path`` if it is a dangling or looped link, or not a ``kind``."""
    if path.is_symlink() and not path.exists():
        raise ValueError(
            f"{str(path)!r} is a symbolic link that leads nowhere (dangling, or "
            "a loop); point it at an existing "
            f"{'directory' if kind == 'dir' else 'file'} or remove it."
        )
    if not path.exists():
        return
    if kind == "dir" and not path.is_dir():
        raise ValueError(
            f"{str(path)!r} is not a directory; move it away, or use another --logdir."
        )
    if kind == "file" and not path.is_file():
        raise ValueError(
            f"{str(path)!r} is not a regular file; move it away, or use another "
            "--logdir."
        )


def lock_logdir(logdir: str | os.PathLike) -> None:
    """Makes this process the only one running in ``logdir``.

    An exclusive ``flock`` on ``logdir/run.lock``; taking it again in the same
    process does nothing. The kernel releases it when the process ends, also
    when it is killed, so a crashed run never leaves a stale lock.

    Args:
        logdir: An existing run directory.

    Raises:
        ValueError: If another process holds the lock.
    """
    path = pathlib.Path(logdir).resolve() / LOCK_FILE_NAME
    if path.parent in _held_locks:
        return
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = os.pread(descriptor, 32, 0).decode(errors="replace").strip()
        os.close(descriptor)
        raise ValueError(
            f"logdir {str(path.parent)!r} is in use by another run (pid "
            f"{owner or '?'}); wait for it to end or use another --logdir."
        ) from None
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
    _held_locks[path.parent] = descriptor


def unlock_logdir(logdir: str | os.PathLike) -> None:
    """Releases this process's lock on ``logdir``, if it holds one."""
    descriptor = _held_locks.pop(pathlib.Path(logdir).resolve(), None)
    if descriptor is not None:
        os.close(descriptor)


def _check_written_by_this_version(logdir: pathlib.Path) -> None:
    """Refuses a run of dreamer_tf 0.1 before anything is written into it.

    Since 0.2 a run records its architecture before its first checkpoint, so
    checkpoints without that record are 0.1's, saved by position.
    """
    if (
        checkpoint_numbers(logdir / "checkpoints")
        and not (logdir / ARCHITECTURE_FILE_NAME).exists()
    ):
        raise ValueError(
            f"logdir {str(logdir)!r} holds checkpoints but no "
            f"{ARCHITECTURE_FILE_NAME}: it was written by a dreamer_tf before 0.2, "
            "whose checkpoints this version cannot restore. Train in a new logdir, "
            "or resume with dreamer_tf 0.1."
        )


def _check_batch_length(config: DreamerConfig) -> None:
    longest = max_episode_entries(config)
    if config.batch_length > longest:
        raise ValueError(
            f"batch_length {config.batch_length} is longer than any episode can "
            f"be ({longest} entries: time_limit {config.time_limit} / action_repeat "
            f"{config.action_repeat} steps + 1); lower --batch_length or raise "
            "--time_limit."
        )
