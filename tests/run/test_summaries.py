"""GIF encoding, open-loop video layout, metrics.jsonl and TensorBoard event files."""

import glob
import io
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageSequence
from support.tiny import pixel_spaces, random_batch, tiny_config

from dreamer_tf.agent import Dreamer
from dreamer_tf.run.summaries import (
    IMAGINED_COLOR,
    JSONL_ONLY_METRICS,
    OBSERVED_COLOR,
    SCALAR_TAGS,
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


# Layout of open_loop_video: a header strip above, a label column on the left,
# and a border around each frame.
HEADER, LABELS, BORDER = 14, 36, 2


def open_loop_tiles(video, height, width):
    """Cuts an open-loop video into its tiles: ``[T, 3 rows, B, H + 4, W + 4, 3]``."""
    grid = video[:, HEADER:, LABELS:]
    length, rows, columns = grid.shape[0], 3, grid.shape[2] // (width + 2 * BORDER)
    tiles = grid.reshape(length, rows, height + 2 * BORDER, columns, -1, 3)
    return tiles.transpose(0, 1, 3, 2, 4, 5)


def test_open_loop_video_layout():
    batch, length, height, width = 2, 3, 4, 5
    truth = np.zeros((batch, length, height, width, 3), np.float32)
    truth[1] = 1.0
    prediction = np.full_like(truth, 0.5)
    video = open_loop_video(truth, prediction, context=2)
    assert video.dtype == np.uint8
    assert video.shape == (
        length,
        HEADER + 3 * (height + 2 * BORDER),
        LABELS + batch * (width + 2 * BORDER),
        3,
    )
    inner = open_loop_tiles(video, height, width)[
        ..., BORDER:-BORDER, BORDER:-BORDER, :
    ]
    # Truth row, model row, error row (prediction - truth + 1) / 2.
    assert np.all(inner[:, 0, 0] == 0) and np.all(inner[:, 0, 1] == 255)
    assert np.all(inner[:, 1] == 128)
    assert np.all(inner[:, 2, 0] == 191) and np.all(inner[:, 2, 1] == 64)
    with pytest.raises(ValueError, match="same shape"):
        open_loop_video(truth, prediction[:, :2])


def test_open_loop_video_marks_observed_and_imagined_frames():
    truth = np.zeros((2, 4, 8, 8, 1), np.float32)
    video = open_loop_video(truth, truth, context=3)
    tiles = open_loop_tiles(video, 8, 8)
    for step, color in enumerate([OBSERVED_COLOR] * 3 + [IMAGINED_COLOR]):
        corners = tiles[step, :, :, 0, 0]  # every tile's top-left border pixel
        assert np.all(corners == color), (step, corners)
        # The header's text is green when observed, red when imagined.
        red, green, _ = video[step, :HEADER].reshape(-1, 3).sum(0, dtype=np.int64)
        assert (green > red) == (color == OBSERVED_COLOR), (step, red, green)
    labels = video[0, HEADER:, :LABELS]
    row_height = labels.shape[0] // 3
    for row in range(3):
        assert labels[row * row_height : (row + 1) * row_height].any(), row


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
        ("losses/model", 1000): 2.5,
        ("progress/frames_per_second", 1000): 30.0,
        ("returns/eval", 2000): 123.0,
    }
    plugins = {
        value.metadata.plugin_data.plugin_name
        for event in events(str(tmp_path))
        for value in event.summary.value
    }
    assert plugins == {"scalars"}


def test_tensorboard_tags_have_descriptions_and_sections_with_losses_first(tmp_path):
    metrics = {name: 1.0 for name in [*SCALAR_TAGS, *JSONL_ONLY_METRICS, "custom"]}
    with MetricsWriter(str(tmp_path)) as writer:
        writer.write(100, metrics)
    assert set(read_metrics(str(tmp_path))[0]) == {"frames", "time", *metrics}
    descriptions = {
        value.tag: value.metadata.summary_description
        for event in events(str(tmp_path))
        for value in event.summary.value
    }
    assert len(descriptions) == len(SCALAR_TAGS) + 1  # eval/episodes: jsonl only
    assert all(len(text) > 20 for text in descriptions.values()), descriptions
    assert "custom" in descriptions
    # TensorBoard orders sections alphabetically.
    sections = sorted({tag.split("/")[0] for tag in descriptions} - {"custom"})
    assert sections[0] == "losses", sections
    assert all(tag.name.count("/") == 1 for tag in SCALAR_TAGS.values())


@pytest.mark.parametrize(
    "changes", [{"pcont": True}, {"representation": "contrastive"}], ids=str
)
def test_every_metric_of_an_update_has_a_tensorboard_tag(changes):
    config = tiny_config(**changes)
    agent = Dreamer(config, *pixel_spaces())
    names = [f"train/{key}" for key in agent.train(random_batch(config))]
    assert [name for name in names if name not in SCALAR_TAGS] == []


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
        writer.video("custom", moving_square(), 600)
    images = [
        (event.step, value)
        for event in events(str(tmp_path))
        for value in event.summary.value
        if value.HasField("image")
    ]
    assert [(step, value.tag) for step, value in images] == [
        (500, "videos/eval_policy"),
        (600, "custom"),
    ]
    value = images[0][1]
    assert "evaluation" in value.metadata.summary_description
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
