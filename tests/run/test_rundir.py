"""The run directory's checks, before anything expensive starts."""

import json

import pytest
import tensorflow as tf

from dreamer_tf.config import DreamerConfig
from dreamer_tf.run.rundir import (
    ARCHITECTURE_FILE_NAME,
    RunSpec,
    check_run,
    unlock_logdir,
)

TASK = "gym_dreamer_tf.envs.toy:PointReach-v0"


def spec(logdir, **changes) -> RunSpec:
    config = DreamerConfig(observation="proprio", **changes)
    return RunSpec(config=config, task=TASK, logdir=str(logdir))


class CheckRunTest(tf.test.TestCase):
    def test_a_new_run_records_its_config(self):
        logdir = self.get_temp_dir() + "/new"
        check_run(spec(logdir, seed=3))
        unlock_logdir(logdir)
        with open(f"{logdir}/config.json") as file:
            saved = json.load(file)
        self.assertEqual(saved["task"], TASK)
        self.assertEqual(saved["seed"], 3)

    def test_a_run_of_0_1_is_refused_before_anything_is_written(self):
        logdir = self.get_temp_dir() + "/old"
        tf.io.gfile.makedirs(f"{logdir}/checkpoints")
        for suffix in ("index", "data-00000-of-00001"):
            with open(f"{logdir}/checkpoints/ckpt-4.{suffix}", "wb") as file:
                file.write(b"0.1")
        old_config = json.dumps({"task": TASK, **spec(logdir).config.to_dict()})
        with open(f"{logdir}/config.json", "w") as file:
            file.write(old_config)
        with pytest.raises(ValueError, match="before 0.2") as raised:
            check_run(spec(logdir))
        unlock_logdir(logdir)
        self.assertLen(str(raised.value).splitlines(), 1)
        self.assertFalse(tf.io.gfile.exists(f"{logdir}/{ARCHITECTURE_FILE_NAME}"))
        with open(f"{logdir}/config.json") as file:
            self.assertEqual(file.read(), old_config)
