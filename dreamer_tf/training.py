"""The training loop: prefill, collect, train, evaluate, log, checkpoint, resume.

This is the only module where environments, replay, agent and logging meet.
A run lives in one ``logdir``::

    logdir/config.json      the config and task; a resume must match it
    logdir/episodes/        every finished training episode (.npz, atomic)
    logdir/checkpoints/     networks, optimizers, counters, RNG state
    logdir/metrics.jsonl    one JSON object per log event
    logdir/events.*         TensorBoard scalars and GIF videos

Rerunning with the same ``logdir`` resumes: finished episodes are reloaded,
the frame count continues from them, and neither prefill nor pretraining is
repeated.
"""

from __future__ import annotations

import json
import pathlib
import time

import keras
import numpy as np
import tensorflow as tf

from dreamer_tf import envs
from dreamer_tf.agent import Dreamer
from dreamer_tf.calibration import value_error
from dreamer_tf.replay import EpisodeBuilder, Replay, count_episodes
from dreamer_tf.rundir import RunSpec, check_run
from dreamer_tf.summaries import MetricsWriter, encode_gif, open_loop_video

VALUE_ERROR_EPISODES = 10


def run(spec: RunSpec) -> None:
    """Trains (or evaluates) Dreamer as ``spec`` says; resumes from its logdir.

    Raises:
        ValueError: For invalid input, before any model or worker starts.
    """
    logdir = check_run(spec)
    if spec.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(spec.config.seed)
    config = spec.config
    env_options = {
        "action_repeat": config.action_repeat,
        "time_limit": config.time_limit,
        "pixels": config.observation == "pixels",
    }
    eval_env = envs.make_vector_env(
        spec.task, 1, seed=config.seed + 10_000, **env_options
    )
    train_env = None
    try:
        agent = Dreamer(
            config, eval_env.single_observation_space, eval_env.single_action_space
        )
        progress = Progress()
        checkpoint = tf.train.Checkpoint(agent=agent, progress=progress)
        manager = tf.train.CheckpointManager(checkpoint, logdir / "checkpoints", 3)
        if manager.latest_checkpoint:
            checkpoint.restore(manager.latest_checkpoint).expect_partial()
        writer = MetricsWriter(str(logdir))
        if spec.eval_only:
            if not manager.latest_checkpoint:
                raise ValueError(f"No checkpoint in {str(logdir)!r} to evaluate.")
            gif_path = logdir / "eval_only.gif"
            returns = evaluate(
                agent, eval_env, config.eval_episodes, writer, "eval_only", gif_path
            )
            print(f"eval returns: {', '.join(f'{value:.1f}' for value in returns)}")
            if gif_path.exists():
                print(f"video of the first episode: {gif_path}")
        else:
            train_env = envs.make_vector_env(
                spec.task, config.envs, seed=config.seed, **env_options
            )
            Loop(
                spec, logdir, agent, progress, manager, writer, train_env, eval_env
            ).run()
        if spec.export_dir:
            from dreamer_tf.export import export_policy

            export_policy(agent, spec.export_dir, eval_env.single_observation_space)
            print(f"policy exported to {spec.export_dir}")
        writer.close()
    finally:
        eval_env.close()
        if train_env is not None:
            train_env.close()


class Progress(tf.Module):
    """Counters and RNG state saved in every checkpoint, beside the agent."""

    def __init__(self):
        super().__init__(name="progress")
        self.updates = tf.Variable(0, dtype=tf.int64)
        self.pretrained = tf.Variable(False)
        self.last_train = tf.Variable(0, dtype=tf.int64)
        self.last_eval = tf.Variable(-1, dtype=tf.int64)
        self.last_log = tf.Variable(0, dtype=tf.int64)
        self.rng_state = tf.Variable("", dtype=tf.string)


