"""The run's option flags are generated from the option dataclasses."""

import dataclasses

import tensorflow as tf
from absl import flags

from dreamer_tf.parallel.options import (
    ActorOptions,
    LearnerOptions,
    define_option_flags,
    options_from_flags,
)


def parsed(*argv: str) -> flags.FlagValues:
    flag_values = flags.FlagValues()
    define_option_flags(ActorOptions, flag_values)
    define_option_flags(LearnerOptions, flag_values)
    flag_values(["program", *argv])
    return flag_values


class OptionFlagsTest(tf.test.TestCase):
    def test_defaults_are_the_dataclasses_defaults(self):
        flag_values = parsed()
        self.assertEqual(options_from_flags(ActorOptions, flag_values), ActorOptions())
        self.assertEqual(
            options_from_flags(LearnerOptions, flag_values), LearnerOptions()
        )

    def test_every_field_has_a_flag_that_sets_it(self):
        flag_values = parsed(
            "--actors=3",
            "--actor_backend=ray",
            "--actor_sync_every=7",
            "--ray_address=auto",
            "--actor_start_timeout=12.5",
            "--ray_join_timeout=30",
            "--learner=mirrored",
            "--learner_cpu_devices=2",
            "--learner_join_timeout=45",
        )
        self.assertEqual(
            options_from_flags(ActorOptions, flag_values),
            ActorOptions(
                actors=3,
                backend="ray",
                sync_every=7,
                ray_address="auto",
                start_timeout_s=12.5,
                ray_join_timeout_s=30.0,
            ),
        )
        self.assertEqual(
            options_from_flags(LearnerOptions, flag_values),
            LearnerOptions(learner="mirrored", cpu_devices=2, join_timeout_s=45.0),
        )
        names = {
            field.metadata["flag"]
            for options in (ActorOptions, LearnerOptions)
            for field in dataclasses.fields(options)
        }
        self.assertLen(names, 9)
        self.assertContainsSubset(names, set(flag_values))

    def test_choices_are_checked_when_parsed(self):
        with self.assertRaises(flags.IllegalFlagValueError):
            parsed("--actor_backend=threads")
        with self.assertRaises(flags.IllegalFlagValueError):
            parsed("--learner=tpu")
