"""DreamerV2 (Hafner et al., 2021) assembled from the same parts as Dreamer."""

from __future__ import annotations

import tensorflow as tf

from dreamer_tf.agent import Dreamer
from dreamer_tf.learning.actor_critic_v2 import ActorCriticV2


class DreamerV2(Dreamer):
    """DreamerV2: Dreamer's agent with DreamerV2's update.

    Built like :class:`~dreamer_tf.agent.Dreamer` (the same arguments and
    parts) from a config with ``agent='dreamerv2'``; the config's fields
    choose DreamerV2's parts (``rssm_classes``, ``kl_balance``, the heads'
    sizes, ``actor_dist``). What differs is the update, as in the authors'
    code:

    - The world model is updated first; the actor and critic then imagine
      from the batch's posterior states with the updated model.
    - Behaviour learning is
      :class:`~dreamer_tf.learning.actor_critic_v2.ActorCriticV2` (target
      critic, actor-gradient estimators, entropy); after every update the
      agent lets it copy the critic to its target
      (:meth:`~dreamer_tf.learning.actor_critic_v2.ActorCriticV2.update_target`,
      in the cross-replica context, so that every replica's copy changes
      alike), as :class:`~dreamer_tf.agent.Dreamer` does for any
      actor-critic with a target critic.
    - Each training window starts from the zero state and a zero action
      (the world model's ``resets_window_start``).

    A skipped update (``update_skipped``) is one whose model step or
    behaviour step was not finite; each step keeps its own guard.
    """

    agent_name = "dreamerv2"
    actor_critic_class = ActorCriticV2

    def _train_step(self, data) -> dict[str, tf.Tensor]:
        model_losses, posterior, metrics = self._model_losses(data)
        metrics = self._update(model_losses, metrics)
        model_skipped = metrics["update_skipped"]
        behavior_losses, features = self._behavior_losses(posterior, metrics, data)
        metrics = self._update(behavior_losses, metrics)
        metrics["update_skipped"] = tf.maximum(model_skipped, metrics["update_skipped"])
        return self._behavior_metrics(features, metrics)
