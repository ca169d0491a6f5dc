"""The actor options of a run and the checks made before it starts."""

from __future__ import annotations

import dataclasses
import importlib.util
import socket

BACKENDS = ("process", "ray")
DISTRIBUTED_EXTRA = "pip install -e '.[distributed]'"
_CONNECT_TIMEOUT_S = 3.0


@dataclasses.dataclass(frozen=True)
class ActorOptions:
    """How a run acts: synchronously (0 actors) or with actor processes.

    Attributes:
        actors: Number of actors; 0 alternates acting and learning in one
            process.
        backend: ``process`` (multiprocessing, no extra dependency) or
            ``ray``.
        sync_every: Updates between weight refreshes of the actors.
        ray_address: The Ray cluster to join (``auto`` or ``host:port``);
            None starts a local Ray.
    """

    actors: int = 0
    backend: str = "process"
    sync_every: int = 10
    ray_address: str | None = None


def check_actor_options(options: ActorOptions, deterministic: bool) -> None:
    """Validates the options; for Ray, that it imports and the cluster answers.

    Raises:
        ValueError: With a one-line message, within seconds.
    """
    if options.actors < 0:
        raise ValueError(f"--actors must be >= 0, got {options.actors}.")
    if options.actors and deterministic:
        raise ValueError(
            "--deterministic runs only with --actors=0: actors make the order "
            "of episodes depend on timing."
        )
    if options.backend not in BACKENDS:
        raise ValueError(
            f"--actor_backend must be one of {', '.join(BACKENDS)}, got "
            f"{options.backend!r}."
        )
    if options.sync_every < 1:
        raise ValueError(f"--actor_sync_every must be >= 1, got {options.sync_every}.")
    if options.actors and options.backend == "ray":
        if importlib.util.find_spec("ray") is None:
            raise ValueError(
                "--actor_backend=ray needs Ray, which is not installed; install "
                f"the extra: {DISTRIBUTED_EXTRA}"
            )
        if options.ray_address and options.ray_address != "auto":
            check_reachable(options.ray_address)


def check_reachable(address: str) -> None:
    """Checks that a Ray head answers at ``host:port`` within a few seconds.

    Raises:
        ValueError: If the address is malformed or nothing answers.
    """
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--ray_address must be 'auto' or host:port, got {address!r}.")
    try:
        with socket.create_connection((host, int(port)), timeout=_CONNECT_TIMEOUT_S):
            pass
    except OSError as error:
        raise ValueError(
            f"cannot reach the Ray cluster at {address} ({error}); start it with "
            "'ray start --head' or fix --ray_address."
        ) from None
