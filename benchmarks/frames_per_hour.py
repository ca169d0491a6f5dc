"""Hours per 100k frames at the paper's schedule, the figure a run is planned with.

The paper trains 100 updates of 50x50 per 1000 environment frames. This runs
``examples/dmc_train.py --preset=paper`` on the task for each number of
actors (0: the learner steps the environments between updates; N: N actor
processes, rate-limited to the same updates per frame) and measures the
steady rate between two log events after the first update. The schedule
keeps the paper's ratio and batch but in tenfold finer cycles (10 updates
every 100 frames), so that a few minutes cover several whole cycles; the
warm-up is shortened to 1000 random frames and one pretraining update. The
learner trains once replay holds a whole episode: with N actors that is
after about N episodes (``time_limit`` frames each, 1000 by default), so
the window starts ``--warm_frames`` after the first log event with updates.
From the measured rate it prints

- frames/s and seconds per update in the window, and the updates per frame
  reached (0.1 if the schedule or the rate limiter holds);
- hours per 100k frames at that rate;
- hours for a whole paper run's first 100k frames: the paper's 5000 random
  frames (at the prefill rate measured here) and 100 pretraining updates (at
  the measured seconds per update) added.

Settings run one after another, never in parallel::

    python benchmarks/frames_per_hour.py --task dmc_cartpole_balance --actors 0 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import sys
import time

from actors import Watched

from dreamer_tf.config import DreamerConfig

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAPER_PREFILL_FRAMES = 5000
PAPER_PRETRAIN_UPDATES = 100
UPDATES_PER_FRAME = 0.1
PREFILL = 1000
CYCLE_FRAMES = 100
EPISODE_FRAMES = DreamerConfig().time_limit


def parse_arguments() -> argparse.Namespace:
    """Parses the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="dmc_cartpole_balance")
    parser.add_argument("--actors", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--warm_frames", type=int, default=200, help="Frames after prefill not timed."
    )
    parser.add_argument(
        "--measure_frames", type=int, default=600, help="Frames timed per setting."
    )
    parser.add_argument("--logroot", default="runs/frames_per_hour")
    parser.add_argument("--extra", action="append", default=[], help="More flags.")
    arguments = parser.parse_args()
    for name in ("warm_frames", "measure_frames"):
        value = getattr(arguments, name)
        if value <= 0 or value % CYCLE_FRAMES:
            parser.error(f"--{name} must be a positive multiple of {CYCLE_FRAMES}")
    if min(arguments.actors) < 0:
        parser.error("--actors must be >= 0")
    return arguments


def command(arguments, actors: int, logdir: pathlib.Path) -> list[str]:
    """The training command of one setting."""
    first_training = max(PREFILL, actors * EPISODE_FRAMES)
    end = first_training + arguments.warm_frames + arguments.measure_frames
    return [
        sys.executable,
        str(ROOT / "examples" / "dmc_train.py"),
        "--preset=paper",
        f"--task={arguments.task}",
        f"--logdir={logdir}",
        f"--prefill={PREFILL}",
        "--pretrain=1",
        f"--train_every={CYCLE_FRAMES}",
        f"--train_steps={round(CYCLE_FRAMES * UPDATES_PER_FRAME)}",
        f"--log_every={CYCLE_FRAMES}",
        f"--eval_every={10 * end}",
        f"--steps={end + 2 * CYCLE_FRAMES}",
        f"--actors={actors}",
        *arguments.extra,
    ]


def steady_rate(logs: list[dict], start_frames: int, end_frames: int) -> dict:
    """Frames/s and seconds per update between two log events.

    Args:
        logs: The run's log events (``frames``, ``updates``, ``time``), in order.
        start_frames: The window starts at the first event at or after this.
        end_frames: The window ends at the last event at or before this.

    Raises:
        ValueError: If the window holds no two events with updates between them.
    """
    window = [e for e in logs if start_frames <= e["frames"] <= end_frames]
    if len(window) < 2 or window[-1]["updates"] == window[0]["updates"]:
        raise ValueError(
            f"no two log events with updates between {start_frames} and "
            f"{end_frames} frames"
        )
    first, last = window[0], window[-1]
    seconds = last["time"] - first["time"]
    frames = last["frames"] - first["frames"]
    updates = last["updates"] - first["updates"]
    return {
        "frames_per_s": frames / seconds,
        "seconds_per_update": seconds / updates,
        "updates_per_frame": updates / frames,
    }


