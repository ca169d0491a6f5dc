"""The options of acting and learning in parallel, checked before a run starts.

Actors: ``--actors=0`` alternates acting and learning in one process; ``N >=
1`` actors collect in their own processes (``--actor_backend=process``) or Ray
actors (``--actor_backend=ray``) while the learner trains.

Learner: how the learner's updates are spread over one device, several, or
several hosts. ``--learner=default`` trains on TensorFlow's default device;
``--learner=mirrored`` on every GPU of the machine
(``tf.distribute.MirroredStrategy``); ``--learner=multi_worker`` on several
processes or hosts that each run the same command
(``tf.distribute.MultiWorkerMirroredStrategy`` from ``TF_CONFIG``), each a
data-parallel shard of the synchronous loop (see
:mod:`dreamer_tf.parallel.multi_worker`).

This module does not import TensorFlow, so bad options fail in a second.
"""

from __future__ import annotations

import dataclasses
import glob
import importlib.util
import json
import os
import pathlib
import socket
import sys

LEARNERS = ("default", "mirrored", "multi_worker")
WORKERS_DIRECTORY = "workers"
BACKENDS = ("process", "ray")
DISTRIBUTED_EXTRA = "pip install -e '.[distributed]'"
_CONNECT_TIMEOUT_S = 3.0


def _option(default, flag: str, help_text: str, choices: tuple | None = None):
    """An options field and its command-line flag (see :func:`define_option_flags`)."""
    metadata = {"flag": flag, "help": help_text, "choices": choices}
    return dataclasses.field(default=default, metadata=metadata)


def define_option_flags(options_class, flag_values=None) -> None:
    """Defines one absl flag per field of an options class, with its default.

    Args:
        options_class: :class:`ActorOptions` or :class:`LearnerOptions`.
        flag_values: The ``absl.flags.FlagValues``; the global ``FLAGS`` if None.
    """
    from absl import flags

    flag_values = flags.FLAGS if flag_values is None else flag_values
    for field in dataclasses.fields(options_class):
        flag, help_text = field.metadata["flag"], field.metadata["help"]
        choices = field.metadata["choices"]
        if choices:
            flags.DEFINE_enum(
                flag, field.default, list(choices), help_text, flag_values=flag_values
            )
        elif field.type == "int":
            flags.DEFINE_integer(
                flag, field.default, help_text, flag_values=flag_values
            )
        elif field.type == "float":
            flags.DEFINE_float(flag, field.default, help_text, flag_values=flag_values)
        else:
            flags.DEFINE_string(flag, field.default, help_text, flag_values=flag_values)


def options_from_flags(options_class, flag_values=None):
    """The options of parsed flags defined by :func:`define_option_flags`."""
    from absl import flags

    flag_values = flags.FLAGS if flag_values is None else flag_values
    return options_class(
        **{
            field.name: flag_values[field.metadata["flag"]].value
            for field in dataclasses.fields(options_class)
        }
    )


@dataclasses.dataclass(frozen=True)
class LearnerOptions:
    """The learner's ``tf.distribute`` strategy.

    Attributes:
        learner: ``default``, ``mirrored`` or ``multi_worker``.
        cpu_devices: For tests on a machine without GPUs: split the CPU into
            this many logical devices and mirror over them (``mirrored``
            only); 0 mirrors over the GPUs.
        join_timeout_s: How long a ``multi_worker`` worker waits for the
            other workers to start.
    """

    learner: str = _option(
        "default",
        "learner",
        "How updates run: default (one device), mirrored (every GPU of this "
        "machine; batch_size must divide by their number) or multi_worker (one "
        "shard of the loop per worker of TF_CONFIG's cluster; every worker runs "
        "this command; --actors=0 only). See docs/scaling.rst.",
        choices=LEARNERS,
    )
    cpu_devices: int = _option(
        0,
        "learner_cpu_devices",
        "For tests without GPUs: --learner=mirrored over this many logical CPU "
        "devices (0: over the GPUs).",
    )
    join_timeout_s: float = _option(
        600.0,
        "learner_join_timeout",
        "Seconds a multi_worker worker waits for every other worker of "
        "TF_CONFIG's cluster to start before it gives up.",
    )


