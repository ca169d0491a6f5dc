"""dreamer_tf.run.narration: the start block, progress ticks and the end summary."""

import io
import os
from contextlib import redirect_stdout

import tensorflow as tf

from dreamer_tf.config import DreamerConfig
from dreamer_tf.run import narration


def quick_config():
    return DreamerConfig(
        prefill=1000, pretrain=10, train_every=500, train_steps=5, eval_every=1000,
        batch_size=8, batch_length=32, steps=3000,
    )  # fmt: skip


class StartBlockTest(tf.test.TestCase):
    def block(self, **changes):
        arguments = dict(
            command="dreamer-tf train",
            task="dmc_cartpole_balance",
            task_given=True,
            presets=["quick"],
            overrides=["--task=dmc_cartpole_balance", "--logdir=runs/q", "--seed=3"],
            logdir="runs/q",
            resumes=False,
            config=quick_config(),
        )
        return narration.start_block(**{**arguments, **changes})

    def test_names_task_presets_flags_logdir_and_schedule(self):
        block = self.block()
        self.assertStartsWith(block, "dreamer-tf train: dmc_cartpole_balance\n")
        self.assertIn("presets   quick", block)
        self.assertIn("flags     --seed=3", block)
        self.assertNotIn("--logdir=", block)
        self.assertIn("logdir    runs/q (a new run)", block)
        self.assertIn("1000 frames of random actions, then 10 pretraining", block)
        self.assertIn("then 5 updates of 8x32 every 500 frames", block)
        self.assertIn("until 3000 frames", block)

    def test_counts_of_one_are_singular(self):
        config = quick_config().replace(train_steps=1, pretrain=1, train_every=10)
        block = self.block(config=config)
        self.assertIn("then 1 pretraining update\n", block)
        self.assertIn("then 1 update of 8x32 every 10 frames", block)
        self.assertIn("evaluation (1 episode)", block)

    def test_a_default_task_and_a_resume_are_said(self):
        block = self.block(task="dmc_walker_walk", task_given=False, resumes=True)
        self.assertIn("dmc_walker_walk (the default: --task was not given)", block)
        self.assertIn("(resumes the run there, with its saved config)", block)
        self.assertIn("presets   none (the paper's defaults)", self.block(presets=[]))
        resumed = self.block(presets=[], resumes=True)
        self.assertIn("presets   none (the run's saved config)", resumed)

    def test_the_allocator_row_ends_the_block_when_given(self):
        self.assertNotIn("allocator", self.block())
        block = self.block(allocator="tcmalloc (/lib/libtcmalloc.so.4)")
        self.assertEndsWith(block, "\n  allocator tcmalloc (/lib/libtcmalloc.so.4)")

    def test_device_row(self):
        self.assertEqual(
            narration.device_line("CPU (2 cores)", "float32 (--precision=32)", 1),
            "  device    CPU (2 cores), float32 (--precision=32)",
        )
        self.assertIn(
            "2 GPUs (2 replicas in sync), x", narration.device_line("2 GPUs", "x", 2)
        )


class TickerTest(tf.test.TestCase):
    def test_first_line_after_a_few_seconds_then_at_intervals(self):
        now = [0.0]
        ticker = narration.Ticker("prefill", 1000, "frames", clock=lambda: now[0])
        output = io.StringIO()
        with redirect_stdout(output):
            self.assertIsNone(ticker.update(10))
            now[0] = narration.FIRST_TICK_S
            line = ticker.update(100)
            now[0] += 1
            self.assertIsNone(ticker.update(120))
            now[0] = narration.FIRST_TICK_S + narration.TICK_EVERY_S
            self.assertIsNotNone(ticker.update(500))
            self.assertIsNone(ticker.update(1000))  # Done: the next line takes over.
        # 100 frames in 5 s: 20 frames/s, 900 left take 45 s.
        expected = "prefill: 100/1000 frames (20.0 frames/s, about 45s left)"
        self.assertEqual(line, expected)
        self.assertEqual(output.getvalue().count("\n"), 2)

    def test_slow_steps_are_timed_each_and_a_resume_counts_from_its_start(self):
        now = [0.0]
        ticker = narration.Ticker(
            "pretraining", 100, "updates", start=40, clock=lambda: now[0]
        )
        now[0] = 10.0
        with redirect_stdout(io.StringIO()):
            line = ticker.update(44)
        expected = "pretraining: 44/100 updates (2.5 s each, about 2m20s left)"
        self.assertEqual(line, expected)


class EndSummaryTest(tf.test.TestCase):
    def test_says_what_was_reached_where_it_is_and_how_to_look(self):
        summary = narration.end_summary(
            3000, 25, 192.0, [130.0, 140.0], "runs/q/checkpoints/ckpt-7", "runs/q"
        )
        self.assertStartsWith(summary, "run finished: 3000 frames, 25 updates, 3m12s")
        self.assertIn("eval return 135.0 (std 5.0, 2 episodes)", summary)
        self.assertIn("runs/q/checkpoints/ckpt-7", summary)
        self.assertIn("dreamer-tf tensorboard runs/q", summary)
        self.assertIn("dreamer-tf plot runs/q --output runs/q/returns.png", summary)

    def test_names_the_command_as_it_can_be_called(self):
        summary = narration.end_summary(
            10, 1, 1.0, None, None, "r", program=".venv/bin/dreamer-tf"
        )
        self.assertIn("look      .venv/bin/dreamer-tf tensorboard r", summary)
        self.assertIn(".venv/bin/dreamer-tf eval --logdir=r", summary)
        self.assertNotIn("final", summary)

    def test_the_command_path_is_one_that_exists_or_the_name(self):
        path = narration.command_path()
        self.assertTrue(path == "dreamer-tf" or os.path.exists(path), path)
        self.assertTrue(path.endswith("dreamer-tf"))

    def test_durations(self):
        self.assertEqual(narration.format_duration(42.4), "42s")
        self.assertEqual(narration.format_duration(3723), "1h02m")
        self.assertEqual(narration.format_duration(float("inf")), "?")
