"""The Dreamer agent: acting with the actor, learning world model and behaviours."""

from __future__ import annotations

import contextlib

import gymnasium as gym
import keras
import numpy as np
import tensorflow as tf

from dreamer_tf.acting.policy import explore, policy_step
from dreamer_tf.config import DreamerConfig
from dreamer_tf.learning.actor_critic import ActorCritic
from dreamer_tf.learning.loss_scale import DynamicLossScale
from dreamer_tf.learning.parts import Part, make_part
from dreamer_tf.learning.precision import (
    MIXED_FLOAT16,
    compute_policy,
    cpu_has_native_bfloat16,
)
from dreamer_tf.learning.world_model import NON_OBSERVATION_KEYS, WorldModel
from dreamer_tf.spaces import is_one_hot_space
from dreamer_tf.variable_tree import named_variables

PolicyState = tuple[dict[str, tf.Tensor], tf.Tensor]


def model_vector_keys(observation_space: gym.spaces.Dict) -> tuple[str, ...]:
    """Names of the float vector observations, sorted (the proprio inputs)."""
    return tuple(
        sorted(
            key
            for key, space in observation_space.spaces.items()
            if key != "image"
            and key not in NON_OBSERVATION_KEYS
            and np.issubdtype(space.dtype, np.floating)
        )
    )


@contextlib.contextmanager
def _dtype_policy(name: str):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


