"""The progress line's ETA counts the rate of training, not of the prefill."""

import types
from unittest import mock

import tensorflow as tf

from dreamer_tf.run import loop


def eta_rate(state, now: float, frames: int, updates: int) -> float:
    state.frames = frames
    with mock.patch.object(loop.time, "time", return_value=now):
        return loop.Loop._eta_rate(state, updates)


class EtaRateTest(tf.test.TestCase):
    def test_rate_since_the_first_log_after_an_update(self):
        state = types.SimpleNamespace(
            start_time=0.0, start_frames=0, start_updates=0, training_clock=None
        )
        # Prefill: 1000 random frames in 10 s.
        self.assertAllClose(eta_rate(state, 10.0, 1000, updates=0), 100.0)
        # The first log after updates: no frames since it yet, so the run's rate.
        self.assertAllClose(eta_rate(state, 20.0, 1100, updates=10), 55.0)
        # Then 100 frames per 100 s of training: 1 frame/s, not the run's 6.
        self.assertAllClose(eta_rate(state, 120.0, 1200, updates=20), 1.0)
        self.assertAllClose(eta_rate(state, 220.0, 1300, updates=30), 1.0)

    def test_a_resumed_start_counts_from_its_own_first_update(self):
        state = types.SimpleNamespace(
            start_time=100.0, start_frames=5000, start_updates=400, training_clock=None
        )
        self.assertAllClose(eta_rate(state, 150.0, 5100, updates=400), 2.0)
        eta_rate(state, 160.0, 5200, updates=410)
        self.assertAllClose(eta_rate(state, 260.0, 5400, updates=430), 2.0)
