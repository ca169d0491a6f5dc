"""Where a run's training episodes come from: the sources the run loop reads.

The run's one collection loop (:meth:`dreamer_tf.run.loop.Loop.run`) asks
its schedule what is due, does it, and then asks its
:class:`EpisodeSource` for more frames, until the run has its frames. Three
sources exist:

- :class:`DriverSource`: this process's environments, stepped once per call
  (the synchronous run);
- :class:`dreamer_tf.parallel.multi_worker.ShardSource`: one worker's share
  of a multi-worker learner's frames, a round at a time;
- :class:`dreamer_tf.parallel.actors.runner.ActorSource`: what actors
  report, while the learner updates one step at a time.

This module imports no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from dreamer_tf.acting.driver import Driver, Policy
from dreamer_tf.replay import Episode

#: ``store(env_index, episode)``: how a source hands over a finished episode.
Store = Callable[[int, Episode], None]


class EpisodeSource(Protocol):
    """A source of finished training episodes and of the frames they took.

    Attributes:
        one_update_at_a_time: Whether the loop runs each update as soon as its
            frames are there (the learner fed by actors), or a whole phase's
            updates once all its frames are (the synchronous loop).
    """

    one_update_at_a_time: bool

    def start(self, schedule, replay) -> None:
        """Begins collecting for a run with this schedule and replay."""

    def replay_ready(self) -> bool:
        """Whether the replay can be sampled (with workers: every worker's)."""

    def collect(self, store: Store, trained: bool) -> int:
        """Collects for a while; stores what finished; returns the frames.

        Args:
            store: Takes each finished episode.
            trained: Whether the loop just trained (a source that waits for
                others waits only when the loop had nothing to do).
        """

    def drain(self, store: Store) -> int:
        """Takes what is still on its way once the run has its frames."""

    def stopping(self, requested: bool) -> bool:
        """Whether the run stops now, given whether this process was asked to.

        Sources of several processes that act in lockstep answer what they
        all agreed on.
        """

    def log_scalars(self) -> dict[str, float]:
        """The source's own scalars for the log (e.g. the actors' rates)."""

    def close(self) -> None:
        """Stops collecting."""


class PolicyChoice:
    """The one rule for how the run acts: random in the prefill, then learned.

    Args:
        prefill: The policy of the prefill (uniformly random actions).
        train: The agent's training policy.
    """

    def __init__(self, prefill: Policy, train: Policy):
        self.prefill, self.train = prefill, train

    def __call__(self, schedule) -> Policy:
        """The policy to act with at the schedule's frame count."""
        return self.prefill if schedule.prefilling else self.train


class DriverSource:
    """This process's training environments as a source, one step per call.

    Args:
        env: The training vector environment.
        policies: The prefill and training policies.
    """

    one_update_at_a_time = False

    def __init__(self, env, policies: PolicyChoice):
        self.driver = Driver(env)
        self.policies = policies
        self.schedule = self.replay = None

    def start(self, schedule, replay) -> None:
        """Resets the environments."""
        self.schedule, self.replay = schedule, replay
        self.driver.reset()

    def replay_ready(self) -> bool:
        """Whether an episode is stored."""
        return len(self.replay) > 0

    def collect(self, store: Store, trained: bool = False) -> int:
        """Steps every environment once with the policy the schedule calls for."""
        result = self.driver.step(self.policies(self.schedule))
        for env_index, episode in result.episodes:
            store(env_index, episode)
        return result.frames

    def drain(self, store: Store) -> int:
        """Nothing is on its way: every step is counted as it is taken."""
        return 0

    def stopping(self, requested: bool) -> bool:
        """As this process was asked."""
        return requested

    def log_scalars(self) -> dict[str, float]:
        """No scalars of its own."""
        return {}

    def close(self) -> None:
        """Nothing to stop (the program closes the environments)."""
