"""The training program: a run from its spec, resumed from its logdir.

:func:`run` builds the agent, environments and checkpoints, and drives the
:class:`~dreamer_tf.run.loop.Loop` from this process, from actors or as one
worker of a multi-worker learner; this package is the only place where
environments, replay, agent and logging meet. A run lives in one ``logdir``::

    logdir/config.json      the config and task; a resume must match it
    logdir/episodes/        every finished training episode (.npz, atomic)
    logdir/checkpoints/     networks, optimizers, counters, RNG state
    logdir/metrics.jsonl    one JSON object per log event
    logdir/events.*         TensorBoard scalars and GIF videos
    logdir/workers/<i>/     worker i's own run directory (multi-worker learner)

Rerunning with the same ``logdir`` resumes: finished episodes are reloaded,
the frame count continues from those that load, and neither prefill nor
pretraining is repeated. One process at a time runs in a logdir (a lock).

What goes wrong never spoils a run: the newest checkpoint that restores is
used (damaged ones are named and skipped), episodes with a non-finite value
are not stored, updates with non-finite losses or gradients are skipped by
the agent (the run stops after
``MAX_CONSECUTIVE_SKIPPED_UPDATES`` in a row), and no checkpoint is written
with a non-finite weight.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import time

import keras
import numpy as np
import tensorflow as tf

from dreamer_tf import envs
from dreamer_tf.acting.driver import random_policy
from dreamer_tf.acting.policy import agent_policy
from dreamer_tf.acting.sources import DriverSource, PolicyChoice
from dreamer_tf.agent import Dreamer
from dreamer_tf.errors import RunError, first_line
from dreamer_tf.learning.precision import describe_policy
from dreamer_tf.parallel.actors.group import ActorsFailed
from dreamer_tf.parallel.actors.runner import actor_source, connect_ray
from dreamer_tf.parallel.multi_worker import (
    LOST_WORKER_ERRORS,
    ShardSource,
    lost_worker_error,
)
from dreamer_tf.parallel.options import worker_task
from dreamer_tf.parallel.strategies import Workers, make_strategy
from dreamer_tf.run.checkpoints import RunCheckpoints
from dreamer_tf.run.loop import Loop, evaluate
from dreamer_tf.run.narration import command_path, device_line, end_summary
from dreamer_tf.run.rundir import RunSpec, check_run, unlock_logdir
from dreamer_tf.run.saved_agent import AGENT_PREFIX, AgentFactory, run_agent
from dreamer_tf.run.schedule import Progress
from dreamer_tf.run.stopping import StopRequest, stop_on_signals
from dreamer_tf.run.summaries import MetricsWriter
from dreamer_tf.seeds import stream_seed
from dreamer_tf.variable_tree import named_variables


def run(spec: RunSpec, agent_factory: AgentFactory | None = None) -> None:
    """Trains (or evaluates) Dreamer as ``spec`` says; resumes from its logdir.

    Args:
        spec: The run.
        agent_factory: Makes the agent of a new run, for agents built in
            code: ``agent_factory(config, observation_space, action_space,
            strategy=strategy)`` returning a :class:`~dreamer_tf.agent.Dreamer`
            (e.g. with custom layers); the config's Dreamer if ``None``. The
            run records the agent's architecture, and every later start
            (resume, ``eval_only``, actors) rebuilds it from that record, so
            the factory is not needed again.

    Raises:
        ValueError: For invalid input, before any model or worker starts.
        RunError: If no checkpoint restores, training cannot go on, or a
            worker of a multi-worker learner is gone.
        dreamer_tf.errors.RunStopped: When SIGINT or SIGTERM stopped the
            training, after its final checkpoint (see
            :mod:`dreamer_tf.run.stopping`).
        dreamer_tf.envs.EnvWorkerError: If an environment worker dies.
    """
    logdir = check_run(spec)
    try:
        _run(spec, logdir, agent_factory)
    except LOST_WORKER_ERRORS as error:
        if spec.learner.learner != "multi_worker":
            raise
        raise lost_worker_error(error) from None
    finally:
        unlock_logdir(logdir)


def _run(spec: RunSpec, logdir: pathlib.Path, agent_factory) -> None:
    spec, strategy, task, workers = _learner(spec)
    _prepare_process(spec)
    config = spec.config
    # Evaluation plays whole games, as published Atari scores do.
    eval_env = envs.make_vector_env(
        spec.task,
        1,
        seed=stream_seed(config.seed, evaluation=True),
        role="evaluation",
        **_env_options(config),
    )
    cleanup = contextlib.ExitStack()
    try:
        agent = run_agent(
            logdir,
            config,
            eval_env.single_observation_space,
            eval_env.single_action_space,
            strategy,
            agent_factory,
            record=not spec.eval_only,
        )
        if not spec.eval_only:
            print(device_line(*_devices(agent, config)), flush=True)
        progress = Progress()
        run_variables = named_variables({AGENT_PREFIX: agent, "progress": progress})
        checkpoints = RunCheckpoints(logdir / "checkpoints", run_variables)
        restored = checkpoints.restore()
        if spec.export_only:
            _export_only(spec, agent, restored, eval_env)
            return
        resumed = restored is not None
        stop = StopRequest()
        if workers is not None:
            # From the first collective on, a signal to one worker must not
            # end it alone: the others would wait for it in the next one.
            cleanup.enter_context(stop_on_signals(stop))
            resumed = _take_chiefs_state(workers, run_variables, resumed)
        if resumed and not spec.eval_only and _complete(spec, agent, logdir):
            _export(spec, agent, eval_env, task.is_chief)
            return
        writer = MetricsWriter(str(logdir))
        if not spec.eval_only:
            writer.write_config(spec.task, spec.config.to_dict())
        try:
            if spec.eval_only:
                _evaluate_only(spec, agent, restored, logdir, eval_env, writer)
            else:
                loop = Loop(
                    spec,
                    logdir,
                    agent,
                    progress,
                    checkpoints,
                    writer,
                    eval_env,
                    workers,
                    stop,
                )
                _train(spec, loop, workers, resumed)
                if task.is_chief:
                    print(_summary(spec, loop), flush=True)
        finally:
            writer.close()
        _export(spec, agent, eval_env, task.is_chief)
    finally:
        eval_env.close()
        cleanup.close()


def _devices(agent: Dreamer, config) -> tuple[str, int, int]:
    """What the start block's device row needs: devices, compute, replicas."""
    gpus = len(tf.config.list_logical_devices("GPU"))
    where = f"{gpus} GPU{'s' if gpus > 1 else ''}" if gpus else None
    return (
        where or f"CPU ({os.cpu_count()} cores)",
        describe_policy(agent.dtype_policy, config.precision),
        agent.strategy.num_replicas_in_sync,
    )


