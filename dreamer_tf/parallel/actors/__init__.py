"""Actor processes and Ray actors that feed a rate-limited learner.

With ``--actors=N`` (N >= 1) the training program runs N actors, each in its
own process (``--actor_backend=process``) or Ray actor
(``--actor_backend=ray``). Each holds a copy of the policy and its own
environment workers, steps them with :class:`dreamer_tf.acting.driver.Driver`
and sends every finished episode to the learner, which stores it in the
replay. The learner refreshes the actors' weights every ``actor_sync_every``
updates and holds the paper's ratio of updates to frames with
the run's :class:`~dreamer_tf.run.schedule.Schedule`. Their options live in
:mod:`dreamer_tf.parallel.options`. See ``docs/scaling.rst``.
"""
