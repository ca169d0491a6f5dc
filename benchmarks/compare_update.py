"""The update's speed against an older commit, measured in one sitting.

Machines change between sessions, so speed is only ever a ratio: this runs
``train_step.py``'s setting for the working tree and for a checkout of the
baseline commit, alternating them (so a change in the machine's load hits
both alike), and prints the median of each and their ratio.

    git worktree add --detach /tmp/baseline 593c87d
    python benchmarks/compare_update.py --baseline_tree /tmp/baseline
    git worktree remove /tmp/baseline
"""

from __future__ import annotations

import argparse
import pathlib
import statistics

from train_step import run_setting

ROOT = pathlib.Path(__file__).resolve().parents[1]


def timed(tree: pathlib.Path, batch_size: int, args) -> dict:
    """One setting of ``tree``'s package."""
    return run_setting(
        batch_size, args.length, False, args.steps, args.warmup, tree=tree
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline_tree", required=True, type=pathlib.Path)
    parser.add_argument("--batch_sizes", type=int, nargs="+", default=[16, 50])
    parser.add_argument("--length", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2, help="Runs of each tree.")
    parser.add_argument("--steps", type=int, default=4, help="Timed updates a run.")
    parser.add_argument("--warmup", type=int, default=2, help="Untimed updates.")
    args = parser.parse_args()
    if not (args.baseline_tree / "dreamer_tf" / "agent.py").exists():
        parser.error(f"{args.baseline_tree} holds no dreamer_tf checkout.")
    trees = {"baseline": args.baseline_tree, "current": ROOT}
    print("batch   tree      s/update (runs)          first s  peak GiB  policy ms")
    for batch_size in args.batch_sizes:
        runs = {name: [] for name in trees}
        for _ in range(args.rounds):
            for name, tree in trees.items():
                runs[name].append(timed(tree, batch_size, args))
        medians = {}
        for name, figures in runs.items():
            seconds = [run["median_update_s"] for run in figures]
            medians[name] = statistics.median(seconds)
            print(
                f"{batch_size}x{args.length:<4} {name:9} {medians[name]:6.2f} "
                f"({', '.join(f'{s:.2f}' for s in seconds)})  "
                f"{max(run['first_update_s'] for run in figures):9.1f}  "
                f"{max(run['peak_rss_gib'] for run in figures):8.2f}  "
                f"{statistics.median(run['policy_latency_ms'] for run in figures):9.1f}",  # noqa: E501
                flush=True,
            )
        ratio = medians["current"] / medians["baseline"]
        print(f"{batch_size}x{args.length:<4} current / baseline: {ratio:.3f}")


if __name__ == "__main__":
    main()
