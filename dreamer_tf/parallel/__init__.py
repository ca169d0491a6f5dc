"""Acting and learning in parallel: sources of episodes and devices for the loop.

- :mod:`~dreamer_tf.parallel.options`: the actor and learner options, checked
  in a second (no TensorFlow, no Ray).
- :mod:`~dreamer_tf.parallel.actors`: actor processes and Ray actors feeding a
  rate-limited learner.
- :mod:`~dreamer_tf.parallel.strategies`: the learner's ``tf.distribute``
  strategy, its per-replica batches and collectives.
- :mod:`~dreamer_tf.parallel.multi_worker`: the synchronous loop as one shard
  of a multi-worker learner.

This package's top level imports nothing, so option checks stay fast.
"""
