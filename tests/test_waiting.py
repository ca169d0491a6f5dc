"""Waits on another party: reported in words, bounded, and open to signals."""

import contextlib
import io
import os
import signal
import threading
import time

import pytest
import tensorflow as tf

from dreamer_tf import waiting
from dreamer_tf.errors import RunError, RunStopped


def blocking_until(event: threading.Event):
    def call():
        event.wait()
        return "joined"

    return call


@contextlib.contextmanager
def printed():
    """What ``waiting`` prints (to stdout) while the block runs."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        yield buffer


class WaitForTest(tf.test.TestCase):
    def test_returns_what_the_call_returns_without_a_report(self):
        with printed() as output:
            result = waiting.wait_for(lambda: 42, "nobody", 5, "nothing to do")
        self.assertEqual(result, 42)
        self.assertEqual(output.getvalue(), "")

    def test_an_error_of_the_call_is_raised_as_it_is(self):
        def call():
            raise ConnectionError("refused")

        with pytest.raises(ConnectionError, match="refused"):
            waiting.wait_for(call, "the cluster", 5, "start it")

    def test_reports_within_seconds_then_at_intervals_then_gives_up(self):
        start = time.monotonic()
        with printed() as output, pytest.raises(RunError) as raised:
            waiting.wait_until(
                lambda: "worker:1 does not answer",
                "the peers",
                1.0,
                "raise --timeout.",
                poll_s=0.01,
                first_report_s=0.2,
                report_every_s=0.3,
            )
        self.assertBetween(time.monotonic() - start, 1.0, 3.0)
        self.assertEqual(
            str(raised.value), "no answer from the peers within 1 s; raise --timeout."
        )
        lines = output.getvalue().splitlines()
        # At about 0.2, 0.5 and 0.8 s; each names what it waits for.
        self.assertBetween(len(lines), 2, 4)
        self.assertEqual(
            lines[0], "waiting for the peers (0 s of 1 s): worker:1 does not answer"
        )
        self.assertRegex(
            lines[1], r"^waiting for the peers \(\d s of 1 s\): worker:1 does not"
        )

    def test_ends_when_the_check_answers_none(self):
        answers = iter(["not yet", "not yet", None])
        with printed() as output:
            waiting.wait_until(lambda: next(answers), "the head", 5, "", poll_s=0.01)
        self.assertEqual(output.getvalue(), "")

    def test_a_call_given_up_on_is_abandoned(self):
        never = threading.Event()
        with printed(), pytest.raises(RunError, match="within 0.3 s; wait longer"):
            waiting.wait_for(
                blocking_until(never), "the head", 0.3, "wait longer", first_report_s=9
            )
        self.assertTrue(waiting.abandoned())
        never.set()

    def test_a_signal_ends_the_wait_as_a_stop(self):
        never = threading.Event()
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM)).start()
        handler = signal.getsignal(signal.SIGTERM)
        start = time.monotonic()
        with printed(), pytest.raises(RunStopped) as raised:
            waiting.wait_for(blocking_until(never), "the head", 30, "start it")
        never.set()
        self.assertLess(time.monotonic() - start, 5)
        self.assertEqual(raised.value.exit_code, 128 + signal.SIGTERM)
        self.assertIn("while waiting for the head", str(raised.value))
        # The handlers from before the wait are back.
        self.assertEqual(signal.getsignal(signal.SIGTERM), handler)