class Dreamer(tf.Module):
    """Dreamer: a world model, an actor and a value model, and their optimizers.

    ``policy`` and ``train`` run as ``tf.function`` (XLA-compiled when
    ``config.jit_compile``). Under a ``tf.distribute`` strategy, construct the
    agent with it; ``train`` then expects per-replica batches from
    :meth:`distribute_dataset` and divides each loss by the replica count.

    Args:
        config: The hyperparameters.
        observation_space: The single environment's ``Dict`` observation
            space: ``image`` (uint8 HxWxC) and/or float vector keys.
        action_space: ``Box(-1, 1, (n,))`` for continuous actions or ``Box(0,
            1, (n,))`` for one-hot discrete actions.
        strategy: A ``tf.distribute.Strategy``; the default strategy if
            ``None``.
        encoder, decoder, rssm, reward_head, continue_head, kl_loss: Parts of
            the world model, as
            :class:`~dreamer_tf.learning.world_model.WorldModel` takes them.
        actor, value: Parts of the behaviour, as
            :class:`~dreamer_tf.learning.actor_critic.ActorCritic` takes them.
        world_model: The whole world model instead (then pass none of its
            parts here).
        actor_critic: The whole actor-critic instead (then pass no actor or
            value here).

    Every part is a :data:`~dreamer_tf.learning.parts.Part`: an unbuilt
    layer, a function that makes one, or ``None`` for the config's. Functions
    are called under the agent's dtype policy and strategy scope; a layer
    made before must have been made under the same dtype policy.

    Raises:
        ValueError: If the spaces do not fit the config, a part is given
            twice, a part's dtype policy is not the agent's, or
            ``config.agent`` names another agent.
    """

    #: The ``config.agent`` this class trains.
    agent_name = "dreamer"
    #: The behaviour learner made when no ``actor_critic`` is given.
    actor_critic_class = ActorCritic

    def __init__(
        self,
        config: DreamerConfig,
        observation_space: gym.spaces.Dict,
        action_space: gym.spaces.Box,
        strategy: tf.distribute.Strategy | None = None,
        *,
        encoder: Part = None,
        decoder: Part = None,
        rssm: Part = None,
        reward_head: Part = None,
        continue_head: Part = None,
        kl_loss=None,
        actor: Part = None,
        value: Part = None,
        world_model: Part = None,
        actor_critic: Part = None,
    ):
        super().__init__(name="dreamer")
        if config.agent != self.agent_name:
            raise ValueError(
                f"{type(self).__name__} trains agent={self.agent_name!r}, the config "
                f"says agent={config.agent!r}; build it with "
                "dreamer_tf.architecture.agent_class(config)."
            )
        self.config = config
        self.observation_space = observation_space
        self.action_space = action_space
        self.strategy = strategy or tf.distribute.get_strategy()
        self.action_size = int(np.prod(action_space.shape))
        self.discrete = _resolve_discrete(config, action_space)
        self.vector_keys = model_vector_keys(observation_space)
        model_keys = ("image",) if config.observation == "pixels" else self.vector_keys
        self._model_observation_keys = model_keys
        self._policy_input_keys = (*model_keys, "is_first")
        _check_observation_space(config, observation_space, self.vector_keys)
        self.dtype_policy = compute_policy(
            config.precision, _gpu_capabilities(), cpu_has_native_bfloat16()
        )
        model_parts = {
            "encoder": encoder,
            "decoder": decoder,
            "rssm": rssm,
            "reward_head": reward_head,
            "continue_head": continue_head,
            "kl_loss": kl_loss,
        }
        behavior_parts = {"actor": actor, "value": value}
        _check_given_once("world_model", world_model, model_parts)
        _check_given_once("actor_critic", actor_critic, behavior_parts)
        with self.strategy.scope(), _dtype_policy(self.dtype_policy):
            self._make_models(world_model, model_parts, actor_critic, behavior_parts)
            self._check_dtype_policies()
            self.frames = tf.Variable(0, dtype=tf.int64, trainable=False, name="frames")
            self._build_variables(observation_space)
            self._make_optimizers()
        self._compile_steps()

    def _make_models(
        self, world_model: Part, model_parts: dict, actor_critic: Part, behavior_parts
    ) -> None:
        """The world model and actor-critic: given, or made from their parts."""
        config, observation_space = self.config, self.observation_space
        image_space = observation_space.spaces.get("image")
        vector_size = sum(
            int(np.prod(observation_space[key].shape)) for key in self.vector_keys
        )
        self.world_model = make_part(
            world_model,
            lambda: WorldModel(
                config,
                self.vector_keys,
                vector_size,
                image_space.shape if image_space is not None else (64, 64, 3),
                **model_parts,
            ),
            "world_model",
        )
        self.actor_critic = make_part(
            actor_critic,
            lambda: self.actor_critic_class(
                config, self.action_size, self.discrete, **behavior_parts
            ),
            "actor_critic",
        )

    def _make_optimizers(self) -> None:
        """One optimizer per model (and loss scales under float16), built."""
        config = self.config
        self.model_optimizer = self._optimizer(config.model_lr, self.model_variables)
        self.actor_optimizer = self._optimizer(config.actor_lr, self.actor_variables)
        self.value_optimizer = self._optimizer(config.value_lr, self.value_variables)
        self.loss_scales = {
            part: DynamicLossScale(name=f"{part}_loss_scale")
            for part in _PARTS
            if self.dtype_policy == MIXED_FLOAT16
        }

    def _compile_steps(self) -> None:
        compile_option = {"jit_compile": self.config.jit_compile}
        self._policy_function = tf.function(self._policy, **compile_option)
        self._train_function = tf.function(self._train_step, **compile_option)
        self._model_step_function = tf.function(self._model_step, **compile_option)
        self._behavior_step_function = tf.function(
            self._behavior_step, **compile_option
        )
        self._state_values_function = tf.function(
            self._state_values, reduce_retracing=True
        )
        self._target_function = (
            tf.function(self._update_target)
            if self.actor_critic.has_target_critic
            else None
        )

    def _update_target(self) -> None:
        self.actor_critic.update_target(self.value_optimizer.iterations)

    def _check_dtype_policies(self) -> None:
        parts = {
            "world_model": self.world_model,
            **self.world_model.parts(),
            "actor_critic": self.actor_critic,
            **self.actor_critic.parts(),
        }
        for name, layer in parts.items():
            if layer.dtype_policy.name != self.dtype_policy:
                raise ValueError(
                    f"The {name} ({type(layer).__name__}) computes in "
                    f"{layer.dtype_policy.name}, the agent in {self.dtype_policy} "
                    f"(precision={self.config.precision}); pass a function that "
                    f"makes it (e.g. {name}=lambda: {type(layer).__name__}(...)) "
                    "so it is made under the agent's policy."
                )

    @property
    def model_variables(self) -> list[tf.Variable]:
        """Trainable variables of the world model."""
        return self.world_model.trainable_variables

    @property
    def actor_variables(self) -> list[tf.Variable]:
        """Trainable variables of the actor."""
        return self.actor_critic.actor.trainable_variables

    @property
    def value_variables(self) -> list[tf.Variable]:
        """Trainable variables of the value model."""
        return self.actor_critic.value.trainable_variables

    def variables_by_name(self) -> dict[str, tf.Variable]:
        """Every variable of the agent (networks, optimizer slots, counters) by name.

        Names are attribute paths that depend only on how the agent is built
        (see :func:`dreamer_tf.variable_tree.named_variables`):
        ``world_model/encoder/convolutions/0/kernel``,
        ``model_optimizer/world_model/encoder/convolutions/0/kernel/momentum``,
        ``frames``. Checkpoints store them under these names.
        """
        return named_variables(self)

    def policy_variables(self) -> dict[str, tf.Variable]:
        """The variables the policy step reads (encoder, RSSM, actor), by name.

        The names are those of :meth:`variables_by_name`.
        """
        world_model = self.world_model
        return named_variables(
            {
                "world_model": {
                    "encoder": world_model.encoder,
                    "rssm": world_model.rssm,
                },
                "actor_critic": {"actor": self.actor_critic.actor},
            }
        )

    def _optimizer(self, learning_rate: float, variables) -> keras.optimizers.Adam:
        optimizer = keras.optimizers.Adam(
            learning_rate, epsilon=self.config.adam_epsilon
        )
        # Keras 3 optimizers fail in a custom loop under MirroredStrategy unless
        # built on their variables inside the strategy's scope.
        optimizer.build(variables)
        return optimizer

    def _build_variables(self, observation_space: gym.spaces.Dict) -> None:
        dummy = {
            key: tf.zeros((1, 2, *space.shape), space.dtype)
            for key, space in observation_space.spaces.items()
        }
        dummy["action"] = tf.zeros((1, 2, self.action_size))
        dummy["reward"] = tf.zeros((1, 2))
        dummy["discount"] = tf.ones((1, 2))
        _, posterior, _ = self.world_model.loss(dummy)
        self.actor_critic.build_parts(self.world_model.rssm.features(posterior))

    def initial_state(self, batch_size: int) -> PolicyState:
        """The policy state at the start of episodes: zero latent, zero action."""
        return (
            self.world_model.rssm.initial_state(batch_size),
            tf.zeros((batch_size, self.action_size)),
        )

    def policy(
        self, observation: dict, state: PolicyState | None, training: bool
    ) -> tuple[tf.Tensor, PolicyState]:
        """Chooses actions for a batch of environments.

        Args:
            observation: Dict of arrays with a leading ``[num_envs]`` dim; an
                optional bool ``is_first`` resets those environments' state;
                keys the model does not read are ignored.
            state: The previous policy state, or ``None`` at the start.
            training: Sample and add exploration noise (the amount decays
                with :attr:`frames`) if True; else the mode plus ``eval_noise``.

        Returns:
            ``(action [num_envs, action_size], next state)``.
        """
        observation = {
            key: tf.convert_to_tensor(observation[key])
            for key in self._policy_input_keys
            if key in observation
        }
        if state is None:
            batch_size = next(iter(observation.values())).shape[0]
            state = self.initial_state(batch_size)
        return self._policy_function(observation, state, tf.constant(training))

    def _policy(self, observation, state, training):
        latent, previous_action = state
        latent, distribution = policy_step(
            self.world_model, self.actor_critic, observation, latent, previous_action
        )
        sample_in_training = self.config.train_action == "sample"
        action = tf.cond(
            tf.logical_and(training, sample_in_training),
            distribution.sample,
            distribution.mode,
        )
        amount = self.exploration_amount(training)
        action = explore(action, amount, self.config.exploration, self.discrete)
        return action, (latent, action)

    def exploration_amount(self, training) -> tf.Tensor:
        """The current exploration amount (decayed by frames when training)."""
        config = self.config
        amount = tf.constant(config.expl_amount, tf.float32)
        if config.expl_decay:
            halvings = tf.cast(self.frames, tf.float32) / config.expl_decay
            amount = amount * 0.5**halvings
        amount = tf.maximum(amount, config.expl_min)
        return tf.where(training, amount, config.eval_noise)

    def state_values(self, episode: dict) -> tf.Tensor:
        """The value model's prediction at every step of one real episode.

        The world model filters the episode's observations and actions; the
        value model then scores each posterior state. Compare the result with
        the episode's discounted returns using
        :func:`dreamer_tf.run.calibration.value_error`.

        Args:
            episode: Dict of ``[time, ...]`` arrays (a replay episode); keys
                the model does not read are ignored.

        Returns:
            Values ``[time]``, float32.
        """
        keys = (*self._model_observation_keys, "action")
        data = {key: tf.convert_to_tensor(episode[key])[None] for key in keys}
        return self._state_values_function(data)

    def _state_values(self, data):
        posterior, _ = self.world_model(data)
        features = self.world_model.rssm.features(posterior)
        return tf.cast(self.actor_critic.value(features).mode()[0], tf.float32)

    def distribute_dataset(self, dataset: tf.data.Dataset):
        """Splits each global batch of ``dataset`` across the strategy's replicas."""
        return self.strategy.experimental_distribute_dataset(dataset)

    def train(self, batch) -> dict[str, tf.Tensor]:
        """One update of world model, actor and value model.

        Args:
            batch: Dict of ``[batch, length, ...]`` sequences (observations,
                ``action``, ``reward``, ``discount``); per-replica values from
                :meth:`distribute_dataset` under a multi-replica strategy.

        Returns:
            Scalar metrics keyed by name (every loss, the three gradient norms,
            prior and posterior entropy, the KL and the action entropy), as
            means over replicas, and ``update_skipped``: 1 when a loss or
            gradient was not finite, in which case no weight and no optimizer
            state changed, else 0.
        """
        metrics = self._run_step(self._train_function, batch)
        self._after_value_update()
        return metrics

    def _after_value_update(self) -> None:
        """Lets the actor-critic update its target critic (cross-replica)."""
        if self._target_function is not None:
            self._target_function()

    def train_model(self, batch) -> dict[str, tf.Tensor]:
        """One update of the world model alone (the model step of :meth:`train`).

        Args:
            batch: As for :meth:`train`.

        Returns:
            The world model's metrics, ``model_grad_norm`` and
            ``update_skipped`` (its own finiteness guard).
        """
        return self._run_step(self._model_step_function, batch)

    def train_behavior(self, batch) -> dict[str, tf.Tensor]:
        """One update of actor and value model alone (the behaviour step).

        The world model filters the batch (no gradient, no update), then the
        actor and value model learn in imagination from its posterior states.

        Args:
            batch: As for :meth:`train`.

        Returns:
            The behaviour's losses and gradient norms, ``imagined_return``,
            ``action_entropy`` and ``update_skipped``.
        """
        metrics = self._run_step(self._behavior_step_function, batch)
        self._after_value_update()
        return metrics

    def _run_step(self, function, batch) -> dict[str, tf.Tensor]:
        per_replica = self.strategy.run(function, args=(batch,))
        return {
            key: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None)
            for key, value in per_replica.items()
        }

    def _train_step(self, data) -> dict[str, tf.Tensor]:
        model_losses, posterior, metrics = self._model_losses(data)
        behavior_losses, features = self._behavior_losses(posterior, metrics, data)
        metrics = self._update(model_losses + behavior_losses, metrics)
        return self._behavior_metrics(features, metrics)

    def _model_step(self, data) -> dict[str, tf.Tensor]:
        model_losses, _, metrics = self._model_losses(data)
        return self._update(model_losses, metrics)

    def _behavior_step(self, data) -> dict[str, tf.Tensor]:
        posterior, _ = self.world_model(data)
        metrics = {}
        behavior_losses, features = self._behavior_losses(posterior, metrics, data)
        metrics = self._update(behavior_losses, metrics)
        return self._behavior_metrics(features, metrics)

    def _model_losses(self, data):
        """``([("model", tape, loss)], posterior, metrics)`` of the model step."""
        with tf.GradientTape() as model_tape:
            model_loss, posterior, metrics = self.world_model.loss(data)
        return [("model", model_tape, model_loss)], posterior, metrics

    def _behavior_losses(self, posterior, metrics: dict, data):
        """The actor's and value model's ``(part, tape, loss)``, and the features.

        Adds the two losses and the actor-critic's metrics to ``metrics``.
        """
        # The value tape records only what the value model's weights touch,
        # not the whole imagination.
        value_tape = tf.GradientTape(watch_accessed_variables=False)
        with tf.GradientTape() as actor_tape, value_tape:
            value_tape.watch([variable.value for variable in self.value_variables])
            actor_loss, value_loss, behavior_metrics, features = (
                self.actor_critic.behavior_losses(self.world_model, posterior, data)
            )
        metrics.update(actor_loss=actor_loss, value_loss=value_loss)
        metrics.update(behavior_metrics)
        losses = [("actor", actor_tape, actor_loss), ("value", value_tape, value_loss)]
        return losses, features

    def _behavior_metrics(self, features, metrics: dict) -> dict[str, tf.Tensor]:
        # After the update, as the paper's code reports it: the new actor.
        metrics["action_entropy"] = tf.reduce_mean(
            self.actor_critic.policy(tf.stop_gradient(features[0])).entropy()
        )
        return metrics

    def _update(self, losses, metrics: dict) -> dict[str, tf.Tensor]:
        """Clips and applies every ``(part, tape, loss)`` if all are finite.

        Returns:
            ``metrics`` with each part's gradient norm (and loss scale under
            float16) and ``update_skipped``.
        """
        clipped = []
        for part, tape, loss in losses:
            optimizer = getattr(self, f"{part}_optimizer")
            variables = getattr(self, f"{part}_variables")
            gradients, metrics[f"{part}_grad_norm"] = self._clipped_gradients(
                tape, loss, variables, self.loss_scales.get(part)
            )
            clipped.append((optimizer, gradients, variables))
        finite = self._all_finite(
            [loss for _, _, loss in losses]
            + [metrics[f"{part}_grad_norm"] for part, _, _ in losses]
        )
        self._apply_if(finite, clipped)
        for part, _, _ in losses:
            if part in self.loss_scales:
                loss_scale = self.loss_scales[part]
                loss_scale.update(tf.math.is_finite(metrics[f"{part}_grad_norm"]))
                metrics[f"{part}_loss_scale"] = tf.identity(loss_scale.scale)
        metrics["update_skipped"] = 1.0 - tf.cast(finite, tf.float32)
        return metrics

    def _clipped_gradients(self, tape, loss, variables, loss_scale=None):
        """The global-batch gradient of ``loss``, clipped, and its norm.

        Each replica's loss is divided by the replica count, so the replicas'
        gradients sum to that of the global batch; clipping that sum keeps
        updates identical to one device's. With a ``loss_scale`` (float16)
        the gradient is computed scaled and unscaled before anything else.
        """
        if loss_scale is None:
            gradients = tape.gradient(loss, variables)
        else:
            gradients = loss_scale.gradients(tape, loss, variables)
        replicas = self.strategy.num_replicas_in_sync
        if replicas > 1:
            context = tf.distribute.get_replica_context()
            gradients = [gradient / replicas for gradient in gradients]
            gradients = context.all_reduce(tf.distribute.ReduceOp.SUM, gradients)
        gradients, norm = tf.clip_by_global_norm(gradients, self.config.grad_clip)
        if replicas > 1:
            # Keras sums gradients over replicas once more when applying them.
            gradients = [gradient / replicas for gradient in gradients]
        return gradients, norm

    def _all_finite(self, values: list[tf.Tensor]) -> tf.Tensor:
        """Whether every value is finite on every replica (the same answer on all)."""
        non_finite = tf.add_n(
            [tf.reduce_sum(tf.cast(~tf.math.is_finite(v), tf.float32)) for v in values]
        )
        if self.strategy.num_replicas_in_sync > 1:
            context = tf.distribute.get_replica_context()
            non_finite = context.all_reduce(tf.distribute.ReduceOp.SUM, non_finite)
        return tf.equal(non_finite, 0.0)

    def _apply_if(self, finite: tf.Tensor, updates) -> None:
        """Applies every ``(optimizer, gradients, variables)`` only if ``finite``.

        A skipped update leaves weights and optimizer state (moments and
        iterations) untouched, as the paper's loss-scaling optimizer does for
        steps with non-finite gradients.
        """

        decay = self.config.weight_decay

        def apply_all():
            for optimizer, gradients, variables in updates:
                for variable in variables if decay else ():
                    variable.assign(variable * (1.0 - decay))
                optimizer.apply(gradients, variables)

        if self.strategy.num_replicas_in_sync == 1:
            tf.cond(finite, apply_all, lambda: None)
            return

        # Keras applies gradients through merge_call under multi-replica
        # strategies, which cannot run inside a replica-context cond; the cond
        # runs in the cross-replica context instead (every replica agrees on
        # ``finite``).
        def cross_replica(distribution, finite):
            finite = distribution.experimental_local_results(finite)[0]
            tf.cond(
                finite,
                lambda: distribution.extended.call_for_each_replica(apply_all),
                lambda: None,
            )

        tf.distribute.get_replica_context().merge_call(cross_replica, args=(finite,))


