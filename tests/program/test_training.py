"""End-to-end runs of examples/dmc_train.py: train, resume after SIGKILL, evaluate."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from support.quiet_stderr import assert_quiet_stderr
from support.run_program import SCRIPT, TrainingProgram, metrics, output, run

from dreamer_tf.replay import count_episodes

pytestmark = pytest.mark.program

PROGRAM = TrainingProgram("dmc_cartpole_balance", timeout=600)


def snapshot(logdir):
    """Every file's bytes but the lock's (it holds the last runner's pid)."""
    return {
        str(path.relative_to(logdir)): path.read_bytes()
        for path in sorted(logdir.rglob("*"))
        if path.is_file() and path.name != "run.lock"
    }


def eval_events(logdir, key):
    return [event for event in metrics(logdir) if key in event]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("run")
    result = PROGRAM.run(logdir)
    assert result.returncode == 0, output(result)
    return logdir, result


class TestTrainingRun:
    def test_leaves_logs_checkpoint_and_episodes(self, finished_run):
        logdir, result = finished_run
        assert list((logdir / "checkpoints").glob("ckpt-*.index"))
        assert list(logdir.glob("events.out.tfevents.*"))
        episodes, steps = count_episodes(logdir / "episodes")
        assert episodes >= 4 and steps * 2 >= 400
        events = metrics(logdir)
        assert any("eval/return" in event for event in events)
        assert any("train/model_loss" in event for event in events)
        assert "frames/s" in result.stdout and "ETA" in result.stdout
        assert_quiet_stderr(result.stderr)

    def test_the_final_weights_are_evaluated(self, finished_run):
        logdir, _ = finished_run
        events = metrics(logdir)
        last_frames = max(event["frames"] for event in events)
        evaluated = [event["frames"] for event in events if "eval/return" in event]
        assert evaluated[-1] == last_frames >= 400

    def test_rerun_after_finish_changes_nothing(self, finished_run):
        logdir, _ = finished_run
        before = snapshot(logdir)
        result = PROGRAM.run(logdir)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "run complete" in result.stdout
        assert "resuming" not in result.stdout
        assert snapshot(logdir) == before

    def test_eval_only_needs_only_the_logdir(self, finished_run):
        logdir, _ = finished_run
        evaluations = len(eval_events(logdir, "eval/return"))
        export_dir = logdir / "policy"
        result = run(
            [
                sys.executable,
                SCRIPT,
                f"--logdir={logdir}",
                "--eval_only",
                "--eval_episodes=2",
                f"--export_dir={export_dir}",
            ],
            timeout=600,
        )
        assert result.returncode == 0, output(result)
        assert "eval_only episode 1/2: return" in result.stdout
        assert "eval_only episode 2/2: return" in result.stdout
        assert "eval returns:" in result.stdout
        returns = [
            float(value)
            for value in re.search(r"eval returns: (.+)", result.stdout)[1].split(", ")
        ]
        mean = re.search(
            r"mean return (-?[\d.]+) \(std ([\d.]+)\) over 2 episodes", result.stdout
        )
        assert mean, result.stdout
        assert abs(float(mean[1]) - np.mean(returns)) <= 0.11
        assert abs(float(mean[2]) - np.std(returns)) <= 0.11
        assert (logdir / "eval_only.gif").read_bytes().startswith(b"GIF8")
        assert (export_dir / "saved_model.pb").exists()
        # Its own series: the training run's evaluations are as they were.
        assert len(eval_events(logdir, "eval/return")) == evaluations
        (event,) = eval_events(logdir, "eval_only/return")
        assert event["eval_only/episodes"] == 2
        saved = json.loads((logdir / "config.json").read_text())
        assert saved["eval_episodes"] == 1

    def test_conflicting_config_is_an_error(self, finished_run):
        logdir, _ = finished_run
        result = PROGRAM.run(logdir, "--horizon=5")
        assert result.returncode != 0
        assert "horizon" in result.stderr


class TestResumeAfterKill:
    def test_no_finished_episode_lost_and_frames_continue(self, tmp_path):
        logdir = tmp_path / "run"
        process = PROGRAM.start(
            logdir,
            "--steps=2000",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 400
        # Kill once training has started and a few episodes are on disk.
        while count_episodes(logdir / "episodes")[0] < 4 and time.time() < deadline:
            time.sleep(0.5)
        time.sleep(3)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        files_before = set((logdir / "episodes").glob("*.npz"))
        _, steps_before = count_episodes(logdir / "episodes")
        assert files_before
        result = PROGRAM.run(logdir, "--steps=2200")
        assert result.returncode == 0, output(result)
        assert f"resuming at {steps_before * 2} frames" in result.stdout
        assert files_before <= set((logdir / "episodes").glob("*.npz"))
        frames = [event["frames"] for event in metrics(logdir)]
        assert max(frames) >= 2200
        assert_optimizers_continued(logdir)


def assert_optimizers_continued(logdir):
    """Every optimizer took exactly the run's updates, before and after resuming.

    An optimizer missing from the checkpoint would restart from zero at the
    resume and count only the updates made since.
    """
    import dataclasses

    import gymnasium as gym
    import numpy as np
    import tensorflow as tf

    from dreamer_tf.agent import Dreamer
    from dreamer_tf.config import DreamerConfig
    from dreamer_tf.run.schedule import Progress
    from dreamer_tf.variable_tree import named_variables, restore_variables

    saved = json.loads((logdir / "config.json").read_text())
    fields = {field.name for field in dataclasses.fields(DreamerConfig)}
    config = DreamerConfig.from_dict({k: v for k, v in saved.items() if k in fields})
    observation_space = gym.spaces.Dict(
        {"image": gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)}
    )
    agent = Dreamer(config, observation_space, gym.spaces.Box(-1, 1, (1,), np.float32))
    progress = Progress()
    latest = tf.train.latest_checkpoint(str(logdir / "checkpoints"))
    restore_variables(named_variables({"agent": agent, "progress": progress}), latest)
    updates = int(progress.updates.numpy())
    assert updates > config.pretrain
    for optimizer in (
        agent.model_optimizer,
        agent.actor_optimizer,
        agent.value_optimizer,
    ):
        assert int(optimizer.iterations.numpy()) == updates
