"""The training program's command line: flags, checks, then the run.

``examples/dmc_train.py`` and the installed ``dreamer-tf`` command are this
program; a script that builds its own agent passes a factory to
:func:`launch` and gets the same flags, checks and resumption::

    from dreamer_tf.agent import Dreamer
    from dreamer_tf.run import cli

    def make_agent(config, observation_space, action_space, strategy=None):
        return Dreamer(config, observation_space, action_space,
                       strategy=strategy, rssm=lambda: MyCell(...))

    if __name__ == "__main__":
        cli.launch(agent_factory=make_agent)

Every field of :class:`~dreamer_tf.config.DreamerConfig`, of
:class:`~dreamer_tf.parallel.options.ActorOptions` and of
:class:`~dreamer_tf.parallel.options.LearnerOptions` is a flag. Bad input
exits with a one-line error before TensorFlow is imported or any worker
started; a run that cannot go on exits with one too.
"""

import functools
import os
import signal
import sys

from absl import app, flags, logging

from dreamer_tf.config import config_from_flags, define_flags
from dreamer_tf.envs import EnvWorkerError
from dreamer_tf.errors import RunError, RunStopped
from dreamer_tf.parallel.options import (
    ActorOptions,
    LearnerOptions,
    define_option_flags,
    options_from_flags,
)
from dreamer_tf.run.rundir import RunSpec, check_run, saved_run
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
    flags.DEFINE_bool("eval_only", False, "Evaluate the latest checkpoint and exit.")
    flags.DEFINE_bool("deterministic", False, "Enable TensorFlow op determinism.")
    flags.DEFINE_string("export_dir", None, "Export the policy as a SavedModel here.")
    define_option_flags(ActorOptions)
    define_option_flags(LearnerOptions)
    flags.mark_flag_as_required("logdir")


def main(argv: list[str], agent_factory=None) -> None:
    """Runs the program on parsed flags (``app.run`` calls it).

    Args:
        argv: What absl left of the command line (the program's name).
        agent_factory: Makes the agent of a new run (see
            :func:`dreamer_tf.run.program.run`).
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
            eval_only=FLAGS.eval_only,
            export_dir=FLAGS.export_dir,
            actors=options_from_flags(ActorOptions),
            learner=options_from_flags(LearnerOptions),
        )
        check_run(spec)
    except ValueError as error:
        sys.exit(f"error: {error}")
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
    """The flags' config and task; an evaluation takes the run's own first."""
    saved = saved_run(FLAGS.logdir) if FLAGS.eval_only else None
    if saved is None:
        return config_from_flags(), FLAGS.task
    print(
        f"evaluating the run in {FLAGS.logdir} with its saved config "
        "(flags given here override it)",
        flush=True,
    )
    task = FLAGS.task if FLAGS["task"].present else saved["task"]
    return config_from_flags(base=saved), task


def launch(agent_factory=None) -> None:
    """Parses the command line and runs the program (never returns).

    Args:
        agent_factory: Makes the agent of a new run, e.g. with custom layers:
            ``agent_factory(config, observation_space, action_space,
            strategy=strategy)``; the config's Dreamer if ``None``.
    """
    define_program_flags()
    app.run(functools.partial(main, agent_factory=agent_factory))
