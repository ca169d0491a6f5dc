"""Measures acting and learning in parallel: actors 0, 1, 2 on the same schedule.

For each setting (number of actors and backend) it runs ``examples/dmc_train.py``
from scratch in ``<logroot>/<backend>-actors<N>`` until ``--frames`` frames
(or the ``--minutes`` budget) and prints, from the run's ``metrics.jsonl``
and the processes it watched:

- frames/s and updates/s over the whole run (wall clock from the command's
  start), and the wall time to reach ``--frames``;
- the achieved updates per frame after pretraining (the config's
  ``train_steps / train_every`` if the rate limiter holds);
- the peak resident memory of the learner, and of each actor with its
  environment workers.

Settings run one after another: on 2 cores, parallel runs only slow each
other. The figures in BUILD_NOTES.md came from::

    python benchmarks/actors.py --preset cpu \\
        --task dmc_cartpole_balance --actors 0 1 2 --backends process ray \\
        --frames 30000 --logroot runs/actors_bench

A smoke test (seconds per setting, tiny model on a vector task):

    python benchmarks/actors.py --smoke
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
SMOKE = {
    "preset": "debug",
    "task": "gym_dreamer_tf.envs.toy:PointReach-v0",
    "frames": 600,
    "extra": ["--observation=proprio"],
}


def parse_arguments() -> argparse.Namespace:
    """Parses the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu", help="A preset's name or path.")
    parser.add_argument("--task", default="dmc_cartpole_balance")
    parser.add_argument("--actors", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--backends", nargs="+", default=["process"])
    parser.add_argument("--frames", type=int, default=30_000, help="Frames per run.")
    parser.add_argument("--minutes", type=float, default=120, help="Budget per run.")
    parser.add_argument("--logroot", default="runs/actors_bench")
    parser.add_argument("--extra", action="append", default=[], help="More flags.")
    parser.add_argument("--smoke", action="store_true", help="A tiny quick check.")
    arguments = parser.parse_args()
    if arguments.smoke:
        for key, value in SMOKE.items():
            setattr(arguments, key, value)
        arguments.logroot = "runs/actors_smoke"
    return arguments


def resident_kib(pid: int) -> int:
    """Resident memory of a process and all its descendants, in KiB."""
    total = 0
    for member in [pid, *descendants(pid)]:
        try:
            for line in pathlib.Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def descendants(pid: int) -> list[int]:
    """Every descendant's pid, from /proc."""
    children = []
    try:
        tasks = pathlib.Path(f"/proc/{pid}/task").iterdir()
        for task in tasks:
            text = (task / "children").read_text().split()
            children.extend(int(child) for child in text)
    except OSError:
        return []
    return [
        grandchild for child in children for grandchild in [child, *descendants(child)]
    ]


class Watched:
    """A training process: its output lines and its peak memory by part."""

    def __init__(self, command: list[str], log_path: pathlib.Path):
        self.log_path = log_path
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.actor_pids: list[int] = []
        self.peak_learner = 0
        self.peak_actors: dict[int, int] = {}
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        with open(self.log_path, "w") as log:
            for line in self.process.stdout:
                log.write(line)
                log.flush()
                self._note(line)

    def _note(self, line: str) -> None:
        if line.startswith("actors started: pids "):
            self.actor_pids = json.loads(line.split("pids ", 1)[1])

    def sample_memory(self) -> None:
        """Records the current resident memory of learner and actors."""
        actors = {pid: resident_kib(pid) for pid in self.actor_pids}
        for pid, kib in actors.items():
            self.peak_actors[pid] = max(self.peak_actors.get(pid, 0), kib)
        learner = resident_kib(self.process.pid) - sum(actors.values())
        self.peak_learner = max(self.peak_learner, learner)

    def stop(self) -> None:
        """Interrupts the run (it stays resumable) and waits for it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def run_setting(arguments, actors: int, backend: str) -> dict:
    """Runs one setting from scratch; returns its figures."""
    logdir = pathlib.Path(arguments.logroot) / f"{backend}-actors{actors}"
    shutil.rmtree(logdir, ignore_errors=True)
    logdir.mkdir(parents=True)
    command = [
        sys.executable,
        str(ROOT / "examples" / "dmc_train.py"),
        f"--preset={arguments.preset}",
        f"--task={arguments.task}",
        f"--logdir={logdir}",
        f"--steps={arguments.frames}",
        f"--actors={actors}",
        f"--actor_backend={backend}",
        *arguments.extra,
    ]
    print("+", " ".join(command), flush=True)
    start = time.time()
    watched = Watched(command, logdir / "output.log")
    while watched.process.poll() is None:
        if time.time() - start > arguments.minutes * 60:
            watched.stop()
            break
        watched.sample_memory()
        time.sleep(2)
    return figures(logdir, start, watched, arguments.frames)


def figures(logdir: pathlib.Path, start: float, watched: Watched, target: int) -> dict:
    """The setting's figures from its metrics and the watched memory."""
    path = logdir / "metrics.jsonl"
    events = [json.loads(line) for line in path.read_text().splitlines() if line]
    logs = [event for event in events if "updates" in event]
    last = logs[-1]
    elapsed = last["time"] - start
    reached = next((e["time"] - start for e in logs if e["frames"] >= target), None)
    trained = [event for event in logs if event["updates"] > 0]
    ratio = None
    if len(trained) >= 2:
        first = trained[0]
        ratio = (last["updates"] - first["updates"]) / max(
            last["frames"] - first["frames"], 1
        )
    return {
        "frames": last["frames"],
        "updates": last["updates"],
        "seconds": elapsed,
        "to_target_s": reached,
        "frames_per_s": last["frames"] / elapsed,
        "updates_per_s": last["updates"] / elapsed,
        "updates_per_frame": ratio,
        "learner_mib": watched.peak_learner / 1024,
        "actor_mib": [kib / 1024 for kib in watched.peak_actors.values()],
        "exit_code": watched.process.returncode,
    }


def main() -> None:
    """Runs every setting and prints a table."""
    arguments = parse_arguments()
    os.chdir(ROOT)
    rows = []
    for backend in arguments.backends:
        for actors in arguments.actors:
            if actors == 0 and backend != arguments.backends[0]:
                continue
            rows.append(
                (
                    backend if actors else "-",
                    actors,
                    run_setting(arguments, actors, backend),
                )
            )
    print(
        f"{'backend':<8}{'actors':>7}{'frames':>8}{'frames/s':>10}{'updates/s':>10}"
        f"{'upd/frame':>10}{'to target s':>12}{'learner MiB':>12}  actor MiB"
    )
    for backend, actors, result in rows:
        ratio = result["updates_per_frame"]
        reached = result["to_target_s"]
        print(
            f"{backend:<8}{actors:>7}{result['frames']:>8}"
            f"{result['frames_per_s']:>10.1f}{result['updates_per_s']:>10.3f}"
            f"{'-' if ratio is None else f'{ratio:.4f}':>10}"
            f"{'-' if reached is None else f'{reached:.0f}':>12}"
            f"{result['learner_mib']:>12.0f}  "
            f"{', '.join(f'{mib:.0f}' for mib in result['actor_mib']) or '-'}",
            flush=True,
        )


if __name__ == "__main__":
    main()
