"""GIF encoding, open-loop video layout, metrics.jsonl and TensorBoard event files."""

import glob
import io
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageSequence

from dreamer_tf.summaries import (
    MetricsWriter,
    encode_gif,
    open_loop_video,
    read_metrics,
    video_summary,
)


def moving_square(length=5, height=16, width=12, channels=3):
    """A video whose frames all differ (Pillow merges identical ones)."""
    video = np.zeros((length, height, width, channels), np.uint8)
    for t in range(length):
        video[t, t : t + 4, 2:6] = 255
    return video


def gif_frames(data: bytes) -> list[np.ndarray]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "GIF"
        assert image.info.get("loop") == 0
        return [
            np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(image)
        ]


def events(logdir):
    records = []
    for path in sorted(glob.glob(os.path.join(logdir, "events.out.tfevents.*"))):
        records.extend(tf.compat.v1.train.summary_iterator(path))
    return records


@pytest.mark.parametrize("channels", [1, 3])
def test_gif_round_trip(channels):
    video = moving_square(channels=channels)
    data = encode_gif(video, fps=10)
    assert data.startswith(b"GIF8")
    frames = gif_frames(data)
    assert len(frames) == len(video)
    assert frames[0].shape == (16, 12, 3)
    # A black-and-white video survives palette quantisation exactly.
    np.testing.assert_array_equal(frames[3][..., 0], video[3][..., 0])


def test_gif_accepts_floats_and_rejects_bad_shapes():
    frames = gif_frames(encode_gif(moving_square().astype(np.float32) / 255.0))
    assert len(frames) == 5
    with pytest.raises(ValueError, match="T, H, W, C"):
        encode_gif(np.zeros((4, 8, 8, 2), np.uint8))
    with pytest.raises(TypeError, match="uint8"):
        encode_gif(np.zeros((4, 8, 8, 3), np.int32))


def test_open_loop_video_layout():
    batch, length, height, width = 2, 3, 4, 5
    truth = np.zeros((batch, length, height, width, 3), np.float32)
    truth[1] = 1.0
    prediction = np.full_like(truth, 0.5)
    video = open_loop_video(truth, prediction)
    assert video.dtype == np.uint8
    assert video.shape == (length, 3 * height, batch * width, 3)
    rows = [video[:, row * height : (row + 1) * height] for row in range(3)]
    first, second = slice(0, width), slice(width, 2 * width)
    # Truth row, model row, error row (prediction - truth + 1) / 2.
    assert np.all(rows[0][:, :, first] == 0) and np.all(rows[0][:, :, second] == 255)
    assert np.all(rows[1] == 128)
    assert np.all(rows[2][:, :, first] == 191) and np.all(rows[2][:, :, second] == 64)
    with pytest.raises(ValueError, match="same shape"):
        open_loop_video(truth, prediction[:, :2])


def test_metrics_writer_jsonl_and_scalars(tmp_path):
    with MetricsWriter(str(tmp_path)) as writer:
        writer.write(1000, {"train/model_loss": np.float32(2.5), "fps": 30})
        writer.write(2000, {"eval/return": tf.constant(123.0)})
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert first["frames"] == 1000 and first["train/model_loss"] == 2.5
    assert first["fps"] == 30.0 and isinstance(first["time"], float)
    scalars = {
        (value.tag, event.step): tf.make_ndarray(value.tensor).item()
        for event in events(str(tmp_path))
        for value in event.summary.value
    }
    assert scalars == {
        ("train/model_loss", 1000): 2.5,
        ("fps", 1000): 30.0,
        ("eval/return", 2000): 123.0,
    }
    plugins = {
        value.metadata.plugin_data.plugin_name
        for event in events(str(tmp_path))
        for value in event.summary.value
    }
    assert plugins == {"scalars"}


def test_metrics_writer_rejects_reserved_and_non_scalar(tmp_path):
    with MetricsWriter(str(tmp_path)) as writer:
        with pytest.raises(ValueError, match="reserved"):
            writer.write(1, {"frames": 3.0})
        with pytest.raises(ValueError, match="scalar"):
            writer.write(1, {"loss": np.zeros(3)})
    assert read_metrics(str(tmp_path)) == []


def test_video_summary_in_event_file(tmp_path):
    with MetricsWriter(str(tmp_path)) as writer:
        writer.video("eval/policy", np.stack([moving_square()] * 2), 500)
    images = [
        (event.step, value)
        for event in events(str(tmp_path))
        for value in event.summary.value
        if value.HasField("image")
    ]
    assert len(images) == 1
    step, value = images[0]
    assert step == 500 and value.tag == "eval/policy"
    image = value.image
    assert (image.height, image.width, image.colorspace) == (16, 24, 3)
    assert image.encoded_image_string.startswith(b"GIF8")
    assert len(gif_frames(image.encoded_image_string)) == 5


def test_video_summary_without_default_writer_is_a_no_op():
    video_summary("video", moving_square(), step=0)


def test_read_metrics_skips_truncated_last_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(
        '{"frames": 1, "a": 1.0}\n{"frames": 2, "a": 2.0}\n{"frames": 3, "a'
    )
    assert [record["frames"] for record in read_metrics(str(path))] == [1, 2]
    # Reopening the run cuts the partial line before appending.
    with MetricsWriter(str(tmp_path)) as writer:
        writer.write(4, {"a": 4.0})
    assert [record["frames"] for record in read_metrics(str(tmp_path))] == [1, 2, 4]
    path.write_text('{"frames": 1}\n{"frames": \n{"frames": 3}\n')
    with pytest.raises(ValueError, match="line 2"):
        read_metrics(str(path))
