"""Loss terms that a world model takes as replaceable objects.

The world model's KL term is an object with the signature of
:class:`FreeNatsKL`: ``kl_loss(rssm, posterior, prior) -> (loss, metrics)``.
Pass another (e.g. DreamerV2's KL balancing) as ``kl_loss=`` to
:class:`~dreamer_tf.learning.world_model.WorldModel` or
:class:`~dreamer_tf.agent.Dreamer`. Register it with
``keras.saving.register_keras_serializable`` and give it ``get_config`` so
that a run's directory can record it.
"""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="dreamer_tf")
class FreeNatsKL:
    """The paper's KL term: ``scale * max(mean KL(posterior || prior), free_nats)``.

    The mean is over batch and time; below ``free_nats`` the term is constant
    and passes no gradient (Hafner et al., 2020, Eq. 10 with PlaNet's free
    nats).

    Args:
        scale: Weight of the term (``kl_scale``).
        free_nats: The floor (``free_nats``).
    """

    def __init__(self, scale: float = 1.0, free_nats: float = 3.0):
        self.scale = scale
        self.free_nats = free_nats

    def __call__(self, rssm, posterior, prior) -> tuple[tf.Tensor, dict]:
        """The term of a batch of state sequences.

        Args:
            rssm: The cell, whose :meth:`~dreamer_tf.layers.RSSMCell.distribution`
                gives each state's distribution.
            posterior: Posterior states ``[batch, time, ...]``.
            prior: Prior states of the same steps.

        Returns:
            ``(loss, metrics)``; ``metrics["kl"]`` is the mean divergence.
        """
        divergence = tf.reduce_mean(
            rssm.distribution(posterior).kl_divergence(rssm.distribution(prior))
        )
        loss = self.scale * tf.maximum(divergence, self.free_nats)
        return loss, {"kl": divergence}

    def get_config(self) -> dict:
        """The constructor's arguments."""
        return {"scale": self.scale, "free_nats": self.free_nats}

    @classmethod
    def from_config(cls, config: dict) -> FreeNatsKL:
        """Rebuilds the term from :meth:`get_config`."""
        return cls(**config)


@keras.saving.register_keras_serializable(package="dreamer_tf")
class KLBalance:
    """DreamerV2's KL balancing (Hafner et al., 2021, Eq. 2 and Algorithm 2).

    With ``KL_a`` the divergence whose gradient reaches only the prior
    (``KL(sg(posterior) || prior)``) and ``KL_b`` the one that reaches only
    the posterior (``KL(posterior || sg(prior))``), the term is ``scale *
    (balance * f(KL_a) + (1 - balance) * f(KL_b))``, so the prior learns
    faster than the posterior regularises. ``f`` is ``max(mean(KL),
    free_nats)`` with ``free_average``, else ``mean(max(KL, free_nats))``.
    With ``forward``, both divergences are ``KL(prior || posterior)`` (with
    the same stop-gradients and weights).

    At ``balance = 0.5`` the authors' code takes the free nats per element
    whatever ``free_average`` says; here ``free_average`` always holds.

    Args:
        scale: Weight of the term (``kl_scale``).
        balance: Share of the gradient that trains the prior.
        free_nats: The floor.
        free_average: Apply the floor to the mean KL, not to each element.
        forward: Use ``KL(prior || posterior)``.
    """

    def __init__(
        self,
        scale: float = 1.0,
        balance: float = 0.8,
        free_nats: float = 0.0,
        free_average: bool = True,
        forward: bool = False,
    ):
        self.scale = scale
        self.balance = balance
        self.free_nats = free_nats
        self.free_average = free_average
        self.forward = forward

    def __call__(self, rssm, posterior, prior) -> tuple[tf.Tensor, dict]:
        """The term of a batch of state sequences.

        Args:
            rssm: The cell; :meth:`~dreamer_tf.layers.RSSMCell.distribution`
                gives each state's distribution.
            posterior: Posterior states ``[batch, time, ...]``.
            prior: Prior states of the same steps.

        Returns:
            ``(loss, metrics)``; ``metrics["kl"]`` is the mean divergence
            (posterior to prior, or prior to posterior with ``forward``) and
            ``metrics["kl_loss"]`` the term itself.
        """
        stop = tf.stop_gradient
        left, right = (prior, posterior) if self.forward else (posterior, prior)
        left_weight = self.balance if self.forward else 1.0 - self.balance
        dist = rssm.distribution
        left_kl = dist(left).kl_divergence(dist(tf.nest.map_structure(stop, right)))
        right_kl = dist(tf.nest.map_structure(stop, left)).kl_divergence(dist(right))
        loss = left_weight * self._floored(left_kl) + (
            1.0 - left_weight
        ) * self._floored(right_kl)
        loss = self.scale * loss
        return loss, {"kl": tf.reduce_mean(left_kl), "kl_loss": loss}

    def _floored(self, divergence: tf.Tensor) -> tf.Tensor:
        if self.free_average:
            return tf.maximum(tf.reduce_mean(divergence), self.free_nats)
        return tf.reduce_mean(tf.maximum(divergence, self.free_nats))

    def get_config(self) -> dict:
        """The constructor's arguments."""
        return {
            "scale": self.scale,
            "balance": self.balance,
            "free_nats": self.free_nats,
            "free_average": self.free_average,
            "forward": self.forward,
        }

    @classmethod
    def from_config(cls, config: dict) -> KLBalance:
        """Rebuilds the term from :meth:`get_config`."""
        return cls(**config)
