"""dreamer_tf.run.flag_help: -h lists every program flag once, by purpose."""

import itertools

import tensorflow as tf
from absl import flags

from dreamer_tf.run import cli, flag_help


class FlagHelpTest(tf.test.TestCase):
    def setUp(self):
        super().setUp()
        cli.define_program_flags()

    def test_every_program_flag_is_in_exactly_one_group(self):
        grouped = list(itertools.chain(*flag_help.FLAG_GROUPS.values()))
        self.assertEqual(len(grouped), len(set(grouped)))
        program_flags = {
            name
            for module, module_flags in flags.FLAGS.flags_by_module_dict().items()
            if "dreamer_tf" in module or module.endswith(("cli", "options", "config"))
            for name in (flag.name for flag in module_flags)
        }
        self.assertIn("logdir", program_flags)
        self.assertEqual(set(grouped), program_flags)

    def test_train_help_shows_presets_groups_and_defaults(self):
        text = flag_help.program_help(flags.FLAGS, "train")
        self.assertStartsWith(text, "usage: dreamer-tf train")
        self.assertIn("  quick ", text)
        self.assertIn("Schedule (in environment frames):", text)
        self.assertIn("--batch_size=50", text)
        self.assertLess(text.index("Task and environment:"), text.index("World model:"))
        self.assertTrue(all(len(line) <= 88 for line in text.splitlines()))

    def test_export_help_shows_only_its_flags(self):
        text = flag_help.program_help(flags.FLAGS, "export")
        self.assertIn("--export_dir", text)
        self.assertNotIn("--batch_size", text)
        self.assertNotIn("Presets", text)