def evaluate(
    agent, eval_env, episodes: int, writer, tag: str, gif_path=None
) -> list[float]:
    """Runs ``episodes`` episodes with the mode action; logs returns and a video.

    Args:
        agent: The agent.
        eval_env: A vector environment of one worker.
        episodes: Number of episodes.
        writer: The run's :class:`~dreamer_tf.summaries.MetricsWriter`.
        tag: Prefix of the video's TensorBoard tag.
        gif_path: Where to write the first episode as a GIF file too.

    Returns:
        The return of each episode.
    """
    returns, frames = [], []
    observation, _ = eval_env.reset()
    state, episode_return = None, 0.0
    while len(returns) < episodes:
        if len(returns) == 0 and "image" in observation:
            frames.append(observation["image"][0])
        action, state = agent.policy(observation, state, training=False)
        observation, reward, _, _, _ = eval_env.step(action.numpy())
        episode_return += float(reward[0])
        if observation["is_last"][0]:
            returns.append(episode_return)
            episode_return = 0.0
            if len(returns) == 1 and "image" in observation:
                frames.append(observation["image"][0])
    step = int(agent.frames.numpy())
    writer.write(
        step, {"eval/return": float(np.mean(returns)), "eval/episodes": episodes}
    )
    if frames:
        video = np.stack(frames)
        writer.video(f"{tag}/policy", video, step)
        if gif_path is not None:
            pathlib.Path(gif_path).write_bytes(encode_gif(video))
    return returns