@dataclasses.dataclass(frozen=True)
class WorkerTask:
    """This process's place in a multi-worker learner.

    Attributes:
        index: 0 for the chief (the ``chief`` task, or worker 0 of a cluster
            without one), then the others in ``TF_CONFIG``'s order, as
            TensorFlow numbers them.
        count: Number of workers (chief included).
    """

    index: int = 0
    count: int = 1

    @property
    def is_chief(self) -> bool:
        """Whether this process owns the run's directory."""
        return self.index == 0


def worker_task(options: LearnerOptions, environ=os.environ) -> WorkerTask:
    """This process's task: from ``TF_CONFIG`` for ``multi_worker``, else alone.

    Args:
        options: The learner options.
        environ: The environment holding ``TF_CONFIG``.

    Raises:
        ValueError: If ``TF_CONFIG`` is missing or does not name this worker
            in its cluster.
    """
    if options.learner != "multi_worker":
        return WorkerTask()
    text = environ.get("TF_CONFIG")
    if not text:
        raise ValueError(
            "--learner=multi_worker needs TF_CONFIG (the cluster and this "
            "worker's task) in the environment; see docs/scaling.rst."
        )
    try:
        tf_config = json.loads(text)
        cluster, task = tf_config["cluster"], tf_config["task"]
        chiefs, workers = cluster.get("chief", []), cluster.get("worker", [])
        kind, index = task["type"], int(task["index"])
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(
            f"TF_CONFIG is not a cluster and task ({type(error).__name__}: "
            f"{error}); see docs/scaling.rst for its form."
        ) from None
    jobs = {"chief": chiefs, "worker": workers}
    if set(cluster) - set(jobs) or len(chiefs) > 1:
        raise ValueError(
            "TF_CONFIG's cluster may hold one 'chief' and 'worker' tasks only, "
            f"got {sorted(cluster)} with {len(chiefs)} chief(s)."
        )
    if kind not in jobs or not 0 <= index < len(jobs[kind]):
        raise ValueError(
            f"TF_CONFIG's task {kind}:{index} is not in its cluster "
            f"({len(chiefs)} chief, {len(workers)} workers)."
        )
    offset = len(chiefs) if kind == "worker" else 0
    return WorkerTask(index + offset, len(chiefs) + len(workers))


def check_learner_options(
    options: LearnerOptions, batch_size: int, actors: int, eval_only: bool
) -> WorkerTask:
    """Validates the options before anything expensive starts.

    The replica count of ``mirrored`` over GPUs is known only once
    TensorFlow lists them; :func:`dreamer_tf.parallel.strategies.make_strategy`
    checks it then, before any model is built.

    Args:
        options: The learner options.
        batch_size: The global batch size, which every replica gets an equal
            share of.
        actors: The run's number of actors.
        eval_only: Whether the run only evaluates.

    Returns:
        This process's task (see :func:`worker_task`).

    Raises:
        ValueError: With a one-line message.
    """
    if options.learner not in LEARNERS:
        raise ValueError(
            f"--learner must be one of {', '.join(LEARNERS)}, got {options.learner!r}."
        )
    if options.cpu_devices < 0:
        raise ValueError(
            f"--learner_cpu_devices must be >= 0, got {options.cpu_devices}."
        )
    if options.join_timeout_s <= 0:
        raise ValueError(
            f"--learner_join_timeout must be > 0, got {options.join_timeout_s}."
        )
    if options.cpu_devices and options.learner != "mirrored":
        raise ValueError("--learner_cpu_devices needs --learner=mirrored.")
    if options.cpu_devices:
        check_batch_split(
            batch_size, options.cpu_devices, "replicas", "--learner_cpu_devices"
        )
    if options.learner == "mirrored" and not options.cpu_devices:
        _check_gpu_devices()
    task = worker_task(options)
    if options.learner == "multi_worker":
        if actors:
            raise ValueError(
                "--learner=multi_worker runs with --actors=0 only: each worker "
                "collects for itself."
            )
        if eval_only:
            raise ValueError(
                "--eval_only runs in one process; drop --learner=multi_worker."
            )
        check_batch_split(batch_size, task.count, "workers", "the number of workers")
    return task


