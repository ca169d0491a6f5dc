"""The one timer the benchmarks share."""

from __future__ import annotations

import statistics
import time

import tensorflow as tf


def median_seconds(function, *args, repeats: int) -> float:
    """Median wall time of ``function(*args)`` after one warm-up call.

    Every tensor ``function`` returns is read back (``.numpy()``), so the
    time includes the whole computation, not just its dispatch.
    """
    tf.nest.map_structure(lambda tensor: tensor.numpy(), function(*args))
    durations = []
    for _ in range(repeats):
        start = time.perf_counter()
        tf.nest.map_structure(lambda tensor: tensor.numpy(), function(*args))
        durations.append(time.perf_counter() - start)
    return statistics.median(durations)