class Loop:
    """The schedule of the spec: prefill, pretrain, then collect and train.

    Args:
        spec: The run.
        logdir: Its directory.
        agent: The Dreamer agent (restored if resuming).
        progress: The checkpointed counters.
        manager: The checkpoint manager.
        writer: Metrics and summaries.
        train_env: Training environments.
        eval_env: One evaluation environment.
    """

    def __init__(
        self, spec, logdir, agent, progress, manager, writer, train_env, eval_env
    ):
        self.config = spec.config
        self.agent, self.progress, self.manager = agent, progress, manager
        self.writer, self.train_env, self.eval_env = writer, train_env, eval_env
        self.replay = Replay(
            logdir / "episodes",
            self.config.replay_capacity or None,
            action_repeat=self.config.action_repeat,
            seed=self.config.seed,
        )
        _, steps = count_episodes(logdir / "episodes")
        self.frames = steps * self.config.action_repeat
        agent.frames.assign(self.frames)
        self.rng = np.random.default_rng(self.config.seed)
        saved_rng = progress.rng_state.numpy().decode()
        if saved_rng:
            self.rng.bit_generator.state = json.loads(saved_rng)
        self.train_metrics: dict[str, list[float]] = {}
        self.episode_returns: list[float] = []
        self.episode_lengths: list[int] = []
        self.clock = (time.time(), self.frames, int(progress.updates.numpy()))
        self.start_time = time.time()
        self.start_frames = self.frames

    def run(self) -> None:
        """Runs until ``config.steps`` frames; checkpoints and logs on the way."""
        config, progress = self.config, self.progress
        if self.frames:
            print(f"resuming at {self.frames} frames ({len(self.replay)} episodes)")
        observation, _ = self.train_env.reset()
        builder = EpisodeBuilder(self.train_env.num_envs)
        action_size = self.agent.action_size
        builder.add(observation, np.zeros((self.train_env.num_envs, action_size)), None)
        state = None
        while self.frames < config.steps:
            if self.frames >= config.prefill and len(self.replay):
                if not progress.pretrained.numpy():
                    self.train(config.pretrain)
                    progress.pretrained.assign(True)
                    self.save()
                elif self.frames - progress.last_train.numpy() >= config.train_every:
                    self.train(config.train_steps)
                    progress.last_train.assign(self.frames)
                if self._due(progress.last_eval, config.eval_every):
                    progress.last_eval.assign(self.frames)
                    self.evaluate()
            if self.frames - progress.last_log.numpy() >= config.log_every:
                progress.last_log.assign(self.frames)
                self.log()
            if self.frames < config.prefill:
                action = envs.random_actions(
                    self.train_env.single_action_space,
                    self.train_env.num_envs,
                    self.rng,
                )
            else:
                action, state = self.agent.policy(observation, state, training=True)
                action = action.numpy()
            observation, reward, _, _, info = self.train_env.step(action)
            for episode in builder.add(
                observation, action, reward, info.get("discount")
            ):
                self.replay.add(episode)
                self.episode_returns.append(float(episode["reward"].sum()))
                self.episode_lengths.append(len(episode["reward"]) - 1)
            stepped = int(np.sum(~observation["is_first"]))
            self.frames += stepped * config.action_repeat
            self.agent.frames.assign(self.frames)
        self.log()

    def _due(self, last, every: int) -> bool:
        last = int(last.numpy())
        return last < 0 or self.frames - last >= every

    def train(self, updates: int) -> None:
        """Runs ``updates`` updates on batches sampled from the replay."""
        # Batches are sampled here, not in a prefetching tf.data thread: the
        # replay grows between phases, and a background sampler would make
        # the batches depend on thread timing (and runs irreproducible).
        config = self.config
        for _ in range(updates):
            batch = self.replay.sample(config.batch_size, config.batch_length, self.rng)
            metrics = self.agent.train(batch)
            for key, value in metrics.items():
                self.train_metrics.setdefault(key, []).append(float(value))
        self.progress.updates.assign_add(updates)

    def evaluate(self) -> None:
        """Evaluation episodes, value calibration and an open-loop video."""
        returns = evaluate(
            self.agent, self.eval_env, self.config.eval_episodes, self.writer, "eval"
        )
        calibration = self.value_calibration()
        message = f"[{self.frames} frames] eval return {np.mean(returns):.1f}"
        if calibration:
            self.writer.write(
                self.frames,
                {f"eval/{key}": value for key, value in calibration.items()},
            )
            message += f", value error {calibration['value_error']:.2f}"
        print(message, flush=True)
        if self.agent.world_model.uses_pixels and self.agent.world_model.decoder:
            length = self.config.batch_length
            batch = self.replay.sample(min(6, self.config.batch_size), length, self.rng)
            truth, prediction = self.agent.world_model.open_loop_prediction(
                batch, context=min(5, length - 1)
            )
            video = open_loop_video(truth.numpy(), prediction.numpy())
            self.writer.video("train/openloop", video, self.frames)

    def value_calibration(self) -> dict[str, float]:
        """Value bias and error on the latest training episodes.

        See :func:`dreamer_tf.calibration.value_error`; empty when the
        episodes are too short for the discount to judge.
        """
        episodes = self.replay.latest(VALUE_ERROR_EPISODES)
        values = [self.agent.state_values(episode).numpy() for episode in episodes]
        return value_error(values, episodes, self.config.discount)

    def log(self) -> None:
        """Writes scalars and metrics.jsonl, prints progress, checkpoints."""
        now = time.time()
        last_time, last_frames, last_updates = self.clock
        updates = int(self.progress.updates.numpy())
        elapsed = max(now - last_time, 1e-6)
        scalars = {
            f"train/{key}": float(np.mean(values))
            for key, values in self.train_metrics.items()
        }
        scalars["fps"] = (self.frames - last_frames) / elapsed
        scalars["updates_per_second"] = (updates - last_updates) / elapsed
        scalars["updates"] = updates
        if self.episode_returns:
            scalars["train/return"] = float(np.mean(self.episode_returns))
            scalars["train/length"] = float(np.mean(self.episode_lengths))
        self.writer.write(self.frames, scalars)
        self._print_progress(scalars)
        self.train_metrics.clear()
        self.episode_returns, self.episode_lengths = [], []
        self.clock = (now, self.frames, updates)
        self.save()

    def _print_progress(self, scalars: dict[str, float]) -> None:
        total = self.config.steps
        run_rate = (self.frames - self.start_frames) / max(
            time.time() - self.start_time, 1e-6
        )
        eta = (total - self.frames) / run_rate if run_rate > 0 else float("inf")
        last_return = scalars.get("train/return")
        print(
            f"[{self.frames}/{total} frames {100 * self.frames / total:.0f}%] "
            f"{scalars['fps']:.1f} frames/s, {scalars['updates_per_second']:.2f} "
            f"updates/s, updates {int(scalars['updates'])}, "
            f"train return {'-' if last_return is None else f'{last_return:.1f}'}, "
            f"ETA {_format_duration(eta)}",
            flush=True,
        )

    def save(self) -> None:
        """Checkpoints agent, optimizers, counters and RNG state."""
        self.progress.rng_state.assign(json.dumps(self.rng.bit_generator.state))
        self.manager.save()


def _format_duration(seconds: float) -> str:
    if not np.isfinite(seconds):
        return "?"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"
