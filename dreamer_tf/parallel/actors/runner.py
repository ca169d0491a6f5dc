"""The learner with actors: actors as the run loop's source of episodes.

:class:`ActorSource` feeds the run's one loop
(:meth:`dreamer_tf.run.loop.Loop.run`) with what the actors report. The
frames are the learner's count of it; the run's
:class:`~dreamer_tf.run.schedule.Schedule` decides when an update is due and
how far the actors may run ahead of the updates (its rate limit).
"""

from __future__ import annotations

import time

from dreamer_tf.acting.sources import Store
from dreamer_tf.parallel.actors.group import ActorGroup, ActorsFailed
from dreamer_tf.waiting import REPORT_EVERY_S

# How long the learner waits for the actors when it has nothing to do.
_STARVED_WAIT_S = 0.05
# An actor's first message comes once its environments have reset; before
# that the learner says whom it waits for, after this long, then at intervals.
FIRST_MESSAGE_REPORT_S = 10.0


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


class ActorSource:
    """Actors as the run's source: what they report, within the rate limit.

    The learner updates one step at a time (the schedule's
    :meth:`~dreamer_tf.run.schedule.Schedule.update_due`); after each turn the
    source refreshes the actors' weights every ``sync_every`` updates, takes
    what they report, and lets them run on to the schedule's
    :meth:`~dreamer_tf.run.schedule.Schedule.actor_ceiling`. The actors act at
    random until the first weights, which are sent once pretraining is done.

    Args:
        group: The actors, not yet started.
        agent: The learner's agent (its policy's weights go to the actors).
        sync_every: Updates between weight refreshes.
        start_timeout_s: Seconds an actor (a new one after a restart too) may
            take to send its first message before the run stops with an
            error.
    """

    one_update_at_a_time = True

    def __init__(
        self, group: ActorGroup, agent, sync_every: int, start_timeout_s: float
    ):
        self.group, self.agent, self.sync_every = group, agent, sync_every
        self.start_timeout_s = start_timeout_s
        self.schedule = self.replay = self.stats = None
        self._synced: int | None = None
        self._stats_pretrained = False
        self._next_report = FIRST_MESSAGE_REPORT_S

    def start(self, schedule, replay) -> None:
        """Starts the actors; sends them the weights if pretraining is done."""
        self.schedule, self.replay = schedule, replay
        self.stats = ActorStats(self.group, schedule.frames, schedule.updates)
        self._stats_pretrained = schedule.pretrained
        self.group.start()
        if schedule.pretrained:
            self._sync()

    def _sync(self) -> None:
        from dreamer_tf.acting.policy import policy_weights

        schedule = self.schedule
        self.group.sync(schedule.updates, policy_weights(self.agent), schedule.frames)
        self._synced = schedule.updates

    def replay_ready(self) -> bool:
        """Whether an episode is stored."""
        return len(self.replay) > 0

    def collect(self, store: Store, trained: bool) -> int:
        """Refreshes the weights when due, lets the actors run on to the rate
        limit, then takes what they reported.

        Waits a little for them only when the loop had nothing to do.
        """
        schedule = self.schedule
        if schedule.pretrained and not self._stats_pretrained:
            # The rates of the log leave pretraining's updates out.
            self.stats.mark(schedule.frames, schedule.updates)
            self._stats_pretrained = True
        due = self._synced is None or schedule.updates - self._synced >= self.sync_every
        if trained and due:
            self._sync()
        self.group.allow(schedule.actor_ceiling(len(self.replay)), schedule.frames)
        frames = self._poll(store, 0.0 if trained else _STARVED_WAIT_S)
        self._check_silent_actors()
        return frames

    def _check_silent_actors(self) -> None:
        """Says whom it waits for; gives up on an actor silent for too long.

        Raises:
            ActorsFailed: If an actor sent nothing within ``start_timeout_s``
                seconds of its start (e.g. a Ray cluster with no free CPU).
        """
        silent = self.group.silent()
        if not silent:
            self._next_report = FIRST_MESSAGE_REPORT_S
            return
        longest = max(silent.values())
        names = ("actor " if len(silent) == 1 else "actors ") + ", ".join(
            map(str, sorted(silent))
        )
        if longest >= self.start_timeout_s:
            raise ActorsFailed(
                f"{names} sent nothing within {self.start_timeout_s:g} s of "
                "starting (environments that never reset, or no free CPU in the "
                "Ray cluster); fix that, or raise --actor_start_timeout"
            )
        if longest >= self._next_report:
            print(
                f"waiting for {names} to start ({longest:.0f} s of "
                f"{self.start_timeout_s:g} s)",
                flush=True,
            )
            self._next_report = longest + REPORT_EVERY_S

    def _poll(self, store: Store, timeout: float, restart: bool = True) -> int:
        frames = 0
        for index, stepped, episodes in self.group.poll(timeout, restart):
            for episode in episodes:
                store(index, episode)
            frames += stepped
        return frames

    def drain(self, store: Store) -> int:
        """Takes what the actors reported since the last turn (no restarts)."""
        return self._poll(store, 0.0, restart=False)

    def stopping(self, requested: bool) -> bool:
        """As the learner was asked (the actors stop when it closes them)."""
        return requested

    def log_scalars(self) -> dict[str, float]:
        """Updates per frame and each actor's frames/s since the last log."""
        return self.stats.scalars(self.schedule.frames, self.schedule.updates)

    def close(self) -> None:
        """Stops the actors."""
        self.group.close()


def actor_source(agent, spec, env_options: dict) -> ActorSource:
    """The spec's actors, not yet started, as the run's source.

    Args:
        agent: The learner's agent (its architecture and weights go to them).
        spec: The run (its ``actors`` options, task and config).
        env_options: ``make_vector_env`` keyword arguments of the training
            environments, besides the seed.
    """
    from dreamer_tf.architecture import describe_agent
    from dreamer_tf.parallel.actors.actor import ActorSetup

    options, config = spec.actors, spec.config
    architecture = describe_agent(agent)

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
    return ActorSource(group, agent, options.sync_every, options.start_timeout_s)


def connect_ray(options) -> None:
    """Joins or starts Ray for the ``ray`` backend (before any model is built).

    Raises:
        ConnectionError: If the cluster cannot be joined.
        dreamer_tf.errors.RunError: If it does not answer in time or refuses
            this node's authentication.
    """
    from dreamer_tf.parallel.actors.ray_backend import connect

    connect(
        options.ray_address,
        num_cpus=options.actors,
        timeout_s=options.ray_join_timeout_s,
    )
