"""Tutorial: what a trained world model imagines, drawn under what really happened.

From a run directory, :func:`dreamer_tf.run.saved_agent.load_agent` rebuilds
the trained agent. Its world model observes the first ``--context`` frames of
the run's newest stored episode, then imagines the next ``--horizon`` frames
from the episode's actions alone (open loop: it sees no more frames), and
decodes its states into images. The PNG has two rows: the episode's frames on
top, the model's below (its reconstructions of the observed frames, then its
predictions)::

    python examples/tutorial_imagined_strip.py --logdir runs/cartpole

Without ``--logdir`` the script first trains a tiny run in a temporary
directory, which it deletes afterwards: 200 frames of
``dmc_cartpole_balance`` with the ``debug`` preset and 200
updates on them, about a minute on a CPU. That model draws the scene's
layout and a blurred cart; one trained longer draws the pole too, and where
its imagination drifts from the truth.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image, ImageDraw

from dreamer_tf.replay import load_episode
from dreamer_tf.run.rundir import saved_run
from dreamer_tf.run.saved_agent import load_agent

EXAMPLES = pathlib.Path(__file__).resolve().parent
LABEL_WIDTH, HEADER_HEIGHT, GAP = 48, 16, 4


def newest_episode(logdir: str) -> pathlib.Path | None:
    """The path of the run's newest stored episode (names start with the time)."""
    paths = sorted(pathlib.Path(logdir, "episodes").glob("*.npz"))
    return paths[-1] if paths else None


def write_imagined_strip(
    logdir: str, png_path: str, context: int, horizon: int
) -> None:
    """Writes the true frames over the model's: ``context`` observed, then imagined.

    Args:
        logdir: A run directory of a pixel world model with a decoder.
        png_path: Where to write the PNG.
        context: Frames the world model observes.
        horizon: Frames it then predicts from the actions alone.
    """
    episode = load_episode(newest_episode(logdir))
    images = episode["image"][None, : context + horizon]  # [1, time, H, W, C] uint8
    actions = episode["action"][None, : context + horizon]  # [:, t] led to frame t
    world_model = load_agent(logdir).world_model
    posterior, _ = world_model.observe(images[:, :context], actions[:, :context])
    start = world_model.state_at(posterior, -1)
    imagined = world_model.imagine(start, actions[:, context:])
    decoded = np.concatenate(
        [world_model.decode(posterior)[0], world_model.decode(imagined)[0]]
    )  # [time, H, W, C] floats in [0, 1]
    model_images = np.round(decoded * 255).astype(np.uint8)
    strip = labelled_rows({"true": images[0], "model": model_images}, context)
    strip.save(png_path)


def labelled_rows(rows: dict[str, np.ndarray], context: int) -> Image.Image:
    """The frames of each row side by side, labelled, a gap after ``context``.

    Args:
        rows: Each row's label and frames, ``[time, H, W, C]`` uint8.
        context: Frames before the gap (the observed ones).
    """
    time, height, width, _ = rows["true"].shape
    size = (LABEL_WIDTH + GAP + time * width, HEADER_HEIGHT + len(rows) * height)
    canvas = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((LABEL_WIDTH, 2), "observed", fill="black")
    draw.text((LABEL_WIDTH + GAP + context * width, 2), "imagined", fill="black")
    for row, (label, frames) in enumerate(rows.items()):
        top = HEADER_HEIGHT + row * height
        draw.text((4, top + height // 2 - 6), label, fill="black")
        for index, frame in enumerate(frames):
            left = LABEL_WIDTH + index * width + (GAP if index >= context else 0)
            canvas.paste(Image.fromarray(frame), (left, top))
    return canvas


def run_problem(logdir: str, length: int) -> str | None:
    """Why the run in ``logdir`` cannot draw a strip of ``length`` frames, if so."""
    config = saved_run(logdir)
    if config is None:
        return f"{logdir} holds no run (no config.json)."
    kind = (config["observation"], config["representation"])
    if kind != ("pixels", "reconstruction"):
        return (
            f"the run in {logdir} does not decode images (observation="
            f"{config['observation']}, representation={config['representation']})."
        )
    path = newest_episode(logdir)
    if path is None:
        return f"{logdir}/episodes holds no episode yet; train the run longer."
    frames = len(load_episode(path)["image"])
    if frames < length:
        return f"{path.name} has {frames} frames, fewer than context + horizon."
    return None


def train_tiny_run(logdir: str) -> None:
    """Trains on 200 frames of cartpole with the debug flags (about a minute)."""
    command = [
        sys.executable,
        str(EXAMPLES / "dmc_train.py"),
        "--preset=debug",
        "--task=dmc_cartpole_balance",
        "--logdir=" + logdir,
        "--steps=200",
        # The debug flags' 2 updates leave the decoder drawing grey frames.
        "--pretrain=200",
    ]
    print("training a tiny run first:", *command[1:], flush=True)
    subprocess.run(command, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--logdir", help="A trained run (default: train a tiny one, then delete it)."
    )
    parser.add_argument(
        "--output",
        help="The PNG to write (default: imagined_strip.png in the current "
        "directory with --logdir, else in a new temporary directory).",
    )
    parser.add_argument("--context", type=int, default=5, help="Observed frames.")
    parser.add_argument("--horizon", type=int, default=10, help="Imagined frames.")
    args = parser.parse_args()
    if args.context < 1 or args.horizon < 1:
        parser.error("--context and --horizon must be at least 1.")
    if args.output and not os.path.isdir(os.path.dirname(os.path.abspath(args.output))):
        parser.error(f"the directory of --output {args.output} does not exist.")

    if args.logdir:
        problem = run_problem(args.logdir, args.context + args.horizon)
        if problem:
            parser.error(problem)
        output = args.output or "imagined_strip.png"
        write_imagined_strip(args.logdir, output, args.context, args.horizon)
    else:
        output = args.output or os.path.join(
            tempfile.mkdtemp(prefix="imagined_strip_"), "imagined_strip.png"
        )
        with tempfile.TemporaryDirectory() as logdir:
            train_tiny_run(logdir)
            write_imagined_strip(logdir, output, args.context, args.horizon)
    print(f"wrote {os.path.abspath(output)}")


if __name__ == "__main__":
    main()
