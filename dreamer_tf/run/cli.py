"""The training program's command line: flags, checks, then the run.

``dreamer-tf train`` (and ``eval``, ``export``; see
:mod:`dreamer_tf.commands`) and ``examples/dmc_train.py`` are this program;
a script that builds its own agent passes a factory to :func:`launch` and
gets the same flags, presets, checks and resumption::

    from dreamer_tf.agent import Dreamer
    from dreamer_tf.run import cli

    def make_agent(config, observation_space, action_space, strategy=None):
        return Dreamer(config, observation_space, action_space,
                       strategy=strategy, rssm=lambda: MyCell(...))

    if __name__ == "__main__":
        cli.launch(agent_factory=make_agent)

Every field of :class:`~dreamer_tf.config.DreamerConfig`, of
:class:`~dreamer_tf.parallel.options.ActorOptions` and of
:class:`~dreamer_tf.parallel.options.LearnerOptions` is a flag;
``--preset=NAME`` (or a path) reads a preset first (see
:mod:`dreamer_tf.presets`), and ``-h`` lists the flags by purpose (see
:mod:`dreamer_tf.run.flag_help`). Bad input exits with a one-line error
before TensorFlow is imported or any worker started; a run that cannot go on
exits with one too. A training run starts by saying what it will do (see
:mod:`dreamer_tf.run.narration`).
"""

import functools
import os
import signal
import sys

from absl import app, flags, logging

from dreamer_tf.allocator import describe as describe_allocator
from dreamer_tf.allocator import reexec_under_tcmalloc
from dreamer_tf.config import config_from_flags, define_flags
from dreamer_tf.envs import EnvWorkerError
from dreamer_tf.errors import RunError, RunStopped
from dreamer_tf.parallel.options import (
    ActorOptions,
    LearnerOptions,
    define_option_flags,
    options_from_flags,
)
from dreamer_tf.presets import Arguments, expand_arguments
from dreamer_tf.run.flag_help import program_help
from dreamer_tf.run.narration import start_block
from dreamer_tf.run.rundir import RunSpec, check_run, holds_run, saved_run
from dreamer_tf.waiting import abandoned

FLAGS = flags.FLAGS


def define_program_flags() -> None:
    """Defines the config's flags and the program's own (once per process)."""
    if "logdir" in FLAGS:
        return
    define_flags()
    flags.DEFINE_string(
        "task", "dmc_walker_walk", "dmc_<domain>_<task>, gym_<id> or atari_<game>."
    )
    flags.DEFINE_string("logdir", None, "Run directory; rerun with it to resume.")
    flags.DEFINE_bool(
        "eval_only",
        False,
        "Evaluate the latest checkpoint and exit (what dreamer-tf eval does).",
    )
    flags.DEFINE_bool(
        "export_only",
        False,
        "Export the latest checkpoint's policy to --export_dir and exit (what "
        "dreamer-tf export does).",
    )
    flags.DEFINE_bool(
        "random_data_only",
        False,
        "Allow --steps at or below --prefill: a run that only collects random "
        "episodes, never trains or evaluates.",
    )
    flags.DEFINE_bool("deterministic", False, "Enable TensorFlow op determinism.")
    flags.DEFINE_string("export_dir", None, "Export the policy as a SavedModel here.")
    define_option_flags(ActorOptions)
    define_option_flags(LearnerOptions)
    flags.mark_flag_as_required("logdir")