def _summary(spec: RunSpec, loop: Loop) -> str:
    return end_summary(
        loop.frames,
        loop.schedule.updates,
        time.time() - loop.start_time,
        loop.final_returns,
        loop.last_checkpoint,
        spec.logdir,
        command_path(),
    )


def _export_only(spec: RunSpec, agent: Dreamer, restored, eval_env) -> None:
    if restored is None:
        raise RunError(f"No checkpoint in {spec.logdir!r} restores; nothing to export.")
    print(
        f"exporting {pathlib.Path(restored).name} ({int(agent.frames.numpy())} frames)",
        flush=True,
    )
    _export(spec, agent, eval_env, True)


def _prepare_process(spec: RunSpec) -> None:
    """Joins Ray for its actors; determinism and seeds, before any model."""
    if spec.actors.actors and spec.actors.backend == "ray" and not spec.eval_only:
        _connect_ray(spec)
    if spec.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(spec.config.seed)


def _complete(spec: RunSpec, agent: Dreamer, logdir: pathlib.Path) -> bool:
    """Whether a resumed run already has its frames (then it says so)."""
    frames = int(agent.frames.numpy())
    if frames < spec.config.steps:
        return False
    # A finished run rerun: say so and write nothing into the logdir.
    print(
        f"run complete: {frames} of {spec.config.steps} frames in {logdir}; "
        "nothing to do (a larger --steps trains on)"
    )
    return True


