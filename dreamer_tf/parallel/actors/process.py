"""Actors as processes of this machine (``--actor_backend=process``).

Each actor is a ``multiprocessing`` process started with ``spawn`` (a fresh
interpreter: no TensorFlow state is forked) that talks to the learner over a
pipe. A message is written whole to the pipe before the actor goes on, so an
episode whose send returned is the learner's even if the actor is killed the
moment after. The learner's messages go out from a thread of their own: a
learner blocked writing weights to an actor that is itself blocked writing
an episode (both larger than the pipe's buffer) would wait forever.
"""

from __future__ import annotations

import multiprocessing
import queue
import signal
import threading

from dreamer_tf.parallel.actors.actor import ActorSetup, run_actor

_JOIN_TIMEOUT_S = 10.0


class ActorDied(RuntimeError):
    """An actor's process or Ray actor is gone; the message says how."""


class ProcessActor:
    """One actor process and the learner's end of its pipe.

    Args:
        setup: The actor's setup.
    """

    def __init__(self, setup: ActorSetup):
        context = multiprocessing.get_context("spawn")
        self._connection, child = context.Pipe()
        self.process = context.Process(
            target=_main,
            args=(setup, child),
            name=f"dreamer-actor-{setup.index}",
            daemon=True,
        )
        self.process.start()
        child.close()
        self._outbox: queue.Queue = queue.Queue()
        self._send_error: OSError | None = None
        self._sender = threading.Thread(target=self._send_all, daemon=True)
        self._sender.start()

    @property
    def pid(self) -> int:
        """The actor's process id."""
        return self.process.pid

    def send(self, message: tuple) -> None:
        """Queues a message for the actor; returns at once.

        Raises:
            ActorDied: If an earlier message could not be written (the
                actor's pipe is closed).
        """
        if self._send_error is not None:
            raise ActorDied(self._death(self._send_error))
        self._outbox.put(message)

    def _send_all(self) -> None:
        while (message := self._outbox.get()) is not None:
            try:
                self._connection.send(message)
            except OSError as error:
                self._send_error = error
                return

    def receive(self, timeout: float) -> list[tuple]:
        """The messages that arrive within ``timeout`` seconds (maybe none).

        Raises:
            ActorDied: If the process ended (its complete messages were read).
        """
        messages = []
        try:
            if self._connection.poll(timeout):
                while self._connection.poll(0):
                    messages.append(self._connection.recv())
        except (EOFError, OSError) as error:
            if messages:
                return messages
            raise ActorDied(self._death(error)) from None
        if not messages and not self.process.is_alive():
            raise ActorDied(self._death(None))
        return messages

    def close(self) -> None:
        """Asks the actor to stop, then ends it if it does not."""
        self._outbox.put(("stop",))
        self._outbox.put(None)
        self.process.join(_JOIN_TIMEOUT_S)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self._connection.close()
        self._sender.join(_JOIN_TIMEOUT_S)

    def _death(self, error: Exception | None) -> str:
        self.process.join(_JOIN_TIMEOUT_S)
        code = self.process.exitcode
        if code is not None and code < 0:
            return f"killed by {signal.Signals(-code).name}"
        if code is not None:
            return f"exited with code {code}"
        return f"its pipe broke ({error})"


def _main(setup: ActorSetup, connection) -> None:
    # The learner stops its actors after its final checkpoint (see
    # dreamer_tf.run.stopping); signals to the whole process group wait for it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    import dreamer_tf  # noqa: F401 - quiets TensorFlow's start-up lines

    def receive(block: bool):
        if block or connection.poll():
            return connection.recv()
        return None

    try:
        run_actor(setup, connection.send, receive)
    except (EOFError, ConnectionError):
        pass  # The learner is gone; nothing is left to send to.
