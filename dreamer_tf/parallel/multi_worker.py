"""The run's loop as data-parallel shards: one per worker of a cluster.

With ``--learner=multi_worker`` every worker runs the same command. Each
steps its own environments (seeded by its index), keeps its own replay in
its own run directory, and samples ``batch_size / workers`` sequences per
update, so that the update (``MultiWorkerMirroredStrategy``'s all-reduce of
the gradients) sees the global batch. The schedule stays the paper's, in
frames summed over the workers: prefill, pretraining once, ``train_steps``
updates per ``train_every`` frames, evaluation and logging.

The workers agree on every decision without a collective per environment
step: each worker's :class:`ShardSource` collects in rounds. In a round
each worker collects its share of the frames up to the next scheduled event
(the end of the prefill or of a phase, a log, an evaluation, the end of the
run), then one collective sums the frames all workers collected and counts
the workers that have a stored episode. Every decision after it reads only
these sums and the counters broadcast from the chief at the start, so all
workers train, save and stop at the same points and their updates'
collectives line up.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import tensorflow as tf

from dreamer_tf.acting.sources import DriverSource, PolicyChoice, Store
from dreamer_tf.errors import RunError

# What a collective raises once TensorFlow's health check finds a worker gone.
LOST_WORKER_ERRORS = (tf.errors.UnavailableError, tf.errors.CancelledError)


class ShardSource:
    """One worker's share of a multi-worker learner's frames, a round at a time.

    Args:
        env: This worker's training environments.
        policies: The prefill and training policies.
        workers: The workers' collectives.
        stop_requested: Whether a signal asked this worker to stop (see
            :mod:`dreamer_tf.run.stopping`); it ends the round early.
    """

    one_update_at_a_time = False

    def __init__(
        self,
        env,
        policies: PolicyChoice,
        workers,
        stop_requested: Callable[[], bool] = lambda: False,
    ):
        self.local = DriverSource(env, policies)
        self.workers = workers
        self.stop_requested = stop_requested
        self.schedule = self.replay = None
        self._replays_ready = False
        self._stop_agreed = False

    def start(self, schedule, replay) -> None:
        """Resets the environments; the first round's collective (no frames)."""
        self.schedule, self.replay = schedule, replay
        self.local.start(schedule, replay)
        self._close_round(0)

    def replay_ready(self) -> bool:
        """Whether every worker has an episode in its replay (never false again)."""
        return self._replays_ready

    def collect(self, store: Store, trained: bool = False) -> int:
        """Collects this worker's share of a round; returns every worker's frames.

        A worker collects up to the schedule's next event. While pretraining
        waits for a worker's first episode, a worker without one plays it to
        its end and the others step once and wait for it in the collective.
        A worker asked to stop ends its share early: every worker stops after
        this round.
        """
        schedule = self.schedule
        waiting = not schedule.prefilling and not self._replays_ready
        quota = 1 if waiting else _round_quota(schedule, self.workers.task.count)
        collected = 0
        while collected < quota or (waiting and not len(self.replay)):
            if self.stop_requested():
                break
            collected += self.local.collect(store)
        return self._close_round(collected)

    def _close_round(self, collected: int) -> int:
        """The round's collective: every worker's frames, replays and stops."""
        workers = self.workers
        frames, with_episodes, stops = workers.sum(
            [collected, int(len(self.replay) > 0), int(self.stop_requested())]
        )
        self._replays_ready = self._replays_ready or with_episodes == workers.task.count
        self._stop_agreed = self._stop_agreed or stops > 0
        return frames

    def stopping(self, requested: bool) -> bool:
        """Whether a worker was asked to stop, as of the last round.

        Every worker stops at the end of the round in which one of them was
        asked (its request goes into the round's collective), so their
        updates' collectives still line up.
        """
        return self._stop_agreed

    def drain(self, store: Store) -> int:
        """Nothing is on its way after the last round."""
        return 0

    def log_scalars(self) -> dict[str, float]:
        """No scalars of its own."""
        return {}

    def close(self) -> None:
        """Nothing to stop (the program closes the environments)."""


def lost_worker_error(error: Exception) -> RunError:
    """The one-line error for a collective aborted because a worker is gone."""
    tasks = sorted(set(re.findall(r"/job:\w+/replica:\d+/task:\d+", str(error))))
    gone = ", ".join(tasks) if tasks else "a worker"
    return RunError(
        f"the cluster lost {gone} ({type(error).__name__}); rerun every "
        "worker's command to resume."
    )


def _round_quota(schedule, workers: int) -> int:
    """This worker's share of the frames up to the schedule's next event."""
    gap = schedule.next_event() - schedule.frames
    # At least one step, even when an event is already due.
    return max(math.ceil(gap / workers), 1)
