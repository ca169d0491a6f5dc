"""Actors as Ray actors (``--actor_backend=ray``), on this machine or a cluster.

Ray is imported only here, and only when this backend is chosen. Each Ray
actor runs :func:`~dreamer_tf.parallel.actors.actor.run_actor` in a thread; the
learner posts messages to it and keeps one long-poll call (``take``) in
flight, which returns as soon as the actor has sent something, so a finished
episode leaves the actor within a step. Every node needs dreamer_tf and its
dependencies installed, as on the learner's machine.
"""

from __future__ import annotations

import queue
import threading

from dreamer_tf.errors import first_line
from dreamer_tf.parallel.actors.actor import ActorSetup, run_actor
from dreamer_tf.parallel.actors.process import ActorDied

_TAKE_TIMEOUT_S = 1.0


def connect(address: str | None, num_cpus: int) -> None:
    """Joins the Ray cluster at ``address``, or starts a local Ray.

    Args:
        address: ``auto``, ``host:port`` or None (a local Ray).
        num_cpus: CPUs a local Ray may schedule on (one per actor).

    Raises:
        ConnectionError: If the cluster cannot be joined.
    """
    import ray

    if ray.is_initialized():
        return
    options = {"include_dashboard": False, "log_to_driver": True}
    if address:
        ray.init(address=address, **options)
    else:
        ray.init(num_cpus=num_cpus, **options)


class _RemoteActor:
    """The Ray actor: an actor thread and its two message queues."""

    def __init__(self, setup: ActorSetup):
        import os

        self._inbox: queue.Queue = queue.Queue()
        self._outbox: queue.Queue = queue.Queue()
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, args=(setup,), daemon=True)
        self._thread.start()

    def _run(self, setup: ActorSetup) -> None:
        def receive(block: bool):
            try:
                return self._inbox.get(block=block)
            except queue.Empty:
                return None

        try:
            run_actor(setup, self._outbox.put, receive)
        except BaseException as error:  # noqa: BLE001 - reported to the learner
            self._outbox.put(("error", f"{type(error).__name__}: {error}"))

    def post(self, message: tuple) -> None:
        self._inbox.put(message)

    def take(self, timeout: float) -> list[tuple]:
        try:
            messages = [self._outbox.get(timeout=timeout)]
        except queue.Empty:
            return []
        while not self._outbox.empty():
            messages.append(self._outbox.get())
        return messages

    def pid(self) -> int:
        return self._pid


class RayActor:
    """The learner's handle of one Ray actor (the same interface as a process).

    Args:
        setup: The actor's setup.
    """

    def __init__(self, setup: ActorSetup):
        import ray

        remote = ray.remote(num_cpus=1, max_concurrency=4, max_restarts=0)(_RemoteActor)
        self._actor = remote.remote(setup)
        self.pid = ray.get(self._actor.pid.remote())
        self._pending = self._actor.take.remote(_TAKE_TIMEOUT_S)

    def send(self, message: tuple) -> None:
        """Posts a message (in order of arrival; weights carry a version)."""
        self._actor.post.remote(message)

    def receive(self, timeout: float) -> list[tuple]:
        """The messages the actor sent, waiting at most ``timeout`` seconds.

        Raises:
            ActorDied: If the Ray actor is gone.
        """
        import ray

        ready, _ = ray.wait([self._pending], timeout=timeout)
        if not ready:
            return []
        try:
            messages = ray.get(self._pending)
        except ray.exceptions.RayActorError as error:
            reason = first_line(error)
            raise ActorDied(f"the Ray actor died ({reason})") from None
        self._pending = self._actor.take.remote(_TAKE_TIMEOUT_S)
        return messages

    def close(self) -> None:
        """Asks the actor to stop, then removes it."""
        import ray

        self.send(("stop",))
        ray.kill(self._actor)
