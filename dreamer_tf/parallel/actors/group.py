"""The learner's side of the actors: start, feed, hear from and restart them."""

from __future__ import annotations

import logging
import time

from dreamer_tf.parallel.actors.process import ActorDied, ProcessActor
from dreamer_tf.seeds import stream_seed

logger = logging.getLogger(__name__)

# An actor that dies this often this fast has a cause a restart will not
# mend (a broken task, no memory): the run stops instead of looping.
MAX_QUICK_RESTARTS = 5
QUICK_RESTART_WINDOW_S = 300.0


class ActorsFailed(RuntimeError):
    """An actor keeps dying; the message names it and the last reason."""


class ActorGroup:
    """N actors of one backend, with their frame budgets and restarts.

    The group owns the actors' frame budgets: :meth:`allow` shares the frames
    the rate limiter permits among the actors. The frame count itself is the
    learner's, which adds up what :meth:`poll` returns.

    Args:
        count: Number of actors.
        make_setup: ``make_setup(index, incarnation, seed)`` gives an actor's
            setup.
        seed: The run's seed.
        backend: ``process`` or ``ray``.
    """

    def __init__(self, count: int, make_setup, seed: int, backend: str):
        self._make_setup, self._seed, self._backend = make_setup, seed, backend
        self.count = count
        self.restarts = 0
        self._incarnations = [0] * count
        self._restart_times: list[list[float]] = [[] for _ in range(count)]
        self._actors = [None] * count
        self._frames = [0] * count  # stepped by the current incarnation
        self._allowed = [0] * count
        self._weights: tuple | None = None
        self.frames_by_actor = [0] * count  # over all incarnations, for rates
        # When each incarnation started; None once it has sent its first message.
        self._silent_since: list[float | None] = [None] * count
        self._said_started = False

    def start(self) -> None:
        """Starts every actor."""
        for index in range(self.count):
            self._start(index)

    def _start(self, index: int) -> None:
        incarnation = self._incarnations[index]
        seed = stream_seed(
            self._seed, actor=index, actors=self.count, incarnation=incarnation
        )
        setup = self._make_setup(index, incarnation, seed)
        if self._backend == "ray":
            from dreamer_tf.parallel.actors.ray_backend import RayActor

            self._actors[index] = RayActor(setup)
        else:
            self._actors[index] = ProcessActor(setup)
        self._frames[index] = self._allowed[index] = 0
        self._silent_since[index] = time.monotonic()
        if self._weights is not None:
            self._send(index, ("weights", *self._weights))

    def pids(self) -> list[int | None]:
        """The process id of each actor (None for a Ray actor not yet placed)."""
        return [actor.pid for actor in self._actors]

    def silent(self) -> dict[int, float]:
        """Seconds since its start, for each actor that has sent nothing yet."""
        now = time.monotonic()
        return {
            index: now - since
            for index, since in enumerate(self._silent_since)
            if since is not None
        }

    def _heard_from(self, index: int) -> None:
        """Marks an actor's first message; says when every actor has started."""
        self._silent_since[index] = None
        if self._incarnations[index]:
            pid = self._actors[index].pid
            print(f"actor {index} restarted as pid {pid}", flush=True)
        if not self._said_started and not self.silent():
            self._said_started = True
            print(f"actors started: pids {self.pids()}", flush=True)

    def sync(self, version: int, weights: dict, frames: int) -> None:
        """Sends the policy's weights (numpy arrays by name) to every actor."""
        self._weights = (version, weights, frames)
        for index in range(self.count):
            self._send(index, ("weights", *self._weights))

    def allow(self, ceiling: int, counted: int) -> None:
        """Lets the actors step until they have stepped ``ceiling`` frames in all.

        The frames not yet stepped nor promised are shared among the actors;
        a share once given is not taken back (a dead actor's lapses).

        Args:
            ceiling: Frames the run may reach (see the rate limiter).
            counted: Frames the learner has counted so far.
        """
        remaining = ceiling - counted - self._unused()
        if remaining <= 0:
            return
        share = -(-remaining // self.count)
        for index in range(self.count):
            self._allowed[index] = max(self._allowed[index], self._frames[index])
            self._allowed[index] += share
            self._send(index, ("allow", self._allowed[index]))

    def _unused(self) -> int:
        return sum(
            max(allowed - frames, 0)
            for allowed, frames in zip(self._allowed, self._frames)
        )

    def poll(self, timeout: float, restart: bool = True) -> list[tuple[int, int, list]]:
        """Receives what the actors sent; restarts those that died.

        Args:
            timeout: Seconds to wait for the first actor to answer.
            restart: Whether to restart a dead actor (not when the run stops:
                a signal to the whole process group may have ended it).

        Returns:
            ``(actor index, frames, episodes)`` for every step an actor
            reported, in arrival order per actor.
        """
        reports = []
        deadline = time.monotonic() + timeout
        for index in range(self.count):
            wait = max(deadline - time.monotonic(), 0.0) if not reports else 0.0
            reports.extend(self._receive(index, wait, restart))
        return reports

    def _receive(
        self, index: int, timeout: float, restart: bool = True
    ) -> list[tuple[int, int, list]]:
        actor = self._actors[index]
        reports = []
        try:
            for message in actor.receive(timeout):
                if self._silent_since[index] is not None:
                    self._heard_from(index)
                if message[0] == "error":
                    raise ActorDied(f"it raised {message[1]}")
                if message[0] == "step":
                    self._frames[index] += message[1]
                    self.frames_by_actor[index] += message[1]
                    reports.append((index, message[1], message[2]))
        except ActorDied as death:
            if restart:
                self._restart(index, str(death))
            else:
                pid = self._actors[index].pid
                print(f"actor {index} (pid {pid}) died: {death}", flush=True)
        return reports

    def _send(self, index: int, message: tuple) -> None:
        try:
            self._actors[index].send(message)
        except ActorDied as death:
            self._restart(index, str(death))

    def _restart(self, index: int, reason: str) -> None:
        pid = self._actors[index].pid
        now = time.monotonic()
        recent = [
            t for t in self._restart_times[index] if now - t < QUICK_RESTART_WINDOW_S
        ]
        self._restart_times[index] = [*recent, now]
        if len(recent) >= MAX_QUICK_RESTARTS:
            raise ActorsFailed(
                f"actor {index} died {len(recent) + 1} times in "
                f"{QUICK_RESTART_WINDOW_S:.0f} s, last (pid {pid}): {reason}"
            )
        print(f"actor {index} (pid {pid}) died: {reason}; restarting it", flush=True)
        self._close_quietly(index)
        self.restarts += 1
        self._incarnations[index] += 1
        self._start(index)

    def _close_quietly(self, index: int) -> None:
        try:
            self._actors[index].close()
        except Exception as error:  # noqa: BLE001 - the actor is already gone
            logger.debug("Closing dead actor %d: %s", index, error)

    def close(self) -> None:
        """Stops every actor."""
        for index in range(self.count):
            if self._actors[index] is not None:
                self._close_quietly(index)
