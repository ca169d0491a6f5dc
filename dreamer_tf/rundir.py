"""The run directory: what a run is, and the checks made before it starts.

This module does not import TensorFlow, so bad input fails in a second.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import tempfile

from dreamer_tf import envs
from dreamer_tf.config import DreamerConfig

# Fields that may change between a run and its resumption.
RESUMABLE_FIELDS = frozenset(
    {"steps", "log_every", "eval_every", "eval_episodes", "jit_compile", "envs"}
)


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """What to run: the config, the task and where to keep everything.

    Attributes:
        config: The hyperparameters.
        task: ``dmc_<domain>_<task>``, ``gym_<id>`` or ``atari_<game>``.
        logdir: The run directory.
        deterministic: Enable TensorFlow's op determinism.
        eval_only: Load the latest checkpoint and only evaluate.
        export_dir: Export the policy as a SavedModel here at the end.
    """

    config: DreamerConfig
    task: str
    logdir: str
    deterministic: bool = False
    eval_only: bool = False
    export_dir: str | None = None


def check_run(spec: RunSpec) -> pathlib.Path:
    """Validates task and logdir before anything expensive starts.

    Writes ``config.json`` on a new run; on a resumed run, checks that the
    saved config and task agree with ``spec``.

    Args:
        spec: The run.

    Returns:
        The logdir as a path.

    Raises:
        ValueError: For an unknown task, an unwritable logdir, a resume with a
            conflicting config, or ``eval_only`` without a checkpoint.
    """
    envs.validate_task(spec.task)
    logdir = pathlib.Path(spec.logdir).expanduser()
    try:
        logdir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=logdir):
            pass
    except OSError as error:
        raise ValueError(f"logdir {str(logdir)!r} is not writable: {error}") from None
    saved_path = logdir / "config.json"
    current = {"task": spec.task, **spec.config.to_dict()}
    if saved_path.exists():
        saved = json.loads(saved_path.read_text())
        conflicts = sorted(
            key
            for key in set(saved) | set(current)
            if key not in RESUMABLE_FIELDS and saved.get(key) != current.get(key)
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
    elif spec.eval_only:
        raise ValueError(f"--eval_only needs a trained run in {str(logdir)!r}.")
    _write_atomically(saved_path, json.dumps(current, indent=2))
    return logdir


def _write_atomically(path: pathlib.Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
