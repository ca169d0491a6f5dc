"""The run's loop: collect, store, train, evaluate, log, checkpoint.

:class:`Loop` holds what a run does between its start and its end (the
replay, the updates, evaluation, logging and checkpoints) and its one
collection loop, :meth:`Loop.run`, over a source of finished episodes
(:mod:`dreamer_tf.acting.sources`); :func:`evaluate` plays evaluation
episodes. :mod:`dreamer_tf.run.program` builds a loop and hands it its
source: this process's environments, actors, or a multi-worker shard.
"""

from __future__ import annotations

import json
import logging
import pathlib
import signal
import time

import numpy as np

from dreamer_tf.acting.driver import Driver
from dreamer_tf.acting.policy import agent_policy
from dreamer_tf.acting.sources import EpisodeSource
from dreamer_tf.errors import RunError, RunStopped
from dreamer_tf.parallel.strategies import ReplicaBatches, Workers
from dreamer_tf.replay import Replay, episode_signature, find_nonfinite
from dreamer_tf.run.calibration import value_error
from dreamer_tf.run.narration import Ticker, format_duration
from dreamer_tf.run.schedule import Schedule
from dreamer_tf.run.stopping import StopRequest
from dreamer_tf.run.summaries import encode_gif, open_loop_video

logger = logging.getLogger(__name__)

VALUE_ERROR_EPISODES = 10
# An occasional skipped update is harmless; a long streak means the data or
# the weights are broken and more updates will not mend them.
MAX_CONSECUTIVE_SKIPPED_UPDATES = 20


def evaluate(
    agent, eval_env, episodes: int, writer, tag: str, gif_path=None, verbose=False
) -> list[float]:
    """Runs ``episodes`` episodes with the mode action; logs returns and a video.

    Args:
        agent: The agent.
        eval_env: A vector environment of one worker.
        episodes: Number of episodes.
        writer: The run's :class:`~dreamer_tf.run.summaries.MetricsWriter`.
        tag: The series: scalars ``<tag>/return`` and ``<tag>/episodes``, and
            the video ``<tag>/policy`` (``eval`` in training, ``eval_only``
            for an evaluation of its own).
        gif_path: Where to write the first episode as a GIF file too.
        verbose: Print each episode's return as it finishes.

    Returns:
        The return of each episode.
    """

    def report(number: int, episode: dict) -> None:
        if verbose:
            print(
                f"{tag} episode {number}/{episodes}: return "
                f"{float(episode['reward'].sum(dtype=np.float64)):.1f} "
                f"({len(episode['reward']) - 1} steps)",
                flush=True,
            )

    policy = agent_policy(agent, training=False)
    played = Driver(eval_env).episodes(policy, episodes, on_episode=report)
    returns = [float(episode["reward"].sum(dtype=np.float64)) for episode in played]
    _warn_if_not_finite(returns, tag)
    frames = played[0].get("image", ())
    step = int(agent.frames.numpy())
    writer.write(
        step, {f"{tag}/return": float(np.mean(returns)), f"{tag}/episodes": episodes}
    )
    if len(frames):
        video = np.asarray(frames)
        writer.video(f"{tag}/policy", video, step)
        if gif_path is not None:
            pathlib.Path(gif_path).write_bytes(encode_gif(video))
    return returns


def _warn_if_not_finite(returns: list[float], tag: str) -> None:
    """Warns of evaluation episodes whose return is NaN or infinite."""
    bad = [number for number, value in enumerate(returns, 1) if not np.isfinite(value)]
    if bad:
        logger.warning(
            "%s: %d of %d episodes have a non-finite return (episodes %s): the "
            "environment sent a NaN or infinite value, so the mean return "
            "logged is not a score.",
            tag,
            len(bad),
            len(returns),
            ", ".join(map(str, bad)),
        )


