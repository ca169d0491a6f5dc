"""Actors as Ray actors (``--actor_backend=ray``), on this machine or a cluster.

Ray is imported only here, and only when this backend is chosen. Each Ray
actor runs :func:`~dreamer_tf.parallel.actors.actor.run_actor` in a thread; the
learner posts messages to it and keeps one long-poll call (``take``) in
flight, which returns as soon as the actor has sent something, so a finished
episode leaves the actor within a step. Every node needs dreamer_tf and its
dependencies installed, as on the learner's machine.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pathlib
import queue
import signal
import threading

from dreamer_tf.errors import first_line
from dreamer_tf.parallel.actors.actor import ActorSetup, run_actor
from dreamer_tf.parallel.actors.process import ActorDied
from dreamer_tf.waiting import wait_for

_TAKE_TIMEOUT_S = 1.0
# Where Ray looks for a cluster's authentication token, besides RAY_AUTH_TOKEN.
DEFAULT_TOKEN_PATH = pathlib.Path("~/.ray/auth_token")


def connect(address: str | None, num_cpus: int, timeout_s: float) -> None:
    """Joins the Ray cluster at ``address``, or starts a local Ray.

    Joining says what it waits for within seconds and gives up after
    ``timeout_s`` (see :func:`dreamer_tf.waiting.wait_for`). A cluster
    started by ``ray start --head`` asks for a token once one exists on the
    head node; Ray loads the local token by itself only for ``auto``, so it
    is loaded here for an explicit address too (see :func:`use_local_token`).

    Args:
        address: ``auto``, ``host:port`` or None (a local Ray).
        num_cpus: CPUs a local Ray may schedule on (one per actor).
        timeout_s: Seconds to wait for the cluster to answer.

    Raises:
        ConnectionError: If the cluster cannot be joined (the message says
            what to do about a token).
        RunError: If it does not answer within ``timeout_s`` seconds.
        dreamer_tf.errors.RunStopped: On SIGINT or SIGTERM while waiting.
    """
    # Ray reads RAY_AUTH_MODE when it is imported: the token comes first.
    token = use_local_token() if address else None
    import ray

    if ray.is_initialized():
        return
    options = {"include_dashboard": False, "log_to_driver": True}
    if not address:
        # On the main thread: Ray's processes die with the thread that
        # started them (PR_SET_PDEATHSIG). Ray then installs a SIGTERM handler
        # that exits from anywhere; the run's own goes back in its place.
        handler = signal.getsignal(signal.SIGTERM)
        ray.init(num_cpus=num_cpus, **options)
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, handler)
        return
    try:
        wait_for(
            lambda: _init_in_thread(address=address, **options),
            f"the Ray cluster at {address}",
            timeout_s,
            "check that 'ray status' answers there, fix --ray_address, or raise "
            "--ray_join_timeout.",
        )
    except (ConnectionError, ray.exceptions.AuthenticationError) as error:
        raise ConnectionError(_join_failure(error, token)) from None


def _join_failure(error: Exception, token: str | None) -> str:
    """Why joining failed, with what to do about a token.

    Ray reports a cluster that refuses this node's token (or the lack of
    one) as a plain failure to connect, after about 20 s of retries; the
    token is the usual cause once the address answers.
    """
    said = first_line(getattr(error, "message", None) or str(error))
    if token:
        advice = (
            f"the token from {token} may not be the cluster's: copy the head "
            "node's token ('ray get-auth-token' there) here"
        )
    else:
        advice = (
            "if the cluster uses token authentication (Ray turns it on once "
            "the head node has ~/.ray/auth_token), copy its token ('ray "
            "get-auth-token' there) to ~/.ray/auth_token here or set "
            "RAY_AUTH_TOKEN"
        )
    return f"{said.rstrip('.')}; {advice}"


def use_local_token(environ=os.environ) -> str | None:
    """Turns on Ray's token authentication when a token is at hand.

    Ray reads a token from ``RAY_AUTH_TOKEN``, the file ``RAY_AUTH_TOKEN_PATH``
    names, or ``~/.ray/auth_token``, but only when ``RAY_AUTH_MODE=token``;
    ``ray.init(address="auto")`` turns that on by itself when a token
    exists, an explicit address does not. This does the same for every
    address. An explicit ``RAY_AUTH_MODE`` is left as it is.

    Args:
        environ: The environment to read and set (this process's).

    Returns:
        Where the token is (a variable's name or a file), or None.
    """
    if "RAY_AUTH_MODE" in environ:
        return None
    if environ.get("RAY_AUTH_TOKEN"):
        source = "RAY_AUTH_TOKEN"
    else:
        path = environ.get("RAY_AUTH_TOKEN_PATH") or DEFAULT_TOKEN_PATH
        path = pathlib.Path(path).expanduser()
        if not path.is_file():
            return None
        source = str(path)
    environ["RAY_AUTH_MODE"] = "token"
    return source


def _init_in_thread(**options) -> None:
    """``ray.init(**options)`` off the main thread, without its warning about that.

    Off the main thread Ray cannot install its SIGTERM handler (which would
    exit from wherever the run is; the run's own handlers stay, which is what
    a stop needs) and logs a warning saying so.
    """
    import ray

    with _without_records_from("ray._private.worker", "SIGTERM handler"):
        ray.init(**options)


@contextlib.contextmanager
def _without_records_from(logger_name: str, text: str):
    """Drops the log records of one logger whose message contains ``text``."""
    logger = logging.getLogger(logger_name)

    def keep(record: logging.LogRecord) -> bool:
        return text not in record.getMessage()

    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


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
        # Ray places the actor when the cluster has a CPU for it: nothing here
        # waits for that (the learner's wait for a first message does, in words).
        self._pid_ref = self._actor.pid.remote()
        self._pid: int | None = None
        self._pending = self._actor.take.remote(_TAKE_TIMEOUT_S)

    @property
    def pid(self) -> int | None:
        """The actor's process id; None while Ray has not placed it."""
        import ray

        if self._pid is None and ray.wait([self._pid_ref], timeout=0)[0]:
            with contextlib.suppress(ray.exceptions.RayError):
                self._pid = ray.get(self._pid_ref)
        return self._pid

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
