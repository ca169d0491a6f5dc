"""Keeps TensorFlow's start-up log lines off stderr, unless asked for them.

Importing TensorFlow 2.21 prints C++ log lines (the absl banner, oneDNN,
cudart and CPU-feature notices) before TensorFlow has read
``TF_CPP_MIN_LOG_LEVEL``, so that variable cannot hide them; on a machine
without a GPU, initialising the devices adds an ``E``-level "failed call to
cuInit" line. :func:`install` (run by ``dreamer_tf/__init__.py``, before any
dreamer_tf module imports TensorFlow) hooks the import of ``tensorflow``: the
import and the device discovery run with the process's stderr sent through a
pipe to a small forwarder process (this file, run as a script), which holds
the lines back and, when the import ends, writes every one to the real
stderr except

- C++ log lines below ``TF_CPP_MIN_LOG_LEVEL`` (1 unless the user set it:
  warnings and errors are kept), with their continuation lines;
- absl's "All log messages before absl::InitializeLog()" notice;
- the cuInit failure, when no GPU was found (on a CPU machine it is
  expected), unless ``TF_CPP_MIN_LOG_LEVEL`` is 0.

Python warnings and every later TensorFlow message pass through unchanged. If
the process dies during the import (TensorFlow aborts on a CPU it was not
built for), the forwarder outlives it and writes everything it received, so
the reason is not lost.
Set ``DREAMER_TF_VERBOSE=1`` to turn all of this off and see TensorFlow's
output as it is, or ``TF_CPP_MIN_LOG_LEVEL=0`` to keep every captured line.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator

VERBOSE_VARIABLE = "DREAMER_TF_VERBOSE"
LOG_LEVEL_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"
# TensorFlow's levels: 0 INFO, 1 WARNING, 2 ERROR, 3 FATAL. Hiding INFO only.
DEFAULT_LOG_LEVEL = "1"

_LOG_LINE = re.compile(r"^([IWEF])\d{4} \d+:\d+:\d+\.\d+\s+\d+ \S+:\d+\] ")
_SEVERITIES = "IWEF"
_ABSL_NOTICE = "WARNING: All log messages before absl::InitializeLog()"
_CUINIT_FAILURE = "failed call to cuInit"
# Lines Python writes: a warning ("path:line: Category: message"), a logging
# record in the default format ("WARNING:tensorflow:..."), a traceback.
_PYTHON_OUTPUT = re.compile(
    r"^(\S.*:\d+: \w+: |[A-Z]+:[\w.]*:|Traceback \(most recent call last\))"
)
# Written into the pipe when the import is over; the digit says if a GPU was found.
_END_MARK = "\x00dreamer_tf._quiet: start-up over, GPU found: "
# The forwarder's own start (a bare interpreter) takes well under a second.
_FORWARDER_TIMEOUT_S = 30


def verbose() -> bool:
    """Whether the user asked for TensorFlow's output unfiltered."""
    return os.environ.get(VERBOSE_VARIABLE, "").strip() not in ("", "0")


def install() -> None:
    """Filters TensorFlow's start-up lines, if TensorFlow is not imported yet.

    Does nothing when ``DREAMER_TF_VERBOSE`` is set (to anything but ``0``),
    when TensorFlow was imported before dreamer_tf, or when there is no
    Python interpreter to run the forwarder with (an embedded Python).
    """
    if verbose() or "tensorflow" in sys.modules or not sys.executable:
        return
    if any(isinstance(finder, _QuietTensorFlowFinder) for finder in sys.meta_path):
        return
    os.environ.setdefault(LOG_LEVEL_VARIABLE, DEFAULT_LOG_LEVEL)
    sys.meta_path.insert(0, _QuietTensorFlowFinder())


