"""Behaviour learning in imagination: rollouts, value targets, actor, value losses."""

from __future__ import annotations

import keras
import tensorflow as tf

from dreamer_tf.config import DreamerConfig
from dreamer_tf.layers import (
    OneHotActor,
    TanhNormalActor,
    TruncatedNormalActor,
    ValueHead,
)
from dreamer_tf.learning.parts import Part, make_part, serialize_part
from dreamer_tf.learning.returns import lambda_return, nstep_return, reward_sum_return
from dreamer_tf.learning.world_model import WorldModel


@keras.saving.register_keras_serializable(package="dreamer_tf")
class ActorCritic(keras.layers.Layer):
    """The actor and the value model, trained on imagined trajectories.

    From every posterior state of a batch, the world model is rolled out for
    ``horizon`` steps with actions from the actor. The actor maximises the
    value estimate (the paper's Eq. 7) by backpropagating through the learned
    dynamics; the value model regresses the same estimate (Eq. 8). A
    subclass may override :meth:`value_targets`, :meth:`actor_loss` and
    :meth:`value_loss`.

    Args:
        config: The hyperparameters.
        action_size: Size of the action vector (or number of discrete actions).
        discrete: One-hot actor for discrete actions, else tanh-Normal.
        actor: A :data:`~dreamer_tf.learning.parts.Part` mapping features
            ``[..., feature_dim]`` to an action distribution with
            reparameterised ``sample``, ``mode`` and ``entropy``; the config's
            actor if ``None``.
        value: A part mapping features to a distribution over the value
            (with ``mode`` and ``log_prob``); the config's
            :class:`~dreamer_tf.layers.ValueHead` if ``None``.
        **kwargs: Passed to :class:`keras.layers.Layer`.
    """

    def __init__(
        self,
        config: DreamerConfig | dict,
        action_size: int,
        discrete: bool,
        actor: Part = None,
        value: Part = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(config, dict):
            config = DreamerConfig.from_dict(config)
        self.config = config
        self.action_size = int(action_size)
        self.discrete = bool(discrete)
        self.actor = make_part(actor, self._default_actor, "actor")
        self.value = make_part(
            value,
            lambda: ValueHead(
                num_layers=config.value_layers,
                units=config.num_units,
                activation=config.dense_activation,
            ),
            "value",
        )

    #: Whether :meth:`update_target` keeps a target critic (the agent then
    #: calls it after every update).
    has_target_critic = False
    #: The continuous actor that ``actor_dist='auto'`` gives.
    auto_continuous_actor = "tanh_normal"

    def _default_actor(self) -> keras.layers.Layer:
        config, act = self.config, self.config.dense_activation
        if self.discrete:
            return OneHotActor(
                self.action_size, config.actor_layers, config.num_units, act
            )
        kind = config.actor_dist
        if kind == "auto":
            kind = self.auto_continuous_actor
        if kind == "trunc_normal":
            return TruncatedNormalActor(
                self.action_size,
                config.actor_layers,
                config.num_units,
                act,
                min_std=config.actor_min_std,
            )
        return TanhNormalActor(
            self.action_size,
            config.actor_layers,
            config.num_units,
            act,
            init_std=config.actor_init_std,
            min_std=config.actor_min_std,
            mean_scale=config.actor_mean_scale,
        )

    def parts(self) -> dict[str, keras.layers.Layer]:
        """The actor and the value model, by argument name."""
        return {"actor": self.actor, "value": self.value}

    def get_config(self) -> dict:
        """The constructor's arguments, both parts serialised with their config."""
        return {
            **super().get_config(),
            "config": self.config.to_dict(),
            "action_size": self.action_size,
            "discrete": self.discrete,
            **{name: serialize_part(layer) for name, layer in self.parts().items()},
        }

    @classmethod
    def from_config(cls, config: dict) -> ActorCritic:
        """Rebuilds the actor-critic (unbuilt) from :meth:`get_config`."""
        config = dict(config)
        for name in ("actor", "value"):
            config[name] = keras.saving.deserialize_keras_object(config[name])
        return cls(**config)

    def build_parts(self, features: tf.Tensor) -> None:
        """Creates the parts' variables with one call on ``features``."""
        self.actor(features).sample()
        self.value(features)

    def behavior_losses(
        self, world_model: WorldModel, posterior: dict[str, tf.Tensor], data: dict
    ) -> tuple[tf.Tensor, tf.Tensor, dict[str, tf.Tensor], tf.Tensor]:
        """The actor's and the value model's losses, imagined from ``posterior``.

        The agent calls this under its gradient tapes and takes the actor's
        gradient of the first loss and the value model's of the second.

        Args:
            world_model: The world model (its RSSM and heads).
            posterior: Posterior states ``[batch, time, ...]`` of ``data``.
            data: The training batch (unused here; a subclass may read it).

        Returns:
            ``(actor_loss, value_loss, metrics, features)``: the imagined
            features ``[horizon, batch * time, feature_dim]`` whose first step
            the agent's ``action_entropy`` is measured on, and
            ``metrics["imagined_return"]``.
        """
        del data
        imagined = self.imagine(world_model, posterior)
        features = world_model.rssm.features(imagined)
        # One pass of the value model serves the targets (through which the
        # actor's gradient flows) and the value loss (whose gradient is taken
        # for the value model's weights only).
        value = self.value(features)
        returns, weights = self.value_targets(world_model, features, value)
        actor_loss = self.actor_loss(returns, weights)
        value_loss = self.value_loss(features, returns, weights, value)
        return (
            actor_loss,
            value_loss,
            {"imagined_return": tf.reduce_mean(returns)},
            features,
        )

    def update_target(self, value_updates: tf.Tensor) -> None:
        """Called after each update with the value optimizer's iterations; no-op.

        A subclass with a slow target critic sets :attr:`has_target_critic`
        and copies the critic here.
        """

    def imagine(self, world_model: WorldModel, start: dict[str, tf.Tensor]):
        """Rolls the prior forward ``horizon`` steps from every start state.

        Args:
            world_model: Provides the RSSM.
            start: Posterior states ``[batch, time, size]``; gradients are
                stopped at them.

        Returns:
            Imagined states ``[horizon, batch * time, size]`` (the start state
            is not part of the trajectory).
        """
        if self.config.pcont:
            start = {key: value[:, :-1] for key, value in start.items()}
        start = {
            key: tf.stop_gradient(tf.reshape(value, [-1, *value.shape[2:]]))
            for key, value in start.items()
        }
        rssm = world_model.rssm

        def step(state, _):
            features = tf.stop_gradient(rssm.features(state))
            action = self.actor(features).sample()
            return rssm.prior_step(state, action)

        # Sequential for repeatable sampling; see RSSMCell.observe().
        return tf.scan(
            step, tf.range(self.config.horizon), start, parallel_iterations=1
        )

    def value_targets(
        self, world_model: WorldModel, features: tf.Tensor, value=None
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """Value estimates of imagined features and their weights.

        Args:
            world_model: Provides the reward and continuation heads.
            features: Imagined features ``[horizon, batch, feature_dim]``.
            value: The value model's distribution at ``features`` if already
                computed (it is then not computed again).

        Returns:
            ``(returns, weights)``, both ``[horizon - 1, batch]``; the weights
            ``cumprod([1, p_0, ..., p_{H-3}])`` carry no gradient.
        """
        config = self.config
        reward = world_model.reward_head(features).mode()
        if world_model.continue_head is not None:
            pcont = world_model.continue_head(features).mean()
        else:
            pcont = config.discount * tf.ones_like(reward)
        if config.value_estimator == "reward_sum":
            returns = reward_sum_return(reward[:-1], pcont[:-1])
        else:
            value = (self.value(features) if value is None else value).mode()
            if config.value_estimator == "nstep":
                returns = nstep_return(
                    reward[:-1], value[:-1], pcont[:-1], value[-1], config.nstep
                )
            else:
                returns = lambda_return(
                    reward[:-1], value[:-1], pcont[:-1], value[-1], config.lambda_
                )
        weights = tf.math.cumprod(
            tf.concat([tf.ones_like(pcont[:1]), pcont[:-2]], 0), 0
        )
        return returns, tf.stop_gradient(weights)

    @staticmethod
    def actor_loss(returns: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
        """``-mean(weights * returns)``: maximise the imagined value estimate."""
        return -tf.reduce_mean(weights * returns)

    def value_loss(
        self, features: tf.Tensor, returns: tf.Tensor, weights: tf.Tensor, value=None
    ) -> tf.Tensor:
        """``-mean(weights * log p(stop_gradient(returns)))`` of the value model.

        The value model is trained on the first ``horizon - 1`` imagined
        states; no gradient reaches the features or the targets.

        Args:
            features: Imagined features ``[horizon, batch, feature_dim]``.
            returns: Value targets ``[horizon - 1, batch]``.
            weights: Their weights, same shape.
            value: The value model's distribution at ``features`` if already
                computed for the targets (one pass then serves both; only the
                value model's own gradient of this loss is ever taken).

        Returns:
            The scalar loss.
        """
        if value is None:
            value = self.value(tf.stop_gradient(features))
        # The last state has no target: pad, then drop its log-density.
        targets = tf.stop_gradient(tf.concat([returns, tf.zeros_like(returns[:1])], 0))
        log_prob = value.log_prob(targets)[:-1]
        return -tf.reduce_mean(weights * log_prob)

    def policy(self, features: tf.Tensor):
        """The action distribution at ``features``."""
        return self.actor(features)
