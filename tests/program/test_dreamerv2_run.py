"""DreamerV2 through the training program: train, resume by logdir, evaluate, export."""

import json
import pathlib

import pytest
import tensorflow as tf
from support.quiet_stderr import assert_quiet_stderr
from test_command import TASK, dreamer_tf

pytestmark = pytest.mark.program


class DreamerV2RunTest(tf.test.TestCase):
    """One tiny DreamerV2 run, resumed with nothing but its logdir."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.directory = pathlib.Path(tf.test.TestCase().get_temp_dir()) / "v2"
        cls.directory.mkdir(parents=True)
        # The V2 preset, then the debug preset's tiny sizes and schedule.
        cls.train = dreamer_tf(
            "train",
            "--preset=dreamerv2_dmc",
            "--preset=debug",
            "--rssm_classes=4",
            TASK,
            "--logdir=run",
            cwd=cls.directory,
        )
        cls.resume = dreamer_tf(
            "train", "--logdir=run", "--steps=600", cwd=cls.directory
        )

    def test_trains_a_dreamerv2_and_records_it(self):
        self.assertEqual(self.train.returncode, 0, self.train.stderr)
        self.assertIn("run finished: 400 frames", self.train.stdout)
        run = self.directory / "run"
        config = json.loads((run / "config.json").read_text())
        self.assertEqual(config["agent"], "dreamerv2")
        architecture = json.loads((run / "architecture.json").read_text())
        model = architecture["world_model"]["config"]
        self.assertEqual(model["rssm"]["class_name"], "CategoricalRSSMCell")
        self.assertEqual(model["kl_loss"]["class_name"], "KLBalance")
        behavior = architecture["actor_critic"]
        self.assertEqual(behavior["class_name"], "ActorCriticV2")
        self.assertEqual(
            behavior["config"]["actor"]["class_name"], "TruncatedNormalActor"
        )
        metrics = [
            json.loads(line)
            for line in (run / "metrics.jsonl").read_text().splitlines()
        ]
        self.assertTrue(any("train/critic_slow" in record for record in metrics))
        assert_quiet_stderr(self.train.stderr)

    def test_resumes_with_its_saved_config_from_the_logdir_alone(self):
        self.assertEqual(self.train.returncode, 0, self.train.stderr)
        result = self.resume
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(
            "  logdir    run (resumes the run there, with its saved config)",
            result.stdout.splitlines(),
        )
        self.assertIn("dmc_cartpole_balance\n", result.stdout)
        self.assertNotIn("--task was not given", result.stdout)
        self.assertIn("run finished: 600 frames", result.stdout)
        config = json.loads((self.directory / "run" / "config.json").read_text())
        self.assertEqual((config["agent"], config["rssm_classes"]), ("dreamerv2", 4))
        assert_quiet_stderr(result.stderr)

    def test_evaluates_and_exports(self):
        self.assertEqual(self.resume.returncode, 0, self.resume.stderr)
        evaluation = dreamer_tf("eval", "--logdir=run", cwd=self.directory)
        self.assertEqual(evaluation.returncode, 0, evaluation.stderr)
        self.assertRegex(evaluation.stdout, r"mean return -?[\d.]+ \(std [\d.]+\)")
        export = dreamer_tf(
            "export", "--logdir=run", "--export_dir=policy", cwd=self.directory
        )
        self.assertEqual(export.returncode, 0, export.stderr)
        self.assertTrue((self.directory / "policy" / "saved_model.pb").is_file())
        for result in (evaluation, export):
            assert_quiet_stderr(result.stderr)
