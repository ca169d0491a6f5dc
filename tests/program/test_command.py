"""The installed ``dreamer-tf`` command, as a newcomer runs it from anywhere."""

import pathlib
import subprocess
import sys
import time

import pytest
import tensorflow as tf
from support import REPOSITORY
from support.quiet_stderr import assert_quiet_stderr

pytestmark = pytest.mark.program

COMMAND = str(pathlib.Path(sys.executable).parent / "dreamer-tf")
DEBUG_PRESET = REPOSITORY / "dreamer_tf" / "presets" / "debug.flags"
TASK = "--task=dmc_cartpole_balance"


def dreamer_tf(*arguments, cwd, timeout=600):
    return subprocess.run(
        [COMMAND, *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class TrainEvalExportTest(tf.test.TestCase):
    """One run trained, evaluated and exported from a directory of its own."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.directory = pathlib.Path(tf.test.TestCase().get_temp_dir()) / "elsewhere"
        cls.directory.mkdir(parents=True)
        cls.train = dreamer_tf(
            "train", f"--preset={DEBUG_PRESET}", TASK, "--logdir=run", cwd=cls.directory
        )

    def test_training_starts_with_its_block_and_ends_with_a_summary(self):
        result = self.train
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = result.stdout.splitlines()
        self.assertEqual(lines[0], "dreamer-tf train: dmc_cartpole_balance")
        self.assertIn(f"  presets   {DEBUG_PRESET}", lines)
        self.assertIn("  logdir    run (a new run)", lines)
        self.assertTrue(any(line.startswith("  device    CPU") for line in lines))
        summary = result.stdout[result.stdout.index("run finished:") :]
        self.assertRegex(summary, r"^run finished: 400 frames, 6 updates, \d+s ")
        self.assertRegex(summary, r"final +eval return -?\d+\.\d \(std 0\.0, 1 ep")
        self.assertRegex(summary, r"saved +run/checkpoints/ckpt-\d+")
        self.assertIn("dreamer-tf tensorboard run", summary)
        self.assertTrue((self.directory / "run" / "checkpoints").is_dir())
        assert_quiet_stderr(result.stderr)

    def test_eval_and_export_read_the_run(self):
        self.assertEqual(self.train.returncode, 0, self.train.stderr)
        evaluation = dreamer_tf(
            "eval", "--logdir=run", "--eval_episodes=2", cwd=self.directory
        )
        self.assertEqual(evaluation.returncode, 0, evaluation.stderr)
        self.assertRegex(
            evaluation.stdout, r"mean return -?[\d.]+ \(std [\d.]+\) over 2"
        )
        export = dreamer_tf(
            "export", "--logdir=run", "--export_dir=policy", cwd=self.directory
        )
        self.assertEqual(export.returncode, 0, export.stderr)
        self.assertTrue((self.directory / "policy" / "saved_model.pb").is_file())
        self.assertNotIn("eval return", export.stdout)
        for result in (evaluation, export):
            assert_quiet_stderr(result.stderr)


class RefusalTest(tf.test.TestCase):
    """Bad input: one line on stderr, at once, and nothing written."""

    def refused(self, *arguments):
        directory = pathlib.Path(self.get_temp_dir())
        start = time.monotonic()
        result = dreamer_tf(*arguments, cwd=directory, timeout=60)
        self.assertLess(time.monotonic() - start, 20)
        self.assertEqual(result.returncode, 1, result.stdout)
        self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
        self.assertEqual(list(directory.iterdir()), [])  # Nothing written.
        return result.stderr.strip()

    def test_a_schedule_that_never_trains(self):
        line = self.refused(
            "train", "--preset=debug", TASK, "--logdir=run", "--steps=1"
        )
        self.assertEqual(
            line,
            "error: --steps=1 is not above --prefill=100: the run would only "
            "collect random episodes, with no update and no evaluation; raise "
            "--steps, lower --prefill, or pass --random_data_only if that is "
            "what you want.",
        )

    def test_an_unknown_preset(self):
        line = self.refused("train", "--preset=qiuck", TASK, "--logdir=run")
        self.assertStartsWith(line, "error: no preset 'qiuck'; presets: atari, cpu,")

    def test_evaluating_or_exporting_nothing_creates_no_logdir(self):
        line = self.refused("eval", "--logdir=run")
        self.assertIn("nothing to evaluate: logdir 'run' does not exist", line)
        line = self.refused("export", "--logdir=run", "--export_dir=policy")
        self.assertIn("nothing to export", line)

    @pytest.mark.skipif(
        bool(list(pathlib.Path("/dev").glob("nvidia[0-9]*"))), reason="has a GPU"
    )
    def test_mirrored_without_a_gpu(self):
        line = self.refused(
            "train", "--preset=debug", TASK, "--logdir=run", "--learner=mirrored"
        )
        self.assertIn("--learner=mirrored found no GPU", line)


class HelpTest(tf.test.TestCase):
    def test_help_exits_zero_and_lists_commands_and_flags(self):
        directory = self.get_temp_dir()
        top = dreamer_tf("-h", cwd=directory, timeout=60)
        self.assertEqual(top.returncode, 0)
        self.assertIn("tensorboard", top.stdout)
        for flag in ("-h", "--help"):
            train = dreamer_tf("train", flag, cwd=directory, timeout=60)
            self.assertEqual(train.returncode, 0, train.stderr)
            self.assertIn("Presets (--preset=NAME", train.stdout)
            self.assertIn("Scaling (actors, learners):", train.stdout)
            self.assertEqual(train.stderr, "")
        unknown = dreamer_tf("--preset=quick", cwd=directory, timeout=60)
        self.assertEqual(unknown.returncode, 2)
        self.assertIn("unknown command '--preset=quick' (flags come", unknown.stderr)


class AliasTest(tf.test.TestCase):
    def test_the_example_script_is_the_train_command(self):
        result = subprocess.run(
            [sys.executable, str(REPOSITORY / "examples" / "dmc_train.py"), "-h"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertStartsWith(result.stdout, "usage: dreamer-tf train")
