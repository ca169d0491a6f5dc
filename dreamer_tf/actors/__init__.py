"""Acting and learning in parallel: actor processes feed a rate-limited learner.

With ``--actors=N`` (N >= 1) the training program runs N actors, each in its
own process (``--actor_backend=process``) or Ray actor
(``--actor_backend=ray``). Each holds a copy of the policy and its own
environment workers, steps them with :class:`dreamer_tf.driver.Driver` and
sends every finished episode to the learner, which stores it in the replay.
The learner refreshes the actors' weights every ``actor_sync_every`` updates
and holds the paper's ratio of updates to frames with
:class:`~dreamer_tf.actors.learner.RateLimiter`. See ``docs/scaling.rst``.

This package's top level imports neither TensorFlow nor Ray, so the options
are checked in a second before anything expensive starts.
"""

from dreamer_tf.actors.options import ActorOptions, check_actor_options

__all__ = ["ActorOptions", "check_actor_options"]
