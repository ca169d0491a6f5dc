"""The learner's wait for its actors' first messages: words, then a bound."""

import contextlib
import io
from unittest import mock

import pytest
import tensorflow as tf

from dreamer_tf.parallel.actors import runner
from dreamer_tf.parallel.actors.group import ActorsFailed
from dreamer_tf.parallel.actors.runner import ActorSource


class SilentGroup:
    """A group whose actors have been silent for the seconds given."""

    def __init__(self):
        self.waited: dict[int, float] = {}

    def silent(self) -> dict[int, float]:
        return dict(self.waited)


def source(group, timeout_s: float = 60.0) -> ActorSource:
    return ActorSource(group, agent=None, sync_every=1, start_timeout_s=timeout_s)


def checked(actors: ActorSource) -> list[str]:
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        actors._check_silent_actors()
    return output.getvalue().splitlines()


class ActorStartTest(tf.test.TestCase):
    def test_reports_the_silent_actors_then_at_intervals(self):
        group = SilentGroup()
        actors = source(group)
        group.waited = {0: 2.0, 1: 2.0}
        self.assertEqual(checked(actors), [])
        group.waited = {0: runner.FIRST_MESSAGE_REPORT_S, 1: 3.0}
        self.assertEqual(
            checked(actors), ["waiting for actors 0, 1 to start (10 s of 60 s)"]
        )
        group.waited = {1: 12.0}  # actor 0 spoke
        self.assertEqual(checked(actors), [])
        group.waited = {1: 10.0 + runner.REPORT_EVERY_S}
        self.assertEqual(
            checked(actors), ["waiting for actor 1 to start (25 s of 60 s)"]
        )

    def test_gives_up_on_an_actor_silent_for_too_long(self):
        group = SilentGroup()
        group.waited = {1: 60.5}
        with pytest.raises(ActorsFailed) as raised:
            checked(source(group))
        self.assertEqual(
            str(raised.value),
            "actor 1 sent nothing within 60 s of starting (environments that "
            "never reset, or no free CPU in the Ray cluster); fix that, or raise "
            "--actor_start_timeout",
        )

    def test_a_started_group_says_nothing(self):
        group = SilentGroup()
        with mock.patch("builtins.print") as printed:
            source(group)._check_silent_actors()
        printed.assert_not_called()
