"""``dreamer-tf tensorboard``: run names, and TensorBoard started quietly."""

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import tensorflow as tf
from support import REPOSITORY
from support.quiet_stderr import noisy_stderr_lines

from dreamer_tf.board import URL_SUFFIX, is_run, named_entries
from dreamer_tf.run.summaries import MetricsWriter

START_TIMEOUT_S = 60


def fake_run(directory: pathlib.Path) -> pathlib.Path:
    """A run directory with one logged scalar."""
    with MetricsWriter(str(directory)) as writer:
        writer.write(1000, {"eval/return": 1.0})
    return directory


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


class NamedEntriesTest(tf.test.TestCase):
    def test_runs_and_parents_are_named_by_their_directories(self):
        root = pathlib.Path(self.get_temp_dir())
        run = fake_run(root / "runs" / "quick")
        (root / "empty").mkdir()
        cwd = os.getcwd()
        os.chdir(run)
        try:
            entries = named_entries([".", str(root / "runs"), str(root / "empty")])
        finally:
            os.chdir(cwd)
        self.assertEqual(
            entries,
            {"quick": run, "runs": root / "runs", "empty": root / "empty"},
        )
        self.assertTrue(is_run(run))
        self.assertFalse(is_run(root / "runs"))
        # A folder without runs yet: TensorBoard shows them once they log.
        self.assertTrue(is_run(root / "empty"))

    def test_missing_and_clashing_directories(self):
        root = pathlib.Path(self.get_temp_dir())
        with self.assertRaisesRegex(ValueError, "no directory"):
            named_entries([str(root / "missing")])
        first, second = fake_run(root / "a" / "run"), fake_run(root / "b" / "run")
        self.assertEqual(named_entries([str(first), str(first)]), {"run": first})
        with self.assertRaisesRegex(ValueError, "two directories are named 'run'"):
            named_entries([str(first), str(second)])


class LauncherTest(tf.test.TestCase):
    def test_serves_runs_by_name_quietly_until_ctrl_c(self):
        root = pathlib.Path(self.get_temp_dir())
        runs = [fake_run(root / "a" / "quick"), fake_run(root / "cartpole")]
        port = free_port()
        # What a user's shell gives: TensorFlow's own log level, Ctrl-C handled.
        environment = {
            key: value
            for key, value in os.environ.items()
            if key not in ("TF_CPP_MIN_LOG_LEVEL", "DREAMER_TF_VERBOSE")
        }
        # A handled signal is reset for the child, an ignored one would stay so.
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "dreamer_tf.board", "--port", str(port)]
                + [str(run) for run in runs],
                cwd=REPOSITORY,
                env=environment,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        finally:
            signal.signal(signal.SIGINT, previous)
        try:
            self.assertEqual(
                sorted(self.wait_for_runs(process, port)), ["cartpole", "quick"]
            )
            # The page asks for this first; TensorBoard imports TensorFlow then.
            self.read(port, "data/plugins_listing")
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=START_TIMEOUT_S)
        finally:
            process.kill()
            process.wait()
        self.assertEqual(process.returncode, 0, stderr)
        self.assertIn(f"http://localhost:{port}/{URL_SUFFIX}", stdout)
        self.assertEqual(noisy_stderr_lines(stderr), [])
        self.assertNotIn("cuInit", stderr)
        self.assertNotIn("NOTE: Using experimental fast data loading", stderr)

    def wait_for_runs(self, process: subprocess.Popen, port: int) -> list[str]:
        """The runs TensorBoard lists, once it lists two."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            self.assertIsNone(process.poll(), "dreamer_tf.board exited")
            try:
                runs = json.loads(self.read(port, "data/runs"))
            except OSError:
                runs = []
            if len(runs) == 2:
                return runs
            time.sleep(0.5)
        self.fail(f"TensorBoard listed no two runs in {START_TIMEOUT_S} s")

    def read(self, port: int, path: str) -> bytes:
        url = f"http://localhost:{port}/{path}"
        with urllib.request.urlopen(url, timeout=START_TIMEOUT_S) as response:
            return response.read()
