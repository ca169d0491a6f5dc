"""The installed ``dreamer-tf`` command: one program, a subcommand per job.

::

    dreamer-tf train --preset=quick --task=dmc_cartpole_balance --logdir=runs/quick
    dreamer-tf eval --logdir=runs/quick --eval_episodes=10
    dreamer-tf export --logdir=runs/quick --export_dir=runs/policy
    dreamer-tf plot runs/quick --output returns.png
    dreamer-tf tensorboard runs/quick

``train``, ``eval`` and ``export`` are the training program
(:mod:`dreamer_tf.run.cli`); ``plot`` is :mod:`dreamer_tf.plotting` and
``tensorboard`` is :mod:`dreamer_tf.board`. ``dreamer-tf COMMAND -h`` shows
a command's own help. Only the command that runs is imported: ``plot`` and
``tensorboard`` start in a second, without TensorFlow's start-up.
"""

from __future__ import annotations

import importlib
import sys

from dreamer_tf.allocator import reexec_under_tcmalloc

#: Command -> (what it does, the module and function it runs, flags it adds).
COMMANDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "train": (
        "train Dreamer on a task (rerun the same command to resume)",
        "dreamer_tf.run.cli:launch",
        (),
    ),
    "eval": (
        "evaluate a run's latest checkpoint with the run's own config",
        "dreamer_tf.run.cli:launch",
        ("--eval_only",),
    ),
    "export": (
        "export a run's policy as a TensorFlow SavedModel",
        "dreamer_tf.run.cli:launch",
        ("--export_only",),
    ),
    "plot": (
        "plot runs' evaluation returns against the paper's curves",
        "dreamer_tf.plotting:main",
        (),
    ),
    "tensorboard": (
        "open runs in TensorBoard, named by their directories",
        "dreamer_tf.board:main",
        (),
    ),
}

USAGE = "usage: dreamer-tf COMMAND [ARGS...]   (dreamer-tf COMMAND -h for its help)"


def usage() -> str:
    """The command's own help: its subcommands, one line each."""
    lines = [USAGE, "", "commands:"]
    lines += [f"  {name:<12} {summary}" for name, (summary, _, _) in COMMANDS.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Runs ``dreamer-tf``.

    Args:
        argv: The command line without the program's name; ``sys.argv[1:]``
            if ``None``.

    Returns:
        The exit code (``train``, ``eval`` and ``export`` exit themselves).
    """
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        sys.stdout.write(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        hint = " (flags come after a command)" if name.startswith("-") else ""
        print(
            f"error: unknown command {name!r}{hint}; commands: "
            f"{', '.join(COMMANDS)} (dreamer-tf -h)",
            file=sys.stderr,
        )
        return 2
    _, target, added = COMMANDS[name]
    module_name, function_name = target.split(":")
    function = getattr(importlib.import_module(module_name), function_name)
    if function_name == "launch":
        # The training program parses its own flags, and exits itself.
        return function(argv=[f"dreamer-tf {name}", *added, *rest], command=name)
    return function(rest)


def run() -> None:
    """The console script's entry point: exits with :func:`main`'s code.

    ``train``, ``eval`` and ``export`` first restart the process under
    tcmalloc when it is installed (:mod:`dreamer_tf.allocator`).
    """
    if sys.argv[1:] and COMMANDS.get(sys.argv[1], ("", "", ()))[1].endswith(":launch"):
        reexec_under_tcmalloc()
    sys.exit(main())
