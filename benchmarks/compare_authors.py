"""Our update's speed against the authors' Dreamer, measured in one sitting.

Times the training step of the authors' code (https://github.com/danijar/dreamer,
TensorFlow 2.2-era, loaded by ``authors_dreamer.py`` without editing it) and
ours (``train_step.py``'s setting, no XLA, as theirs) on the same synthetic
batch: paper-size models, 64x64x3 images, 6-dim actions, their default config
in float32. Every run is a fresh process with the same environment variables
(:func:`child_environment`); ours and theirs alternate, in turn first in each
round, so a change in the machine's load hits both alike. Prints each run's
median seconds per update and the ratio of the medians, ours / theirs.

    git clone https://github.com/danijar/dreamer /tmp/dreamer_authors
    python benchmarks/compare_authors.py /tmp/dreamer_authors
    python benchmarks/compare_authors.py /tmp/dreamer_authors --batch_sizes 16 \\
        --rounds 3 --precision auto
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import pathlib
import statistics
import subprocess
import sys

from authors_dreamer import check_setting
from train_step import run_setting, timed_environment

from dreamer_tf.allocator import preloaded_tcmalloc

ROOT = pathlib.Path(__file__).resolve().parents[1]
AUTHORS_SCRIPT = pathlib.Path(__file__).resolve().parent / "authors_dreamer.py"


def child_environment() -> dict[str, str]:
    """The environment variables of every timed process, ours and theirs.

    ``train_step.py``'s (:func:`train_step.timed_environment`: the allocator a
    training run would use here), with this checkout on the import path.
    """
    return {**timed_environment(), "PYTHONPATH": str(ROOT)}


def ours(batch_size: int, args: argparse.Namespace, precision: str) -> dict:
    """One run of our update (``train_step.run_setting``), in a fresh process."""
    return run_setting(
        batch_size,
        args.length,
        False,
        args.steps,
        args.warmup,
        precision=precision,
        environment=child_environment(),
    )


def theirs(batch_size: int, args: argparse.Namespace) -> dict:
    """One run of the authors' update (``authors_dreamer.py``), in a fresh process.

    Raises:
        RuntimeError: If the run fails, or their model loss is not finite.
    """
    command = [
        sys.executable,
        str(AUTHORS_SCRIPT),
        str(args.checkout),
        f"--batch_size={batch_size}",
        f"--length={args.length}",
        f"--steps={args.steps}",
        f"--warmup={args.warmup}",
        f"--precision={args.authors_precision}",
    ]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=child_environment(),
        cwd=ROOT,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"the authors' setting failed:\n{result.stderr[-3000:]}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    if not all(math.isfinite(loss) for loss in figures["model_loss"]):
        # Their loss scaler then skips the model's update: not a step to time.
        raise RuntimeError(
            f"the authors' model loss is not finite: {figures['model_loss']}; "
            "with --authors_precision 16 on a CPU, float16 sums of their image "
            "log-likelihoods overflow"
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkout", type=pathlib.Path, help="Of danijar/dreamer.")
    parser.add_argument("--batch_sizes", type=int, nargs="+", default=[16, 50])
    parser.add_argument("--length", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2, help="Runs of each side.")
    parser.add_argument("--steps", type=int, default=4, help="Timed updates a run.")
    parser.add_argument("--warmup", type=int, default=2, help="Untimed updates.")
    parser.add_argument(
        "--precision",
        choices=["32", "16", "auto"],
        nargs="+",
        default=["32"],
        help="Ours, as the flag; each one given is timed against the same theirs.",
    )
    parser.add_argument(
        "--authors_precision",
        type=int,
        choices=[32, 16],
        default=32,
        help="Theirs: 16 is their default, mixed_float16, for GPUs: on a CPU its "
        "model loss overflows float16 and the run fails.",
    )
    args = parser.parse_args()
    try:
        check_setting(args.checkout, args.length)
    except ValueError as error:
        parser.error(str(error))
    if min(args.batch_sizes) < 1 or args.rounds < 1 or args.steps < 1:
        parser.error("--batch_sizes, --rounds and --steps must be positive.")
    if args.warmup < 0:
        parser.error("--warmup must be >= 0.")
    if importlib.util.find_spec("tf_keras") is None:
        parser.error(
            f"their code needs tf_keras: {sys.executable} -m pip install tf_keras"
        )
    allocator = preloaded_tcmalloc(child_environment()) or "glibc malloc"
    print(
        f"ours: precision {', '.join(args.precision)}, no XLA; theirs: precision "
        f"{args.authors_precision}, their tf.function in a one-replica "
        f"MirroredStrategy; allocator of both: {allocator}"
    )
    sides = {f"ours {precision}": precision for precision in args.precision}
    sides["theirs"] = None
    print(
        "batch   "
        + "".join(f"{name + ' s/update (runs)':<28}" for name in sides)
        + "  ".join(f"{name}/theirs" for name in sides if name != "theirs")
    )
    for batch_size in args.batch_sizes:
        runs = {name: [] for name in sides}
        for round_ in range(args.rounds):
            order = list(sides) if round_ % 2 == 0 else list(sides)[::-1]
            for name in order:
                if sides[name] is None:
                    figures = theirs(batch_size, args)
                else:
                    figures = ours(batch_size, args, sides[name])
                runs[name].append(figures["median_update_s"])
        medians = {name: statistics.median(seconds) for name, seconds in runs.items()}
        columns = [
            f"{medians[name]:6.2f} ({', '.join(f'{s:.2f}' for s in runs[name])})"
            for name in sides
        ]
        ratios = [
            f"{medians[name] / medians['theirs']:.3f}"
            for name in sides
            if name != "theirs"
        ]
        print(
            f"{batch_size}x{args.length:<4} "
            + "".join(f"{column:<28}" for column in columns)
            + "  ".join(
                f"{ratio:>{len(name) + 7}}" for ratio, name in zip(ratios, sides)
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
