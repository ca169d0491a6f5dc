"""The one rule that derives every seed of a run from its ``--seed``.

A run's random streams (its environments, each actor's, each worker's, and
the evaluation's) are kept apart by offsets from the run's seed;
:func:`stream_seed` is the only place that adds them. A vector environment
then seeds its environment ``i`` with ``stream_seed(...) + i``.

====================  ==================================================
stream                seed
====================  ==================================================
training envs         ``seed + WORKER_STRIDE * worker``
evaluation env        that ``+ EVALUATION_OFFSET``
actor ``a`` of ``N``  that ``+ ACTOR_STRIDE * (1 + a + N * restarts)``
====================  ==================================================

Worker ``w`` of a multi-worker learner also seeds its sampling and its
initial weights from ``seed + WORKER_STRIDE * w`` (the chief's weights are
then broadcast to every worker).
"""

from __future__ import annotations

#: Between the streams of two workers of a multi-worker learner.
WORKER_STRIDE = 1_000_000
#: Between the training and evaluation environments of one stream.
EVALUATION_OFFSET = 10_000
#: Between the streams of two actors, and of two incarnations of one.
ACTOR_STRIDE = 100_000


def stream_seed(
    seed: int,
    *,
    worker: int = 0,
    evaluation: bool = False,
    actor: int | None = None,
    actors: int = 0,
    incarnation: int = 0,
) -> int:
    """The seed of one of a run's random streams.

    Args:
        seed: The run's seed.
        worker: The worker's index in a multi-worker learner (0 otherwise).
        evaluation: Whether the stream is the evaluation environment's.
        actor: The actor's index, for an actor's environments.
        actors: How many actors the run has (with ``actor``).
        incarnation: How many times the actor was restarted (with ``actor``).

    Returns:
        The stream's seed; its environment ``i`` takes that ``+ i``.
    """
    stream = seed + WORKER_STRIDE * worker
    if evaluation:
        stream += EVALUATION_OFFSET
    if actor is not None:
        stream += ACTOR_STRIDE * (1 + actor + actors * incarnation)
    return stream
