"""The run's one schedule: phases, the actors' rate limit, events and their order."""

import numpy as np
import pytest
import tensorflow as tf

from dreamer_tf.config import DreamerConfig
from dreamer_tf.run.schedule import Progress, Schedule


def new_schedule(config: DreamerConfig) -> Schedule:
    return Schedule(config, Progress(), tf.Variable(0, dtype=tf.int64))


def simulate_actors(
    config, frames_per_tick: int, updates_per_tick: int, total: int, episode=1000
):
    """Actors and learner taking turns; returns (frames, updates) per tick.

    An episode finishes every ``episode`` frames.
    """
    schedule = new_schedule(config)
    history, episodes = [], 0
    # A bounded number of turns: a limiter that deadlocks fails, not hangs.
    while schedule.frames < total and len(history) < 10 * total:
        ceiling = schedule.actor_ceiling(episodes)
        schedule.add_frames(min(frames_per_tick, max(ceiling - schedule.frames, 0)))
        episodes = schedule.frames // episode
        if schedule.pretrain_due(replay_ready=episodes > 0):
            schedule.add_updates(config.pretrain)
            schedule.pretraining_done()
        else:
            for _ in range(updates_per_tick):
                if not schedule.update_due():
                    break
                schedule.add_updates(1)
                schedule.update_done()
        history.append((schedule.frames, schedule.updates))
    return history


def simulate_synchronous(config, frames_per_step: int, total: int, episode=1000):
    """The synchronous loop's turns; returns (frames, updates) after each."""
    schedule = new_schedule(config)
    history = []
    while schedule.frames < total:
        if schedule.pretrain_due(replay_ready=schedule.frames >= episode):
            schedule.add_updates(config.pretrain)
            schedule.pretraining_done()
        elif schedule.phase_due():
            schedule.add_updates(config.train_steps)
            schedule.phase_done()
        history.append((schedule.frames, schedule.updates))
        schedule.add_frames(frames_per_step)
    return history


class TestActorRateLimit:
    CONFIG = DreamerConfig(prefill=2000, pretrain=50, train_every=1000, train_steps=10)

    @pytest.mark.parametrize(
        "frames_per_tick, updates_per_tick",
        [(8, 1), (200, 1), (4, 5), (1000, 3)],
        ids=["balanced", "slow-learner", "slow-actors", "bursty-actors"],
    )
    def test_ratio_within_5_percent_over_any_10k_frames(
        self, frames_per_tick, updates_per_tick
    ):
        history = simulate_actors(
            self.CONFIG, frames_per_tick, updates_per_tick, 60_000
        )
        frames = np.array([point[0] for point in history])
        updates = np.array([point[1] for point in history])
        start = np.argmax(updates >= self.CONFIG.pretrain)
        target = self.CONFIG.train_steps / self.CONFIG.train_every
        checked = 0
        for begin in range(start, len(history)):
            end = np.searchsorted(frames, frames[begin] + 10_000)
            if end >= len(history):
                break
            ratio = (updates[end] - updates[begin]) / (frames[end] - frames[begin])
            assert abs(ratio / target - 1) <= 0.05, (begin, frames[begin], ratio)
            checked += 1
        assert checked > 10

    def test_actors_pause_a_quarter_phase_past_the_updates(self):
        config = self.CONFIG
        schedule = new_schedule(config)
        assert schedule.actor_ceiling(episodes=0) == config.prefill
        # Prefill reached but no episode finished yet: keep collecting.
        schedule.set_frames(2000)
        assert schedule.actor_ceiling(episodes=0) > 2000
        schedule.add_updates(config.pretrain)
        schedule.pretraining_done()
        assert schedule.actor_ceiling(episodes=2) == 2250
        schedule.set_frames(2099)
        assert not schedule.update_due()
        schedule.set_frames(2100)
        assert schedule.update_due()
        schedule.set_frames(5000)
        for _ in range(3):
            schedule.add_updates(1)
            schedule.update_done()
        assert schedule.actor_ceiling(episodes=5) == 2550
        for _ in range(7):
            schedule.add_updates(1)
            schedule.update_done()
        assert int(schedule.progress.last_train.numpy()) == 3000
        assert schedule.actor_ceiling(episodes=5) == 3250

    @pytest.mark.parametrize("train_steps", [1, 2, 3, 10, 100])
    def test_the_next_update_always_becomes_due(self, train_steps):
        # Actors that pause before the next update is due deadlock the run.
        config = DreamerConfig(
            prefill=100, pretrain=2, train_every=100, train_steps=train_steps
        )
        history = simulate_actors(config, 1, 1, total=1000, episode=100)
        assert history[-1][0] >= 1000
        assert history[-1][1] == 2 + 9 * train_steps


class TestOneGrid:
    def test_phases_and_spread_updates_agree_at_every_phase_end(self):
        config = DreamerConfig(prefill=100, pretrain=3, train_every=100, train_steps=4)
        synchronous = dict(simulate_synchronous(config, 2, 2000, episode=100))
        actors = dict(simulate_actors(config, 2, 10, 2000, episode=100))
        ends = range(100, 2000, config.train_every)
        assert [synchronous[end] for end in ends] == [actors[end] for end in ends]
        assert synchronous[1900] == 3 + 18 * 4
        # Between phase ends the actors' learner is part way through a phase.
        assert actors[150] == 3 + 2 and synchronous[150] == 3

    def test_uneven_steps_do_not_drift_the_grid(self):
        config = DreamerConfig(prefill=100, pretrain=1, train_every=100, train_steps=1)
        history = simulate_synchronous(config, 7, 3000, episode=100)
        trained_at = [
            frames
            for (frames, updates), (_, before) in zip(history[1:], history)
            if updates > before
        ]
        # The first phase trains at 105, then on the grid 205, 305, ... each
        # at the first step past it, never later by a whole step's drift.
        assert all(0 <= (frames - 105) % 100 < 7 for frames in trained_at[1:])


class TestEvents:
    def test_evaluation_and_log_fire_once_per_period_and_record_it(self):
        config = DreamerConfig(prefill=100, eval_every=300, log_every=200)
        schedule = new_schedule(config)
        schedule.set_frames(150)
        assert not schedule.evaluation_due()  # nothing to evaluate yet
        schedule.add_updates(config.pretrain)
        schedule.pretraining_done()
        assert schedule.evaluation_due() and not schedule.evaluation_due()
        schedule.set_frames(449)
        assert not schedule.evaluation_due()
        schedule.set_frames(450)
        assert schedule.evaluation_due()
        assert not schedule.final_evaluation_due()  # the final weights were seen
        schedule.set_frames(500)
        assert schedule.final_evaluation_due() and not schedule.final_evaluation_due()
        assert schedule.log_due() and not schedule.log_due()

    def test_next_event_is_the_nearest_due_frame(self):
        config = DreamerConfig(
            prefill=500, train_every=1000, eval_every=3000, log_every=2000, steps=10**6
        )
        schedule = new_schedule(config)
        schedule.set_frames(40)
        assert schedule.next_event() == 500
        schedule.set_frames(600)
        schedule.pretraining_done()
        assert schedule.next_event() == 1600
        assert schedule.evaluation_due()
        schedule.phase_done()
        assert schedule.next_event() == 2000  # the log, before 2600 and 3600

    def test_frames_have_one_writer_and_reach_the_agent(self):
        frames = tf.Variable(0, dtype=tf.int64)
        schedule = Schedule(DreamerConfig(action_repeat=4), Progress(), frames)
        schedule.add_frames(12)
        assert schedule.frames == 12 and int(frames.numpy()) == 12
