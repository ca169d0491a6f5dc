"""The run's one schedule: its counters, and what is due at each frame.

The paper's code says when to pretrain, train, evaluate and log with a few
``Once()`` and ``Every(n)``; :class:`Schedule` is that, over counters a
checkpoint saves (:class:`Progress`, and the agent's ``frames``):

- prefill: random actions until ``prefill`` frames;
- pretraining: ``pretrain`` updates once, as soon as the prefill is done and
  an episode is stored; the phases count from that frame;
- phases: ``train_steps`` updates per ``train_every`` frames, on a fixed grid
  (``last_train`` moves on by ``train_every``), so that several environments'
  uneven steps do not drift it. The synchronous loop runs a phase's updates
  when its frames are all there (:meth:`Schedule.phase_due`); the learner fed
  by actors runs them one at a time, update ``k`` once ``k / train_steps`` of
  the phase's frames are there (:meth:`Schedule.update_due`), so both reach
  every phase's end with the same updates;
- evaluation every ``eval_every`` frames after pretraining, and once more at
  the end on the final weights; a log event every ``log_every`` frames.

Every mode asks the same questions in the same order (updates, then
evaluation, then the log) and is the only writer of the counters through
this class: the synchronous loop, the learner with actors and each worker of
a multi-worker learner.
"""

from __future__ import annotations

import math

import tensorflow as tf

from dreamer_tf.config import DreamerConfig

# How far (in phases) actors may step past the frames the updates have paid
# for. A window of 10 phases then sees the ratio off by at most 2.5% when the
# lag changes (e.g. right after pretraining); a whole phase would allow 10%.
AHEAD_PHASES = 0.25


class Progress(tf.Module):
    """The schedule's counters and the sampling RNG's state, checkpointed."""

    def __init__(self):
        super().__init__(name="progress")
        self.updates = tf.Variable(0, dtype=tf.int64)
        self.pretrained = tf.Variable(False)
        self.last_train = tf.Variable(0, dtype=tf.int64)
        self.last_eval = tf.Variable(-1, dtype=tf.int64)
        self.last_log = tf.Variable(0, dtype=tf.int64)
        self.rng_state = tf.Variable("", dtype=tf.string)


