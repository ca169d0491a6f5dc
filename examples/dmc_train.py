"""Trains Dreamer on a DeepMind Control, gymnasium or Atari task: ``dreamer-tf train``.

This script is the installed command's ``train`` (see
:mod:`dreamer_tf.run.cli`), for a checkout without the package installed;
the two take the same flags::

    python examples/dmc_train.py --preset=cpu --task=dmc_cartpole_balance \\
        --logdir=runs/cartpole

``-h`` lists the flags by purpose and the presets. Rerun the same command to
resume; ``--eval_only`` evaluates a run's latest checkpoint, ``--export_only
--export_dir=DIR`` exports its policy (``dreamer-tf eval`` and ``export``).
"""

from dreamer_tf.run import cli

if __name__ == "__main__":
    cli.launch()
