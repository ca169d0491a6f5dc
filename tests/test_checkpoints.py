"""RunCheckpoints on a small module: fallback, finiteness, untouched files."""

import logging
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from dreamer_tf.checkpoints import RunCheckpoints
from dreamer_tf.rundir import RunError


def make(directory):
    weights = tf.Variable(np.zeros(3, np.float32))
    checkpoints = RunCheckpoints(
        directory, tf.train.Checkpoint(weights=weights), [weights], max_to_keep=3
    )
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
