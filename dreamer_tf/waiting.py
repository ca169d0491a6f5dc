"""Waits on another party in words, within a bound, and open to signals.

Joining a multi-worker cluster or a Ray cluster blocks until the other side
answers, and the library calls that do it neither report nor time out by
themselves. :func:`wait_until` polls a check on the calling thread while
it says what it waits for (within seconds, then at intervals), ends the
wait with a one-line :class:`~dreamer_tf.errors.RunError` after its timeout,
and with :class:`~dreamer_tf.errors.RunStopped` on SIGINT or SIGTERM.
:func:`wait_for` runs a blocking call on a helper thread and waits for it so;
that needs a call that releases Python's GIL while it blocks (TensorFlow's
cluster join does not: see :func:`dreamer_tf.parallel.strategies.join_cluster`).
A call given up on keeps its thread: :func:`abandoned` tells the program to
exit without waiting for it.

This module imports nothing heavy, so the checks before TensorFlow use it too.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from dreamer_tf.errors import RunError, RunStopped

# When the first report comes, and how often the next ones do.
FIRST_REPORT_S = 3.0
REPORT_EVERY_S = 15.0
POLL_S = 0.1

_abandoned: list[threading.Thread] = []


def wait_until(
    check: Callable[[], str | None],
    what: str,
    timeout_s: float,
    advice: str,
    stopped: str = "nothing was trained in this run",
    poll_s: float = POLL_S,
    first_report_s: float = FIRST_REPORT_S,
    report_every_s: float = REPORT_EVERY_S,
) -> None:
    """Polls ``check`` until it answers None, reporting while it waits.

    Args:
        check: None once the wait is over; until then, what is still missing
            (e.g. which peers do not answer), or an empty string. Its text
            follows each report.
        what: What is waited for, e.g. ``"the Ray cluster at 10.0.0.1:6379"``.
        timeout_s: Seconds before giving up (the flag that sets it belongs in
            ``advice``).
        advice: What to do when the wait times out, one clause.
        stopped: What a stop by a signal means for the run, one clause.
        poll_s: Seconds between checks.
        first_report_s: Seconds before the first report.
        report_every_s: Seconds between reports.

    Raises:
        RunError: After ``timeout_s`` seconds without an answer.
        RunStopped: On SIGINT or SIGTERM while waiting (main thread only).
    """
    start = time.monotonic()
    next_report = start + first_report_s
    with _signals_end_the_wait(what, stopped):
        while (missing := check()) is not None:
            now = time.monotonic()
            if now - start >= timeout_s:
                raise RunError(
                    f"no answer from {what} within {timeout_s:g} s; {advice}"
                )
            if now >= next_report:
                print(
                    f"waiting for {what} ({now - start:.0f} s of {timeout_s:g} s)"
                    + (f": {missing}" if missing else ""),
                    flush=True,
                )
                next_report = now + report_every_s
            time.sleep(poll_s)


def wait_for(
    call: Callable[[], Any], what: str, timeout_s: float, advice: str, **options
) -> Any:
    """Runs ``call`` (which blocks on another party) on a helper thread.

    Args:
        call: Blocks until the other party answers, with Python's GIL
            released; returns the result.
        what: What is waited for (see :func:`wait_until`).
        timeout_s: Seconds before giving up.
        advice: What to do when the wait times out, one clause.
        **options: More options of :func:`wait_until`.

    Returns:
        What ``call`` returned.

    Raises:
        RunError: After ``timeout_s`` seconds without an answer.
        RunStopped: On SIGINT or SIGTERM while waiting (main thread only).
        Exception: Whatever ``call`` raised.
    """
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["result"] = call()
        except BaseException as error:  # noqa: BLE001 - re-raised by the caller
            outcome["error"] = error

    thread = threading.Thread(target=target, name=f"waiting for {what}", daemon=True)
    thread.start()
    try:
        wait_until(
            lambda: "" if thread.is_alive() else None,
            what,
            timeout_s,
            advice,
            **options,
        )
    except (RunError, RunStopped):
        _abandoned.append(thread)
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def abandoned() -> bool:
    """Whether a call given up on still runs (exit then with ``os._exit``)."""
    return any(thread.is_alive() for thread in _abandoned)


@contextlib.contextmanager
def _signals_end_the_wait(what: str, stopped: str):
    """SIGINT and SIGTERM raise :class:`RunStopped` while the block runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signal_number: int, frame=None) -> None:
        raise RunStopped(signal_number, f"stopped while waiting for {what}; {stopped}")

    previous = {
        number: signal.signal(number, stop)
        for number in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
