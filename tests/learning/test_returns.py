"""Value estimators against independent numpy loops."""

import numpy as np
import tensorflow as tf

from dreamer_tf.learning.returns import lambda_return, nstep_return, reward_sum_return


def numpy_lambda_return(reward, value, pcont, bootstrap, lambda_):
    horizon = len(reward)
    returns = np.zeros_like(reward)
    later = bootstrap
    for t in reversed(range(horizon)):
        next_value = value[t + 1] if t + 1 < horizon else bootstrap
        later = reward[t] + pcont[t] * ((1 - lambda_) * next_value + lambda_ * later)
        returns[t] = later
    return returns


class LambdaReturnTest(tf.test.TestCase):
    def setUp(self):
        rng = np.random.default_rng(0)
        self.reward = rng.normal(size=(6, 3)).astype(np.float32)
        self.value = rng.normal(size=(6, 3)).astype(np.float32)
        self.pcont = rng.uniform(0.5, 1.0, size=(6, 3)).astype(np.float32)
        self.bootstrap = rng.normal(size=(3,)).astype(np.float32)

    def test_matches_numpy(self):
        for lambda_ in (0.0, 0.3, 0.95, 1.0):
            expected = numpy_lambda_return(
                self.reward, self.value, self.pcont, self.bootstrap, lambda_
            )
            actual = lambda_return(
                self.reward, self.value, self.pcont, self.bootstrap, lambda_
            )
            self.assertAllClose(actual, expected, rtol=1e-5, atol=1e-5)

    def test_lambda_one_is_discounted_monte_carlo(self):
        actual = lambda_return(self.reward, self.value, 0.9, self.bootstrap, 1.0)
        horizon = len(self.reward)
        for t in range(horizon):
            discounts = 0.9 ** np.arange(horizon - t)
            expected = (discounts[:, None] * self.reward[t:]).sum(0)
            expected += 0.9 ** (horizon - t) * self.bootstrap
            self.assertAllClose(actual[t], expected, rtol=1e-5)

    def test_lambda_zero_is_td_target(self):
        actual = lambda_return(self.reward, self.value, self.pcont, self.bootstrap, 0.0)
        next_value = np.concatenate([self.value[1:], self.bootstrap[None]], 0)
        self.assertAllClose(actual, self.reward + self.pcont * next_value, rtol=1e-5)

    def test_time_axis(self):
        batch_major = lambda_return(
            self.reward.T, self.value.T, self.pcont.T, self.bootstrap, 0.95, axis=1
        )
        time_major = lambda_return(
            self.reward, self.value, self.pcont, self.bootstrap, 0.95
        )
        self.assertAllClose(batch_major, tf.transpose(time_major))

    def test_nstep_return(self):
        steps = 2
        actual = nstep_return(
            self.reward, self.value, self.pcont, self.bootstrap, steps
        )
        values = np.concatenate([self.value, self.bootstrap[None]], 0)
        horizon = len(self.reward)
        for t in range(horizon):
            end = min(t + steps, horizon)
            total, weight = np.zeros(3), np.ones(3)
            for n in range(t, end):
                total += weight * self.reward[n]
                weight *= self.pcont[n]
            self.assertAllClose(actual[t], total + weight * values[end], rtol=1e-5)

    def test_nstep_with_full_horizon_equals_lambda_one(self):
        horizon = len(self.reward)
        nstep = nstep_return(
            self.reward, self.value, self.pcont, self.bootstrap, horizon
        )
        full = lambda_return(self.reward, self.value, self.pcont, self.bootstrap, 1.0)
        self.assertAllClose(nstep, full, rtol=1e-5)

    def test_reward_sum_ignores_values(self):
        actual = reward_sum_return(self.reward, self.pcont)
        expected = numpy_lambda_return(
            self.reward, np.zeros_like(self.value), self.pcont, np.zeros(3), 1.0
        )
        self.assertAllClose(actual, expected, rtol=1e-5)
