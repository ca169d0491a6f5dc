"""The learner's ``tf.distribute`` strategy, its batches and its collectives.

:func:`make_strategy` builds the strategy :class:`~dreamer_tf.agent.Dreamer`
is constructed under; :class:`ReplicaBatches` turns the batch this process
samples into the per-replica values :meth:`~dreamer_tf.agent.Dreamer.train`
takes; :class:`Workers` holds the few collectives a multi-worker learner
needs besides the update (summing counters, broadcasting the chief's
weights).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from dreamer_tf.errors import RunError
from dreamer_tf.parallel.cluster import POLL_S, ClusterTasks
from dreamer_tf.parallel.options import LearnerOptions, WorkerTask, check_batch_split
from dreamer_tf.waiting import wait_until


def make_strategy(
    options: LearnerOptions, batch_size: int
) -> tf.distribute.Strategy | None:
    """Builds the learner's strategy; call it before TensorFlow runs anything.

    Splitting the CPU into logical devices and joining a multi-worker
    cluster both have to happen before TensorFlow initialises its devices.

    Args:
        options: The learner options (already checked).
        batch_size: The global batch size.

    Returns:
        The strategy, or None for ``default``.

    Raises:
        RunError: If ``mirrored`` finds no GPU, the replicas cannot share
            the batch equally (before any model is built), or the other
            workers of a ``multi_worker`` cluster do not start in time.
        dreamer_tf.errors.RunStopped: On SIGINT or SIGTERM while waiting for
            them.
    """
    if options.learner == "default":
        return None
    if options.learner == "multi_worker":
        strategy = join_cluster(options)
    elif options.cpu_devices:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * options.cpu_devices
        )
        strategy = tf.distribute.MirroredStrategy(
            [f"/cpu:{index}" for index in range(options.cpu_devices)]
        )
    elif not tf.config.list_physical_devices("GPU"):
        raise RunError(
            "--learner=mirrored found no GPU; use --learner=default on this "
            "machine (--learner_cpu_devices=N mirrors over CPU devices, for tests)."
        )
    else:
        strategy = tf.distribute.MirroredStrategy()
    try:
        check_batch_split(
            batch_size, strategy.num_replicas_in_sync, "replicas", "the replica count"
        )
    except ValueError as error:
        raise RunError(str(error)) from None
    return strategy


def join_cluster(options: LearnerOptions) -> tf.distribute.Strategy:
    """Joins ``TF_CONFIG``'s cluster, saying which workers it waits for.

    ``MultiWorkerMirroredStrategy`` blocks until every worker has started,
    in silence, without a bound and deaf to signals; so the workers meet
    first (see :mod:`dreamer_tf.parallel.cluster`), waiting at most
    ``options.join_timeout_s`` seconds (see
    :func:`dreamer_tf.waiting.wait_until`).

    Raises:
        RunError: If the other workers do not start in time, or this
            worker's port is taken.
        dreamer_tf.errors.RunStopped: On SIGINT or SIGTERM while waiting.
    """
    tasks = ClusterTasks()
    try:
        with tasks.own_port_open():
            wait_until(
                tasks.silent_peers,
                "the other workers of TF_CONFIG's cluster",
                options.join_timeout_s,
                "start every worker with the same TF_CONFIG (each with its own "
                "task), or raise --learner_join_timeout.",
                poll_s=POLL_S,
            )
    except ValueError as error:
        raise RunError(str(error)) from None
    return tf.distribute.MultiWorkerMirroredStrategy()


class ReplicaBatches:
    """Splits the batch this process samples into one share per local replica.

    Under a strategy of ``R`` replicas in sync, each gets ``batch_size / R``
    sequences; this process samples the shares of its own replicas (all of
    them on one machine, ``batch_size / workers`` on each of several).

    Args:
        strategy: The agent's strategy.
        batch_size: The global batch size (a multiple of the replica count).
    """

    def __init__(self, strategy: tf.distribute.Strategy, batch_size: int):
        self.strategy = strategy
        replicas = strategy.num_replicas_in_sync
        # The default strategy takes the batch as it is.
        default = strategy is tf.distribute.get_strategy()
        self.devices = () if default else strategy.extended.worker_devices
        self.per_replica = batch_size // replicas
        self.local_batch_size = self.per_replica * max(len(self.devices), 1)

    def __call__(self, batch: dict[str, np.ndarray]):
        """The per-replica values of a ``[local_batch_size, ...]`` batch."""
        if not self.devices:
            return batch
        size = self.per_replica

        def share(context: tf.distribute.experimental.ValueContext) -> dict:
            local = context.replica_id_in_sync_group % len(self.devices)
            with tf.device(self.devices[local]):
                return {
                    key: tf.constant(value[local * size : (local + 1) * size])
                    for key, value in batch.items()
                }

        return self.strategy.experimental_distribute_values_from_function(share)


class Workers:
    """The workers of a multi-worker learner and the collectives they share.

    Every worker must call each method at the same point of its loop: they
    are collectives, and one worker missing a call stalls the others.

    Args:
        strategy: The ``MultiWorkerMirroredStrategy``.
        task: This worker's place in the cluster.
    """

    def __init__(self, strategy: tf.distribute.Strategy, task: WorkerTask):
        self.strategy, self.task = strategy, task
        self._local_replicas = len(strategy.extended.worker_devices)
        # Every call passes one vector: with reduce_retracing a trace of
        # unknown length serves every later call of its dtype.
        self._all_reduce = tf.function(_all_reduce_sum, reduce_retracing=True)

    def sum(self, values: Sequence[int]) -> list[int]:
        """Sums integers over the workers (each worker's values counted once)."""
        vector = tf.constant(values, tf.int64)
        return [int(value) for value in self._sum(vector, self._first_local)]

    def chief_value(self, value: int) -> int:
        """The chief's ``value``, on every worker."""
        return int(self._sum(tf.constant([value], tf.int64), _is_chief)[0])

    def broadcast(self, variables: Sequence[tf.Variable]) -> None:
        """Assigns the chief's values to ``variables`` on every worker.

        A sum over the workers in which only the chief's first replica
        contributes: every other worker adds zeros, so the chief's values
        arrive exactly. Values go as one flat vector per dtype (bools as
        int64).

        Args:
            variables: Numeric or bool variables, in the same order on every
                worker.
        """
        tensors = [_summable(tf.convert_to_tensor(variable)) for variable in variables]
        by_dtype: dict[tf.DType, list[int]] = {}
        for index, tensor in enumerate(tensors):
            by_dtype.setdefault(tensor.dtype, []).append(index)
        for indices in by_dtype.values():
            flat = tf.concat([tf.reshape(tensors[i], [-1]) for i in indices], 0)
            sizes = [int(tf.size(tensors[i])) for i in indices]
            values = tf.split(self._sum(flat, _is_chief), sizes)
            for index, value in zip(indices, values):
                variable = variables[index]
                variable.assign(
                    tf.cast(tf.reshape(value, variable.shape), variable.dtype)
                )

    def _first_local(self, replica: int) -> bool:
        return replica % self._local_replicas == 0

    def _sum(self, vector: tf.Tensor, contributes: Callable[[int], bool]) -> tf.Tensor:
        def per_replica(context):
            if contributes(context.replica_id_in_sync_group):
                return vector
            return tf.zeros_like(vector)

        values = self.strategy.experimental_distribute_values_from_function(per_replica)
        summed = self.strategy.run(self._all_reduce, args=(values,))
        return self.strategy.experimental_local_results(summed)[0]


def _is_chief(replica: int) -> bool:
    return replica == 0


def _all_reduce_sum(vector):
    # The input carries no device inside the function; a copy made in the
    # replica's device scope does, and the all-reduce needs one.
    return tf.distribute.get_replica_context().all_reduce(
        tf.distribute.ReduceOp.SUM, tf.identity(vector)
    )


def _summable(tensor: tf.Tensor) -> tf.Tensor:
    return tf.cast(tensor, tf.int64) if tensor.dtype == tf.bool else tensor