class Loop:
    """A run's work between its start and its end, on its :class:`Schedule`.

    :meth:`run` is the same loop for every source of episodes; what is due
    is always asked of :attr:`schedule`, in one order.

    Args:
        spec: The run.
        logdir: Its directory.
        agent: The Dreamer agent (restored if resuming).
        progress: The checkpointed counters.
        checkpoints: The run's checkpoints, restored.
        writer: Metrics and summaries.
        eval_env: One evaluation environment (its spaces are the training
            environments' too).
        workers: The workers of a multi-worker learner (see
            :mod:`dreamer_tf.parallel.multi_worker`); the frames then count the
            episodes of every worker's replay.
        stop: Set by SIGINT or SIGTERM (see :mod:`dreamer_tf.run.stopping`):
            the loop then ends at its next safe point with a checkpoint.
    """

    def __init__(
        self,
        spec,
        logdir,
        agent,
        progress,
        checkpoints,
        writer,
        eval_env,
        workers: Workers | None = None,
        stop: StopRequest | None = None,
    ):
        self.config = spec.config
        self.stop = stop or StopRequest()
        self.source: EpisodeSource | None = None
        self.agent, self.progress, self.checkpoints = agent, progress, checkpoints
        self.writer, self.eval_env, self.workers = writer, eval_env, workers
        self.batches = ReplicaBatches(agent.strategy, self.config.batch_size)
        self.replay = Replay(
            logdir / "episodes",
            self.config.replay_capacity or None,
            action_repeat=self.config.action_repeat,
            balance_ends=self.config.prioritize_ends,
            seed=self.config.seed,
            signature=episode_signature(
                eval_env.single_observation_space, eval_env.single_action_space
            ),
        )
        self.schedule = Schedule(self.config, progress, agent.frames)
        self.schedule.set_frames(self.stored_frames())
        self.rng = np.random.default_rng(self.config.seed)
        saved_rng = progress.rng_state.numpy().decode()
        if saved_rng:
            self.rng.bit_generator.state = json.loads(saved_rng)
        self.train_metrics: dict[str, list[float]] = {}
        self.consecutive_skipped_updates = 0
        self.dropped_episodes = 0
        self.episode_returns: list[float] = []
        self.episode_lengths: list[int] = []
        self.clock = (time.time(), self.frames, self.schedule.updates)
        self.last_save = time.monotonic()
        self.start_time = time.time()
        self.start_frames = self.frames
        self.start_updates = self.schedule.updates
        # (time, frames) of the first log event of this start that followed
        # an update: the ETA's rate counts from there, since random prefill
        # runs many times faster than training.
        self.training_clock: tuple[float, int] | None = None
        self.last_checkpoint: str | None = None
        self.final_returns: list[float] | None = None
        self.prefill_ticker = Ticker(
            "prefill", self.config.prefill, "frames", start=self.frames
        )

    def run(self, source: EpisodeSource, resumed: bool) -> None:
        """The run's one collection loop: until ``config.steps`` frames.

        Each turn does what the schedule says is due (see
        :meth:`scheduled_work`), then collects from ``source``; the frames it
        reports are the schedule's count. The run ends with a last evaluation,
        a log and a checkpoint.

        Args:
            source: Where the training episodes come from.
            resumed: Whether a checkpoint was restored.

        Raises:
            RunError: After :data:`MAX_CONSECUTIVE_SKIPPED_UPDATES` skipped
                updates in a row, or if the weights became non-finite.
            RunStopped: When a signal asked it to stop, after storing the
                episodes that finished and a final checkpoint.
        """
        self.announce_start(resumed)
        schedule = self.schedule
        self.source = source
        source.start(schedule, self.replay)
        try:
            while not schedule.finished and not self.stopping():
                trained = self.scheduled_work(source)
                if self.stopping():
                    break
                schedule.add_frames(source.collect(self.store, trained))
                if schedule.prefilling:
                    self.prefill_ticker.update(self.frames)
                self.save_when_due()
            schedule.add_frames(source.drain(self.store))
            if self.stopping():
                # Episodes under way are dropped: count what a rerun resumes at.
                schedule.set_frames(self.stored_frames())
                self.save()
                # A worker that no signal reached stops because another was.
                how = "stopped" if self.stop.requested else "stopped with its peers"
                raise RunStopped(
                    self.stop.signal_number or signal.SIGTERM,
                    f"{how} at {self.frames} frames after {schedule.updates} "
                    "updates; rerun the same command to resume",
                )
            self.finish(source.log_scalars())
        finally:
            source.close()

    def stored_frames(self) -> int:
        """The frames of the stored episodes (with workers: of all of them)."""
        frames = self.replay.total_frames
        if self.workers is not None:
            frames = self.workers.sum([frames])[0]
        return frames

    def stopping(self) -> bool:
        """Whether the run stops now (with workers: as all of them agreed)."""
        self.stop.announce()
        if self.source is None:
            return self.stop.requested
        return self.source.stopping(self.stop.requested)

    def save_when_due(self) -> None:
        """Checkpoints when ``checkpoint_every_minutes`` passed since the last."""
        minutes = self.config.checkpoint_every_minutes
        # Workers save together, at log events only (a save is per worker, and
        # their clocks would not agree on when one is due).
        if minutes and self.workers is None and self.schedule.pretrained:
            if time.monotonic() - self.last_save >= 60 * minutes:
                self.save()

    def scheduled_work(self, source: EpisodeSource) -> bool:
        """Pretraining or updates, evaluation and logging, when due.

        Updates run a phase at a time, or one at a time for a source that
        says so (:attr:`EpisodeSource.one_update_at_a_time`).

        Returns:
            Whether it trained.
        """
        schedule = self.schedule
        trained = True
        if schedule.pretrain_due(source.replay_ready()):
            self.pretrain()
        elif not source.one_update_at_a_time and schedule.phase_due():
            # A phase that a stop cut short goes on where it stopped.
            left = schedule.phase_updates_left()
            if self.train(left) == left:
                schedule.phase_done()
        elif source.one_update_at_a_time and schedule.update_due():
            if self.train(1):
                schedule.update_done()
        else:
            trained = False
        if not self.stopping() and schedule.evaluation_due():
            self.evaluate()
        if not self.stopping() and schedule.log_due():
            self.log(source.log_scalars())
        return trained

    def pretrain(self) -> None:
        """The pretraining updates (those a stop left), then a checkpoint."""
        left = self.config.pretrain - self.schedule.updates
        ticker = Ticker(
            "pretraining", self.config.pretrain, "updates", self.schedule.updates
        )
        if self.train(left, ticker) == left:
            self.schedule.pretraining_done()
            self.save()

    def finish(self, extra: dict[str, float] | None = None) -> None:
        """Ends the run: a last evaluation of the final weights, a log, a save.

        The evaluation's returns are kept in :attr:`final_returns`.
        """
        if self.schedule.final_evaluation_due():
            self.final_returns = self.evaluate()
        self.log(extra)

    @property
    def frames(self) -> int:
        """Environment frames so far (the schedule's count)."""
        return self.schedule.frames

    def announce_start(self, resumed: bool) -> None:
        """Says whether the run resumes, or starts fresh on stored episodes."""
        episodes = len(self.replay)
        if resumed and self.frames:
            print(f"resuming at {self.frames} frames ({episodes} episodes)")
        elif self.frames:
            print(
                f"no checkpoint, but {episodes} episodes ({self.frames} frames) in "
                "the replay: training starts from fresh weights on them "
                "(pretraining again); the frame count continues from there"
            )

    def store(self, env_index: int, episode: dict) -> None:
        """Stores a finished training episode unless a value is not finite.

        Dropped, not stored and excluded: a file on disk that sampling must
        skip would need that rule in every reader (resume, frame count,
        calibration), and it holds nothing worth learning from.
        """
        problem = find_nonfinite(episode)
        if problem:
            self.dropped_episodes += 1
            logger.warning(
                "Training env %d sent a non-finite %s (episode of %d steps "
                "ending at %d frames); the episode is not stored.",
                env_index,
                problem,
                len(episode["reward"]) - 1,
                self.frames,
            )
            return
        self.replay.add(episode)
        self.episode_returns.append(float(episode["reward"].sum()))
        self.episode_lengths.append(len(episode["reward"]) - 1)

    def train(self, updates: int, ticker: Ticker | None = None) -> int:
        """Runs ``updates`` updates on batches sampled from the replay.

        Under a ``tf.distribute`` strategy this process samples its own
        replicas' shares of the global batch only, one share per replica (see
        :class:`~dreamer_tf.parallel.strategies.ReplicaBatches`).

        Args:
            updates: How many.
            ticker: Told the schedule's update count after each update.

        Returns:
            The updates done: fewer when a stop cut them short.
        """
        # Batches are sampled here, not in a prefetching tf.data thread: the
        # replay grows between phases, and a background sampler would make
        # the batches depend on thread timing (and runs irreproducible).
        size, length = self.batches.local_batch_size, self.config.batch_length
        for done in range(updates):
            if self.stopping():
                return done
            batch = self.replay.sample(size, length, self.rng)
            self._record_update(self.agent.train(self.batches(batch)))
            self.schedule.add_updates(1)
            if ticker is not None:
                ticker.update(self.schedule.updates)
        return updates

    def _record_update(self, metrics: dict) -> None:
        skipped = float(metrics["update_skipped"]) > 0
        for key, value in metrics.items():
            # A skipped update's losses are not finite and would spoil means.
            if not skipped or "skipped" in key:
                self.train_metrics.setdefault(key, []).append(float(value))
        self.consecutive_skipped_updates = (
            self.consecutive_skipped_updates + 1 if skipped else 0
        )
        if self.consecutive_skipped_updates >= MAX_CONSECUTIVE_SKIPPED_UPDATES:
            raise RunError(
                f"{self.consecutive_skipped_updates} updates in a row were skipped "
                f"for non-finite losses or gradients (at {self.frames} frames); "
                "the weights and checkpoints stay finite. Check the task's "
                "rewards and observations or lower the learning rates, then "
                "rerun to resume."
            )

    def evaluate(self) -> list[float]:
        """Evaluation episodes, value calibration and an open-loop video.

        Returns:
            The return of each evaluation episode.
        """
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
            context = min(5, length - 1)
            truth, prediction = self.agent.world_model.open_loop_prediction(
                batch, context=context
            )
            video = open_loop_video(truth.numpy(), prediction.numpy(), context)
            self.writer.video("train/openloop", video, self.frames)
        return returns

    def value_calibration(self) -> dict[str, float]:
        """Value bias and error on the latest training episodes.

        See :func:`dreamer_tf.run.calibration.value_error`; empty when the
        episodes are too short for the discount to judge.
        """
        episodes = self.replay.latest(VALUE_ERROR_EPISODES)
        values = [self.agent.state_values(episode).numpy() for episode in episodes]
        return value_error(values, episodes, self.config.discount)

    def log(self, extra: dict[str, float] | None = None) -> None:
        """Writes scalars and metrics.jsonl, prints progress, checkpoints.

        Args:
            extra: More scalars to write (the actors' rates).
        """
        now = time.time()
        last_time, last_frames, last_updates = self.clock
        updates = self.schedule.updates
        elapsed = max(now - last_time, 1e-6)
        scalars = {
            f"train/{key}": float(np.mean(values))
            for key, values in self.train_metrics.items()
        }
        # Right after a start (a resumed phase may run first) no frames came
        # yet: rates would mislead.
        if self.frames > last_frames:
            scalars["fps"] = (self.frames - last_frames) / elapsed
            scalars["updates_per_second"] = (updates - last_updates) / elapsed
        scalars["updates"] = updates
        scalars["train/skipped_updates"] = sum(
            self.train_metrics.get("update_skipped", [])
        )
        scalars["train/dropped_episodes"] = self.dropped_episodes
        if self.episode_returns:
            scalars["train/return"] = float(np.mean(self.episode_returns))
            scalars["train/length"] = float(np.mean(self.episode_lengths))
        scalars.update(extra or {})
        self.writer.write(self.frames, scalars)
        self._print_progress(scalars)
        self.train_metrics.clear()
        self.dropped_episodes = 0
        self.episode_returns, self.episode_lengths = [], []
        self.clock = (now, self.frames, updates)
        self.save()

    def _print_progress(self, scalars: dict[str, float]) -> None:
        total = self.config.steps
        # Episodes end whole: the last one may carry the count past the total.
        share = min(100.0, 100 * self.frames / max(total, 1))
        parts = [f"[{self.frames}/{total} frames {share:.0f}%]"]
        if "fps" in scalars:
            parts.append(
                f"{scalars['fps']:.1f} frames/s, "
                f"{scalars['updates_per_second']:.2f} updates/s,"
            )
        last_return = scalars.get("train/return")
        parts.append(
            f"updates {int(scalars['updates'])}, train return "
            f"{'-' if last_return is None else f'{last_return:.1f}'}"
        )
        rate = self._eta_rate(int(scalars["updates"]))
        if rate > 0 and self.frames < total:
            parts[-1] += f", ETA {format_duration((total - self.frames) / rate)}"
        print(" ".join(parts), flush=True)

    def _eta_rate(self, updates: int) -> float:
        """Frames/s to estimate the time left with.

        Since the first log event after an update of this start, once frames
        came after it; before that, since the start.
        """
        now = time.time()
        if self.training_clock is None and updates > self.start_updates:
            self.training_clock = (now, self.frames)
        since, frames = self.training_clock or (self.start_time, self.start_frames)
        if self.frames == frames:
            since, frames = self.start_time, self.start_frames
        return (self.frames - frames) / max(now - since, 1e-6)

    def save(self) -> None:
        """Checkpoints agent, optimizers, counters and RNG state.

        Raises:
            RunError: If a weight is not finite (nothing is saved then).
        """
        self.progress.rng_state.assign(json.dumps(self.rng.bit_generator.state))
        self.last_checkpoint = self.checkpoints.save()
        self.last_save = time.monotonic()
