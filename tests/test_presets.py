"""dreamer_tf.presets: presets by name or path, from any directory."""

import pathlib

import pytest
import tensorflow as tf

from dreamer_tf import presets


class PresetExpansionTest(tf.test.TestCase):
    def test_a_preset_by_name_expands_with_the_preset_it_includes(self):
        arguments = presets.expand_arguments(["--preset=quick", "--steps=20"])
        paper = presets.expand_arguments(["--preset=paper"]).flags
        self.assertEqual(arguments.flags[: len(paper)], paper)
        self.assertIn("--cnn_depth=16", arguments.flags)
        self.assertEqual(arguments.flags[-1], "--steps=20")
        self.assertEqual(arguments.presets, ["quick"])
        self.assertEqual(arguments.overrides, ["--steps=20"])
        self.assertNotIn("--preset=paper", arguments.flags)

    def test_the_value_may_follow_as_the_next_argument(self):
        self.assertEqual(
            presets.expand_arguments(["--preset", "debug"]).flags,
            presets.expand_arguments(["--preset=debug"]).flags,
        )

    def test_a_path_includes_relative_to_the_file_from_any_directory(self):
        directory = pathlib.Path(self.get_temp_dir()) / "mine"
        directory.mkdir()
        (directory / "base.flags").write_text("# base\n--batch_size=4\n\n")
        (directory / "top.flags").write_text("--flagfile=base.flags\n--horizon=3\n")
        arguments = presets.expand_arguments([f"--preset={directory / 'top.flags'}"])
        self.assertEqual(arguments.flags, ["--batch_size=4", "--horizon=3"])
        self.assertEqual(arguments.presets, [str(directory / "top.flags")])

    def test_a_copied_preset_still_finds_the_preset_it_names(self):
        copy = pathlib.Path(self.get_temp_dir()) / "my_cpu.flags"
        copy.write_text((presets.PRESET_DIR / "cpu.flags").read_text())
        expanded = presets.expand_arguments([f"--flagfile={copy}"]).flags
        self.assertEqual(expanded, presets.expand_arguments(["--preset=cpu"]).flags)

    def test_unknown_missing_and_circular_presets_are_one_line_errors(self):
        with self.assertRaisesRegex(ValueError, r"no preset 'qick'; presets: .*quick"):
            presets.expand_arguments(["--preset=qick"])
        with self.assertRaisesRegex(ValueError, "does not exist"):
            presets.expand_arguments(["--flagfile=nowhere.flags"])
        with self.assertRaisesRegex(ValueError, "needs a value"):
            presets.expand_arguments(["--preset"])
        loop = pathlib.Path(self.get_temp_dir()) / "loop.flags"
        loop.write_text(f"--flagfile={loop}\n")
        with self.assertRaisesRegex(ValueError, "include each other"):
            presets.expand_arguments([f"--flagfile={loop}"])

    def test_every_shipped_preset_is_listed_with_a_summary(self):
        names = presets.preset_names()
        self.assertContainsSubset(["paper", "cpu", "quick", "atari", "debug"], names)
        for name in names:
            summary = presets.preset_summary(name)
            self.assertTrue(summary and "\n" not in summary, name)
        self.assertEqual(presets.preset_summary("debug"), "Tiny and fast")

    @pytest.mark.filterwarnings("ignore")
    def test_every_flag_of_every_preset_is_a_program_flag(self):
        from absl import flags

        from dreamer_tf.run import cli

        cli.define_program_flags()
        for name in presets.preset_names():
            for flag in presets.expand_arguments([f"--preset={name}"]).flags:
                self.assertIn(flag[2:].split("=")[0], flags.FLAGS, (name, flag))
