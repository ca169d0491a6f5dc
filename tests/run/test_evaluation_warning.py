"""An evaluation whose return is not finite is flagged, not logged as a score."""

import tensorflow as tf

from dreamer_tf.run import loop


class NonFiniteEvaluationTest(tf.test.TestCase):
    def test_names_the_episodes_whose_return_is_not_finite(self):
        with self.assertLogs(loop.logger, level="WARNING") as logs:
            loop._warn_if_not_finite([1.0, float("nan"), 3.0, float("inf")], "eval")
        (message,) = logs.output
        self.assertIn("eval: 2 of 4 episodes have a non-finite return", message)
        self.assertIn("(episodes 2, 4)", message)

    def test_finite_returns_warn_of_nothing(self):
        with self.assertNoLogs(loop.logger, level="WARNING"):
            loop._warn_if_not_finite([1.0, -2.5], "eval")