class Schedule:
    """What is due, and the one writer of the run's counters.

    Args:
        config: The run's config (``prefill``, ``pretrain``, ``train_every``,
            ``train_steps``, ``eval_every``, ``log_every``, ``steps``). The
            frames it counts come from the driver's steps
            (``frames`` of :class:`dreamer_tf.acting.driver.StepResult`) and the
            replay's episodes (:attr:`dreamer_tf.replay.Replay.total_frames`).
        progress: The checkpointed counters.
        frames: The agent's checkpointed frame count (its exploration decays
            with it); only the schedule assigns it.
    """

    def __init__(self, config: DreamerConfig, progress: Progress, frames: tf.Variable):
        self.config, self.progress = config, progress
        self._frames_variable = frames
        self._frames = int(frames.numpy())

    @property
    def frames(self) -> int:
        """Environment frames so far."""
        return self._frames

    @property
    def updates(self) -> int:
        """Updates so far (pretraining included)."""
        return int(self.progress.updates.numpy())

    @property
    def pretrained(self) -> bool:
        """Whether pretraining is done."""
        return bool(self.progress.pretrained.numpy())

    @property
    def finished(self) -> bool:
        """Whether the run has its ``steps`` frames."""
        return self._frames >= self.config.steps

    @property
    def prefilling(self) -> bool:
        """Whether actions are still random (the prefill)."""
        return self._frames < self.config.prefill

    def set_frames(self, frames: int) -> None:
        """Sets the count (a run's start: the frames of its stored episodes)."""
        self._frames = int(frames)
        self._frames_variable.assign(self._frames)

    def add_frames(self, frames: int) -> None:
        """Counts collected frames."""
        self.set_frames(self._frames + frames)

    def add_updates(self, updates: int) -> None:
        """Counts updates done."""
        self.progress.updates.assign_add(updates)

    def pretrain_due(self, replay_ready: bool) -> bool:
        """Whether pretraining is due: once, after the prefill, with episodes.

        Args:
            replay_ready: Whether there are episodes to sample from (with a
                multi-worker learner: on every worker).
        """
        return not self.pretrained and not self.prefilling and replay_ready

    def pretraining_done(self) -> None:
        """Records pretraining; the phases count from this frame."""
        self.progress.pretrained.assign(True)
        # As in the paper's code, the regular phases count from here.
        self.progress.last_train.assign(self._frames)

    def phase_due(self) -> bool:
        """Whether the current phase's frames are all there (synchronous loop)."""
        last_train = int(self.progress.last_train.numpy())
        return self.pretrained and self._frames - last_train >= self.config.train_every

    def phase_done(self) -> None:
        """Moves to the next phase of the grid."""
        self.progress.last_train.assign_add(self.config.train_every)

    def phase_updates_left(self) -> int:
        """The updates the current phase still needs (all, unless a stop cut it)."""
        return self.config.train_steps - self._done_in_phase()

    def update_due(self) -> bool:
        """Whether one more update of the current phase is due (actors' learner)."""
        if not self.pretrained:
            return False
        config = self.config
        phase_frames = self._frames - int(self.progress.last_train.numpy())
        earned = min(
            phase_frames * config.train_steps // config.train_every, config.train_steps
        )
        return self._done_in_phase() < earned

    def update_done(self) -> None:
        """Ends the phase once its updates are all counted (see :meth:`add_updates`)."""
        if self._done_in_phase() == 0:
            self.phase_done()

    def _done_in_phase(self) -> int:
        done = self.updates - self.config.pretrain
        return max(done, 0) % self.config.train_steps

    def evaluation_due(self) -> bool:
        """Whether an evaluation is due; if so, records that it happens now."""
        if not self.pretrained:
            return False
        last = int(self.progress.last_eval.numpy())
        if last >= 0 and self._frames - last < self.config.eval_every:
            return False
        self.progress.last_eval.assign(self._frames)
        return True

    def final_evaluation_due(self) -> bool:
        """Whether the final weights are not evaluated yet; if so, records it."""
        if not self.pretrained or int(self.progress.last_eval.numpy()) == self._frames:
            return False
        self.progress.last_eval.assign(self._frames)
        return True

    def log_due(self) -> bool:
        """Whether a log event is due; if so, records that it happens now."""
        if self._frames - int(self.progress.last_log.numpy()) < self.config.log_every:
            return False
        self.progress.last_log.assign(self._frames)
        return True

    def next_event(self) -> int:
        """The first frame count at which something may become due.

        Workers of a multi-worker learner collect up to it between their
        collectives.
        """
        config, progress = self.config, self.progress
        events = [config.steps, int(progress.last_log.numpy()) + config.log_every]
        if self.prefilling:
            events.append(config.prefill)
        if self.pretrained:
            events.append(int(progress.last_train.numpy()) + config.train_every)
            last_eval = int(progress.last_eval.numpy())
            if last_eval >= 0:
                events.append(last_eval + config.eval_every)
        return min(events)

    def actor_ceiling(self, episodes: int) -> int:
        """The frame count actors may reach before the learner catches up.

        Args:
            episodes: Episodes in the replay.

        Returns:
            Before pretraining, ``prefill`` (or further, until an episode has
            finished); after it, :data:`AHEAD_PHASES` of a phase past the
            frames the updates have paid for, at least one update's frames.
        """
        config = self.config
        if not self.pretrained:
            if not self.prefilling and not episodes:
                return self._frames + config.train_every
            return config.prefill
        paid = int(self.progress.last_train.numpy()) + math.ceil(
            self._done_in_phase() * config.train_every / config.train_steps
        )
        # At least the frames of one update, or the next would never be due.
        per_update = math.ceil(config.train_every / config.train_steps)
        return paid + max(math.ceil(AHEAD_PHASES * config.train_every), per_update)