def filter_startup_lines(text: str, min_level: int, gpu_found: bool) -> str:
    """Drops TensorFlow's start-up noise from captured stderr text.

    Args:
        text: What TensorFlow's import wrote to stderr.
        min_level: The ``TF_CPP_MIN_LOG_LEVEL`` in force: C++ log lines of a
            lower severity (0 INFO ... 3 FATAL) are dropped.
        gpu_found: Whether TensorFlow found a GPU; if not, and ``min_level``
            is above 0, the cuInit failure is dropped too.

    Returns:
        The lines that remain, each ending with a newline.
    """
    kept, dropping = [], False
    for line in text.splitlines(keepends=True):
        match = _LOG_LINE.match(line)
        if match:
            level = _SEVERITIES.index(match[1])
            expected = _CUINIT_FAILURE in line and not gpu_found and min_level > 0
            dropping = level < min_level or expected
        elif line.startswith(_ABSL_NOTICE):
            continue
        elif _PYTHON_OUTPUT.match(line):
            dropping = False
        if not dropping:
            kept.append(line if line.endswith("\n") else line + "\n")
    return "".join(kept)


def _min_log_level() -> int:
    """``TF_CPP_MIN_LOG_LEVEL`` as TensorFlow reads it (0 if not a number)."""
    try:
        return int(os.environ.get(LOG_LEVEL_VARIABLE, DEFAULT_LOG_LEVEL))
    except ValueError:
        return 0


@contextlib.contextmanager
def _stderr_through_forwarder() -> Iterator[dict[str, bool]]:
    """Sends file descriptor 2 through the forwarder process for the block.

    C++ code writes to the descriptor directly, so replacing ``sys.stderr``
    would not catch it. Yields a dict whose ``"gpu_found"`` the block sets;
    when the block ends, the forwarder filters what it received and exits.
    """
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    # -I: no user site, no environment, and not this file's folder on the
    # path (where dreamer_tf's module names could shadow the standard library).
    forwarder = subprocess.Popen(
        [sys.executable, "-I", os.path.abspath(__file__), str(_min_log_level())],
        stdin=read_end,
    )
    os.close(read_end)
    saved = os.dup(2)
    os.dup2(write_end, 2)
    os.close(write_end)
    state = {"gpu_found": False}
    try:
        yield state
    finally:
        sys.stderr.flush()
        os.write(2, f"{_END_MARK}{int(state['gpu_found'])}\n".encode())
        os.dup2(saved, 2)
        os.close(saved)
        try:
            forwarder.wait(timeout=_FORWARDER_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pass  # Its lines then arrive a little later; the import succeeded.


def _forward(min_level: int) -> None:
    """The forwarder: filters stdin to stderr once the end mark arrives.

    Without the mark (TensorFlow's process died), writes everything as is.
    """
    # Ctrl-C reaches the whole process group; the pipe's end stops us instead.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    received = []
    for line in sys.stdin.buffer:
        text = line.decode("utf-8", "replace")
        if _END_MARK in text:
            before, mark = text.split(_END_MARK)
            received.append(before)
            gpu_found = mark.strip() == "1"
            kept = filter_startup_lines("".join(received), min_level, gpu_found)
            sys.stderr.write(kept)
            return
        received.append(text)
    sys.stderr.write("".join(received))


class _QuietLoader(importlib.abc.Loader):
    """Runs TensorFlow's own loader, and its device discovery, with stderr captured."""

    def __init__(self, loader: importlib.abc.Loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        with _stderr_through_forwarder() as state:
            self._loader.exec_module(module)
            # Device discovery prints the cuInit failure; run it here, where
            # it is filtered. Logical devices can still be configured after.
            state["gpu_found"] = bool(module.config.list_physical_devices("GPU"))

    def __getattr__(self, name: str):
        # get_resource_reader, is_package and the like: TensorFlow's own loader.
        return getattr(self._loader, name)


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` as usual, then wraps its loader in :class:`_QuietLoader`."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


if __name__ == "__main__":
    _forward(int(sys.argv[1]))