def main(
    argv: list[str],
    agent_factory=None,
    arguments: Arguments | None = None,
    command: str = "dreamer-tf train",
) -> None:
    """Runs the program on parsed flags (``app.run`` calls it).

    Args:
        argv: What absl left of the command line (the program's name).
        agent_factory: Makes the agent of a new run (see
            :func:`dreamer_tf.run.program.run`).
        arguments: The command line as given, its presets expanded (for the
            start block).
        command: How the program was called, for the start block.
    """
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments {argv[1:]}; flags need a leading --.")
    try:
        config, task = config_and_task()
        spec = RunSpec(
            config=config,
            task=task,
            logdir=FLAGS.logdir,
            deterministic=FLAGS.deterministic,
            eval_only=FLAGS.eval_only or FLAGS.export_only,
            export_only=FLAGS.export_only,
            export_dir=FLAGS.export_dir,
            random_data_only=FLAGS.random_data_only,
            actors=options_from_flags(ActorOptions),
            learner=options_from_flags(LearnerOptions),
        )
        resumes = holds_run(spec.logdir)
        check_run(spec)
    except ValueError as error:
        sys.exit(f"error: {error}")
    if not spec.eval_only:
        arguments = arguments or Arguments([], [], [])
        print(
            start_block(
                command,
                task,
                FLAGS["task"].present or resumes,
                arguments.presets,
                arguments.overrides,
                spec.logdir,
                resumes,
                config,
                allocator=describe_allocator(),
            ),
            flush=True,
        )
    logging.set_verbosity(logging.WARNING)
    # The training loop saves before it stops (dreamer_tf.run.stopping);
    # outside it there is nothing to save, and a stop is one line.
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, _stop_outside_training)
    try:
        # TensorFlow is imported only after every check has passed.
        from dreamer_tf.run.program import run

        run(spec, agent_factory)
    except (RunError, EnvWorkerError) as error:
        _exit(1, f"error: {error}", sys.stderr)
    except RunStopped as stopped:
        _exit(stopped.exit_code, str(stopped), sys.stdout)
    except KeyboardInterrupt:
        _exit(130, _STOPPED_OUTSIDE_TRAINING, sys.stdout)


_STOPPED_OUTSIDE_TRAINING = (
    "stopped outside training, with nothing to save; rerun the same command to resume"
)


def _stop_outside_training(signal_number: int, frame=None) -> None:
    raise RunStopped(signal_number, _STOPPED_OUTSIDE_TRAINING)


def _exit(code: int, line: str, stream) -> None:
    """Prints the run's last line and exits with ``code``.

    A wait given up on (see :mod:`dreamer_tf.waiting`) leaves its call
    running in a thread that may never return, and the interpreter's normal
    exit could wait for what that call holds: the process then ends at once.
    """
    print(line, file=stream, flush=True)
    if abandoned():
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def config_and_task():
    """The flags' config and task, over the run's own when the logdir holds one.

    So ``dreamer-tf train --logdir=RUN`` resumes a run without its flags
    repeated; a flag given that the run cannot change is refused later.
    """
    saved = saved_run(FLAGS.logdir) if FLAGS.logdir else None
    if saved is None:
        return config_from_flags(), FLAGS.task
    if FLAGS.eval_only or FLAGS.export_only:
        what = "exporting" if FLAGS.export_only else "evaluating"
        print(
            f"{what} the run in {FLAGS.logdir} with its saved config "
            "(flags given here override it)",
            flush=True,
        )
    task = FLAGS.task if FLAGS["task"].present else saved["task"]
    return config_from_flags(base=saved), task


def launch(
    agent_factory=None, argv: list[str] | None = None, command: str = "train"
) -> None:
    """Parses the command line and runs the program (never returns).

    Args:
        agent_factory: Makes the agent of a new run, e.g. with custom layers:
            ``agent_factory(config, observation_space, action_space,
            strategy=strategy)``; the config's Dreamer if ``None``.
        argv: The command line, the program's name first; ``sys.argv`` if
            ``None``.
        command: ``train``, ``eval`` or ``export`` (``-h`` shows its flags).

    A program run as a script (``argv`` is ``None``) first restarts itself
    under tcmalloc when that is installed (:mod:`dreamer_tf.allocator`); the
    ``dreamer-tf`` command does so before it calls this.
    """
    if argv is None:
        reexec_under_tcmalloc()
    argv = sys.argv if argv is None else argv
    define_program_flags()
    if any(argument in ("-h", "--help") for argument in argv[1:]):
        sys.stdout.write(program_help(FLAGS, command))
        sys.exit(0)
    try:
        arguments = expand_arguments(argv[1:])
    except ValueError as error:
        sys.exit(f"error: {error}")
    run_main = functools.partial(
        main,
        agent_factory=agent_factory,
        arguments=arguments,
        command=f"dreamer-tf {command}",
    )
    app.run(run_main, argv=[argv[0], *arguments.flags])
