"""Learning and determinism of whole runs (unit tests cannot see a flipped sign).

PointReach-v0 (dreamer_tf.envs.toy) from its 2-d vector with a small model:
a random policy scores about -103 per 100-frame episode, Dreamer reaches
about -15 within 8000 frames (about 40 s on 2 CPU cores). Flipping the actor
loss's sign fails the return test. One-step misalignments of the value
targets hardly change the returns on this task, but they make the value
model miss the real returns, which the calibration test (at lambda 0) sees;
BUILD_NOTES.md has the mutation runs.
"""

import json
import pathlib
import subprocess
import sys

import numpy as np

from dreamer_tf import envs

ROOT = pathlib.Path(__file__).resolve().parents[2]
TASK = "gym_dreamer_tf.envs.toy:PointReach-v0"
FLAGS = "--preset=learning_test"


def train(logdir, *extra):
    command = [
        sys.executable,
        str(ROOT / "examples" / "dmc_train.py"),
        FLAGS,
        f"--task={TASK}",
        f"--logdir={logdir}",
        "--deterministic",
        *extra,
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, cwd=ROOT, timeout=900, check=False
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    lines = (pathlib.Path(logdir) / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def random_policy_return(episodes: int = 20) -> float:
    env = envs.make_vector_env(TASK, 1, seed=123, time_limit=100, pixels=False)
    rng = np.random.default_rng(0)
    returns, episode_return = [], 0.0
    env.reset()
    while len(returns) < episodes:
        action = envs.random_actions(env.single_action_space, 1, rng)
        observation, reward, *_ = env.step(action)
        episode_return += float(reward[0])
        if observation["is_last"][0]:
            returns.append(episode_return)
            episode_return = 0.0
    env.close()
    return float(np.mean(returns))


class TestLearning:
    def test_dreamer_clearly_beats_a_random_policy(self, tmp_path):
        events = train(tmp_path / "run", "--steps=8000", "--seed=1")
        eval_returns = [
            event["eval/return"] for event in events if "eval/return" in event
        ]
        final = float(np.mean(eval_returns[-2:]))
        baseline = random_policy_return()
        print(f"random {baseline:.1f}, eval returns {eval_returns}")
        # Measured: random -102.6; seed 1 ends at -12.8 and -16.0.
        assert final > baseline + 40, (baseline, eval_returns)
        assert final > -60, eval_returns


class TestValueCalibration:
    def test_value_model_predicts_the_real_returns(self, tmp_path):
        # lambda = 0 makes every value target the one-step r_t + gamma *
        # v_{t+1}, so the alignment of value and target carries the whole
        # target (at 0.95 a one-step shift moves only 5% of its weight);
        # gamma = 0.9 keeps most of each 50-step episode's returns
        # untruncated.
        events = train(
            tmp_path / "run",
            "--steps=8000",
            "--seed=1",
            "--lambda_=0",
            "--discount=0.9",
        )
        errors = [
            event["eval/value_error"] for event in events if "eval/value_error" in event
        ]
        print(f"value errors {errors}")
        # Measured with seed 1: 0.58 at the end (seeds 2 and 3: 0.55, 0.48);
        # next value from the same step: 1.23; value one step late: 1.58.
        assert errors[-1] < 0.9, errors


class TestDeterminism:
    def _run_record(self, logdir, seed):
        """Every loss and return a short run logs, acting included."""
        events = train(
            logdir,
            f"--seed={seed}",
            "--steps=1500",
            "--log_every=250",
            "--eval_every=750",
            "--pretrain=5",
            "--train_steps=5",
        )
        return [
            {
                key: value
                for key, value in event.items()
                if key.endswith(("_loss", "return"))
            }
            for event in events
        ]

    def test_same_seed_same_run_other_seed_other_run(self, tmp_path):
        first = self._run_record(tmp_path / "a", seed=3)
        again = self._run_record(tmp_path / "b", seed=3)
        other = self._run_record(tmp_path / "c", seed=4)
        assert sum("train/model_loss" in event for event in first) >= 3, first
        assert first == again
        assert first != other