def _evaluate_only(spec, agent, restored, logdir, eval_env, writer) -> None:
    config = spec.config
    if restored is None:
        raise RunError(f"No checkpoint in {str(logdir)!r} to evaluate.")
    print(
        f"evaluating {pathlib.Path(restored).name} ({int(agent.frames.numpy())} "
        f"frames): {config.eval_episodes} episodes",
        flush=True,
    )
    gif_path = logdir / "eval_only.gif"
    returns = evaluate(
        agent,
        eval_env,
        config.eval_episodes,
        writer,
        "eval_only",
        gif_path,
        verbose=True,
    )
    print(f"eval returns: {', '.join(f'{value:.1f}' for value in returns)}")
    print(
        f"mean return {np.mean(returns):.1f} (std {np.std(returns):.1f}) over "
        f"{len(returns)} episode{'s' if len(returns) != 1 else ''}"
    )
    if gif_path.exists():
        print(f"video of the first episode: {gif_path}")


def _train(spec: RunSpec, loop: Loop, workers, resumed: bool) -> None:
    """Runs the loop on its source; SIGINT and SIGTERM stop it with a save."""
    with stop_on_signals(loop.stop):
        _run_loop(spec, loop, workers, resumed)


def _run_loop(spec: RunSpec, loop: Loop, workers, resumed: bool) -> None:
    """Runs the loop on its source: actors, or this process's environments."""
    if spec.actors.actors:
        source = actor_source(loop.agent, spec, _training_env_options(spec))
        try:
            loop.run(source, resumed)
        except ActorsFailed as error:
            raise RunError(f"{error}; the run stops (rerun to resume).") from None
        return
    train_env = envs.make_vector_env(
        spec.task,
        spec.config.envs,
        seed=spec.config.seed,
        role="training",
        **_training_env_options(spec),
    )
    try:
        policies = PolicyChoice(
            random_policy(train_env.single_action_space, loop.rng),
            agent_policy(loop.agent, training=True),
        )
        if workers is None:
            source = DriverSource(train_env, policies)
        else:
            source = ShardSource(
                train_env, policies, workers, lambda: loop.stop.requested
            )
        loop.run(source, resumed)
    finally:
        train_env.close()


def _export(spec: RunSpec, agent: Dreamer, eval_env, is_chief: bool) -> None:
    if spec.export_dir and is_chief:
        from dreamer_tf.acting.export import export_policy

        export_policy(agent, spec.export_dir, eval_env.single_observation_space)
        print(f"policy exported to {spec.export_dir}")


def _env_options(config) -> dict:
    return {
        "action_repeat": config.action_repeat,
        "time_limit": config.time_limit,
        "image_size": (config.image_size, config.image_size),
        "pixels": config.observation == "pixels",
        "grayscale": config.grayscale,
    }


def _training_env_options(spec: RunSpec) -> dict:
    return {**_env_options(spec.config), "life_done": spec.config.life_done}


def _learner(spec: RunSpec):
    """Builds the learner's strategy, before TensorFlow runs anything else.

    Returns:
        ``(spec, strategy, task, workers)``: the spec this process runs
        (worker ``i > 0`` of a multi-worker learner seeds with its stream's
        seed, :func:`~dreamer_tf.seeds.stream_seed`), the strategy
        (None for the default), this process's task, and the workers'
        collectives (None unless there are several workers).
    """
    strategy = make_strategy(spec.learner, spec.config.batch_size)
    task = worker_task(spec.learner)
    workers = Workers(strategy, task) if task.count > 1 else None
    if strategy is not None:
        where = f" (worker {task.index} of {task.count})" if task.count > 1 else ""
        print(
            f"learner: {spec.learner.learner}, {strategy.num_replicas_in_sync} "
            f"replicas in sync{where}",
            flush=True,
        )
    if not task.is_chief:
        seed = stream_seed(spec.config.seed, worker=task.index)
        spec = dataclasses.replace(spec, config=spec.config.replace(seed=seed))
    return spec, strategy, task, workers


def _take_chiefs_state(workers, run_variables: dict, resumed: bool) -> bool:
    """Gives every worker the chief's weights and counters (restored or fresh).

    Every checkpointed variable but the RNG state (a string, which each
    worker keeps for its own sampling) is broadcast.

    Returns:
        Whether the chief resumed from a checkpoint: every worker resumes or
        starts as the chief does.
    """
    workers.broadcast(
        [
            variable
            for variable in run_variables.values()
            if variable.dtype not in (tf.string, "string")
        ]
    )
    return bool(workers.chief_value(resumed))


def _connect_ray(spec: RunSpec) -> None:
    try:
        connect_ray(spec.actors)
    except ConnectionError as error:
        raise RunError(f"cannot join the Ray cluster: {first_line(error)}") from None
