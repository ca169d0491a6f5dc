"""The errors a run reports to its user, and the one way to shorten one.

Every message a user reads is one line that says what was wrong and what to
do; :func:`first_line` cuts a library's multi-line error down to that line.
This module imports nothing heavy, so TensorFlow-free processes use it too.
"""

from __future__ import annotations


class RunError(RuntimeError):
    """A run cannot go on; the message is one line that says what to do."""


class RunStopped(Exception):
    """A run stopped when a signal asked it to, after its final checkpoint.

    Args:
        signal_number: The signal (``SIGINT`` or ``SIGTERM``).
        message: The one line to print.

    Attributes:
        exit_code: What the process exits with: ``128 + signal_number`` (130
            for SIGINT, 143 for SIGTERM), as a shell reports a signal.
    """

    def __init__(self, signal_number: int, message: str):
        super().__init__(message)
        self.signal_number = signal_number
        self.exit_code = 128 + signal_number


def first_line(error: BaseException, with_type: bool = False) -> str:
    """The first non-empty line of an error's message.

    Args:
        error: Any exception.
        with_type: Prefix the exception's class name (``"ValueError: ..."``).

    Returns:
        The line, stripped; the empty string when the message is empty.
    """
    lines = str(error).strip().splitlines()
    line = lines[0].strip() if lines else ""
    return f"{type(error).__name__}: {line}" if with_type else line
