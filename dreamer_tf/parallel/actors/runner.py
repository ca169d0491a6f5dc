"""The learner with actors: the paper's schedule, held by a rate limiter.

:func:`learn_with_actors` runs the training loop's phases (prefill,
pretraining once, updates, evaluation, logging, checkpoints) while actors
collect. The frames are the learner's count of what the actors report;
:class:`RateLimiter` decides when an update is due and how far the actors may
run ahead of the updates.
"""

from __future__ import annotations

import math
import time

from dreamer_tf.parallel.actors.group import ActorGroup

# How long the learner waits for the actors when it has nothing to do.
_STARVED_WAIT_S = 0.05
# How far (in phases) the actors may step past the frames the updates have
# paid for. A window of 10 phases then sees the ratio off by at most 2.5%
# when the lag changes (e.g. right after pretraining); a whole phase would
# allow 10%.
AHEAD_PHASES = 0.25


class RateLimiter:
    """``train_steps`` updates per ``train_every`` frames, as the paper's schedule.

    The phases lie on the synchronous loop's grid: ``progress.last_train``
    is the start of the current phase, and it moves on by ``train_every``
    frames once that phase's ``train_steps`` updates are done. Within a
    phase, update ``k`` is due once ``k / train_steps`` of its frames are
    there. The actors may step until :data:`AHEAD_PHASES` of a phase (at
    least one update's frames) past the frames the updates so far have paid
    for, and pause there.

    Args:
        config: The run's config.
        progress: The run's checkpointed counters (``updates``,
            ``pretrained``, ``last_train``).
    """

    def __init__(self, config, progress):
        self.config, self.progress = config, progress

    def _done_in_phase(self) -> int:
        done = int(self.progress.updates.numpy()) - self.config.pretrain
        return max(done, 0) % self.config.train_steps

    def update_due(self, frames: int) -> bool:
        """Whether the learner should run an update now (after pretraining)."""
        if not self.progress.pretrained.numpy():
            return False
        config = self.config
        phase_frames = frames - int(self.progress.last_train.numpy())
        earned = min(
            phase_frames * config.train_steps // config.train_every, config.train_steps
        )
        return self._done_in_phase() < earned

    def updated(self) -> None:
        """Records one update: a phase whose updates are all done is left."""
        if self._done_in_phase() == 0:
            self.progress.last_train.assign_add(self.config.train_every)

    def ceiling(self, frames: int, episodes: int) -> int:
        """The frame count the actors may reach now.

        Args:
            frames: The frames counted so far.
            episodes: Episodes in the replay.

        Returns:
            Before pretraining, ``prefill`` (or further, until an episode has
            finished); after it, :data:`AHEAD_PHASES` of a phase past the
            frames the updates have paid for.
        """
        config = self.config
        if not self.progress.pretrained.numpy():
            if frames >= config.prefill and not episodes:
                return frames + config.train_every
            return config.prefill
        paid = int(self.progress.last_train.numpy()) + math.ceil(
            self._done_in_phase() * config.train_every / config.train_steps
        )
        # At least the frames of one update, or the next would never be due.
        per_update = math.ceil(config.train_every / config.train_steps)
        return paid + max(math.ceil(AHEAD_PHASES * config.train_every), per_update)


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

    Args:
        loop: The run's :class:`~dreamer_tf.run.loop.Loop` (its replay,
            agent, counters, checkpoints and log).
        group: The actors, not yet started.
        sync_every: Updates between weight refreshes.
    """
    from dreamer_tf.acting.policy import policy_weights

    config, progress, agent = loop.config, loop.progress, loop.agent
    limiter = RateLimiter(config, progress)
    stats = ActorStats(group, loop.frames, int(progress.updates.numpy()))

    def sync() -> int:
        updates = int(progress.updates.numpy())
        group.sync(updates, policy_weights(agent), loop.frames)
        return updates

    group.start()
    print(f"actors started: pids {group.pids()}", flush=True)
    synced = sync() if progress.pretrained.numpy() else None
    try:
        while loop.frames < config.steps:
            busy = _learn(loop, limiter, stats)
            if busy and progress.pretrained.numpy():
                updates = int(progress.updates.numpy())
                if synced is None or updates - synced >= sync_every:
                    synced = sync()
            _collect(loop, group, 0.0 if busy else _STARVED_WAIT_S)
            group.allow(limiter.ceiling(loop.frames, len(loop.replay)), loop.frames)
        _collect(loop, group, 0.0)
        loop.finish(stats.scalars(loop.frames, int(progress.updates.numpy())))
    finally:
        group.close()


def _learn(loop, limiter: RateLimiter, stats: ActorStats) -> bool:
    """Does the learner's next due job; whether there was one."""
    config, progress = loop.config, loop.progress
    if loop.frames - int(progress.last_log.numpy()) >= config.log_every:
        progress.last_log.assign(loop.frames)
        loop.log(stats.scalars(loop.frames, int(progress.updates.numpy())))
    if not progress.pretrained.numpy():
        if loop.frames < config.prefill or not len(loop.replay):
            return False
        loop.train(config.pretrain)
        progress.pretrained.assign(True)
        progress.last_train.assign(loop.frames)
        loop.save()
        stats.mark(loop.frames, int(progress.updates.numpy()))
        return True
    if loop.due_evaluation():
        loop.evaluate()
    if not limiter.update_due(loop.frames):
        return False
    loop.train(1)
    limiter.updated()
    return True


def _collect(loop, group: ActorGroup, timeout: float) -> None:
    """Counts the actors' frames and stores their finished episodes."""
    for index, frames, episodes in group.poll(timeout):
        for episode in episodes:
            loop.store(index, episode)
        loop.frames += frames
    loop.agent.frames.assign(loop.frames)


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