def _gpu_capabilities() -> list[tuple[int, int]]:
    """CUDA compute capability of each visible GPU."""
    return [
        tuple(
            tf.config.experimental.get_device_details(gpu).get(
                "compute_capability", (0, 0)
            )
        )
        for gpu in tf.config.list_physical_devices("GPU")
    ]


_PARTS = ("model", "actor", "value")


def _check_given_once(whole: str, given, parts: dict) -> None:
    doubled = [name for name, part in parts.items() if part is not None]
    if given is not None and doubled:
        raise ValueError(
            f"Both {whole} and its part {doubled[0]} were passed; pass the part "
            f"to your {whole} instead."
        )


def _resolve_discrete(config: DreamerConfig, action_space: gym.Space) -> bool:
    if not isinstance(action_space, gym.spaces.Box) or len(action_space.shape) != 1:
        raise ValueError(
            f"Dreamer needs a 1-d Box action space (continuous in [-1, 1] or "
            f"one-hot in [0, 1]); got {action_space}. Wrap discrete envs with "
            "dreamer_tf.envs' one-hot wrapper."
        )
    if config.actor_dist == "auto":
        return is_one_hot_space(action_space)
    return config.actor_dist == "onehot"


def _check_observation_space(config, observation_space, vector_keys) -> None:
    if config.observation == "pixels" and "image" not in observation_space.spaces:
        raise ValueError(
            "observation='pixels' needs an 'image' key in the observation space; "
            f"it has {sorted(observation_space.spaces)}."
        )
    if config.observation == "proprio" and not vector_keys:
        raise ValueError(
            "observation='proprio' needs float vector keys in the observation "
            f"space; it has {sorted(observation_space.spaces)}."
        )
