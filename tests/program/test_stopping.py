"""SIGINT and SIGTERM stop a run with a final checkpoint; the rerun resumes there."""

import os
import pathlib
import re
import signal
import subprocess
import time

import pytest
import tensorflow as tf
from support.run_program import TrainingProgram, metrics, output

from dreamer_tf.replay import load_episode
from dreamer_tf.run.rundir import checkpoint_numbers
from dreamer_tf.variable_tree import checkpoint_key

pytestmark = pytest.mark.program

PROGRAM = TrainingProgram(
    "gym_support.faulty_envs:CleanPoint-v0", flags=("--observation=proprio",)
)
STOPPED = re.compile(
    r"^stopped at (\d+) frames after (\d+) updates; rerun the same command to "
    r"resume$"
)
# From the signal to the exit: one update or env step, the final checkpoint,
# and closing the env workers and actors.
STOP_BOUND_S = 60


def newest_checkpoint(logdir: pathlib.Path) -> dict[str, int]:
    directory = logdir / "checkpoints"
    reader = tf.train.load_checkpoint(
        str(directory / f"ckpt-{checkpoint_numbers(directory)[0]}")
    )
    return {
        name: int(reader.get_tensor(checkpoint_key(name)))
        for name in ("progress/updates", "agent/frames")
    }


def wait_for_training(process, logdir: pathlib.Path, updates: int) -> None:
    """Waits until a log event reports more than ``updates`` updates."""
    deadline = time.time() + 240
    while True:
        assert process.poll() is None, "the run ended before it was stopped"
        assert time.time() < deadline, "no training within 240 s"
        path = logdir / "metrics.jsonl"
        if path.exists() and any(
            e.get("updates", 0) > updates for e in metrics(logdir)
        ):
            return
        time.sleep(0.2)


def group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize(
    "signal_number, actors",
    [(signal.SIGINT, 0), (signal.SIGTERM, 0), (signal.SIGINT, 2), (signal.SIGTERM, 2)],
    ids=["sigint", "sigterm", "sigint-actors", "sigterm-actors"],
)
def test_a_signal_saves_and_the_rerun_resumes_there(tmp_path, signal_number, actors):
    logdir = tmp_path / "run"
    flags = ("--steps=100000", f"--actors={actors}")
    process = PROGRAM.start(
        logdir,
        *flags,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for_training(process, logdir, updates=2)
        if signal_number == signal.SIGINT:
            os.killpg(process.pid, signal_number)  # Ctrl-C: the whole group.
        else:
            process.send_signal(signal_number)  # A scheduler: the run alone.
        signalled = time.time()
        stdout, stderr = process.communicate(timeout=STOP_BOUND_S)
        took = time.time() - signalled
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    result = f"{stdout[-3000:]}{stderr[-3000:]}"
    assert process.returncode == 128 + signal_number, result
    assert took < STOP_BOUND_S
    assert "Traceback" not in stderr, result
    stopped = STOPPED.match(stdout.strip().splitlines()[-1])
    assert stopped, result
    frames, updates = int(stopped[1]), int(stopped[2])
    assert updates > 2
    assert newest_checkpoint(logdir) == {
        "progress/updates": updates,
        "agent/frames": frames,
    }
    episodes = sorted((logdir / "episodes").glob("*.npz"))
    assert episodes
    for path in episodes:
        load_episode(path)
    deadline = time.time() + 15
    while group_alive(process.pid):
        assert time.time() < deadline, "a process of the run outlived it"
        time.sleep(0.2)

    logged_before = len(metrics(logdir))
    rerun = PROGRAM.run(logdir, f"--steps={frames + 200}", f"--actors={actors}")
    assert rerun.returncode == 0, output(rerun)
    assert f"resuming at {frames} frames" in rerun.stdout, output(rerun)
    # With actors the stopped run may have logged frames of episodes it then
    # dropped unfinished: only the rerun's own events count here.
    after = [
        event["updates"]
        for event in metrics(logdir)[logged_before:]
        if "updates" in event
    ]
    assert after and after[0] >= updates, after


def test_checkpoints_by_time_bound_what_a_kill_loses(tmp_path):
    logdir = tmp_path / "run"
    # No log event (and so no frame-based checkpoint) after pretraining's.
    flags = ("--steps=100000", "--log_every=1000000", "--eval_every=1000000")
    process = PROGRAM.start(
        logdir,
        *flags,
        "--checkpoint_every_minutes=0.05",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pretrain = 2  # debug.flags
    try:
        deadline = time.time() + 240
        saved = {"progress/updates": 0}
        while saved["progress/updates"] <= pretrain + 2:
            assert process.poll() is None, "the run ended early"
            assert time.time() < deadline, "no timed checkpoint within 240 s"
            time.sleep(1)
            try:
                saved = newest_checkpoint(logdir)
            except (IndexError, tf.errors.OpError, ValueError):
                pass  # None yet, or one being written.
    finally:
        process.kill()
        process.wait()
    events = metrics(logdir) if (logdir / "metrics.jsonl").exists() else []
    assert all(event.get("updates", 0) <= pretrain for event in events), events
    assert newest_checkpoint(logdir)["progress/updates"] > pretrain + 2