def _check_gpu_devices() -> None:
    """Refuses ``mirrored`` over GPUs at once on a Linux host with no GPU device.

    TensorFlow would take half a minute to find that out; its pip wheels use
    NVIDIA GPUs only, whose device files (``/dev/nvidia0``; ``/dev/dxg`` under
    WSL 2) exist whenever a driver is loaded. Elsewhere TensorFlow decides.
    """
    if not sys.platform.startswith("linux"):
        return
    if glob.glob("/dev/nvidia[0-9]*") or os.path.exists("/dev/dxg"):
        return
    raise ValueError(
        "--learner=mirrored found no GPU (no /dev/nvidia* device); use "
        "--learner=default on this machine, or --learner_cpu_devices=N to "
        "mirror over N logical CPU devices."
    )


def check_batch_split(batch_size: int, parts: int, unit: str, multiple_of: str) -> None:
    """Checks that every replica (or worker) gets an equal share of the batch.

    Args:
        batch_size: The global batch size.
        parts: How many shares.
        unit: What they are, for the message (``replicas``, ``workers``).
        multiple_of: What ``batch_size`` must be a multiple of, for the
            message (a flag, or a description).

    Raises:
        ValueError: If ``parts`` does not divide ``batch_size``.
    """
    if batch_size % parts:
        raise ValueError(
            f"batch_size {batch_size} does not split over {parts} {unit}; make it "
            f"a multiple of {multiple_of}."
        )


def worker_logdir(logdir: str, task: WorkerTask) -> str:
    """The run directory of a worker: ``logdir`` for the chief.

    Every other worker keeps its episodes, checkpoints and log in
    ``logdir/workers/<index>``, so that workers sharing a file system (or a
    machine) never write into each other's files.
    """
    if task.is_chief:
        return logdir
    return str(pathlib.Path(logdir) / WORKERS_DIRECTORY / str(task.index))


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
        start_timeout_s: Seconds an actor may take to send its first message
            (its environments reset; for Ray, placed on a node) before the
            run stops with an error.
        ray_join_timeout_s: Seconds to wait for the Ray cluster at
            ``ray_address`` to let this run join.
    """

    actors: int = _option(
        0,
        "actors",
        "Actor processes collecting while the learner trains (0: alternate).",
    )
    backend: str = _option(
        "process", "actor_backend", "How actors run (see docs).", choices=BACKENDS
    )
    sync_every: int = _option(
        10, "actor_sync_every", "Updates between actor weight refreshes."
    )
    ray_address: str | None = _option(
        None,
        "ray_address",
        "Ray cluster to join ('auto' or host:port); none: local Ray.",
    )
    start_timeout_s: float = _option(
        300.0,
        "actor_start_timeout",
        "Seconds an actor may take to send its first message (environments "
        "reset; for Ray, a free CPU found) before the run stops.",
    )
    ray_join_timeout_s: float = _option(
        60.0,
        "ray_join_timeout",
        "Seconds to wait for the Ray cluster at --ray_address to answer.",
    )


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
    for flag, seconds in (
        ("actor_start_timeout", options.start_timeout_s),
        ("ray_join_timeout", options.ray_join_timeout_s),
    ):
        if seconds <= 0:
            raise ValueError(f"--{flag} must be > 0, got {seconds}.")
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

    Ray dials ``localhost``, ``127.0.0.1`` and ``::1`` as this node's own IP
    address (where a head started with ``ray start --head`` listens), so
    that is the address probed.

    Raises:
        ValueError: If the address is malformed or nothing answers.
    """
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--ray_address must be 'auto' or host:port, got {address!r}.")
    dialled_host = ray_dials(host)
    dialled = f"{dialled_host}:{port}"
    try:
        with socket.create_connection(
            (dialled_host, int(port)), timeout=_CONNECT_TIMEOUT_S
        ):
            pass
    except OSError as error:
        via = "" if dialled == address else f", dialled as {dialled}"
        raise ValueError(
            f"cannot reach the Ray cluster at {address} ({error}{via}); start "
            "it with 'ray start --head' or fix --ray_address."
        ) from None


def ray_dials(host: str) -> str:
    """The host Ray connects to for ``host``: loopback becomes this node's IP.

    This node's IP is found as Ray finds it (the local address of a UDP
    socket aimed at a public address; nothing is sent), without importing
    Ray, which reads its authentication settings once, at import.
    """
    if host not in ("localhost", "127.0.0.1", "::1"):
        return host
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("8.8.8.8", 53))
        except OSError:
            return "127.0.0.1"  # No route out: Ray stays on loopback too.
        return probe.getsockname()[0]
