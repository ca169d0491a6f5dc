"""Runs the training program, ``examples/dmc_train.py``, for end-to-end tests.

A test module describes its runs once as a :class:`TrainingProgram` (the task
and the flags every run takes, after ``debug.flags``) and then runs, starts
or reads them through it. Runs see ``tests/`` on ``PYTHONPATH``, so a task
may name a test module (``gym_support.faulty_envs:CleanPoint-v0``), and run
in the repository, as a user would.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import socket
import subprocess
import sys

from support import REPOSITORY, TESTS

ROOT = REPOSITORY
SCRIPT = str(ROOT / "examples" / "dmc_train.py")
DEBUG_FLAGS = "--preset=debug"


def environment(**variables: str) -> dict[str, str]:
    """This process's environment with ``tests/`` on ``PYTHONPATH``.

    Args:
        **variables: More environment variables for the run.
    """
    paths = [str(TESTS), os.environ.get("PYTHONPATH")]
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, paths)),
        **variables,
    }


def run(command: list[str], timeout: float, **variables: str):
    """Runs ``command`` in the repository to its end, capturing its text output.

    Args:
        command: The program and its arguments.
        timeout: Seconds before the test fails with ``TimeoutExpired``.
        **variables: More environment variables for the run.

    Returns:
        The ``subprocess.CompletedProcess``; its exit code is not checked.
    """
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=environment(**variables),
        check=False,
    )


@dataclasses.dataclass(frozen=True)
class TrainingProgram:
    """``examples/dmc_train.py`` with ``debug.flags``, as one test module runs it.

    Attributes:
        task: The run's ``--task``; a call may name another.
        flags: Flags every run takes, before the call's own.
        timeout: Seconds a run may take before the test fails.
    """

    task: str
    flags: tuple[str, ...] = ()
    timeout: float = 300

    def command(self, logdir, *extra: str, task: str | None = None) -> list[str]:
        """The command line of a run into ``logdir``; ``extra`` flags come last."""
        return [
            sys.executable,
            SCRIPT,
            DEBUG_FLAGS,
            f"--task={task or self.task}",
            *self.flags,
            f"--logdir={logdir}",
            *extra,
        ]

    def run(
        self,
        logdir,
        *extra: str,
        task: str | None = None,
        timeout: float | None = None,
        **variables: str,
    ):
        """Runs to the end (see :func:`run`); ``variables`` go to its environment."""
        return run(
            self.command(logdir, *extra, task=task),
            timeout or self.timeout,
            **variables,
        )

    def start(self, logdir, *extra: str, variables=None, **popen_options):
        """Starts a run and returns its ``subprocess.Popen`` at once.

        Args:
            logdir: The run's logdir.
            *extra: Flags after the program's own.
            variables: More environment variables for the run.
            **popen_options: ``stdout``, ``stderr``, ``text`` and so on.
        """
        return subprocess.Popen(
            self.command(logdir, *extra),
            cwd=ROOT,
            env=environment(**(variables or {})),
            **popen_options,
        )


def output(result) -> str:
    """The ends of a finished run's stdout and stderr, for failure messages."""
    return result.stdout[-3000:] + result.stderr[-3000:]


def error_line(result) -> str:
    """The last line of stderr, which must be the whole error."""
    return result.stderr.strip().splitlines()[-1]


def metrics(logdir) -> list[dict]:
    """Every event of the run's ``metrics.jsonl``, in order."""
    lines = (pathlib.Path(logdir) / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def free_ports(count: int) -> list[int]:
    """``count`` loopback ports free at the moment, for a local cluster's tasks."""
    sockets = [socket.socket() for _ in range(count)]
    for item in sockets:
        item.bind(("127.0.0.1", 0))
    ports = [item.getsockname()[1] for item in sockets]
    for item in sockets:
        item.close()
    return ports
