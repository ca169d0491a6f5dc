"""Trains Dreamer on a DeepMind Control, gymnasium or Atari task.

Every hyperparameter of ``DreamerConfig`` is a flag with the paper's default
(or the authors' code's, where its help says so); flagfiles in
``examples/configs/`` hold presets::

    python examples/dmc_train.py --flagfile=examples/configs/cpu.flags \\
        --task=dmc_cartpole_balance --logdir=runs/cartpole

Rerun the same command to resume. ``--actors=N`` collects with N actor
processes (each with ``--envs`` environments) while the learner trains, at
the same ratio of updates to frames. ``--learner=mirrored`` trains on every
GPU of the machine; ``--learner=multi_worker`` on several hosts that each run
this command with their own ``TF_CONFIG`` (see docs/scaling.rst).
``--eval_only --logdir=RUN`` evaluates the run's latest checkpoint with the
run's own config (flags given beside it, like ``--eval_episodes``, still
apply) and logs ``eval_only/return``; ``--export_dir`` writes the policy as a
TensorFlow SavedModel.
Bad input (unknown task, invalid value, unwritable logdir or one another run
is using, ``batch_length`` longer than an episode, ``--eval_only`` without a
checkpoint, ``--export_dir`` that is a file) exits with a one-line error
before TensorFlow is imported or any worker started; a run that cannot go on
(no checkpoint restores, updates keep failing, a worker died) exits with one
too.
"""

from dreamer_tf.run import cli

if __name__ == "__main__":
    cli.launch()
