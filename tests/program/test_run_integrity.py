"""A run never loses or poisons its work (issue 10), end to end.

Each test runs ``examples/dmc_train.py`` with ``debug.flags`` on a tiny
vector task from ``tests/faulty_envs.py``, breaks something (checkpoint files,
replay files, the data, a second process) and checks both the message and
what is left in the logdir.
"""

import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from support.run_program import TrainingProgram, error_line, metrics, output, run

from dreamer_tf.replay import find_nonfinite, load_episode, save_episode

pytestmark = pytest.mark.program

# Pretraining and regular phases differ in size, so the schedule test can
# tell them apart; logs every 50 frames see between the phases.
SCHEDULE_FLAGS = ("--pretrain=3", "--train_steps=2", "--log_every=50")
PROGRAM = TrainingProgram(
    "gym_support.faulty_envs:CleanPoint-v0", flags=("--observation=proprio",)
)


def succeeded(result) -> bool:
    return result.returncode == 0


def checkpoint_numbers(logdir) -> list[int]:
    indexes = (pathlib.Path(logdir) / "checkpoints").glob("ckpt-*.index")
    return sorted(int(path.stem.split("-")[1]) for path in indexes)


def assert_checkpoints_finite(logdir) -> None:
    numbers = checkpoint_numbers(logdir)
    assert numbers
    for number in numbers:
        reader = tf.train.load_checkpoint(
            str(logdir / "checkpoints" / f"ckpt-{number}")
        )
        for name, dtype in reader.get_variable_to_dtype_map().items():
            if dtype.is_floating:
                assert np.isfinite(reader.get_tensor(name)).all(), (number, name)


def file_contents(directory) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    """A finished clean run of 600 frames, copied by the tests that damage it."""
    logdir = tmp_path_factory.mktemp("clean") / "run"
    result = PROGRAM.run(logdir, *SCHEDULE_FLAGS, "--steps=600")
    assert succeeded(result), output(result)
    return logdir


@pytest.fixture
def run_copy(clean_run, tmp_path):
    logdir = tmp_path / "run"
    shutil.copytree(clean_run, logdir)
    return logdir


