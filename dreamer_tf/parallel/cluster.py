"""Meeting the other workers of ``TF_CONFIG``'s cluster before TensorFlow does.

``tf.distribute.MultiWorkerMirroredStrategy()`` blocks until every worker
of the cluster has started, holding Python's GIL: no signal handler, no
other thread and no timeout of ours runs meanwhile. So the workers meet
first, in Python: each listens on its own task's port (the one TensorFlow
will serve on) and waits, in words and within a bound, until every other
task's port accepts a connection; then it frees its port and lets
TensorFlow join, which by then takes moments.

This module does not import TensorFlow.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket

_PROBE_TIMEOUT_S = 0.5
# Seconds between two rounds of probes while the workers meet.
POLL_S = 0.5


class ClusterTasks:
    """The tasks of ``TF_CONFIG``'s cluster, seen from this worker.

    Args:
        environ: The environment holding ``TF_CONFIG`` (already checked by
            :func:`dreamer_tf.parallel.options.worker_task`).
    """

    def __init__(self, environ=os.environ):
        tf_config = json.loads(environ["TF_CONFIG"])
        this = (tf_config["task"]["type"], int(tf_config["task"]["index"]))
        tasks = {
            (kind, index): address
            for kind, addresses in tf_config["cluster"].items()
            for index, address in enumerate(addresses)
        }
        self.address = tasks.pop(this)
        self.peers = {
            f"{kind}:{index}": address for (kind, index), address in tasks.items()
        }

    def silent_peers(self) -> str | None:
        """Which other tasks do not accept a connection yet; None if all do.

        Returns:
            For example ``"worker:1 at 10.0.0.2:2222 does not answer"``.
        """
        silent = [
            f"{name} at {address}"
            for name, address in self.peers.items()
            if not answers(address, _PROBE_TIMEOUT_S)
        ]
        if not silent:
            return None
        verb = "does" if len(silent) == 1 else "do"
        return f"{', '.join(silent)} {verb} not answer"

    @contextlib.contextmanager
    def own_port_open(self):
        """Listens on this task's port while the block runs (for the peers' probes).

        Raises:
            ValueError: If another program holds the port.
        """
        port = int(self.address.rpartition(":")[2])
        try:
            listener = _listener(port)
        except OSError as error:
            cause = (
                "is taken by another program"
                if error.errno == errno.EADDRINUSE
                else f"cannot be listened on ({error.strerror})"
            )
            raise ValueError(
                f"port {port} of this worker's task in TF_CONFIG ({self.address}) "
                f"{cause}; free it or give this task another port."
            ) from None
        listener.listen(64)
        try:
            yield
        finally:
            # Probes are never accepted: closing resets them and leaves no
            # connection behind that would keep TensorFlow from the port.
            listener.close()


def answers(address: str, timeout_s: float) -> bool:
    """Whether something accepts a TCP connection at ``host:port``."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            return True
    except (OSError, ValueError):
        return False


def _listener(port: int) -> socket.socket:
    """A socket bound to ``port`` on every address, as TensorFlow's server binds.

    IPv6 and IPv4 where the host has IPv6, IPv4 alone where it does not.
    """
    try:
        listener = socket.socket(socket.AF_INET6)
        listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    except OSError:
        listener = socket.socket(socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("", port))
    except OSError:
        listener.close()
        raise
    return listener
