"""benchmarks/compare_authors.py without a checkout: input checks, one environment."""

import json
import math
import os
import pathlib
import subprocess
import sys
import tempfile
from unittest import mock

import tensorflow as tf

BENCHMARKS = pathlib.Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import compare_authors  # noqa: E402
from authors_dreamer import check_checkout  # noqa: E402


def fake_checkout(directory: pathlib.Path, dreamer_source: str) -> pathlib.Path:
    for name in ("models.py", "tools.py"):
        (directory / name).write_text("")
    (directory / "dreamer.py").write_text(dreamer_source)
    return directory


class CheckoutTest(tf.test.TestCase):
    def test_a_directory_without_their_files_fails_in_one_line_at_once(self):
        with tempfile.TemporaryDirectory() as directory:
            result = subprocess.run(
                [sys.executable, str(BENCHMARKS / "compare_authors.py"), directory],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        self.assertEqual(result.returncode, 2)
        last = result.stderr.strip().splitlines()[-1]
        self.assertIn("is no checkout of danijar/dreamer", last)
        self.assertIn("dreamer.py, models.py, tools.py", last)

    def test_another_dreamer_is_refused_and_theirs_accepted(self):
        with tempfile.TemporaryDirectory() as directory:
            other = fake_checkout(pathlib.Path(directory), "def main(): pass\n")
            with self.assertRaisesRegex(ValueError, "not DreamerV2 or V3"):
                check_checkout(other)
            theirs = fake_checkout(
                pathlib.Path(directory),
                "def define_config():\n  pass\nclass Dreamer(tools.Module):\n  pass\n",
            )
            self.assertEqual(check_checkout(theirs), theirs.resolve())


class EnvironmentTest(tf.test.TestCase):
    def run_both(self, authors_loss: float):
        """Runs each side with ``subprocess.run`` faked; returns the calls."""
        ours = {
            "package": str(compare_authors.ROOT / "dreamer_tf" / "__init__.py"),
            "median_update_s": 1.0,
        }
        theirs = {"median_update_s": 2.0, "model_loss": [authors_loss]}
        calls = []

        def fake_run(command, **options):
            calls.append(options)
            figures = theirs if str(compare_authors.AUTHORS_SCRIPT) in command else ours
            return subprocess.CompletedProcess(command, 0, json.dumps(figures), "")

        args = compare_authors.argparse.Namespace(
            checkout="/checkout",
            length=10,
            steps=1,
            warmup=0,
            authors_precision=32,
        )
        with mock.patch.object(subprocess, "run", fake_run):
            compare_authors.ours(2, args, "32")
            compare_authors.theirs(2, args)
        return calls

    def test_ours_and_theirs_get_the_same_environment_and_directory(self):
        with mock.patch.dict(os.environ, {"ALLOCATOR_PROBE": "1"}):
            ours, theirs = self.run_both(authors_loss=1.0)
            expected = compare_authors.child_environment()
        self.assertEqual(ours["env"], expected)
        self.assertEqual(theirs["env"], expected)
        self.assertEqual(ours["cwd"], theirs["cwd"])

    def test_a_nonfinite_authors_loss_is_an_error(self):
        with self.assertRaisesRegex(RuntimeError, "model loss"):
            self.run_both(authors_loss=math.nan)
