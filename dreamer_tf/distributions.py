"""Action distributions of Dreamer's actors, built on TensorFlow Probability."""

from __future__ import annotations

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions
tfb = tfp.bijectors


class ClippedTanh(tfb.Tanh):
    """``tanh`` bijector whose inverse clips its input just inside (-1, 1).

    Actions of exactly +-1 (saturated samples, or clipped exploration noise)
    then have finite pre-images, so their log-probabilities stay finite.

    Args:
        epsilon: Distance from +-1 that the inverse clips to.
        validate_args: Passed to :class:`tfp.bijectors.Tanh`.
        name: Bijector name.
    """

    def __init__(self, epsilon: float = 1e-6, validate_args=False, name="clipped_tanh"):
        self._epsilon = epsilon
        super().__init__(validate_args=validate_args, name=name)

    def _inverse(self, y):
        bound = 1.0 - tf.cast(self._epsilon, y.dtype)
        return tf.atanh(tf.clip_by_value(y, -bound, bound))


class SampleDist:
    """Estimates mode, mean and entropy of a distribution from samples.

    The tanh-transformed Gaussian has no closed form for these; the paper's
    code estimates them from a batch of samples, and so does this wrapper.
    Other methods and attributes are forwarded to the wrapped distribution.

    Args:
        distribution: A TFP distribution with ``sample`` and ``log_prob``.
        num_samples: Samples drawn per estimate.
    """

    def __init__(self, distribution: tfd.Distribution, num_samples: int = 100):
        self.distribution = distribution
        self.num_samples = num_samples

    def __getattr__(self, name):
        return getattr(self.distribution, name)

    def sample(self, sample_shape=(), seed=None):
        """Draws reparameterised samples from the wrapped distribution."""
        return self.distribution.sample(sample_shape, seed=seed)

    def log_prob(self, value):
        """Log-density of ``value`` under the wrapped distribution."""
        return self.distribution.log_prob(value)

    def mean(self):
        """Sample mean over ``num_samples`` draws."""
        return tf.reduce_mean(self.distribution.sample(self.num_samples), 0)

    def mode(self):
        """The draw, out of ``num_samples``, with the highest log-probability."""
        samples = self.distribution.sample(self.num_samples)
        log_probs = self.distribution.log_prob(samples)
        best = tf.one_hot(tf.argmax(log_probs, 0), self.num_samples, axis=0)
        return tf.reduce_sum(samples * tf.cast(best, samples.dtype)[..., None], 0)

    def entropy(self):
        """Monte-Carlo entropy estimate ``-mean(log p(x))`` over the draws."""
        samples = self.distribution.sample(self.num_samples)
        return -tf.reduce_mean(self.distribution.log_prob(samples), 0)


def tanh_normal(mean: tf.Tensor, std: tf.Tensor, num_samples: int = 100) -> SampleDist:
    """A tanh-squashed diagonal Gaussian over an action vector.

    Args:
        mean: Pre-tanh means, shape ``[..., action_dim]``.
        std: Pre-tanh standard deviations, same shape.
        num_samples: Draws used to estimate mode, mean and entropy.

    Returns:
        ``Independent(Transformed(Normal(mean, std), ClippedTanh), 1)`` wrapped
        in :class:`SampleDist`.
    """
    squashed = tfd.TransformedDistribution(tfd.Normal(mean, std), ClippedTanh())
    return SampleDist(tfd.Independent(squashed, 1), num_samples)


class OneHotDist(tfd.OneHotCategorical):
    """One-hot categorical whose samples pass gradients straight through.

    ``sample`` returns ``one_hot + probs - stop_gradient(probs)``: one-hot in
    the forward pass, with the gradient of the probabilities in the backward
    pass (Bengio et al., 2013), so imagined discrete actions and DreamerV2's
    categorical latents stay differentiable. Classes are drawn with
    ``tf.random.categorical`` (TFP's own draw transposes integer indices,
    for which oneDNN prints an error-level notice on stderr).

    Constructed like :class:`tfp.distributions.OneHotCategorical` (``logits``
    or ``probs``); ``sample`` and ``mode`` return floats of the logits' dtype
    whatever ``dtype`` says, since a straight-through sample must be float.
    """

    def mode(self, **kwargs):
        """The one-hot vector of the most probable action."""
        logits = self.logits_parameter()
        return tf.one_hot(
            tf.argmax(logits, -1), tf.shape(logits)[-1], dtype=logits.dtype
        )

    def _sample_n(self, n, seed=None):
        logits = self.logits_parameter()
        classes = tf.shape(logits)[-1]
        flat_logits = tf.reshape(logits, [-1, classes])
        indices = tf.random.categorical(flat_logits, n, dtype=tf.int32, seed=seed)
        # Transposed as floats: oneDNN logs an error-level notice for integers.
        one_hot = tf.one_hot(indices, classes, dtype=logits.dtype)
        one_hot = tf.reshape(
            tf.transpose(one_hot, [1, 0, 2]), tf.concat([[n], tf.shape(logits)], 0)
        )
        return tf.cast(one_hot, self.dtype)

    def sample(self, sample_shape=(), seed=None, **kwargs):
        """A one-hot sample whose gradient is that of the probabilities."""
        probs = self.probs_parameter()
        hard = tf.cast(super().sample(sample_shape, seed=seed, **kwargs), probs.dtype)
        probs = tf.broadcast_to(probs, tf.shape(hard))
        return hard + probs - tf.stop_gradient(probs)


class ClippedTruncatedNormal(tfd.TruncatedNormal):
    """A truncated normal whose samples keep ``clip`` away from the bounds.

    DreamerV2's continuous actor. ``sample`` clips the draw to ``[low + clip,
    high - clip]`` in the forward pass and passes the unclipped draw's
    (reparameterised) gradient, so actions at the bounds keep finite
    log-probabilities and the gradient is not cut by the clip.

    Constructed like :class:`tfp.distributions.TruncatedNormal`.
    """

    #: Distance from the bounds that samples are clipped to.
    clip = 1e-6

    def sample(self, sample_shape=(), seed=None, **kwargs):
        """A reparameterised draw, clipped inside the bounds straight-through."""
        draw = super().sample(sample_shape, seed=seed, **kwargs)
        clipped = tf.clip_by_value(draw, self.low + self.clip, self.high - self.clip)
        return draw - tf.stop_gradient(draw) + tf.stop_gradient(clipped)


def truncated_normal(mean: tf.Tensor, std: tf.Tensor) -> tfd.Distribution:
    """DreamerV2's action distribution: a truncated normal on ``[-1, 1]`` per dim.

    Args:
        mean: Means before truncation, ``[..., action_dim]``.
        std: Standard deviations before truncation, same shape.

    Returns:
        ``Independent(ClippedTruncatedNormal(mean, std, -1, 1), 1)``; its
        mode, entropy and log-density are exact.
    """
    return tfd.Independent(ClippedTruncatedNormal(mean, std, -1.0, 1.0), 1)
