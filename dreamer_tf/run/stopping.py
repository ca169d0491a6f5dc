"""SIGINT and SIGTERM as a request to stop the run at its next safe point.

Cluster schedulers and cloud preemption send SIGTERM before they kill a job;
Ctrl-C sends SIGINT. While :func:`stop_on_signals` is active, the first of
either only records the request: the run loop ends after the current update
or environment step (an evaluation under way finishes first), stores the
episodes that finished, writes a final checkpoint and raises
:class:`~dreamer_tf.errors.RunStopped`. A second signal exits at once,
without saving (the checkpoint of the last log event or of the last
``checkpoint_every_minutes`` is what remains).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Whether a stop was asked for, and by which signal."""

    def __init__(self):
        self.signal_number: int | None = None
        self._announced = False

    @property
    def requested(self) -> bool:
        """Whether a signal asked the run to stop."""
        return self.signal_number is not None

    def request(self, signal_number: int) -> None:
        """Records a stop asked for by ``signal_number``."""
        self.signal_number = signal_number

    def handle(self, signal_number: int, frame=None) -> None:
        """The signal handler: the first signal asks, a second one exits now.

        It prints nothing for the first signal: a handler runs between any
        two bytecodes, maybe inside a write to stdout, where a second write
        fails; :meth:`announce` says it from the loop.
        """
        if self.requested:
            name = signal.Signals(signal_number).name
            os.write(2, f"\n{name} again: exiting now, without saving\n".encode())
            os._exit(128 + signal_number)
        self.request(signal_number)

    def announce(self) -> None:
        """Says once, when the loop first sees the request, what happens next."""
        if self.requested and not self._announced:
            self._announced = True
            name = signal.Signals(self.signal_number).name
            print(
                f"{name}: stopping after the current step with a final checkpoint "
                "(send it again to exit at once)",
                flush=True,
            )


@contextlib.contextmanager
def stop_on_signals(stop: StopRequest):
    """Routes SIGINT and SIGTERM to ``stop`` while the block runs.

    Once a stop was requested the handlers stay after the block, so that a
    second signal, while the run closes its workers, still exits at once.
    Outside the main thread (where Python cannot set handlers) the signals
    keep their handlers.
    """
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {number: signal.signal(number, stop.handle) for number in STOP_SIGNALS}
    try:
        yield stop
    finally:
        if not stop.requested:
            for number, handler in previous.items():
                signal.signal(number, handler)
