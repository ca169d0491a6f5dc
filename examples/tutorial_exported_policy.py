"""Tutorial: export a policy as a SavedModel and run it with TensorFlow alone.

:func:`dreamer_tf.acting.export.export_policy` saves one step of the evaluation
policy (the actor's mode, no exploration noise) as a TensorFlow SavedModel.
Running it needs only TensorFlow: no dreamer_tf, no Keras classes, no
TensorFlow Probability. The policy is recurrent, so each call takes the
state it returned last time:

- inputs: ``image`` (uint8 ``[batch, 64, 64, 3]``; or the float vector keys
  of a proprioceptive agent), ``is_first`` (bool ``[batch]``, which resets
  those rows' state), and the state ``deter``, ``stoch``, ``mean``, ``std``,
  ``prev_action`` (float32 ``[batch, size]``);
- outputs: ``action`` and the next ``deter``, ``stoch``, ``mean``, ``std``,
  ``prev_action``;
- ``initial_state(batch_size)`` returns the all-zero state.

The script trains a tiny agent one update on random data, exports it, and
runs the export for a few steps in a fresh Python process that imports only
NumPy and TensorFlow (this same file, with ``--load``)::

    python examples/tutorial_exported_policy.py
    python examples/tutorial_exported_policy.py --load runs/policy --steps 10
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile


def train_and_export(directory: str) -> None:
    """Trains a tiny pixel agent one update on random data and exports it."""
    # dreamer_tf before Keras: importing it hides TensorFlow's start-up lines.
    import dreamer_tf  # noqa: F401

    # isort: split
    import gymnasium as gym
    import keras
    import numpy as np

    from dreamer_tf.acting.export import export_policy
    from dreamer_tf.agent import Dreamer
    from dreamer_tf.config import DreamerConfig

    keras.utils.set_random_seed(0)
    config = DreamerConfig(
        cnn_depth=4,
        deter_size=16,
        stoch_size=4,
        rssm_hidden=16,
        num_units=16,
        horizon=4,
        batch_size=2,
        batch_length=6,
    )
    observation_space = gym.spaces.Dict(
        {"image": gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)}
    )
    action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    agent = Dreamer(config, observation_space, action_space)
    rng = np.random.default_rng(0)
    shape = (config.batch_size, config.batch_length)
    metrics = agent.train(
        {
            "image": rng.integers(0, 256, (*shape, 64, 64, 3), np.uint8),
            "action": rng.uniform(-1, 1, (*shape, 2)).astype(np.float32),
            "reward": rng.normal(size=shape).astype(np.float32),
            "discount": np.ones(shape, np.float32),
        }
    )
    print(f"trained one update: model_loss={float(metrics['model_loss']):.1f}")
    # The observation space fixes the input shapes of the signature.
    export_policy(agent, directory, observation_space)
    print(f"exported to {directory}")


def run_exported(directory: str, steps: int, batch_size: int = 2) -> None:
    """Loads an export with plain TensorFlow and acts, feeding the state back."""
    import numpy as np
    import tensorflow as tf

    policy = tf.saved_model.load(directory)
    step = policy.signatures["serving_default"]
    state = policy.initial_state(tf.constant(batch_size, tf.int32))
    image_shape = step.structured_input_signature[1]["image"].shape[1:]
    rng = np.random.default_rng(0)
    for t in range(steps):
        # A real controller would feed camera frames here.
        image = rng.integers(0, 256, (batch_size, *image_shape), np.uint8)
        # Environment 1 starts a new episode at step 2: its state is reset.
        is_first = np.array([t == 0, t in (0, 2)])
        outputs = step(
            image=tf.constant(image), is_first=tf.constant(is_first), **state
        )
        action = outputs.pop("action")
        state = outputs
        print(f"step {t}: actions {action.numpy().round(3).tolist()}")
    assert "dreamer_tf" not in sys.modules, "the export must not need dreamer_tf"
    print(f"ran {steps} steps; dreamer_tf imported: {'dreamer_tf' in sys.modules}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=3, help="Policy steps to run.")
    parser.add_argument(
        "--load", metavar="DIR", help="Only run the SavedModel in DIR (no dreamer_tf)."
    )
    args = parser.parse_args()
    if args.load:
        run_exported(args.load, args.steps)
        return
    with tempfile.TemporaryDirectory() as directory:
        export_dir = f"{directory}/policy"
        train_and_export(export_dir)
        # A fresh interpreter: nothing of this process (dreamer_tf, Keras
        # classes, TFP) is loaded there.
        command = [sys.executable, __file__, "--load", export_dir]
        # Plain TensorFlow prints its start-up lines there: shown on failure only.
        loaded = subprocess.run(
            [*command, "--steps", str(args.steps)], stderr=subprocess.PIPE, text=True
        )
        if loaded.returncode:
            sys.exit(f"the exported policy failed to run:\n{loaded.stderr}")


if __name__ == "__main__":
    main()
