"""The tanh-Normal's sample estimates and the straight-through one-hot."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from dreamer_tf.distributions import ClippedTanh, OneHotDist, SampleDist, tanh_normal

tfd = tfp.distributions


class TanhNormalTest(tf.test.TestCase):
    def test_log_prob_finite_at_bounds(self):
        distribution = tanh_normal(tf.zeros([2, 3]), tf.ones([2, 3]))
        for action in (tf.ones([2, 3]), -tf.ones([2, 3])):
            self.assertAllEqual(
                tf.math.is_finite(distribution.log_prob(action)), [True, True]
            )

    def test_log_prob_matches_change_of_variables(self):
        mean, std, action = 0.3, 0.7, np.array([0.2, -0.5], np.float32)
        distribution = tanh_normal(tf.fill([2], mean), tf.fill([2], std))
        pre_tanh = np.arctanh(action)
        normal = -0.5 * ((pre_tanh - mean) / std) ** 2 - np.log(
            std * np.sqrt(2 * np.pi)
        )
        expected = np.sum(normal - np.log(1 - action**2))
        self.assertAllClose(distribution.log_prob(action), expected, rtol=1e-4)

    def test_sample_estimates(self):
        tf.random.set_seed(1)
        distribution = tanh_normal(tf.fill([1, 1], 0.5), tf.fill([1, 1], 0.05), 500)
        self.assertAllClose(distribution.mean(), [[np.tanh(0.5)]], atol=0.01)
        self.assertAllClose(distribution.mode(), [[np.tanh(0.5)]], atol=0.02)
        samples = distribution.sample()
        self.assertAllInRange(samples, -1.0, 1.0)

    def test_entropy_estimate_of_plain_normal(self):
        tf.random.set_seed(2)
        normal = tfd.Independent(tfd.Normal(tf.zeros([4, 2]), 2.0), 1)
        estimate = SampleDist(normal, num_samples=4000).entropy()
        self.assertAllClose(estimate, normal.entropy(), atol=0.1)

    def test_clipped_tanh_inverse(self):
        bijector = ClippedTanh()
        self.assertAllEqual(
            tf.math.is_finite(bijector.inverse(tf.constant([1.0, -1.0]))), [True, True]
        )
        self.assertAllClose(bijector.inverse(tf.constant([0.5])), [np.arctanh(0.5)])


class OneHotDistTest(tf.test.TestCase):
    def test_forward_is_one_hot(self):
        distribution = OneHotDist(logits=tf.random.normal([16, 5]))
        sample = distribution.sample()
        self.assertAllClose(tf.reduce_sum(sample, -1), tf.ones([16]))
        self.assertAllClose(tf.reduce_max(sample, -1), tf.ones([16]))
        self.assertAllClose(tf.reduce_sum(tf.round(sample), -1), tf.ones([16]))

    def test_gradient_equals_probability_gradient(self):
        logits = tf.Variable(tf.random.normal([3, 4]))
        weights = tf.random.normal([3, 4])
        with tf.GradientTape(persistent=True) as tape:
            sample = OneHotDist(logits=logits).sample()
            through_sample = tf.reduce_sum(sample * weights)
            through_probs = tf.reduce_sum(tf.nn.softmax(logits) * weights)
        self.assertAllClose(
            tape.gradient(through_sample, logits), tape.gradient(through_probs, logits)
        )

    def test_mode_is_argmax(self):
        logits = tf.constant([[0.1, 2.0, -1.0], [3.0, 0.0, 0.0]])
        self.assertAllEqual(OneHotDist(logits=logits).mode(), [[0, 1, 0], [1, 0, 0]])

    def test_sample_shape(self):
        self.assertEqual(OneHotDist(logits=tf.zeros([2, 3])).sample(4).shape, (4, 2, 3))
