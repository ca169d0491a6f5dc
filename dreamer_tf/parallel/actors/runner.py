"""The learner with actors: the run's schedule while actors collect.

:func:`learn_with_actors` runs the training loop's work (pretraining once,
updates, evaluation, logging, checkpoints) while actors collect. The frames
are the learner's count of what the actors report; the run's
:class:`~dreamer_tf.run.schedule.Schedule` decides when an update is due and
how far the actors may run ahead of the updates (its rate limit).
"""

from __future__ import annotations

import time

from dreamer_tf.parallel.actors.group import ActorGroup

# How long the learner waits for the actors when it has nothing to do.
_STARVED_WAIT_S = 0.05


class ActorStats:
    """Rates for the log: updates per frame and each actor's frames/s."""

    def __init__(self, group: ActorGroup, frames: int, updates: int):
        self.group = group
        self.mark(frames, updates)

    def mark(self, frames: int, updates: int) -> None:
        """Starts a new window (after each log, and after pretraining)."""
        self._window = (time.time(), frames, updates, list(self.group.frames_by_actor))

    def scalars(self, frames: int, updates: int) -> dict[str, float]:
        """The window's rates; starts the next window."""
        start, start_frames, start_updates, by_actor = self._window
        elapsed = max(time.time() - start, 1e-6)
        scalars = {"actors/restarts": self.group.restarts}
        if frames > start_frames:
            scalars["train/updates_per_frame"] = (updates - start_updates) / (
                frames - start_frames
            )
        for index, (now, before) in enumerate(
            zip(self.group.frames_by_actor, by_actor)
        ):
            scalars[f"actors/{index}/fps"] = (now - before) / elapsed
        self.mark(frames, updates)
        return scalars


def learn_with_actors(loop, group: ActorGroup, sync_every: int) -> None:
    """Trains from the actors' episodes until ``config.steps`` frames.

    The loop's :class:`~dreamer_tf.run.schedule.Schedule` says when each
    update is due (one at a time, on the synchronous loop's grid of phases)
    and how far the actors may run ahead of the updates.

    Args:
        loop: The run's :class:`~dreamer_tf.run.loop.Loop` (its replay,
            agent, schedule, checkpoints and log).
        group: The actors, not yet started.
        sync_every: Updates between weight refreshes.
    """
    from dreamer_tf.acting.policy import policy_weights

    schedule, agent = loop.schedule, loop.agent
    stats = ActorStats(group, schedule.frames, schedule.updates)

    def sync() -> int:
        group.sync(schedule.updates, policy_weights(agent), schedule.frames)
        return schedule.updates

    group.start()
    print(f"actors started: pids {group.pids()}", flush=True)
    synced = sync() if schedule.pretrained else None
    try:
        while not schedule.finished:
            busy = _learn(loop, stats)
            if busy and (synced is None or schedule.updates - synced >= sync_every):
                synced = sync()
            _collect(loop, group, 0.0 if busy else _STARVED_WAIT_S)
            group.allow(schedule.actor_ceiling(len(loop.replay)), schedule.frames)
        _collect(loop, group, 0.0)
        loop.finish(stats.scalars(schedule.frames, schedule.updates))
    finally:
        group.close()


def _learn(loop, stats: ActorStats) -> bool:
    """Does what the schedule says is due, in its order; whether it trained."""
    schedule = loop.schedule
    trained = False
    if schedule.pretrain_due(replay_ready=len(loop.replay) > 0):
        loop.pretrain()
        stats.mark(schedule.frames, schedule.updates)
        trained = True
    elif schedule.update_due():
        loop.train(1)
        schedule.update_done()
        trained = True
    if schedule.evaluation_due():
        loop.evaluate()
    if schedule.log_due():
        loop.log(stats.scalars(schedule.frames, schedule.updates))
    return trained


def _collect(loop, group: ActorGroup, timeout: float) -> None:
    """Counts the actors' frames and stores their finished episodes."""
    for index, frames, episodes in group.poll(timeout):
        for episode in episodes:
            loop.store(index, episode)
        loop.schedule.add_frames(frames)


def run_actors(loop, spec, env_options: dict, resumed: bool) -> None:
    """Starts the spec's actors and learns from them (see :func:`learn_with_actors`).

    Args:
        loop: The run's :class:`~dreamer_tf.run.loop.Loop`.
        spec: The run (its ``actors`` options, task and config).
        env_options: ``make_vector_env`` keyword arguments of the training
            environments, besides the seed.
        resumed: Whether a checkpoint was restored.
    """
    from dreamer_tf.architecture import describe_agent
    from dreamer_tf.parallel.actors.actor import ActorSetup

    options, config = spec.actors, spec.config
    architecture = describe_agent(loop.agent)

    def make_setup(index: int, incarnation: int, seed: int) -> ActorSetup:
        return ActorSetup(
            index,
            incarnation,
            spec.task,
            config.to_dict(),
            architecture,
            env_options,
            seed,
        )

    group = ActorGroup(options.actors, make_setup, config.seed, options.backend)
    loop.announce_start(resumed)
    learn_with_actors(loop, group, options.sync_every)


def connect_ray(options) -> None:
    """Joins or starts Ray for the ``ray`` backend (before any model is built).

    Raises:
        ConnectionError: If the cluster cannot be joined.
    """
    from dreamer_tf.parallel.actors.ray_backend import connect

    connect(options.ray_address, num_cpus=options.actors)
