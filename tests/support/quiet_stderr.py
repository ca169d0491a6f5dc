"""Checks that a dreamer_tf entry point started quietly, from its stderr text.

For tests of any entry point (``dmc_train.py --helpfull``, a ``debug.flags``
training run, a script that imports the library): run it in a subprocess with
``capture_output=True`` and pass its stderr to :func:`assert_quiet_stderr`.
"""

import re

# TensorFlow's C++ log lines ("I0000 00:00:1795699913.300115 4782 port.cc:153]"),
# absl's notice that precedes them, and Python warnings ("file:12: UserWarning:").
NOISE = re.compile(
    r"^[IWEF]\d{4} \d+:\d+:\d+\.\d+\s+\d+ \S+:\d+\]"
    r"|^WARNING: All log messages before absl::InitializeLog\(\)"
    r"|^\S.*:\d+: \w*Warning: ",
)


def noisy_stderr_lines(stderr: str) -> list[str]:
    """The lines of ``stderr`` that a quiet start must not print."""
    return [line for line in stderr.splitlines() if NOISE.match(line)]


def assert_quiet_stderr(stderr: str) -> None:
    """Fails, quoting them, if ``stderr`` has C++ log lines or Python warnings."""
    noisy = noisy_stderr_lines(stderr)
    assert not noisy, "noisy start, stderr has:\n" + "\n".join(noisy)
