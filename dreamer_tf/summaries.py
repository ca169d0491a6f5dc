"""Logging: scalars and GIF videos for TensorBoard, and a crash-safe metrics.jsonl.

Every log event goes to two places. ``metrics.jsonl`` holds one JSON object per
line, flushed and fsynced as it is written, for plotting scripts and for
reading a run back after a crash. The TensorBoard event file holds the same
scalars, plus videos as animated GIFs that the image dashboard plays, as in
the Dreamer authors' code.

Nothing here needs the ``tensorboard`` package: TensorFlow 2.21 no longer
installs it, and its ``tf.summary.scalar`` then raises ``TBNotInstalledError``.
Scalars are written with the core ``tf.summary.write`` and the scalar
plugin's metadata (the same record ``tf.summary.scalar`` writes), and videos
as raw ``Summary.Image`` protos encoded in-process with Pillow.
"""

from __future__ import annotations

import io
import json
import os
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import tensorflow as tf
from PIL import Image

if TYPE_CHECKING:
    from typing import Self

METRICS_FILENAME = "metrics.jsonl"

# What tensorboard.plugins.scalar.metadata.create_summary_metadata() returns:
# plugin "scalars", empty content (ScalarPluginData version 0), data class
# DATA_CLASS_SCALAR (= 1).
_SCALAR_METADATA = tf.compat.v1.SummaryMetadata(
    plugin_data=tf.compat.v1.SummaryMetadata.PluginData(plugin_name="scalars"),
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


def video_summary(name: str, video: np.ndarray, step: int, fps: int = 20) -> None:
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
    summary = tf.compat.v1.Summary(
        value=[tf.compat.v1.Summary.Value(tag=name, image=image)]
    )
    tf.summary.experimental.write_raw_pb(summary.SerializeToString(), step=step)


def open_loop_video(truth: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """Lays out an open-loop prediction for viewing: truth, model, error.

    The rows, stacked vertically, are the true frames, the model's frames and
    their signed error ``(prediction - truth + 1) / 2`` (grey where they
    agree, bright where the model is too bright, dark where too dark), as in
    the Dreamer authors' code. The batch elements are placed side by side.

    Args:
        truth: True frames ``[B, T, H, W, C]``, floats in ``[0, 1]`` (e.g. from
            :meth:`~dreamer_tf.world_model.WorldModel.open_loop_prediction`).
        prediction: The model's frames, same shape.

    Returns:
        A uint8 video ``[T, 3 * H, B * W, C]``.

    Raises:
        ValueError: If the shapes differ or are not ``[B, T, H, W, C]``.
    """
    truth = np.asarray(truth, np.float32)
    prediction = np.asarray(prediction, np.float32)
    if truth.shape != prediction.shape or truth.ndim != 5:
        raise ValueError(
            "open_loop_video needs truth and prediction of the same shape "
            f"[B, T, H, W, C]; got {truth.shape} and {prediction.shape}."
        )
    error = (prediction - truth + 1.0) / 2.0
    rows = np.concatenate([truth, prediction, error], axis=2)
    return tile_batch(_to_uint8(rows))


class MetricsWriter:
    """Writes log events to ``metrics.jsonl`` and to a TensorBoard event file.

    Each :meth:`write` appends one line ``{"frames": ..., "time": ..., **metrics}``
    (``time`` in seconds since the Unix epoch) and flushes and fsyncs it, so a
    crash loses at most the event being written. Reopening a logdir appends;
    a truncated last line left by a crash is removed first, so the file stays
    one JSON object per line. Use as a context manager or call :meth:`close`.

    Args:
        logdir: The run's directory; created if missing.
    """

    def __init__(self, logdir: str):
        self.logdir = str(logdir)
        os.makedirs(self.logdir, exist_ok=True)
        self.path = os.path.join(self.logdir, METRICS_FILENAME)
        _drop_truncated_last_line(self.path)
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
                tf.summary.write(
                    name,
                    tf.constant(value, tf.float32),
                    step=int(frames),
                    metadata=_SCALAR_METADATA,
                )
        self._writer.flush()

    def video(self, name: str, video: np.ndarray, frames: int, fps: int = 20) -> None:
        """Logs a video as an animated GIF (see :func:`video_summary`).

        Args:
            name: The summary tag, e.g. ``"train/openl"``.
            video: ``[T, H, W, C]`` or ``[B, T, H, W, C]``; uint8 or floats in
                ``[0, 1]``.
            frames: The step: environment frames so far.
            fps: Frames per second of playback.
        """
        with self._writer.as_default():
            video_summary(name, video, int(frames), fps)
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
