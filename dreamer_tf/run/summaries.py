"""Logging: TensorBoard scalars, videos and config, and a crash-safe metrics.jsonl.

Every log event goes to two places. ``metrics.jsonl`` holds one JSON object per
line, flushed and fsynced as it is written, for plotting scripts and for
reading a run back after a crash. The TensorBoard event file holds the same
scalars, plus videos as animated GIFs that the image dashboard plays, as in
the Dreamer authors' code, and the run's task and config (see
:meth:`MetricsWriter.write_config`).

TensorBoard's Time Series dashboard groups charts in sections named by the
tag's first component, sorts the sections alphabetically and opens only the
first two. :data:`SCALAR_TAGS` therefore gives each metric a TensorBoard tag
in one of the sections ``episode_returns`` (evaluation, then training),
``losses``, ``model``, ``policy`` and ``progress``, in that order, and a
description that TensorBoard shows with the chart; ``metrics.jsonl`` keeps
the metrics' own names (``train/model_loss``, ``eval/return``, ``fps``, ...).
Charts of :data:`HIDDEN_WHILE_ZERO_METRICS`, zero in a healthy run, appear
only from their first non-zero value on.

Scalars are written with the core ``tf.summary.write`` and the scalar
plugin's metadata (the same record ``tf.summary.scalar`` writes), videos as
raw ``Summary.Image`` protos encoded in-process with Pillow, and the config
with the ``tensorboard`` package's text and HParams summary APIs.
"""

from __future__ import annotations

import functools
import io
import json
import os
import time
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import tensorflow as tf
from PIL import Image, ImageDraw, ImageFont
from tensorboard.plugins.hparams import api as hp
from tensorboard.plugins.text.summary_v2 import text as text_summary

if TYPE_CHECKING:
    from typing import Self

METRICS_FILENAME = "metrics.jsonl"


class Tag(NamedTuple):
    """A TensorBoard tag, and the description TensorBoard shows with its chart."""

    name: str
    description: str


# Metric name in metrics.jsonl -> its TensorBoard tag.
SCALAR_TAGS: dict[str, Tag] = {
    "eval/return": Tag(
        "episode_returns/eval",
        "Mean return of an evaluation's eval_episodes episodes, acting with "
        "the actor's mode (plus eval_noise).",
    ),
    "eval_only/return": Tag(
        "episode_returns/eval_only",
        "Mean return of the episodes of an eval_only run of the checkpoint.",
    ),
    "train/return": Tag(
        "episode_returns/train",
        "Mean return of the training episodes (exploration noise included) "
        "that ended since the previous log event.",
    ),
    "train/length": Tag(
        "episode_returns/train_length",
        "Mean length, in agent steps, of those training episodes.",
    ),
    "train/model_loss": Tag(
        "losses/model",
        "The world model's loss, as minimised: the KL term (after free nats) "
        "minus the log-likelihoods of images, rewards (and discounts).",
    ),
    "train/image_loss": Tag(
        "losses/image",
        "Negative log-likelihood of the observed images under the decoder's "
        "unit-variance Gaussian, summed over pixels; at least about 11292 for "
        "64x64x3 images (the Gaussian's constant).",
    ),
    "train/contrastive_loss": Tag(
        "losses/contrastive",
        "Negative InfoNCE bound that replaces the image term with "
        "representation=contrastive.",
    ),
    "train/reward_loss": Tag(
        "losses/reward",
        "Negative log-likelihood of the rewards under the reward head's "
        "unit-variance Gaussian (at least about 0.92).",
    ),
    "train/pcont_loss": Tag(
        "losses/pcont",
        "pcont_scale times the negative log-likelihood of the discounts under "
        "the continuation head (only with pcont on).",
    ),
    "train/actor_loss": Tag(
        "losses/actor",
        "Minus the weighted mean of the imagined value estimates V_lambda.",
    ),
    "train/value_loss": Tag(
        "losses/value",
        "Weighted negative log-likelihood of V_lambda under the value head's "
        "unit-variance Gaussian.",
    ),
    "train/kl": Tag(
        "model/kl",
        "Mean KL divergence from posterior to prior, before the free-nats "
        "clip: below free_nats it gets no gradient.",
    ),
    "train/kl_loss": Tag(
        "losses/kl",
        "The KL term as it enters the model loss: KL balancing's mix of its two "
        "sides after free nats, times kl_scale (kl_balance other than 0.5).",
    ),
    "train/prior_entropy": Tag(
        "model/prior_entropy",
        "Mean entropy of the prior over the stochastic state (Gaussian, or "
        "categorical with rssm_classes).",
    ),
    "train/posterior_entropy": Tag(
        "model/posterior_entropy",
        "Mean entropy of the posterior over the stochastic state.",
    ),
    "train/model_grad_norm": Tag(
        "model/grad_norm",
        "Global norm of the world model's gradient before clipping.",
    ),
    "train/imagined_return": Tag(
        "policy/imagined_return",
        "Mean of V_lambda over the imagined trajectories: what the agent "
        "expects to earn from the states of the batch.",
    ),
    "train/action_entropy": Tag(
        "policy/action_entropy",
        "Entropy of the actor at the first imagined states (a sample estimate "
        "for the tanh-Gaussian; it can be negative).",
    ),
    "train/actor_entropy": Tag(
        "policy/actor_entropy",
        "DreamerV2: mean entropy of the actor at the imagined states it learns "
        "from, before the update (actor_entropy weighs its bonus).",
    ),
    "train/critic": Tag(
        "policy/critic",
        "DreamerV2: mean value the critic predicts at the imagined states.",
    ),
    "train/critic_slow": Tag(
        "policy/critic_slow",
        "DreamerV2: mean value of the slow target critic at the imagined "
        "states; the lambda-returns and the REINFORCE baseline use it.",
    ),
    "train/actor_grad_norm": Tag(
        "policy/actor_grad_norm",
        "Global norm of the actor's gradient before clipping.",
    ),
    "train/value_grad_norm": Tag(
        "policy/value_grad_norm",
        "Global norm of the value model's gradient before clipping.",
    ),
    "eval/value_error": Tag(
        "policy/value_error",
        "Mean absolute difference between the value model's predictions and "
        "the real discounted returns of the latest training episodes.",
    ),
    "eval/value_bias": Tag(
        "policy/value_bias",
        "Mean difference (prediction minus real discounted return) on the "
        "latest training episodes.",
    ),
    "fps": Tag(
        "progress/frames_per_second",
        "Environment frames per second since the previous log event, "
        "collection and training together.",
    ),
    "updates_per_second": Tag(
        "progress/updates_per_second",
        "Gradient updates per second since the previous log event.",
    ),
    "updates": Tag("progress/updates", "Gradient updates so far."),
    "train/update_skipped": Tag(
        "progress/skipped_update_fraction",
        "Fraction of the updates since the previous log event that were skipped "
        "because a loss or gradient was not finite.",
    ),
    "train/skipped_updates": Tag(
        "progress/skipped_updates",
        "Updates skipped since the previous log event because a loss or "
        "gradient was not finite (20 in a row stop the run).",
    ),
    "train/dropped_episodes": Tag(
        "progress/dropped_episodes",
        "Training episodes dropped since the previous log event because they "
        "held a non-finite reward, action or observation.",
    ),
}
# Logged to metrics.jsonl only: as a chart it would be a constant line.
JSONL_ONLY_METRICS = frozenset({"eval/episodes", "eval_only/episodes"})
# Zero in a healthy run: charted from the first non-zero value on, so that
# TensorBoard does not show lines that are always flat at zero.
HIDDEN_WHILE_ZERO_METRICS = frozenset(
    {"train/update_skipped", "train/skipped_updates", "train/dropped_episodes"}
)
# The run's task and config, on TensorBoard's Text tab.
CONFIG_TAG = Tag(
    "config",
    "The run's task and config as it started (config.json holds those of its "
    "latest start: a resume may change fields such as steps).",
)
# Video name -> its TensorBoard tag, in the images dashboard.
VIDEO_TAGS: dict[str, Tag] = {
    "train/openloop": Tag(
        "videos/openloop",
        "Training sequences side by side; rows: true frames, the model's frames "
        "and their error. Green borders: frames the model observed; red: frames "
        "it predicted open loop from the actions alone.",
    ),
    "eval/policy": Tag(
        "videos/eval_policy",
        "The first episode of the evaluation, as the agent saw it.",
    ),
    "eval_only/policy": Tag(
        "videos/eval_only_policy",
        "The first episode of an eval_only run, as the agent saw it.",
    ),
}
# Borders of the open-loop video's frames, and the text of its labels.
OBSERVED_COLOR = (40, 200, 40)
IMAGINED_COLOR = (230, 40, 40)
LABEL_COLOR = (255, 255, 255)
OPEN_LOOP_ROWS = ("truth", "model", "error")
_BORDER = 2
# TensorBoard shrinks the video of six 64x64 sequences to its image cards'
# default width (about 370 px, 0.8 of it); text of this size stays legible.
_FONT_SIZE = 18
_TEXT_MARGIN = 4
_LABEL_WIDTH = 60
_HEADER_HEIGHT = 24


def scalar_tag(name: str) -> Tag:
    """The TensorBoard tag and description of the metric ``name``.

    Args:
        name: The metric's name in ``metrics.jsonl``, e.g. ``"train/kl"``.

    Returns:
        Its entry in :data:`SCALAR_TAGS`; a metric not listed there keeps its
        name as its tag.
    """
    default = Tag(
        name, f"{name} (not described in dreamer_tf.run.summaries.SCALAR_TAGS)."
    )
    return SCALAR_TAGS.get(name, default)


@functools.cache
def _scalar_metadata(description: str) -> bytes:
    """What ``tf.summary.scalar`` writes as metadata, with a description.

    Plugin "scalars", empty content (ScalarPluginData version 0) and data
    class DATA_CLASS_SCALAR (1), as TensorBoard's scalar plugin expects.
    """
    return tf.compat.v1.SummaryMetadata(
        plugin_data=tf.compat.v1.SummaryMetadata.PluginData(plugin_name="scalars"),
        summary_description=description,
        data_class=1,
    ).SerializeToString()


def _to_uint8(frames: np.ndarray) -> np.ndarray:
    """Returns uint8 frames; floats are read as intensities in ``[0, 1]``."""
    frames = np.asarray(frames)
    if frames.dtype == np.uint8:
        return frames
    if not np.issubdtype(frames.dtype, np.floating):
        raise TypeError(
            f"Frames must be uint8 or floats in [0, 1]; got dtype {frames.dtype}."
        )
    return np.round(np.clip(frames, 0.0, 1.0) * 255.0).astype(np.uint8)


def encode_gif(frames: np.ndarray, fps: int = 20) -> bytes:
    """Encodes a video as a looping animated GIF, in-process with Pillow.

    Pillow quantises each RGB frame to its own adaptive 256-colour palette,
    and merges identical consecutive frames into one longer frame, so a
    decoder may report fewer frames than ``T`` while playback time is kept.
    GIF delays are multiples of 10 ms, so rates above 50 fps play slower.

    Args:
        frames: Video ``[T, H, W, C]`` with ``C`` 1 (grey) or 3 (RGB); uint8,
            or floats in ``[0, 1]`` (clipped, then scaled to uint8).
        fps: Frames per second of playback.

    Returns:
        The bytes of the GIF file (they start with ``b"GIF8"``).

    Raises:
        ValueError: If ``frames`` is not ``[T, H, W, 1 or 3]`` with ``T >= 1``,
            or ``fps`` is not positive.
        TypeError: If ``frames`` is neither uint8 nor floating point.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] not in (1, 3) or frames.shape[0] < 1:
        raise ValueError(
            "encode_gif needs frames of shape [T, H, W, C] with C 1 or 3 and "
            f"T >= 1; got shape {frames.shape}."
        )
    if fps <= 0:
        raise ValueError(f"fps must be positive; got {fps}.")
    frames = _to_uint8(frames)
    # Pillow reads 2-d uint8 arrays as grey ("L") and HxWx3 ones as RGB.
    images = [
        Image.fromarray(np.squeeze(frame, -1) if frame.shape[-1] == 1 else frame)
        for frame in frames
    ]
    buffer = io.BytesIO()
    images[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=max(1, round(1000 / fps)),
        loop=0,
    )
    return buffer.getvalue()


def tile_batch(video: np.ndarray) -> np.ndarray:
    """Places the videos of a batch side by side: ``[B, T, H, W, C] -> [T, H, B*W, C]``.

    Args:
        video: A batch of videos ``[B, T, H, W, C]``.

    Returns:
        One video ``[T, H, B * W, C]`` whose ``b``-th column block is video ``b``.
    """
    video = np.asarray(video)
    batch, length, height, width, channels = video.shape
    return video.transpose(1, 2, 0, 3, 4).reshape(
        length, height, batch * width, channels
    )


def video_summary(
    name: str, video: np.ndarray, step: int, fps: int = 20, description: str = ""
) -> None:
    """Writes a video as an animated GIF image summary to the default writer.

    TensorBoard's image dashboard shows the GIF and browsers animate it. Like
    every ``tf.summary`` op this does nothing without a default writer (see
    :meth:`tf.summary.SummaryWriter.as_default`). It runs eagerly (NumPy and
    Pillow), not inside a ``tf.function``.

    Args:
        name: The summary tag.
        video: ``[T, H, W, C]``, or ``[B, T, H, W, C]`` whose ``B`` videos are
            tiled side by side; uint8, or floats in ``[0, 1]``.
        step: The step (for dreamer_tf, environment frames) of the summary.
        fps: Frames per second of playback.
        description: Shown by TensorBoard with the image.

    Raises:
        ValueError: If ``video`` has neither 4 nor 5 dimensions, or its frames
            cannot be encoded (see :func:`encode_gif`).
    """
    video = np.asarray(video)
    if video.ndim == 5:
        video = tile_batch(video)
    if video.ndim != 4:
        raise ValueError(
            f"video_summary needs a [T, H, W, C] or [B, T, H, W, C] video; got "
            f"shape {video.shape} for {name!r}."
        )
    _, height, width, channels = video.shape
    image = tf.compat.v1.Summary.Image(
        height=height,
        width=width,
        colorspace=channels,
        encoded_image_string=encode_gif(video, fps),
    )
    metadata = tf.compat.v1.SummaryMetadata(summary_description=description)
    summary = tf.compat.v1.Summary(
        value=[tf.compat.v1.Summary.Value(tag=name, image=image, metadata=metadata)]
    )
    tf.summary.experimental.write_raw_pb(summary.SerializeToString(), step=step)


def open_loop_video(
    truth: np.ndarray, prediction: np.ndarray, context: int = 5
) -> np.ndarray:
    """Lays out an open-loop prediction for viewing: truth, model, error.

    The rows, stacked vertically and labelled on the left, are the true
    frames, the model's frames and their signed error ``(prediction - truth +
    1) / 2`` (grey where they agree, bright where the model is too bright,
    dark where too dark), as in the Dreamer authors' code. The batch elements
    are placed side by side. Every frame has a border: green
    (:data:`OBSERVED_COLOR`) for the first ``context`` steps, which the model
    observed, red (:data:`IMAGINED_COLOR`) for the steps it predicted open
    loop; a header names the step and which kind it is.

    Args:
        truth: True frames ``[B, T, H, W, C]``, floats in ``[0, 1]`` (e.g. from
            :meth:`~dreamer_tf.learning.world_model.WorldModel.open_loop_prediction`),
            ``C`` 1 or 3.
        prediction: The model's frames, same shape.
        context: How many of the first steps the model observed.

    Returns:
        An RGB uint8 video ``[T, 24 + 3 * (H + 4), 60 + B * (W + 4), 3]``.

    Raises:
        ValueError: If the shapes differ or are not ``[B, T, H, W, 1 or 3]``.
    """
    truth = np.asarray(truth, np.float32)
    prediction = np.asarray(prediction, np.float32)
    if (
        truth.shape != prediction.shape
        or truth.ndim != 5
        or truth.shape[-1] not in (1, 3)
    ):
        raise ValueError(
            "open_loop_video needs truth and prediction of the same shape "
            f"[B, T, H, W, 1 or 3]; got {truth.shape} and {prediction.shape}."
        )
    error = (prediction - truth + 1.0) / 2.0
    rows = _to_uint8(np.stack([truth, prediction, error], 1))  # [B, 3, T, H, W, C]
    rows = np.broadcast_to(rows, (*rows.shape[:-1], 3))
    length = rows.shape[2]
    observed = np.arange(length) < context
    framed = _framed(rows, np.where(observed[:, None], OBSERVED_COLOR, IMAGINED_COLOR))
    batch, _, _, height, width, _ = framed.shape
    # [B, 3, T, H, W, 3] -> [T, 3 * H, B * W, 3]
    grid = framed.transpose(2, 1, 3, 0, 4, 5).reshape(
        length, 3 * height, batch * width, 3
    )
    labels = _row_labels(height)
    return np.stack(
        [
            np.concatenate(
                [
                    _header(step, observed[step], _LABEL_WIDTH + batch * width),
                    np.concatenate([labels, grid[step]], 1),
                ],
                0,
            )
            for step in range(length)
        ]
    )


def _framed(frames: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """Surrounds each frame of ``[..., T, H, W, 3]`` with its step's colour."""
    pad = [(0, 0)] * (frames.ndim - 3) + [(_BORDER, _BORDER)] * 2 + [(0, 0)]
    framed = np.pad(frames, pad)
    border = np.ones(framed.shape[-3:-1], bool)
    border[_BORDER:-_BORDER, _BORDER:-_BORDER] = False
    framed[..., border, :] = colors[:, None, :].astype(np.uint8)
    return framed


@functools.cache
def _font() -> ImageFont.FreeTypeFont:
    """Pillow's built-in scalable font (Aileron), at the videos' text size."""
    return ImageFont.load_default(size=_FONT_SIZE)


def _row_labels(height: int) -> np.ndarray:
    """The label column of the open-loop video: one name per row, on black."""
    column = Image.new("RGB", (_LABEL_WIDTH, 3 * height))
    draw = ImageDraw.Draw(column)
    for row, label in enumerate(OPEN_LOOP_ROWS):
        position = (_TEXT_MARGIN, row * height + height // 2)
        draw.text(position, label, fill=LABEL_COLOR, font=_font(), anchor="lm")
    return np.asarray(column)


def _header(step: int, observed: bool, width: int) -> np.ndarray:
    """The strip above a frame: its step, and whether it was observed or imagined."""
    strip = Image.new("RGB", (width, _HEADER_HEIGHT))
    text = f"step {step}: " + ("observed" if observed else "imagined")
    color = OBSERVED_COLOR if observed else IMAGINED_COLOR
    position = (_TEXT_MARGIN, _HEADER_HEIGHT // 2)
    ImageDraw.Draw(strip).text(position, text, fill=color, font=_font(), anchor="lm")
    return np.asarray(strip)


class MetricsWriter:
    """Writes log events to ``metrics.jsonl`` and to a TensorBoard event file.

    Each :meth:`write` appends one line ``{"frames": ..., "time": ..., **metrics}``
    (``time`` in seconds since the Unix epoch) and flushes and fsyncs it, so a
    crash loses at most the event being written. Reopening a logdir appends;
    a truncated last line left by a crash is removed first, so the file stays
    one JSON object per line. Use as a context manager or call :meth:`close`.
    TensorBoard gets each scalar under its tag in :data:`SCALAR_TAGS`, with
    its description, except those in :data:`JSONL_ONLY_METRICS`, and those in
    :data:`HIDDEN_WHILE_ZERO_METRICS` before their first non-zero value (in
    this or an earlier start of the run, as ``metrics.jsonl`` says).

    Args:
        logdir: The run's directory; created if missing.
    """

    def __init__(self, logdir: str):
        self.logdir = str(logdir)
        os.makedirs(self.logdir, exist_ok=True)
        self.path = os.path.join(self.logdir, METRICS_FILENAME)
        self._first_start = not os.path.exists(self.path)
        _drop_truncated_last_line(self.path)
        self._charted_nonzero = _ever_nonzero(self.path, HIDDEN_WHILE_ZERO_METRICS)
        # Kept open across writes and closed by close().
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self._writer = tf.summary.create_file_writer(self.logdir)

    def write(self, frames: int, metrics: dict[str, Any]) -> None:
        """Logs scalar metrics at ``frames`` environment frames.

        Args:
            frames: The step: environment frames so far.
            metrics: Names (e.g. ``"train/model_loss"``, ``"eval/return"``) to
                scalars: Python or NumPy numbers, or scalar tensors.

        Raises:
            ValueError: If a name is ``"frames"`` or ``"time"``, or a value is
                not a scalar.
        """
        reserved = {"frames", "time"} & set(metrics)
        if reserved:
            raise ValueError(
                f"Metric names {sorted(reserved)} are reserved by MetricsWriter; "
                "rename those metrics."
            )
        values = {name: _to_float(name, value) for name, value in metrics.items()}
        record = {"frames": int(frames), "time": time.time(), **values}
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        with self._writer.as_default():
            for name, value in values.items():
                if not self._charted(name, value):
                    continue
                tag = scalar_tag(name)
                tf.summary.write(
                    tag.name,
                    tf.constant(value, tf.float32),
                    step=int(frames),
                    metadata=_scalar_metadata(tag.description),
                )
        self._writer.flush()

    def _charted(self, name: str, value: float) -> bool:
        """Whether TensorBoard gets the metric ``name`` now."""
        if name in JSONL_ONLY_METRICS:
            return False
        if name in HIDDEN_WHILE_ZERO_METRICS and name not in self._charted_nonzero:
            if value == 0:
                return False
            self._charted_nonzero.add(name)
        return True

    def write_config(self, task: str, config: dict[str, Any]) -> None:
        """Shows the run's task and config in TensorBoard, once per run.

        Writes them at step 0 as a table on the Text tab (tag ``config``) and
        as the run's HParams, with which the HParams tab filters and compares
        runs by config. No experiment-wide HParams config is written (a run
        cannot know the others' values), so TensorBoard infers each field's
        domain from all runs, and takes every scalar as a metric, the returns
        (``episode_returns/eval`` first) before the others.

        Only a writer that created ``metrics.jsonl`` writes them, so a run has
        them once, as it started: a resumed run's event files hold them
        already (and TensorBoard reads HParams from a run's first record of
        them), and an ``eval_only`` run works in a finished run's logdir.

        Args:
            task: The run's task, e.g. ``"dmc_cartpole_balance"``.
            config: Config field names to values, e.g. from
                :meth:`dreamer_tf.config.DreamerConfig.to_dict`; values other
                than bool, int, float and str are shown as JSON.
        """
        if not self._first_start:
            return
        self._first_start = False
        values = {"task": task, **config}
        with self._writer.as_default():
            text_summary(
                CONFIG_TAG.name,
                _config_table(values),
                step=0,
                description=CONFIG_TAG.description,
            )
            hp.hparams({name: _hparam(value) for name, value in values.items()})
        self._writer.flush()

    def video(self, name: str, video: np.ndarray, frames: int, fps: int = 20) -> None:
        """Logs a video as an animated GIF (see :func:`video_summary`).

        Args:
            name: The video's name, e.g. ``"train/openloop"``; its TensorBoard
                tag and description come from :data:`VIDEO_TAGS`, and a name
                not listed there is the tag itself.
            video: ``[T, H, W, C]`` or ``[B, T, H, W, C]``; uint8 or floats in
                ``[0, 1]``.
            frames: The step: environment frames so far.
            fps: Frames per second of playback.
        """
        tag = VIDEO_TAGS.get(name, Tag(name, ""))
        with self._writer.as_default():
            video_summary(tag.name, video, int(frames), fps, tag.description)
        self._writer.flush()

    def close(self) -> None:
        """Flushes and closes ``metrics.jsonl`` and the event file."""
        if not self._file.closed:
            self._file.close()
        self._writer.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def read_metrics(path: str) -> list[dict[str, Any]]:
    """Reads a ``metrics.jsonl`` file written by :class:`MetricsWriter`.

    A last line that is not valid JSON (the write a crash interrupted) is
    skipped.

    Args:
        path: The ``metrics.jsonl`` file, or the run directory holding it.

    Returns:
        The log events in file order, each a dict with ``frames``, ``time`` and
        the metrics of that event.

    Raises:
        FileNotFoundError: If there is no such file.
        ValueError: If a line other than the last is not valid JSON.
    """
    path = str(path)
    if os.path.isdir(path):
        path = os.path.join(path, METRICS_FILENAME)
    with open(path, encoding="utf-8") as file:
        lines = [line for line in file.read().split("\n") if line.strip()]
    records = []
    for index, line in enumerate(lines):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as error:
            if index == len(lines) - 1:
                break
            raise ValueError(
                f"{path}, line {index + 1}: not valid JSON ({error}); only the "
                "last line may be truncated by a crash. Fix or remove that line."
            ) from error
    return records


def _config_table(values: dict[str, Any]) -> str:
    """A Markdown table of config fields and their values (as in config.json)."""
    rows = [
        f"| `{name}` | `{value if isinstance(value, str) else json.dumps(value)}` |"
        for name, value in values.items()
    ]
    return "\n".join(["| Field | Value |", "| --- | --- |", *rows])


def _hparam(value: Any) -> bool | int | float | str:
    """``value`` as the HParams summary takes it: a scalar, or else its JSON."""
    if isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value)


def _ever_nonzero(path: str, names: frozenset[str]) -> set[str]:
    """The metrics of ``names`` that a line of ``metrics.jsonl`` holds non-zero."""
    found = set()
    if not os.path.exists(path):
        return found
    with open(path, encoding="utf-8") as file:
        for line in file:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # A damaged line: MetricsWriter appends regardless.
            found.update(name for name in names if record.get(name))
    return found


def _to_float(name: str, value: Any) -> float:
    array = np.asarray(value)
    if array.size != 1:
        raise ValueError(
            f"Metric {name!r} must be a scalar; got an array of shape {array.shape}."
        )
    return float(array.reshape(()))


def _drop_truncated_last_line(path: str) -> None:
    """Ends the file with a newline, cutting a last line that is not valid JSON."""
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return
    with open(path, "rb+") as file:
        content = file.read()
        if content.endswith(b"\n"):
            return
        start = content.rfind(b"\n") + 1
        try:
            json.loads(content[start:])
        except ValueError:
            file.truncate(start)
        else:
            file.write(b"\n")
