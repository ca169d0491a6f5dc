"""Entry points start without TensorFlow's log noise, which stays reachable."""

import os
import pathlib
import subprocess
import sys
import warnings

import numpy as np
from support.quiet_stderr import assert_quiet_stderr, noisy_stderr_lines
from support.tiny import pixel_spaces, random_batch, tiny_config

from dreamer_tf._quiet import filter_startup_lines

REPOSITORY = pathlib.Path(__file__).resolve().parents[1]
# What TensorFlow 2.21 printed here on import, with a Python warning after it.
STARTUP = """\
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1795699913.300115    4782 port.cc:153] oneDNN custom operations are on.
I0000 00:00:1795699913.303627    4782 cpu_feature_guard.cc:227] This TensorFlow binary
To enable the following instructions: AVX2 FMA, in other operations, rebuild.
W0000 00:00:1795699913.303700    4782 some_op.cc:12] a real warning
E0000 00:00:1795699915.397451    4782 cuda_platform.cc:52] failed call to cuInit: INTERNAL
I0000 00:00:1795699915.397999    4782 other.cc:1] more information
/lib/module.py:3: UserWarning: a Python warning
  warnings.warn(
I0000 00:00:1795699915.398000    4782 other.cc:2] information again
WARNING:tensorflow:a Python logging record
"""
REAL_WARNING = "W0000 00:00:1795699913.303700    4782 some_op.cc:12] a real warning\n"
CUINIT = "failed call to cuInit"
PYTHON_LINES = (
    "/lib/module.py:3: UserWarning: a Python warning\n  warnings.warn(\n"
    "WARNING:tensorflow:a Python logging record\n"
)


def test_default_level_keeps_warnings_and_drops_info_and_expected_cuinit():
    kept = filter_startup_lines(STARTUP, min_level=1, gpu_found=False)
    assert kept == REAL_WARNING + PYTHON_LINES


def test_cuinit_failure_is_kept_when_a_gpu_was_found():
    kept = filter_startup_lines(STARTUP, min_level=1, gpu_found=True)
    assert REAL_WARNING in kept and CUINIT in kept and "I0000" not in kept


def test_level_zero_keeps_every_log_line():
    kept = filter_startup_lines(STARTUP, min_level=0, gpu_found=False)
    assert kept == STARTUP.split("\n", 1)[1]


def run_python(*arguments, **environment) -> subprocess.CompletedProcess:
    variables = {
        key: value
        for key, value in os.environ.items()
        if key not in ("TF_CPP_MIN_LOG_LEVEL", "DREAMER_TF_VERBOSE")
    }
    result = subprocess.run(
        [sys.executable, *arguments],
        check=False,
        cwd=REPOSITORY,
        env={**variables, **environment},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result


FORWARD_AND_EXIT = """
import os
from dreamer_tf import _quiet
with _quiet._stderr_through_forwarder():
    os.write(2, b"I0000 00:00:1795699913.3 4782 a.cc:1] information\\n")
    os.write(2, b"F0000 00:00:1795699913.4 4782 b.cc:2] the CPU lacks AVX\\n")
    {end}
"""


def test_forwarder_filters_the_start_up_lines():
    result = run_python("-c", FORWARD_AND_EXIT.format(end="pass"))
    assert result.returncode == 0, result.stderr
    assert result.stderr.endswith("b.cc:2] the CPU lacks AVX\n"), result.stderr
    assert "information" not in result.stderr


def test_forwarder_shows_everything_if_the_process_dies_during_the_import():
    result = run_python("-c", FORWARD_AND_EXIT.format(end="os.abort()"))
    assert result.returncode != 0
    assert "information" in result.stderr and "lacks AVX" in result.stderr


def test_helpfull_is_quiet():
    result = run_python("examples/dmc_train.py", "--helpfull")
    # absl exits with 1 after printing the help.
    assert "--train_action" in result.stdout, result.stderr[-3000:]
    assert_quiet_stderr(result.stderr)


IMPORT_AND_INITIALISE = (
    "import dreamer_tf.agent, tensorflow as tf; "
    "print(tf.config.list_logical_devices()); print(tf.reduce_sum(tf.ones(3)))"
)


def test_importing_the_agent_and_running_an_op_is_quiet():
    result = run_python("-c", IMPORT_AND_INITIALISE)
    assert result.returncode == 0 and "CPU" in result.stdout, result.stderr[-3000:]
    assert_quiet_stderr(result.stderr)


def test_verbose_variable_shows_tensorflows_start_up_lines():
    result = run_python("-c", IMPORT_AND_INITIALISE, DREAMER_TF_VERBOSE="1")
    assert result.returncode == 0, result.stderr[-3000:]
    assert noisy_stderr_lines(result.stderr), result.stderr


def test_calling_the_world_model_does_not_warn():
    from dreamer_tf.agent import Dreamer

    config = tiny_config()
    agent = Dreamer(config, *pixel_spaces())
    episode = {key: value[0] for key, value in random_batch(config).items()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        values = agent.state_values(episode)  # calls world_model(data)
    assert np.all(np.isfinite(values))
    assert [str(warning.message) for warning in caught] == []
