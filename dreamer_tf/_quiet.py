"""Keeps TensorFlow's start-up log lines off stderr, unless asked for them.

Importing TensorFlow 2.21 prints C++ log lines (the absl banner, oneDNN,
cudart and CPU-feature notices) before TensorFlow has read
``TF_CPP_MIN_LOG_LEVEL``, so that variable cannot hide them; on a machine
without a GPU, initialising the devices adds an ``E``-level "failed call to
cuInit" line. :func:`install` (run by ``dreamer_tf/__init__.py``, before any
dreamer_tf module imports TensorFlow) hooks the import of ``tensorflow``: the
import and the device discovery run with the process's stderr captured, and
afterwards every captured line is written back except

- C++ log lines below ``TF_CPP_MIN_LOG_LEVEL`` (1 unless the user set it:
  warnings and errors are kept), with their continuation lines;
- absl's "All log messages before absl::InitializeLog()" notice;
- the cuInit failure, when no GPU was found (on a CPU machine it is
  expected), unless ``TF_CPP_MIN_LOG_LEVEL`` is 0.

Python warnings and every later TensorFlow message pass through unchanged.
Set ``DREAMER_TF_VERBOSE=1`` to turn all of this off and see TensorFlow's
output as it is, or ``TF_CPP_MIN_LOG_LEVEL=0`` to keep every captured line.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile
from collections.abc import Iterator

VERBOSE_VARIABLE = "DREAMER_TF_VERBOSE"
LOG_LEVEL_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"
# TensorFlow's levels: 0 INFO, 1 WARNING, 2 ERROR, 3 FATAL. Hiding INFO only.
DEFAULT_LOG_LEVEL = "1"

_LOG_LINE = re.compile(r"^([IWEF])\d{4} \d+:\d+:\d+\.\d+\s+\d+ \S+:\d+\] ")
_SEVERITIES = "IWEF"
_ABSL_NOTICE = "WARNING: All log messages before absl::InitializeLog()"
_CUINIT_FAILURE = "failed call to cuInit"
# Python's warnings.showwarning format: "path:line: Category: message".
_PYTHON_WARNING = re.compile(r"^\S.*:\d+: \w+: ")


def verbose() -> bool:
    """Whether the user asked for TensorFlow's output unfiltered."""
    return os.environ.get(VERBOSE_VARIABLE, "").strip() not in ("", "0")


def install() -> None:
    """Filters TensorFlow's start-up lines, if TensorFlow is not imported yet.

    Does nothing when ``DREAMER_TF_VERBOSE`` is set (to anything but ``0``),
    or when TensorFlow was imported before dreamer_tf.
    """
    if verbose() or "tensorflow" in sys.modules:
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
        elif _PYTHON_WARNING.match(line):
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
def _captured_stderr() -> Iterator[list[str]]:
    """Sends file descriptor 2 to a temporary file; yields a list for its text.

    C++ code writes to the descriptor directly, so replacing ``sys.stderr``
    would not catch it. The list receives the text when the block ends.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    captured: list[str] = []
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield captured
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            captured.append(capture.read().decode("utf-8", "replace"))


class _QuietLoader(importlib.abc.Loader):
    """Runs TensorFlow's own loader, and its device discovery, with stderr captured."""

    def __init__(self, loader: importlib.abc.Loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        gpu_found = False
        captured: list[str] = []
        try:
            with _captured_stderr() as captured:
                self._loader.exec_module(module)
                # Device discovery prints the cuInit failure; run it here, where
                # it is captured. Logical devices can still be configured after.
                gpu_found = bool(module.config.list_physical_devices("GPU"))
        finally:
            text = captured[0] if captured else ""
            sys.stderr.write(filter_startup_lines(text, _min_log_level(), gpu_found))

    def __getattr__(self, name: str):
        # get_resource_reader, is_package and the like: TensorFlow's own loader.
        return getattr(self._loader, name)


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` as usual, then wraps its loader in a :class:`_QuietLoader`."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec
