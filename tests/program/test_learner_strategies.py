"""The training program's learner under tf.distribute strategies (issue 12).

``--learner=mirrored`` runs on two logical CPU devices here
(``--learner_cpu_devices=2``, the test-only stand-in for two GPUs), with two
actor processes feeding it. ``--learner=multi_worker`` runs as two worker
processes on loopback, each a shard of the synchronous loop with its own
environments and replay; they must train in lockstep to identical weights,
count the global frames, and resume together.
"""

import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import threading
import time

import numpy as np
import pytest
import tensorflow as tf
from support.actor_envs import origin
from support.run_program import TrainingProgram, free_ports, metrics, output

from dreamer_tf.parallel.options import (
    LearnerOptions,
    WorkerTask,
    check_learner_options,
    worker_logdir,
    worker_task,
)
from dreamer_tf.replay import load_episode
from dreamer_tf.seeds import ACTOR_STRIDE
from dreamer_tf.variable_tree import checkpoint_key, stored_names

pytestmark = pytest.mark.program

POINT_REACH = "gym_dreamer_tf.envs.toy:PointReach-v0"
TIMEOUT_S = 300
PROGRAM = TrainingProgram(
    POINT_REACH, flags=("--observation=proprio",), timeout=TIMEOUT_S
)


def episodes(run_dir) -> list[dict]:
    paths = sorted((pathlib.Path(run_dir) / "episodes").glob("*.npz"))
    return [load_episode(path) for path in paths]


def updates_by_frame(run_dir, steps: int) -> list[tuple[int, int]]:
    """``(frames, updates)`` of the log events before the end, on the log grid.

    A resumed run logs its first frame again; the later event counts.
    """
    log_every = 100  # debug.flags
    grid = {
        event["frames"] // log_every * log_every: int(event["updates"])
        for event in metrics(run_dir)
        if "updates" in event and event["frames"] < steps
    }
    return sorted(grid.items())


def cluster_config(index: int, cluster: dict) -> dict:
    return {"cluster": cluster, "task": {"type": "worker", "index": index}}


def checkpoint_values(run_dir) -> dict[str, np.ndarray]:
    """The newest checkpoint's agent variables and update count, by key."""
    newest = tf.train.latest_checkpoint(str(pathlib.Path(run_dir) / "checkpoints"))
    reader = tf.train.load_checkpoint(newest)
    return {
        name: reader.get_tensor(checkpoint_key(name))
        for name in stored_names(newest)
        if name.startswith(("agent/", "progress/updates"))
    }


class LearnerOptionsTest(tf.test.TestCase):
    def test_tf_config_names_the_worker(self):
        cluster = {"chief": ["a:1"], "worker": ["b:1", "c:1"]}
        options = LearnerOptions("multi_worker")
        for kind, index, expected in (("chief", 0, 0), ("worker", 0, 1)):
            tf_config = {"cluster": cluster, "task": {"type": kind, "index": index}}
            environ = {"TF_CONFIG": json.dumps(tf_config)}
            self.assertEqual(worker_task(options, environ), WorkerTask(expected, 3))
        self.assertEqual(worker_task(LearnerOptions("mirrored"), {}), WorkerTask())

    def test_bad_tf_config_is_a_one_line_error(self):
        options = LearnerOptions("multi_worker")
        cases = (
            ({}, "needs TF_CONFIG"),
            ({"TF_CONFIG": "{"}, "not a cluster and task"),
            ({"TF_CONFIG": '{"cluster": {"worker": ["a:1"]}}'}, "KeyError"),
            (
                {
                    "TF_CONFIG": json.dumps(
                        {"cluster": {"worker": ["a:1"]}, "task": cluster_task(1)}
                    )
                },
                "worker:1 is not in its cluster",
            ),
            (
                {
                    "TF_CONFIG": json.dumps(
                        {"cluster": {"ps": ["a:1"]}, "task": cluster_task(0)}
                    )
                },
                "'chief' and 'worker' tasks only",
            ),
        )
        for environ, message in cases:
            with self.assertRaisesRegex(ValueError, message):
                worker_task(options, environ)

    def test_bad_options(self):
        two_workers = json.dumps(
            {"cluster": {"worker": ["a:1", "b:1"]}, "task": cluster_task(0)}
        )
        cases = (
            (LearnerOptions("fsdp"), 2, 0, False, "--learner must be one of"),
            (LearnerOptions("default", 2), 2, 0, False, "needs --learner=mirrored"),
            (LearnerOptions("mirrored", 3), 2, 0, False, "split over 3 replicas"),
            (LearnerOptions("multi_worker"), 2, 1, False, "--actors=0 only"),
            (LearnerOptions("multi_worker"), 2, 0, True, "--eval_only runs in one"),
            (LearnerOptions("multi_worker"), 3, 0, False, "split over 2 workers"),
        )
        previous = os.environ.get("TF_CONFIG")
        os.environ["TF_CONFIG"] = two_workers
        try:
            for options, batch_size, actors, eval_only, message in cases:
                with self.assertRaisesRegex(ValueError, message):
                    check_learner_options(options, batch_size, actors, eval_only)
            task = check_learner_options(LearnerOptions("multi_worker"), 4, 0, False)
            self.assertEqual(task, WorkerTask(0, 2))
        finally:
            if previous is None:
                os.environ.pop("TF_CONFIG")
            else:
                os.environ["TF_CONFIG"] = previous

    def test_only_the_chief_owns_the_logdir(self):
        self.assertEqual(worker_logdir("runs/a", WorkerTask(0, 2)), "runs/a")
        self.assertEqual(
            worker_logdir("runs/a", WorkerTask(1, 2)),
            str(pathlib.Path("runs/a/workers/1")),
        )

    def test_program_rejects_an_uneven_split_before_tensorflow(self):
        logdir = self.get_temp_dir()
        started = time.monotonic()
        result = PROGRAM.run(logdir, "--learner=mirrored", "--learner_cpu_devices=3")
        self.assertEqual(result.returncode, 1, output(result))
        self.assertEqual(
            result.stderr.strip().splitlines()[-1],
            "error: batch_size 2 does not split over 3 replicas; make it a "
            "multiple of --learner_cpu_devices.",
        )
        self.assertNotIn("learner:", result.stdout)
        self.assertLess(time.monotonic() - started, 30)

    def test_mirrored_without_a_gpu_is_a_one_line_error(self):
        logdir = self.get_temp_dir()
        result = PROGRAM.run(logdir, "--learner=mirrored", CUDA_VISIBLE_DEVICES="")
        self.assertEqual(result.returncode, 1, output(result))
        self.assertRegex(
            result.stderr.strip().splitlines()[-1],
            # Before TensorFlow (no GPU device file) or after it (none visible).
            r"^error: --learner=mirrored found no GPU[ ;].*use --learner=default",
        )
        self.assertFalse((pathlib.Path(logdir) / "metrics.jsonl").exists())


def cluster_task(index: int) -> dict:
    return {"type": "worker", "index": index}


class MirroredLearnerTest(tf.test.TestCase):
    def test_two_actors_feed_a_two_device_learner(self):
        logdir = pathlib.Path(self.get_temp_dir()) / "run"
        result = PROGRAM.run(
            logdir,
            "--learner=mirrored",
            "--learner_cpu_devices=2",
            "--actors=2",
            "--actor_backend=process",
            "--actor_sync_every=2",
            "--seed=0",
            task="gym_support.actor_envs:SeededPoint-v0",
        )
        self.assertEqual(result.returncode, 0, output(result))
        self.assertIn("learner: mirrored, 2 replicas in sync", result.stdout)
        # One env per actor: actor i's first incarnation seeds from
        # seed + ACTOR_STRIDE * (1 + i).
        seeds = {origin(episode["vector"][0])[0] for episode in episodes(logdir)}
        self.assertEqual(seeds, {ACTOR_STRIDE, 2 * ACTOR_STRIDE})
        last = metrics(logdir)[-1]
        # Pretraining (2 updates) and at least two more phases of 2.
        self.assertGreaterEqual(last["updates"], 6, last)
        self.assertEqual(last["train/skipped_updates"], 0, last)

    def test_dreamerv2_on_two_devices_with_actors(self):
        logdir = pathlib.Path(self.get_temp_dir()) / "run"
        result = PROGRAM.run(
            logdir,
            "--learner=mirrored",
            "--learner_cpu_devices=2",
            "--actors=2",
            "--actor_backend=process",
            *DREAMERV2_FLAGS,
            task="gym_support.actor_envs:SeededPoint-v0",
        )
        self.assertEqual(result.returncode, 0, output(result))
        last = metrics(logdir)[-1]
        self.assertGreaterEqual(last["updates"], 6, last)
        self.assertEqual(last["train/skipped_updates"], 0, last)
        self.assertIn("train/critic_slow", last)


# A tiny DreamerV2 whose target critic is copied every other value update.
DREAMERV2_FLAGS = (
    "--agent=dreamerv2",
    "--rssm_classes=4",
    "--kl_balance=0.8",
    "--weight_decay=1e-6",
    "--slow_target_every=2",
)


class MultiWorkerLearnerTest(tf.test.TestCase):
    """Two workers of one cluster on 127.0.0.1, as two hosts would run them."""

    def run_workers(self, logdir, *extra) -> list:
        cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
        processes = [
            PROGRAM.start(
                logdir,
                "--learner=multi_worker",
                "--prefill=200",
                *extra,
                variables={"TF_CONFIG": json.dumps(cluster_config(index, cluster))},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for index in range(2)
        ]
        results = []
        try:
            for process in processes:
                stdout, stderr = process.communicate(timeout=TIMEOUT_S)
                results.append((process.returncode, stdout, stderr))
        finally:
            for process in processes:
                process.kill()
        for index, (code, stdout, stderr) in enumerate(results):
            self.assertEqual(
                code, 0, f"worker {index}:\n{stdout[-3000:]}{stderr[-3000:]}"
            )
            self.assertIn(
                f"learner: multi_worker, 2 replicas in sync (worker {index} of 2)",
                stdout,
            )
        return [stdout for _, stdout, _ in results]

    def check_workers_agree(self, run_dirs, frames: int, updates: int) -> None:
        for run_dir in run_dirs:
            last = metrics(run_dir)[-1]
            self.assertEqual((last["frames"], last["updates"]), (frames, updates))
            self.assertEqual(last["train/skipped_updates"], 0, last)
        chief, other = (checkpoint_values(run_dir) for run_dir in run_dirs)
        self.assertEqual(sorted(chief), sorted(other))
        self.assertGreater(len(chief), 20)
        for key, value in chief.items():
            self.assertAllEqual(value, other[key], msg=key)
        # The frames are the sum over both workers' stored episodes (the
        # episodes of PointReach end together at every 100 frames here).
        stored = sum(
            (len(episode["reward"]) - 1) * 2
            for run_dir in run_dirs
            for episode in episodes(run_dir)
        )
        self.assertEqual(stored, frames)

    def test_two_workers_train_in_lockstep_and_resume(self):
        logdir = pathlib.Path(self.get_temp_dir()) / "run"
        run_dirs = [logdir, logdir / "workers" / "1"]
        self.run_workers(logdir)
        # As the synchronous loop on debug.flags with a prefill of 200 frames
        # (each worker's first episode ends at its 100th): pretraining (2
        # updates) at 200 frames, 2 updates at 300, the end at 400.
        self.check_workers_agree(run_dirs, frames=400, updates=4)
        self.assertTrue((logdir / "checkpoints").is_dir())
        chief_start, other_start = (episodes(run_dir)[0] for run_dir in run_dirs)
        self.assertNotAllClose(chief_start["vector"], other_start["vector"])

        # Worker 1 loses its checkpoints: it must take the chief's state.
        shutil.rmtree(run_dirs[1] / "checkpoints")
        outputs = self.run_workers(logdir, "--steps=600")
        for stdout in outputs:
            self.assertIn("resuming at 400 frames", stdout)
        # 2 updates at 400 and at 500 frames.
        self.check_workers_agree(run_dirs, frames=600, updates=8)

        # The synchronous loop and two actors update on the same grid: the
        # same updates at every log event (each a phase end here) before the
        # last, which may fall inside a phase.
        grids = {"multi_worker": updates_by_frame(logdir, steps=600)}
        for mode, flags in (("synchronous", ()), ("actors", ("--actors=2",))):
            mode_dir = logdir.parent / mode
            result = PROGRAM.run(mode_dir, "--prefill=200", "--steps=600", *flags)
            self.assertEqual(result.returncode, 0, output(result))
            grids[mode] = updates_by_frame(mode_dir, steps=600)
        self.assertEqual(
            grids["multi_worker"], [(100, 0), (200, 2), (300, 4), (400, 6), (500, 8)]
        )
        self.assertEqual(grids["synchronous"], grids["multi_worker"], grids)
        self.assertEqual(grids["actors"], grids["multi_worker"], grids)

    def test_dreamerv2_workers_agree(self):
        logdir = pathlib.Path(self.get_temp_dir()) / "run"
        self.run_workers(logdir, *DREAMERV2_FLAGS)
        run_dirs = [logdir, logdir / "workers" / "1"]
        self.check_workers_agree(run_dirs, frames=400, updates=4)
        chief = checkpoint_values(logdir)
        target = [key for key in chief if "/target_value/" in key]
        self.assertNotEmpty(target)
        for key in target:
            # Copied after value update 3 of 4: the critic has moved once since.
            critic = chief[key.replace("/target_value/", "/value/")]
            self.assertNotAllClose(chief[key], critic, msg=key)


class LinesOf:
    """The lines a process prints, read on a thread as they come."""

    def __init__(self, stream):
        self.lines: list[tuple[float, str]] = []
        self._thread = threading.Thread(target=self._read, args=(stream,))
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def first(self, text: str, timeout_s: float) -> float:
        """When the first line containing ``text`` came."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for when, line in list(self.lines):
                if text in line:
                    return when
            time.sleep(0.1)
        raise AssertionError(f"no line with {text!r} in {timeout_s} s: {self.lines}")

    def texts(self) -> list[str]:
        self._thread.join(timeout=30)
        return [line for _, line in self.lines]


class PeerNeverStartsTest(tf.test.TestCase):
    """A multi-worker chief whose peer never starts: words, a bound, signals."""

    def start_chief(self, logdir, timeout_s: int):
        cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
        process = PROGRAM.start(
            logdir,
            "--learner=multi_worker",
            f"--learner_join_timeout={timeout_s}",
            variables={"TF_CONFIG": json.dumps(cluster_config(0, cluster))},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.addCleanup(process.kill)
        return process, cluster["worker"][1], LinesOf(process.stdout)

    def test_it_says_whom_it_waits_for_then_gives_up(self):
        logdir = pathlib.Path(self.get_temp_dir()) / "alone"
        process, peer, stdout = self.start_chief(logdir, timeout_s=20)
        started = time.monotonic()
        stdout.first("waiting for the other workers of TF_CONFIG's cluster", 60)
        stderr = process.stderr.read()
        process.wait(timeout=60)
        took = time.monotonic() - started
        lines = stdout.texts()
        waits = [line for line in lines if line.startswith("waiting for the other")]
        self.assertIn(f"worker:1 at {peer} does not answer", waits[0])
        self.assertEqual(process.returncode, 1, f"{lines}\n{stderr}")
        self.assertEqual(
            stderr.strip().splitlines()[-1],
            "error: no answer from the other workers of TF_CONFIG's cluster within "
            "20 s; start every worker with the same TF_CONFIG (each with its own "
            "task), or raise --learner_join_timeout.",
        )
        self.assertNotIn("Traceback", stderr)
        # TensorFlow's start, then the 20 s wait and the exit.
        self.assertLess(took, 60)
        self.assertFalse((logdir / "checkpoints").exists())

    def test_sigterm_ends_the_wait_within_seconds(self):
        logdir = pathlib.Path(self.get_temp_dir()) / "stopped"
        process, _, stdout = self.start_chief(logdir, timeout_s=600)
        stdout.first("waiting for the other workers", 60)
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        stderr = process.stderr.read()
        process.wait(timeout=30)
        self.assertLess(time.monotonic() - signalled, 10)
        lines = stdout.texts()
        self.assertEqual(process.returncode, 128 + signal.SIGTERM, stderr)
        self.assertEqual(
            lines[-1],
            "stopped while waiting for the other workers of TF_CONFIG's cluster; "
            "nothing was trained in this run",
        )
        self.assertNotIn("Traceback", stderr)


class MultiWorkerStopTest(tf.test.TestCase):
    """SIGTERM to one worker stops both at the same round, each with a save."""

    def test_sigterm_to_one_worker_stops_both_with_equal_checkpoints(self):
        logdir = pathlib.Path(self.get_temp_dir()) / "run"
        run_dirs = [logdir, logdir / "workers" / "1"]
        cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
        # Files, not pipes: a worker must never block on a full pipe.
        outputs = [
            logdir.parent / f"worker{index}.{kind}"
            for index in range(2)
            for kind in ("out", "err")
        ]
        streams = [path.open("w") for path in outputs]
        self.addCleanup(lambda: [stream.close() for stream in streams])
        processes = [
            PROGRAM.start(
                logdir,
                "--learner=multi_worker",
                "--prefill=200",
                "--steps=100000",
                variables={"TF_CONFIG": json.dumps(cluster_config(index, cluster))},
                stdout=streams[2 * index],
                stderr=streams[2 * index + 1],
            )
            for index in range(2)
        ]
        for process in processes:
            self.addCleanup(process.kill)

        def printed(index: int) -> str:
            out, err = outputs[2 * index : 2 * index + 2]
            return f"{out.read_text()[-3000:]}{err.read_text()[-3000:]}"

        deadline = time.monotonic() + TIMEOUT_S
        while not (
            (logdir / "metrics.jsonl").exists()
            and any(event.get("updates", 0) > 2 for event in metrics(logdir))
        ):
            self.assertLess(time.monotonic(), deadline, printed(0))
            for index, process in enumerate(processes):
                self.assertIsNone(process.poll(), printed(index))
            time.sleep(0.2)
        processes[1].send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        for process in processes:
            process.wait(timeout=120)
        self.assertLess(time.monotonic() - signalled, 60)
        stopped = []
        for index, process in enumerate(processes):
            self.assertEqual(process.returncode, 143, printed(index))
            self.assertNotIn("Traceback", outputs[2 * index + 1].read_text())
            stopped.append(outputs[2 * index].read_text().strip().splitlines()[-1])
        self.assertRegex(stopped[0], r"^stopped with its peers at \d+ frames after")
        self.assertRegex(stopped[1], r"^stopped at \d+ frames after \d+ updates; ")
        # The same frames and updates on both, and in both checkpoints.
        self.assertEqual(stopped[0].split(" at ")[1], stopped[1].split(" at ")[1])
        frames, updates = (int(word) for word in re.findall(r"\d+", stopped[1]))
        chief, other = (checkpoint_values(run_dir) for run_dir in run_dirs)
        self.assertEqual(int(chief["progress/updates"]), updates)
        self.assertEqual(int(chief["agent/frames"]), frames)
        for key, value in chief.items():
            self.assertAllEqual(value, other[key], msg=key)
