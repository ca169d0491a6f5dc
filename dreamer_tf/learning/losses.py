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