def prefill_rate(output: str) -> float | None:
    """Frames/s of the random prefill, from the run's last ``prefill:`` line."""
    rates = [
        float(line.split("(", 1)[1].split(" frames/s", 1)[0])
        for line in output.splitlines()
        if line.startswith("prefill: ") and " frames/s" in line
    ]
    return rates[-1] if rates else None


def allocator_row(output: str) -> str:
    """What the run's start block says of its allocator."""
    rows = [line.strip() for line in output.splitlines() if "allocator " in line]
    return rows[0] if rows else "allocator: not said"


def hours_per_100k(rate: dict, prefill_frames_per_s: float) -> tuple[float, float]:
    """Hours per 100k frames at the steady rate, and for a paper run's first 100k."""
    steady = 100_000 / rate["frames_per_s"] / 3600
    warm_up = (
        PAPER_PREFILL_FRAMES / prefill_frames_per_s
        + PAPER_PRETRAIN_UPDATES * rate["seconds_per_update"]
        - PAPER_PREFILL_FRAMES / rate["frames_per_s"]
    ) / 3600
    return steady, steady + warm_up


def run_setting(arguments, actors: int) -> dict:
    """Runs one setting from scratch; returns its figures."""
    logdir = pathlib.Path(arguments.logroot) / f"actors{actors}"
    shutil.rmtree(logdir, ignore_errors=True)
    logdir.mkdir(parents=True)
    line = command(arguments, actors, logdir)
    print("+", " ".join(line), flush=True)
    watched = Watched(line, logdir / "output.log")
    while watched.process.poll() is None:
        watched.sample_memory()
        time.sleep(2)
    if watched.process.returncode != 0:
        sys.exit(f"error: the run failed; see {logdir / 'output.log'}")
    events = [
        json.loads(text)
        for text in (logdir / "metrics.jsonl").read_text().splitlines()
        if text
    ]
    logs = [event for event in events if "updates" in event]
    trained = next((e["frames"] for e in logs if e["updates"] > 1), None)
    if trained is None:
        sys.exit(f"error: the run made no updates; see {logdir / 'output.log'}")
    window_start = trained + arguments.warm_frames
    rate = steady_rate(logs, window_start, window_start + arguments.measure_frames)
    output = (logdir / "output.log").read_text()
    return {
        **rate,
        "prefill_frames_per_s": prefill_rate(output),
        "allocator": allocator_row(output),
        "learner_mib": watched.peak_learner / 1024,
    }


def main() -> None:
    """Runs every setting and prints a table."""
    arguments = parse_arguments()
    os.chdir(ROOT)
    rows = [(actors, run_setting(arguments, actors)) for actors in arguments.actors]
    prefill_rates = [r["prefill_frames_per_s"] for _, r in rows]
    prefill = next((rate for rate in prefill_rates if rate), None)
    print(rows[0][1]["allocator"])
    print(
        f"{'actors':>6}{'frames/s':>10}{'s/update':>10}{'upd/frame':>10}"
        f"{'h/100k frames':>15}{'first 100k h':>14}{'prefill f/s':>13}"
    )
    for actors, result in rows:
        steady, first = hours_per_100k(
            result, result["prefill_frames_per_s"] or prefill
        )
        print(
            f"{actors:>6}{result['frames_per_s']:>10.2f}"
            f"{result['seconds_per_update']:>10.2f}"
            f"{result['updates_per_frame']:>10.3f}"
            f"{steady:>15.2f}{first:>14.2f}"
            f"{result['prefill_frames_per_s'] or float('nan'):>13.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
