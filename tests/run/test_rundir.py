"""The run directory's checks, before anything expensive starts."""

import json
import os
import pathlib

import pytest
import tensorflow as tf
from absl.testing import parameterized

from dreamer_tf.config import DreamerConfig
from dreamer_tf.run.rundir import (
    ARCHITECTURE_FILE_NAME,
    RunSpec,
    check_run,
    holds_run,
    unlock_logdir,
)

TASK = "gym_dreamer_tf.envs.toy:PointReach-v0"


def spec(logdir, **changes) -> RunSpec:
    config = DreamerConfig(observation="proprio", **changes)
    return RunSpec(config=config, task=TASK, logdir=str(logdir))


def snapshot(directory: pathlib.Path) -> dict[str, object]:
    """Every entry of a directory tree: a link's target, a file's bytes."""
    entries = {}
    for path in sorted(directory.rglob("*")):
        name = str(path.relative_to(directory))
        if path.is_symlink():
            entries[name] = ("link", os.readlink(path))
        elif path.is_file():
            entries[name] = ("file", path.read_bytes())
        else:
            entries[name] = ("dir", None)
    return entries


def make_run_files(logdir: pathlib.Path, name: str, content) -> None:
    """Writes one odd entry: bytes as a file, ``("link", target)`` as a link."""
    logdir.mkdir(parents=True)
    path = logdir / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        os.symlink(content[1], path)


class OddLogdirTest(tf.test.TestCase, parameterized.TestCase):
    @parameterized.named_parameters(
        ("damaged_config", "config.json", b'{"task": "gym_', "is damaged"),
        ("empty_config", "config.json", b"", "is damaged"),
        ("list_config", "config.json", b"[1, 2]", "holds a JSON list"),
        ("null_config", "config.json", b"null", "holds a JSON NoneType"),
        ("binary_config", "config.json", b"\xff\xfe\x00", "is damaged"),
        ("looped_config", "config.json", ("link", "config.json"), "leads nowhere"),
        ("config_directory", "config.json/", None, "is not a regular file"),
        ("looped_lock", "run.lock", ("link", "run.lock"), "leads nowhere"),
        ("looped_episodes", "episodes", ("link", "episodes"), "leads nowhere"),
        ("episodes_file", "episodes", b"npz", "is not a directory"),
        ("dangling_checkpoints", "checkpoints", ("link", "/no/such"), "leads nowhere"),
        ("looped_checkpoints", "checkpoints", ("link", "checkpoints"), "leads nowhere"),
    )
    def test_one_line_naming_the_entry_and_nothing_written(
        self, name, content, message
    ):
        logdir = pathlib.Path(self.get_temp_dir()) / self._testMethodName
        if content is None:
            (logdir / name).mkdir(parents=True)
        else:
            make_run_files(logdir, name, content)
        before = snapshot(logdir)
        with pytest.raises(ValueError, match=message) as raised:
            check_run(spec(logdir))
        unlock_logdir(logdir)
        error = str(raised.value)
        self.assertLen(error.splitlines(), 1)
        self.assertIn(repr(str(logdir / name.rstrip("/"))), error)
        self.assertEqual(snapshot(logdir), before)


class CheckRunTest(tf.test.TestCase):
    def test_a_new_run_records_its_config(self):
        logdir = self.get_temp_dir() + "/new"
        check_run(spec(logdir, seed=3))
        unlock_logdir(logdir)
        with open(f"{logdir}/config.json") as file:
            saved = json.load(file)
        self.assertEqual(saved["task"], TASK)
        self.assertEqual(saved["seed"], 3)

    def test_a_run_saved_with_a_numeric_precision_resumes(self):
        logdir = pathlib.Path(self.get_temp_dir()) / "numeric_precision"
        check_run(spec(logdir))
        unlock_logdir(logdir)
        saved = json.loads((logdir / "config.json").read_text())
        self.assertEqual(saved["precision"], "32")
        # As runs saved it before precision=auto: a number.
        (logdir / "config.json").write_text(json.dumps({**saved, "precision": 32}))
        check_run(spec(logdir))
        unlock_logdir(logdir)
        with pytest.raises(ValueError, match="precision: saved '32' vs now '16'"):
            check_run(spec(logdir, precision=16))

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


class HoldsRunTest(tf.test.TestCase):
    def test_a_run_is_its_checkpoints_or_its_episodes(self):
        logdir = pathlib.Path(self.get_temp_dir()) / "run"
        self.assertFalse(holds_run(logdir))
        (logdir / "episodes").mkdir(parents=True)
        (logdir / "checkpoints").mkdir()
        (logdir / "config.json").write_text("{}")
        self.assertFalse(holds_run(logdir))
        (logdir / "episodes" / "0.npz").write_bytes(b"")
        self.assertTrue(holds_run(logdir))
        (logdir / "episodes" / "0.npz").unlink()
        (logdir / "checkpoints" / "ckpt-3.index").write_bytes(b"")
        self.assertTrue(holds_run(logdir))
