"""The synchronous loop as data-parallel shards: one per worker of a cluster.

With ``--learner=multi_worker`` every worker runs the same command. Each
steps its own environments (seeded by its index), keeps its own replay in
its own run directory, and samples ``batch_size / workers`` sequences per
update, so that the update (``MultiWorkerMirroredStrategy``'s all-reduce of
the gradients) sees the global batch. The schedule stays the paper's, in
frames summed over the workers: prefill, pretraining once, ``train_steps``
updates per ``train_every`` frames, evaluation and logging.

The workers agree on every decision without a collective per environment
step: the loop runs in rounds. In a round each worker collects its share of
the frames up to the next scheduled event (the end of the prefill or of a
phase, a log, an evaluation, the end of the run), then one collective sums
the frames all workers collected and counts the workers that have a stored
episode. Every decision after it reads only these sums and the counters
broadcast from the chief at the start, so all workers train, save and stop
at the same points and their updates' collectives line up.
"""

from __future__ import annotations

import math
import re

import tensorflow as tf

from dreamer_tf.acting.driver import Driver, random_policy
from dreamer_tf.acting.policy import agent_policy
from dreamer_tf.errors import RunError

# What a collective raises once TensorFlow's health check finds a worker gone.
LOST_WORKER_ERRORS = (tf.errors.UnavailableError, tf.errors.CancelledError)


def run_worker(loop, train_env, resumed: bool) -> None:
    """Runs this worker's shard of the training loop until ``config.steps``.

    Args:
        loop: The worker's :class:`~dreamer_tf.run.loop.Loop`, whose frames
            are already the sum over the workers and whose ``workers`` holds
            the collectives.
        train_env: This worker's training environments.
        resumed: Whether the chief restored a checkpoint.

    Raises:
        RunError: As :meth:`~dreamer_tf.run.loop.Loop.run`.
        tensorflow.errors.UnavailableError: When another worker is gone (see
            :func:`lost_worker_error`).
    """
    schedule = loop.schedule
    loop.announce_start(resumed)
    driver = Driver(train_env)
    driver.reset()
    policies = (
        random_policy(train_env.single_action_space, loop.rng),
        agent_policy(loop.agent, training=True),
    )
    # Every worker has stored an episode to sample from (never false again).
    replays_ready = _close_round(loop, 0)
    while not schedule.finished:
        loop.scheduled_work(replay_ready=replays_ready)
        waiting = not schedule.prefilling and not replays_ready
        collected = _collect(loop, driver, policies, waiting)
        replays_ready = _close_round(loop, collected) or replays_ready
    loop.finish()


def _collect(loop, driver: Driver, policies: tuple, waiting: bool) -> int:
    """Steps this worker's environments for one round; returns its frames.

    Args:
        loop: The worker's loop.
        driver: Its training environments' driver.
        policies: The prefill (random) and the training policy.
        waiting: Whether pretraining waits for a worker's first episode: a
            worker without one plays it to its end; the others step once
            and wait for it in the round's collective.
    """
    schedule = loop.schedule
    quota = 1 if waiting else _round_quota(schedule, loop.workers.task.count)
    collected = 0
    while collected < quota or (waiting and not len(loop.replay)):
        result = driver.step(policies[0] if schedule.prefilling else policies[1])
        for env_index, episode in result.episodes:
            loop.store(env_index, episode)
        collected += schedule.frames_of(result.env_steps)
    return collected


def lost_worker_error(error: Exception) -> RunError:
    """The one-line error for a collective aborted because a worker is gone."""
    tasks = sorted(set(re.findall(r"/job:\w+/replica:\d+/task:\d+", str(error))))
    gone = ", ".join(tasks) if tasks else "a worker"
    return RunError(
        f"the cluster lost {gone} ({type(error).__name__}); rerun every "
        "worker's command to resume."
    )


def _close_round(loop, collected: int) -> bool:
    """The round's collective: adds the frames every worker collected to the count.

    Returns:
        Whether every worker has an episode in its replay.
    """
    workers = loop.workers
    frames, with_episodes = workers.sum([collected, int(len(loop.replay) > 0)])
    loop.schedule.add_frames(frames)
    return with_episodes == workers.task.count


def _round_quota(schedule, workers: int) -> int:
    """This worker's share of the frames up to the schedule's next event."""
    gap = schedule.next_event() - schedule.frames
    # At least one step, even when an event is already due.
    return max(math.ceil(gap / workers), 1)
