"""DreamerV2's behaviour learning: a slow target critic and three actor gradients."""

from __future__ import annotations

import keras
import tensorflow as tf

from dreamer_tf.config import DreamerConfig
from dreamer_tf.learning.actor_critic import ActorCritic
from dreamer_tf.learning.parts import Part
from dreamer_tf.learning.returns import lambda_return
from dreamer_tf.learning.world_model import WorldModel

ACTOR_GRADIENTS = ("dynamics", "reinforce", "both")


@keras.saving.register_keras_serializable(package="dreamer_tf")
class ActorCriticV2(ActorCritic):
    """The actor and critic of DreamerV2 (Hafner et al., 2021, Sec. 2.2).

    From every posterior state ``z_0`` (gradients stopped), the actor imagines
    ``z_1 .. z_H``. With rewards ``r_t`` and discounts ``d_t`` of the world
    model's heads (``d_0`` from the batch when the model predicts discounts)
    and values ``v_t`` of a slow *target* critic, the targets are the
    lambda-returns ``V_t`` (Eq. 4) of ``z_0 .. z_{H-1}``, weighted by
    ``w_t = prod_{i<t} d_i``.

    - Critic (Eq. 5): ``-mean(w_t * log p(V_t | z_t))`` for ``t < H``.
    - Actor (Eq. 6), on ``z_0 .. z_{H-2}`` (the state after the last action
      has no target): ``-mean(w_t * (rho * log pi(a_t | z_t) * sg(V_{t+1} -
      v_t) + (1 - rho) * V_{t+1} + eta * H[pi(. | z_t)]))``, where
      ``actor_grad`` picks the paper's ``rho``: 1 (``reinforce``, the
      action's gradient stopped), 0 (``dynamics``: backpropagation through
      the model), or ``1 - actor_grad_mix`` (``both``; as in the authors'
      code, the action is then not stopped), and ``eta`` is
      ``actor_entropy``.
    - The target critic starts from its own initial weights and becomes a
      copy of the critic after the first value update and every
      ``slow_target_every`` updates after it (:meth:`update_target`).

    Args:
        config: The hyperparameters (``agent='dreamerv2'``).
        action_size: Size of the action vector (or number of discrete actions).
        discrete: One-hot actor for discrete actions, else truncated normal.
        actor: A :data:`~dreamer_tf.learning.parts.Part` mapping features to
            an action distribution with ``sample``, ``log_prob`` and
            ``entropy``; the config's if ``None``.
        value: The critic, a part mapping features to a distribution with
            ``mode`` and ``log_prob``; its target is a copy of its config.
        **kwargs: Passed to :class:`keras.layers.Layer`.
    """

    auto_continuous_actor = "trunc_normal"
    has_target_critic = True

    def __init__(
        self,
        config: DreamerConfig | dict,
        action_size: int,
        discrete: bool,
        actor: Part = None,
        value: Part = None,
        **kwargs,
    ):
        super().__init__(config, action_size, discrete, actor, value, **kwargs)
        self.actor_gradient = self.config.actor_grad
        if self.actor_gradient == "auto":
            self.actor_gradient = "reinforce" if self.discrete else "dynamics"
        self.target_value = type(self.value).from_config(self.value.get_config())
        self.target_value.trainable = False

    def build_parts(self, features: tf.Tensor) -> None:
        """Creates the actor's, the critic's and the target critic's variables."""
        super().build_parts(features)
        self.target_value(features)

    def imagine_sequence(self, world_model: WorldModel, posterior: dict):
        """States ``z_0 .. z_H`` and actions ``a_0 .. a_H`` from every posterior state.

        Args:
            world_model: Provides the RSSM.
            posterior: Posterior states ``[batch, time, ...]``; gradients are
                stopped at them.

        Returns:
            A tuple ``(states, actions)``: states ``[horizon + 1, batch *
            time, ...]`` starting with the posterior states, and
            ``actions[t]`` the action that led to ``states[t]`` (zeros at
            ``t = 0``).
        """
        rssm = world_model.rssm
        start = {
            key: tf.stop_gradient(tf.reshape(value, [-1, *value.shape[2:]]))
            for key, value in posterior.items()
        }
        first_action = tf.zeros([tf.shape(start["deter"])[0], self.action_size])

        def step(carry, _):
            state, _ = carry
            features = tf.stop_gradient(rssm.features(state))
            action = self.actor(features).sample()
            return rssm.prior_step(state, action), action

        # Sequential for repeatable sampling; see RSSMCell.observe().
        states, actions = tf.scan(
            step,
            tf.range(self.config.horizon),
            (start, first_action),
            parallel_iterations=1,
        )

        def prepend(first, rest):
            return tf.concat([first[None], rest], 0)

        states = tf.nest.map_structure(prepend, start, states)
        return states, prepend(first_action, actions)

    def discounts(self, world_model: WorldModel, features, data) -> tf.Tensor:
        """``d_t`` of the imagined states: predicted, or ``discount`` if not.

        With a continuation head, ``d_0`` is the batch's own (``discount *
        data["discount"]``, zero after a terminal step).
        """
        discount = self.config.discount
        if world_model.continue_head is None:
            return discount * tf.ones(tf.shape(features)[:-1])
        predicted = world_model.continue_head(features).mean()
        first = discount * tf.reshape(tf.cast(data["discount"], tf.float32), [-1])
        return tf.concat([first[None], predicted[1:]], 0)

    def behavior_losses(self, world_model: WorldModel, posterior: dict, data: dict):
        """The actor's and critic's losses (see the class doc) and metrics.

        Returns:
            ``(actor_loss, value_loss, metrics, features)`` with imagined
            features ``[horizon + 1, batch * time, feature_dim]``.
        """
        config = self.config
        states, actions = self.imagine_sequence(world_model, posterior)
        features = world_model.rssm.features(states)
        reward = world_model.reward_head(features).mode()
        discount = self.discounts(world_model, features, data)
        weights = tf.stop_gradient(
            tf.math.cumprod(tf.concat([tf.ones_like(discount[:1]), discount[:-1]], 0))
        )
        slow_value = self.target_value(features).mode()
        returns = lambda_return(
            reward[:-1], slow_value[:-1], discount[:-1], slow_value[-1], config.lambda_
        )
        policy = self.actor(tf.stop_gradient(features[:-2]))
        objective = self.actor_objective(policy, returns, slow_value, actions)
        entropy = policy.entropy()
        objective += config.actor_entropy * entropy
        actor_loss = -tf.reduce_mean(weights[:-2] * objective)
        value = self.value(features[:-1])
        value_loss = -tf.reduce_mean(
            value.log_prob(tf.stop_gradient(returns)) * weights[:-1]
        )
        metrics = {
            "imagined_return": tf.reduce_mean(returns),
            "critic": tf.reduce_mean(value.mode()),
            "critic_slow": tf.reduce_mean(slow_value),
            "actor_entropy": tf.reduce_mean(entropy),
        }
        return actor_loss, value_loss, metrics, features

    def actor_objective(self, policy, returns, slow_value, actions) -> tf.Tensor:
        """What the actor maximises at ``z_0 .. z_{H-2}``, before the entropy bonus.

        Args:
            policy: The actor's distribution at ``z_0 .. z_{H-2}``.
            returns: The targets ``V_0 .. V_{H-1}``.
            slow_value: The target critic's values ``v_0 .. v_H``.
            actions: The imagined actions ``a_0 .. a_H``.
        """
        if self.actor_gradient == "dynamics":
            return returns[1:]
        advantage = tf.stop_gradient(returns[1:] - slow_value[:-2])
        taken = actions[1:-1]
        if self.actor_gradient == "reinforce":
            return policy.log_prob(tf.stop_gradient(taken)) * advantage
        mix = self.config.actor_grad_mix
        return mix * returns[1:] + (1 - mix) * policy.log_prob(taken) * advantage

    def update_target(self, value_updates: tf.Tensor) -> None:
        """Copies the critic to its target after value update 1, 1 + N, 1 + 2N, ...

        Args:
            value_updates: The value optimizer's iterations after the update
                (``N`` is ``slow_target_every``).
        """
        due = tf.equal(
            tf.math.floormod(value_updates - 1, self.config.slow_target_every), 0
        )

        def copy():
            for source, target in zip(
                self.value.variables, self.target_value.variables
            ):
                target.assign(source)

        tf.cond(due, copy, lambda: None)
