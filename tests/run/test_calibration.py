"""Value calibration against real returns: numpy references and bad input."""

import numpy as np
import pytest
import tensorflow as tf

from dreamer_tf.run.calibration import discounted_returns, reliable_steps, value_error


def explicit_returns(reward, discount, continuation):
    returns = []
    for start in range(len(reward)):
        total, weight = 0.0, 1.0
        for step in range(start, len(reward)):
            total += weight * reward[step]
            weight *= discount * continuation[step]
        returns.append(total)
    return np.array(returns)


class DiscountedReturnsTest(tf.test.TestCase):
    def test_matches_the_explicit_sum(self):
        rng = np.random.default_rng(0)
        reward = rng.normal(size=12)
        continuation = np.ones(12)
        self.assertAllClose(
            discounted_returns(reward, 0.9),
            explicit_returns(reward, 0.9, continuation),
        )

    def test_a_terminal_state_cuts_the_sum(self):
        reward = np.array([0.0, 1.0, 2.0, 4.0])
        continuation = np.array([1.0, 1.0, 0.0, 1.0])
        returns = discounted_returns(reward, 0.5, continuation)
        self.assertAllClose(returns[:3], [0.0 + 0.5 + 0.5, 1.0 + 1.0, 2.0])
        self.assertAllClose(returns, explicit_returns(reward, 0.5, continuation))

    def test_bad_shapes_raise(self):
        with pytest.raises(ValueError, match="1-d"):
            discounted_returns(np.zeros((2, 3)), 0.9)
        with pytest.raises(ValueError, match="continuation"):
            discounted_returns(np.zeros(3), 0.9, np.ones(4))


class ReliableStepsTest(tf.test.TestCase):
    def test_missing_weight_is_within_tolerance(self):
        count = reliable_steps(51, 0.9, terminated=False)
        self.assertEqual(count, 23)
        self.assertLessEqual(0.9 ** (51 - (count - 1)), 0.05)
        self.assertGreater(0.9 ** (51 - count), 0.05)

    def test_terminal_episodes_count_whole_and_short_ones_not_at_all(self):
        self.assertEqual(reliable_steps(7, 0.99, terminated=True), 7)
        self.assertEqual(reliable_steps(20, 0.99, terminated=False), 0)
        self.assertEqual(reliable_steps(20, 1.0, terminated=False), 0)


class ValueErrorTest(tf.test.TestCase):
    def _episode(self, length, seed):
        rng = np.random.default_rng(seed)
        return {"reward": rng.normal(size=length), "discount": np.ones(length)}

    def test_offset_values_give_that_bias_on_reliable_steps_only(self):
        episodes = [self._episode(51, 0), self._episode(51, 1)]
        values = []
        for episode in episodes:
            value = discounted_returns(episode["reward"], 0.9) + 0.5
            value[23:] = 1e6  # the truncated tail must not count
            values.append(value)
        result = value_error(values, episodes, 0.9)
        self.assertAllClose(result["value_bias"], 0.5)
        self.assertAllClose(result["value_error"], 0.5)

    def test_error_is_mean_absolute(self):
        episode = self._episode(30, 2)
        episode["discount"][-1] = 0.0
        value = discounted_returns(episode["reward"], 0.9, episode["discount"])
        value[::2] += 1.0
        value[1::2] -= 1.0
        result = value_error([value], [episode], 0.9)
        self.assertAllClose(result["value_bias"], 0.0)
        self.assertAllClose(result["value_error"], 1.0)

    def test_nothing_reliable_gives_no_figures(self):
        episode = self._episode(10, 3)
        self.assertEqual(value_error([np.zeros(10)], [episode], 0.99), {})

    def test_mismatches_raise(self):
        episode = self._episode(10, 4)
        with pytest.raises(ValueError, match="episodes"):
            value_error([np.zeros(10)], [episode, episode], 0.9)
        with pytest.raises(ValueError, match="shape"):
            value_error([np.zeros(9)], [episode], 0.9)