class TestSchedule:
    def test_updates_by_frame_follow_the_paper(self, clean_run):
        # The paper's code: `pretrain` updates when prefill ends (100 frames
        # here), then `train_steps` every `train_every` frames counted from
        # there: updates(F) = 3 + 2 * floor((F - 100) / 100). Without the
        # pretraining setting the last training frame, a full phase followed
        # at once (7 updates at 150 frames instead of 5). The run ends at 600
        # frames before that frame's phase.
        events = [event for event in metrics(clean_run) if "updates" in event]
        counts = {event["frames"]: event["updates"] for event in events}
        assert counts[600] == counts[550]
        for frames in range(100, 551, 50):
            assert counts[frames] == 3 + 2 * ((frames - 100) // 100), counts


def damage_state_file(state: pathlib.Path, how: str) -> None:
    if how == "missing":
        state.unlink()
    elif how == "text":
        state.write_text("this is not a checkpoint state\n")
    elif how == "binary":
        state.write_bytes(np.random.default_rng(0).bytes(300))
    elif how == "empty":
        state.write_bytes(b"")


def damage_checkpoint(directory: pathlib.Path, number: int, how: str) -> None:
    data = directory / f"ckpt-{number}.data-00000-of-00001"
    if how == "truncated data":
        data.write_bytes(data.read_bytes()[:1000])
    elif how == "missing index":
        (directory / f"ckpt-{number}.index").unlink()


class TestCheckpointRecovery:
    @pytest.mark.parametrize(
        "state_damage, newest_damage",
        [
            ("intact", "truncated data"),
            ("missing", "missing index"),
            ("text", "truncated data"),
            ("binary", "truncated data"),
            ("empty", "intact"),
        ],
    )
    def test_resumes_from_the_newest_intact_checkpoint(
        self, run_copy, state_damage, newest_damage
    ):
        directory = run_copy / "checkpoints"
        newest = max(checkpoint_numbers(run_copy))
        damage_state_file(directory / "checkpoint", state_damage)
        damage_checkpoint(directory, newest, newest_damage)
        damaged = {
            name: data
            for name, data in file_contents(directory).items()
            if name.startswith(f"ckpt-{newest}.")
        }
        updates_before = metrics(run_copy)[-1]["updates"]
        logged_before = len(metrics(run_copy))

        # A few frames more: a finished run, rerun as it was, changes nothing.
        result = PROGRAM.run(run_copy, *SCHEDULE_FLAGS, "--steps=650")

        assert succeeded(result), output(result)
        assert "resuming at 600 frames" in result.stdout
        if newest_damage == "intact":
            assert "Skipped damaged" not in result.stderr
        else:
            assert f"Skipped damaged checkpoints ckpt-{newest} (" in result.stderr
            assert f"resuming from ckpt-{newest - 1}" in result.stderr
        # The counters came from a checkpoint: no fresh restart.
        assert metrics(run_copy)[logged_before]["updates"] >= updates_before
        # A damaged checkpoint is kept as it was; new ones get new numbers.
        for name, data in damaged.items():
            assert (directory / name).read_bytes() == data
        assert max(checkpoint_numbers(run_copy)) > newest

    def test_none_restores_is_an_error_that_touches_nothing(self, run_copy):
        directory = run_copy / "checkpoints"
        for data in directory.glob("ckpt-*.data-*"):
            data.write_bytes(data.read_bytes()[:500])
        before = file_contents(directory)

        result = PROGRAM.run(run_copy, *SCHEDULE_FLAGS, "--steps=800")

        assert not succeeded(result)
        line = error_line(result)
        assert line.startswith("error: No checkpoint in")
        for number in checkpoint_numbers(run_copy):
            assert f"ckpt-{number} (" in line
        assert file_contents(directory) == before

    def test_episodes_without_checkpoints_do_not_pretend_to_resume(self, run_copy):
        shutil.rmtree(run_copy / "checkpoints")
        result = PROGRAM.run(run_copy, *SCHEDULE_FLAGS, "--steps=600")
        assert succeeded(result), output(result)
        assert "resuming" not in result.stdout
        assert "no checkpoint, but" in result.stdout
        assert "fresh weights" in result.stdout


class TestReplayTrustsData:
    def test_damaged_and_foreign_files_are_named_and_not_counted(self, run_copy):
        episodes = run_copy / "episodes"
        real_frames = 2 * sum(
            len(load_episode(p)["reward"]) - 1 for p in episodes.iterdir()
        )
        some_episode = load_episode(next(episodes.iterdir()))
        foreign_name = episodes / f"20990101T000000000000-{'a' * 32}-99999999.npz"
        foreign_name.write_bytes(next(episodes.iterdir()).read_bytes())
        random_bytes = episodes / f"20990102T000000000000-{'b' * 32}-50.npz"
        random_bytes.write_bytes(np.random.default_rng(1).bytes(4000))
        # A valid episode of another task whose name sorts newest.
        other_shapes = dict(some_episode, vector=np.zeros((51, 5), np.float32))
        other = save_episode(run_copy / "elsewhere", other_shapes)
        other_path = episodes / other.name.replace(other.name[:4], "2099")
        shutil.copy(other, other_path)

        result = PROGRAM.run(run_copy, *SCHEDULE_FLAGS, "--steps=800")

        assert succeeded(result), output(result)
        assert f"resuming at {real_frames} frames" in result.stdout
        for path, reason in (
            (foreign_name, "names 99999999 steps"),
            (random_bytes, "not a zip"),
            (other_path, "vector"),
        ):
            lines = [line for line in result.stderr.splitlines() if path.name in line]
            assert len(lines) == 1 and reason in lines[0], (path.name, lines)
        assert "pickled" not in result.stderr
        assert max(event["frames"] for event in metrics(run_copy)) == 800


class TestOneRunPerLogdir:
    def test_second_process_is_refused_and_a_killed_run_frees_the_logdir(
        self, tmp_path
    ):
        logdir = tmp_path / "run"
        first = PROGRAM.start(
            logdir,
            "--steps=100000",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.time() + 120
            while not list((logdir / "episodes").glob("*.npz")):
                assert time.time() < deadline and first.poll() is None
                time.sleep(0.2)
            start = time.time()
            second = PROGRAM.run(logdir, "--steps=100000", timeout=60)
            assert time.time() - start < 15
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
        assert not succeeded(second)
        line = error_line(second)
        assert f"in use by another run (pid {first.pid})" in line
        assert len(second.stderr.strip().splitlines()) == 1
        if (logdir / "metrics.jsonl").exists():
            frames = [event["frames"] for event in metrics(logdir)]
            assert len(frames) == len(set(frames))  # Only the first run logged.

        third = PROGRAM.run(logdir, "--steps=0", "--random_data_only")
        assert succeeded(third), output(third)


class TestWorkerDeath:
    def test_error_names_the_training_env(self, tmp_path):
        logdir = tmp_path / "run"
        process = PROGRAM.start(
            logdir,
            "--steps=100000",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.time() + 120
            while not list((logdir / "episodes").glob("*.npz")):
                assert time.time() < deadline and process.poll() is None
                time.sleep(0.2)
            children = pathlib.Path(f"/proc/{process.pid}/task/{process.pid}/children")
            workers = sorted(int(pid) for pid in children.read_text().split())
            # The evaluation env's worker starts first, the training env's second.
            os.kill(workers[-1], signal.SIGKILL)
            _, stderr = process.communicate(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert process.returncode != 0
        line = stderr.strip().splitlines()[-1]
        assert line.startswith("error: Environment worker 0")
        assert "of the training env of task" in line and "SIGKILL" in line


@pytest.fixture(scope="module")
def nan_runs(tmp_path_factory):
    """Runs on tasks that send a NaN reward or observation every other episode."""
    runs = {}
    for task in ("NanReward-v0", "NanObservation-v0"):
        logdir = tmp_path_factory.mktemp(task) / "run"
        result = PROGRAM.run(
            logdir, "--steps=600", task=f"gym_support.faulty_envs:{task}"
        )
        runs[task] = (logdir, result)
    return runs


class TestNonFiniteData:
    @pytest.mark.parametrize(
        "task, key", [("NanReward-v0", "reward"), ("NanObservation-v0", "vector")]
    )
    def test_poisoned_episodes_are_dropped_and_weights_stay_finite(
        self, nan_runs, task, key
    ):
        logdir, result = nan_runs[task]
        assert succeeded(result), output(result)
        # Episodes 2, 4 and 6 carry the NaN at env step 10 (agent step 5).
        lines = result.stderr.splitlines()
        warnings = [line for line in lines if "Training env" in line]
        assert len(warnings) == 3, warnings
        assert all(
            f"Training env 0 sent a non-finite {key} at step 5" in w for w in warnings
        )
        # An evaluation whose return is not finite is warned of, never only
        # logged as a score.
        evaluations = [
            event["eval/return"] for event in metrics(logdir) if "eval/return" in event
        ]
        unscored = [line for line in lines if "have a non-finite return" in line]
        assert len(unscored) == sum(not np.isfinite(value) for value in evaluations)
        if key == "reward":
            assert unscored, evaluations  # The evaluation env sends NaN too.
        stored = [load_episode(path) for path in (logdir / "episodes").glob("*.npz")]
        # The clean episodes after a poisoned one are kept: its NaN did not
        # stay in the policy's state.
        assert len(stored) == 3
        assert all(find_nonfinite(episode) is None for episode in stored)
        assert_checkpoints_finite(logdir)
        events = metrics(logdir)
        assert sum(event.get("train/dropped_episodes", 0) for event in events) == 3
        losses = [event[key] for event in events for key in event if "loss" in key]
        assert losses and np.isfinite(losses).all()

    def test_updates_that_keep_failing_stop_the_run_before_a_checkpoint(self, tmp_path):
        logdir = tmp_path / "run"
        result = PROGRAM.run(
            logdir,
            "--batch_size=16",
            "--train_steps=25",
            task="gym_support.faulty_envs:HugeReward-v0",
        )
        assert not succeeded(result)
        assert "20 updates in a row were skipped" in error_line(result)
        # The checkpoints from before the fault are kept, and finite.
        assert_checkpoints_finite(logdir)


class TestErrorsBeforeExpensiveWork:
    @pytest.mark.parametrize(
        "extra, message",
        [
            (["--batch_length=52"], "batch_length 52 is longer than any episode"),
            (["--batch_size=-3"], "batch_size must be > 0, got -3"),
            (["--batch_size=0"], "batch_size must be > 0, got 0"),
            (["--life_done"], "life_done applies to atari tasks only"),
            (["--eval_only"], "nothing to evaluate: logdir"),
            (["--task=dmc_walker_wlk"], "Unknown task 'wlk' of DMC domain"),
            (["--horizon=-1"], "horizon must be > 0, got -1"),
            (["--lambda_=2"], "lambda_ must lie in [0, 1], got 2.0"),
        ],
    )
    def test_one_line_error_within_seconds(self, tmp_path, extra, message):
        start = time.time()
        result = PROGRAM.run(tmp_path / "run", *extra, timeout=60)
        assert time.time() - start < 15
        assert not succeeded(result)
        assert message in error_line(result)
        assert len(result.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "run" / "checkpoints").exists()

    def test_unknown_flag(self, tmp_path):
        # absl's own message: two lines, the second a hint.
        start = time.time()
        result = PROGRAM.run(tmp_path / "run", "--bogus_flag=1", timeout=60)
        assert time.time() - start < 15
        assert not succeeded(result)
        assert "Unknown command line flag 'bogus_flag'" in result.stderr
        assert not (tmp_path / "run").exists()

    def test_unwritable_logdir(self):
        result = PROGRAM.run("/proc/not_a_dir/run", timeout=60)
        assert not succeeded(result)
        assert "'/proc/not_a_dir/run' is not writable" in error_line(result)

    def test_the_checks_import_no_tensorflow(self):
        check = "import sys, dreamer_tf.run.rundir; print('tensorflow' in sys.modules)"
        result = run([sys.executable, "-c", check], timeout=60)
        assert result.stdout.strip() == "False", result.stderr

    def test_export_dir_that_is_a_file(self, tmp_path):
        existing_file = tmp_path / "policy"
        existing_file.write_text("not a directory")
        result = PROGRAM.run(tmp_path / "run", f"--export_dir={existing_file}")
        assert not succeeded(result)
        assert "is a file" in error_line(result)
        assert existing_file.read_text() == "not a directory"
