"""RunCheckpoints on a small module: fallback, finiteness, untouched files."""

import logging
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from dreamer_tf.errors import RunError
from dreamer_tf.run.checkpoints import RunCheckpoints


def make(directory):
    weights = tf.Variable(np.zeros(3, np.float32))
    checkpoints = RunCheckpoints(directory, {"weights": weights}, max_to_keep=3)
    return weights, checkpoints


def snapshot(directory: pathlib.Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


class TestRunCheckpoints:
    def test_save_refuses_non_finite_weights_and_writes_nothing(self, tmp_path):
        weights, checkpoints = make(tmp_path)
        checkpoints.restore()
        weights.assign([1.0, 2.0, 3.0])
        checkpoints.save()
        before = snapshot(tmp_path)
        weights.assign([1.0, np.nan, 3.0])
        with pytest.raises(RunError, match="non-finite"):
            checkpoints.save()
        assert snapshot(tmp_path) == before

    def test_a_checkpoint_holding_nan_is_skipped_for_the_previous_one(
        self, tmp_path, caplog
    ):
        weights, checkpoints = make(tmp_path)
        checkpoints.restore()
        weights.assign([1.0, 2.0, 3.0])
        checkpoints.save()
        weights.assign([4.0, np.inf, 6.0])
        # Written behind the guard's back, as an older version could have.
        checkpoints.manager.save()
        restored, fresh = make(tmp_path)
        with caplog.at_level(logging.WARNING):
            prefix = fresh.restore()
        assert pathlib.Path(prefix).name == "ckpt-1"
        np.testing.assert_array_equal(restored.numpy(), [1.0, 2.0, 3.0])
        assert "ckpt-2" in caplog.text and "non-finite" in caplog.text

    def test_nothing_restores_is_an_error_that_touches_nothing(self, tmp_path):
        weights, checkpoints = make(tmp_path)
        checkpoints.restore()
        weights.assign([np.nan] * 3)
        checkpoints.manager.save()
        before = snapshot(tmp_path)
        _, fresh = make(tmp_path)
        with pytest.raises(RunError, match="ckpt-1"):
            fresh.restore()
        assert snapshot(tmp_path) == before

    def test_a_checkpoint_missing_a_variable_is_refused_naming_it(self, tmp_path):
        weights = tf.Variable(np.ones(3, np.float32))
        checkpoints = RunCheckpoints(tmp_path, {"weights": weights})
        checkpoints.restore()
        checkpoints.save()
        before = snapshot(tmp_path)
        grown = {"weights": tf.Variable(np.zeros(3, np.float32))}
        grown["head/bias"] = tf.Variable(np.zeros(2, np.float32))
        with pytest.raises(RunError, match="lacks 'head/bias'"):
            RunCheckpoints(tmp_path, grown).restore()
        np.testing.assert_array_equal(grown["weights"].numpy(), np.zeros(3))
        assert snapshot(tmp_path) == before

    def test_a_checkpoint_holding_an_unknown_variable_is_refused(self, tmp_path):
        named = {"weights": tf.Variable(np.ones(3)), "extra": tf.Variable(1.0)}
        checkpoints = RunCheckpoints(tmp_path, named)
        checkpoints.restore()
        checkpoints.save()
        with pytest.raises(RunError, match="holds 'extra'"):
            RunCheckpoints(tmp_path, {"weights": tf.Variable(np.zeros(3))}).restore()

    def test_a_positional_checkpoint_of_version_0_1_is_refused(self, tmp_path):
        # How 0.1 saved a list-held layer's weight: in the optimizer's list only.
        class Optimizer(tf.Module):
            def __init__(self):
                super().__init__()
                self._trainable_variables = [tf.Variable(np.ones(3, np.float32))]

        tf.train.Checkpoint(agent=Optimizer()).save(str(tmp_path / "ckpt"))
        before = snapshot(tmp_path)
        _, fresh = make(tmp_path)
        with pytest.raises(RunError, match="before 0.2.*by name"):
            fresh.restore()
        assert snapshot(tmp_path) == before
