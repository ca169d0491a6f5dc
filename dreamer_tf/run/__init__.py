"""A training run: its program and loop, run directory, checkpoints, summaries
and value calibration.

This package's top level imports nothing, so that :mod:`dreamer_tf.run.rundir`
checks a run's input before TensorFlow loads.
"""
