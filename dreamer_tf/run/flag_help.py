"""The training program's ``-h``: its own flags grouped by purpose, and the presets.

absl's ``--helpfull`` lists every flag of every module, absl's own first;
:func:`program_help` lists only the program's, each group a purpose a user
comes with (which task, how long, what model, ...), with defaults and the
shipped presets.

This module does not import TensorFlow.
"""

from __future__ import annotations

import textwrap

from dreamer_tf.presets import preset_names, preset_summary

#: The program's flags by purpose, in the order ``-h`` shows them.
FLAG_GROUPS: dict[str, tuple[str, ...]] = {
    "Run": (
        "agent",
        "logdir",
        "eval_only",
        "export_dir",
        "export_only",
        "random_data_only",
        "deterministic",
    ),
    "Task and environment": (
        "task",
        "observation",
        "action_repeat",
        "time_limit",
        "image_size",
        "life_done",
        "grayscale",
        "envs",
        "seed",
    ),
    "Schedule (in environment frames)": (
        "steps",
        "prefill",
        "pretrain",
        "train_every",
        "train_steps",
        "eval_every",
        "eval_episodes",
        "replay_capacity",
        "prioritize_ends",
    ),
    "World model": (
        "batch_size",
        "batch_length",
        "cnn_depth",
        "cnn_activation",
        "dense_activation",
        "deter_size",
        "stoch_size",
        "rssm_hidden",
        "rssm_min_std",
        "rssm_classes",
        "num_units",
        "reward_layers",
        "pcont",
        "pcont_layers",
        "pcont_scale",
        "representation",
        "free_nats",
        "kl_scale",
        "kl_balance",
        "kl_free_average",
        "kl_forward",
        "tanh_rewards",
        "model_lr",
        "adam_epsilon",
        "grad_clip",
        "weight_decay",
    ),
    "Behaviour (actor, value, exploration)": (
        "horizon",
        "discount",
        "lambda_",
        "value_estimator",
        "nstep",
        "value_layers",
        "actor_layers",
        "actor_dist",
        "actor_init_std",
        "actor_min_std",
        "actor_mean_scale",
        "actor_grad",
        "actor_grad_mix",
        "actor_entropy",
        "slow_target_every",
        "actor_lr",
        "value_lr",
        "train_action",
        "exploration",
        "expl_amount",
        "expl_decay",
        "expl_min",
        "eval_noise",
    ),
    "Logging and checkpoints": ("log_every", "checkpoint_every_minutes"),
    "Computation": ("precision", "jit_compile"),
    "Scaling (actors, learners)": (
        "actors",
        "actor_backend",
        "actor_sync_every",
        "actor_start_timeout",
        "ray_address",
        "ray_join_timeout",
        "learner",
        "learner_cpu_devices",
        "learner_join_timeout",
    ),
}

#: Per command of ``dreamer-tf``: its arguments, what it does, the flags shown.
COMMANDS: dict[str, tuple[str, str, tuple[str, ...] | None]] = {
    "train": (
        "[--preset=NAME] --logdir=DIR [--FLAG=VALUE ...]",
        "Trains Dreamer on a task; rerun the same command to resume.",
        None,
    ),
    "eval": (
        "--logdir=RUN [--FLAG=VALUE ...]",
        "Evaluates a run's latest checkpoint with the run's own config.",
        ("logdir", "eval_episodes", "eval_noise", "export_dir", "task", "seed"),
    ),
    "export": (
        "--logdir=RUN --export_dir=DIR",
        "Exports a run's latest checkpoint's policy as a TensorFlow SavedModel.",
        ("logdir", "export_dir"),
    ),
}

_WIDTH = 88
_NAME_COLUMN = 32


def program_help(flag_values, command: str = "train") -> str:
    """The ``-h`` text of a command of the training program.

    Args:
        flag_values: The ``absl.flags.FlagValues`` the program's flags are
            defined in.
        command: ``train``, ``eval`` or ``export``.

    Returns:
        The text, ending in a newline.
    """
    synopsis, summary, shown = COMMANDS[command]
    lines = [f"usage: dreamer-tf {command} {synopsis}", ""]
    lines += [summary, ""]
    if command == "train":
        lines += _preset_lines() + [""]
    for group, names in FLAG_GROUPS.items():
        names = [name for name in names if shown is None or name in shown]
        if names:
            lines.append(f"{group}:")
            lines += [_flag_line(flag_values[name]) for name in names]
            lines.append("")
    lines.append(
        "--helpfull lists every flag, absl's included; --flagfile=FILE reads flags "
        "from a file."
    )
    return "\n".join(lines) + "\n"


def _preset_lines() -> list[str]:
    lines = ["Presets (--preset=NAME, or a path to a .flags file; flags after it win):"]
    for name in preset_names():
        lines += _wrapped(f"  {name}", preset_summary(name))
    return lines


def _flag_line(flag) -> str:
    default = (flag.default_as_str or "").strip("'")
    name = f"  --{flag.name}" + (f"={default}" if default else "")
    return "\n".join(_wrapped(name, flag.help))


def _wrapped(name: str, text: str) -> list[str]:
    """``name`` and ``text`` in two columns; a long name gets its own line."""
    indent = " " * _NAME_COLUMN
    body = textwrap.wrap(text, _WIDTH - _NAME_COLUMN, break_on_hyphens=False) or [""]
    if len(name) + 2 > _NAME_COLUMN:
        return [name] + [indent + line for line in body]
    first = name.ljust(_NAME_COLUMN) + body[0]
    return [first] + [indent + line for line in body[1:]]
