"""GIF encoding, open-loop video layout, metrics.jsonl and TensorBoard event files."""

import glob
import io
import json
import os

import numpy as np
import tensorflow as tf
from PIL import Image, ImageSequence
from support.tiny import pixel_spaces, random_batch, tiny_config
from tensorboard.plugins.hparams import metadata as hparams_metadata

from dreamer_tf.architecture import agent_class
from dreamer_tf.config import DreamerConfig
from dreamer_tf.run.summaries import (
    CONFIG_TAG,
    HIDDEN_WHILE_ZERO_METRICS,
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


def summary_values(logdir):
    """``(step, Summary.Value)`` of every summary in the logdir's event files."""
    return [
        (event.step, value) for event in events(logdir) for value in event.summary.value
    ]


def scalars(logdir):
    return {
        (value.tag, step): tf.make_ndarray(value.tensor).item()
        for step, value in summary_values(logdir)
        if value.metadata.plugin_data.plugin_name == "scalars"
    }


class GifTest(tf.test.TestCase):
    def test_round_trip(self):
        for channels in (1, 3):
            with self.subTest(channels=channels):
                video = moving_square(channels=channels)
                data = encode_gif(video, fps=10)
                self.assertTrue(data.startswith(b"GIF8"))
                frames = gif_frames(data)
                self.assertLen(frames, len(video))
                self.assertEqual(frames[0].shape, (16, 12, 3))
                # A black-and-white video survives palette quantisation exactly.
                self.assertAllEqual(frames[3][..., 0], video[3][..., 0])

    def test_accepts_floats_and_rejects_bad_shapes(self):
        frames = gif_frames(encode_gif(moving_square().astype(np.float32) / 255.0))
        self.assertLen(frames, 5)
        with self.assertRaisesRegex(ValueError, "T, H, W, C"):
            encode_gif(np.zeros((4, 8, 8, 2), np.uint8))
        with self.assertRaisesRegex(TypeError, "uint8"):
            encode_gif(np.zeros((4, 8, 8, 3), np.int32))


# Layout of open_loop_video: a header strip above, a label column on the left,
# and a border around each frame.
HEADER, LABELS, BORDER = 24, 60, 2
# TensorBoard 2.21 shows an image at most about 370 px wide in the Time Series
# dashboard's default card (measured in a 1400 px wide window).
CARD_WIDTH = 370


def open_loop_tiles(video, height, width):
    """Cuts an open-loop video into its tiles: ``[T, 3 rows, B, H + 4, W + 4, 3]``."""
    grid = video[:, HEADER:, LABELS:]
    length, rows, columns = grid.shape[0], 3, grid.shape[2] // (width + 2 * BORDER)
    tiles = grid.reshape(length, rows, height + 2 * BORDER, columns, -1, 3)
    return tiles.transpose(0, 1, 3, 2, 4, 5)


def lit_extent(image):
    """Row and column ranges ``(top, bottom, left, right)`` of non-black pixels."""
    rows = np.flatnonzero(image.any(axis=(1, 2)))
    columns = np.flatnonzero(image.any(axis=(0, 2)))
    return rows[0], rows[-1] + 1, columns[0], columns[-1] + 1


class OpenLoopVideoTest(tf.test.TestCase):
    def test_layout(self):
        batch, length, height, width = 2, 3, 4, 5
        truth = np.zeros((batch, length, height, width, 3), np.float32)
        truth[1] = 1.0
        prediction = np.full_like(truth, 0.5)
        video = open_loop_video(truth, prediction, context=2)
        self.assertEqual(video.dtype, np.uint8)
        self.assertEqual(
            video.shape,
            (
                length,
                HEADER + 3 * (height + 2 * BORDER),
                LABELS + batch * (width + 2 * BORDER),
                3,
            ),
        )
        inner = open_loop_tiles(video, height, width)[
            ..., BORDER:-BORDER, BORDER:-BORDER, :
        ]
        # Truth row, model row, error row (prediction - truth + 1) / 2.
        self.assertTrue(np.all(inner[:, 0, 0] == 0) and np.all(inner[:, 0, 1] == 255))
        self.assertTrue(np.all(inner[:, 1] == 128))
        self.assertTrue(np.all(inner[:, 2, 0] == 191) and np.all(inner[:, 2, 1] == 64))
        with self.assertRaisesRegex(ValueError, "same shape"):
            open_loop_video(truth, prediction[:, :2])

    def test_marks_observed_and_imagined_frames(self):
        truth = np.zeros((2, 4, 8, 8, 1), np.float32)
        video = open_loop_video(truth, truth, context=3)
        tiles = open_loop_tiles(video, 8, 8)
        for step, color in enumerate([OBSERVED_COLOR] * 3 + [IMAGINED_COLOR]):
            corners = tiles[step, :, :, 0, 0]  # every tile's top-left border pixel
            self.assertTrue(np.all(corners == color), (step, corners))
            # The header's text is green when observed, red when imagined.
            header = video[step, :HEADER].reshape(-1, 3).sum(0, dtype=np.int64)
            red, green, _ = header
            self.assertEqual(green > red, color == OBSERVED_COLOR, (step, header))

    def test_labels_legible_at_tensorboards_card_width(self):
        # The training loop's video: six sequences of 64x64 frames.
        truth = np.zeros((6, 2, 64, 64, 3), np.float32)
        video = open_loop_video(truth, truth, context=1)
        shrink = min(1.0, CARD_WIDTH / video.shape[2])
        row_height = 64 + 2 * BORDER
        labels = video[0, HEADER:, :LABELS]
        for row in range(3):
            band = labels[row * row_height : (row + 1) * row_height]
            top, bottom, left, right = lit_extent(band)
            # Centred in its row, inside the label column, and tall enough on
            # screen: "error", all x-height, was 5 px there (and read "e ror").
            self.assertBetween((top + bottom) / 2, row_height * 0.3, row_height * 0.7)
            self.assertGreater(left, 0)
            self.assertLess(right, LABELS - 1)
            self.assertGreaterEqual((bottom - top) * shrink, 7, row)
        top, bottom, left, right = lit_extent(video[0, :HEADER])
        self.assertGreaterEqual((bottom - top) * shrink, 10)
        self.assertTrue(0 < top and bottom < HEADER and right < video.shape[2])
        # The header's longest text fits above two sequences too.
        narrow = open_loop_video(
            truth[:2, :1].repeat(12, 1), truth[:2, :1].repeat(12, 1)
        )
        _, _, _, right = lit_extent(narrow[-1, :HEADER])
        self.assertLess(right, narrow.shape[2] - 1)


class MetricsWriterTest(tf.test.TestCase):
    def test_jsonl_and_scalars(self):
        logdir = self.get_temp_dir()
        with MetricsWriter(logdir) as writer:
            writer.write(1000, {"train/model_loss": np.float32(2.5), "fps": 30})
            writer.write(2000, {"eval/return": tf.constant(123.0)})
        with open(os.path.join(logdir, "metrics.jsonl")) as file:
            lines = file.read().splitlines()
        self.assertLen(lines, 2)
        first = json.loads(lines[0])
        self.assertEqual(first["frames"], 1000)
        self.assertEqual(first["train/model_loss"], 2.5)
        self.assertEqual(first["fps"], 30.0)
        self.assertIsInstance(first["time"], float)
        self.assertEqual(
            scalars(logdir),
            {
                ("losses/model", 1000): 2.5,
                ("progress/frames_per_second", 1000): 30.0,
                ("episode_returns/eval", 2000): 123.0,
            },
        )

    def test_always_zero_charts_appear_from_their_first_nonzero_value(self):
        logdir = self.get_temp_dir()
        zeros = dict.fromkeys(HIDDEN_WHILE_ZERO_METRICS, 0.0)
        skipped = {"train/skipped_updates": 2.0, "train/update_skipped": 0.02}
        with MetricsWriter(logdir) as writer:
            writer.write(1000, {**zeros, "fps": 10.0})
            writer.write(2000, {**zeros, **skipped})
            writer.write(3000, zeros)
        # A resumed run goes on charting the zeros of a chart already shown.
        with MetricsWriter(logdir) as writer:
            writer.write(4000, zeros)
        shown = {tag: [] for tag in ("skipped_updates", "skipped_update_fraction")}
        for tag, step in sorted(scalars(logdir)):
            if tag.removeprefix("progress/") in shown:
                shown[tag.removeprefix("progress/")].append(step)
        self.assertEqual(shown["skipped_updates"], [2000, 3000, 4000])
        self.assertEqual(shown["skipped_update_fraction"], [2000, 3000, 4000])
        tags = {tag for tag, _ in scalars(logdir)}
        self.assertIn("progress/frames_per_second", tags)
        self.assertNotIn("progress/dropped_episodes", tags)
        records = read_metrics(logdir)
        self.assertLen(records, 4)
        for record in records:
            self.assertContainsSubset(HIDDEN_WHILE_ZERO_METRICS, record)

    def test_rejects_reserved_and_non_scalar(self):
        logdir = self.get_temp_dir()
        with MetricsWriter(logdir) as writer:
            with self.assertRaisesRegex(ValueError, "reserved"):
                writer.write(1, {"frames": 3.0})
            with self.assertRaisesRegex(ValueError, "scalar"):
                writer.write(1, {"loss": np.zeros(3)})
        self.assertEqual(read_metrics(logdir), [])

    def test_video_summary_in_event_file(self):
        logdir = self.get_temp_dir()
        with MetricsWriter(logdir) as writer:
            writer.video("eval/policy", np.stack([moving_square()] * 2), 500)
            writer.video("custom", moving_square(), 600)
        images = [
            (step, value)
            for step, value in summary_values(logdir)
            if value.HasField("image")
        ]
        self.assertEqual(
            [(step, value.tag) for step, value in images],
            [(500, "videos/eval_policy"), (600, "custom")],
        )
        value = images[0][1]
        self.assertIn("evaluation", value.metadata.summary_description)
        image = value.image
        self.assertEqual((image.height, image.width, image.colorspace), (16, 24, 3))
        self.assertTrue(image.encoded_image_string.startswith(b"GIF8"))
        self.assertLen(gif_frames(image.encoded_image_string), 5)

    def test_video_summary_without_default_writer_is_a_no_op(self):
        video_summary("video", moving_square(), step=0)

    def test_read_metrics_skips_truncated_last_line(self):
        logdir = self.get_temp_dir()
        path = os.path.join(logdir, "metrics.jsonl")
        with open(path, "w") as file:
            file.write(
                '{"frames": 1, "a": 1.0}\n{"frames": 2, "a": 2.0}\n{"frames": 3, "a'
            )
        self.assertEqual([record["frames"] for record in read_metrics(path)], [1, 2])
        # Reopening the run cuts the partial line before appending.
        with MetricsWriter(logdir) as writer:
            writer.write(4, {"a": 4.0})
        frames = [record["frames"] for record in read_metrics(logdir)]
        self.assertEqual(frames, [1, 2, 4])
        with open(path, "w") as file:
            file.write('{"frames": 1}\n{"frames": \n{"frames": 3}\n')
        with self.assertRaisesRegex(ValueError, "line 2"):
            read_metrics(path)


class TensorBoardTagsTest(tf.test.TestCase):
    def test_descriptions_and_sections_with_returns_then_losses_first(self):
        logdir = self.get_temp_dir()
        names = [*SCALAR_TAGS, *JSONL_ONLY_METRICS, "custom"]
        with MetricsWriter(logdir) as writer:
            writer.write(100, dict.fromkeys(names, 1.0))
        self.assertEqual(set(read_metrics(logdir)[0]), {"frames", "time", *names})
        descriptions = {
            value.tag: value.metadata.summary_description
            for _, value in summary_values(logdir)
        }
        # Every scalar but the jsonl-only ones, and the custom one.
        self.assertLen(descriptions, len(SCALAR_TAGS) + 1)
        for tag, text in descriptions.items():
            self.assertGreater(len(text), 20, tag)
        self.assertIn("custom", descriptions)
        self.assertTrue(all(tag.name.count("/") == 1 for tag in SCALAR_TAGS.values()))
        # TensorBoard sorts sections and the charts in them by name (digits
        # aside), and opens the first two sections.
        tags = sorted(set(descriptions) - {"custom"})
        sections = sorted({tag.split("/")[0] for tag in tags})
        self.assertEqual(sections[:2], ["episode_returns", "losses"])
        returns = [tag for tag in tags if tag.startswith("episode_returns/")]
        self.assertEqual(returns[0], SCALAR_TAGS["eval/return"].name)
        self.assertLess(
            returns.index(SCALAR_TAGS["eval_only/return"].name),
            returns.index(SCALAR_TAGS["train/return"].name),
        )
        self.assertEqual(returns[2], SCALAR_TAGS["train/return"].name)

    def test_every_metric_of_an_update_has_a_tensorboard_tag(self):
        dreamerv2 = {"agent": "dreamerv2", "rssm_classes": 4, "kl_balance": 0.8}
        for changes in (
            {"pcont": True},
            {"representation": "contrastive"},
            {**dreamerv2, "pcont": True},
        ):
            with self.subTest(**changes):
                config = tiny_config(**changes)
                agent = agent_class(config)(config, *pixel_spaces())
                names = [f"train/{key}" for key in agent.train(random_batch(config))]
                self.assertEqual(
                    [name for name in names if name not in SCALAR_TAGS], []
                )


class ConfigTest(tf.test.TestCase):
    def config_records(self, logdir):
        """The config's texts, and the hparams of its HParams records."""
        texts, hparams = [], []
        for step, value in summary_values(logdir):
            plugin = value.metadata.plugin_data
            if plugin.plugin_name == "text":
                self.assertEqual((value.tag, step), (CONFIG_TAG.name, 0))
                texts.append(tf.make_ndarray(value.tensor).item().decode())
            elif plugin.plugin_name == hparams_metadata.PLUGIN_NAME:
                tag = hparams_metadata.SESSION_START_INFO_TAG
                self.assertEqual((value.tag, step), (tag, 0))
                start = hparams_metadata.parse_session_start_info_plugin_data(
                    plugin.content
                )
                hparams.append(start.hparams)
        return texts, hparams

    def test_config_as_a_text_table_and_as_hparams(self):
        logdir = self.get_temp_dir()
        config = {**DreamerConfig().to_dict(), "sizes": [2, 3]}
        with MetricsWriter(logdir) as writer:
            writer.write_config("dmc_cartpole_balance", config)
        (text,), (hparams,) = self.config_records(logdir)
        rows = text.splitlines()
        self.assertEqual(rows[:2], ["| Field | Value |", "| --- | --- |"])
        self.assertEqual(rows[2], "| `task` | `dmc_cartpole_balance` |")
        self.assertLen(rows, 3 + len(config))
        self.assertIn("| `pcont` | `false` |", rows)
        self.assertIn("| `model_lr` | `0.0006` |", rows)
        self.assertIn("| `sizes` | `[2, 3]` |", rows)
        self.assertEqual(set(hparams), {"task", *config})
        self.assertEqual(hparams["task"].string_value, "dmc_cartpole_balance")
        self.assertEqual(hparams["representation"].string_value, "reconstruction")
        self.assertAllClose(hparams["model_lr"].number_value, 6e-4)
        self.assertTrue(hparams["pcont"].HasField("bool_value"))
        self.assertFalse(hparams["pcont"].bool_value)
        self.assertEqual(hparams["sizes"].string_value, "[2, 3]")

    def test_written_once_per_run(self):
        logdir = self.get_temp_dir()
        for _ in range(2):  # the first start, then a resume
            with MetricsWriter(logdir) as writer:
                writer.write_config("task", {"steps": 100})
                writer.write_config("task", {"steps": 100})
                writer.write(1000, {"eval/return": 1.0})
        texts, hparams = self.config_records(logdir)
        self.assertLen(texts, 1)
        self.assertLen(hparams, 1)
