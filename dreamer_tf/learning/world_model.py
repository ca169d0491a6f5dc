"""The world model: encoder, RSSM, observation decoder, reward (and discount) heads."""

from __future__ import annotations

from collections.abc import Mapping

import keras
import tensorflow as tf

from dreamer_tf.config import DreamerConfig
from dreamer_tf.layers import (
    CategoricalRSSMCell,
    ContinueHead,
    ConvDecoder,
    ConvEncoder,
    DenseHead,
    MLPEncoder,
    RewardHead,
    RSSMCell,
)
from dreamer_tf.learning.losses import FreeNatsKL, KLBalance
from dreamer_tf.learning.parts import Part, make_part, serialize_part

NON_OBSERVATION_KEYS = ("action", "reward", "discount")
_PART_NAMES = ("encoder", "decoder", "rssm", "reward_head", "continue_head")

State = dict[str, tf.Tensor]


def preprocess_image(image: tf.Tensor) -> tf.Tensor:
    """Maps uint8 pixels to floats in ``[-0.5, 0.5]``: ``x / 255 - 0.5``."""
    return tf.cast(image, tf.float32) / 255.0 - 0.5


@keras.saving.register_keras_serializable(package="dreamer_tf")
class WorldModel(keras.layers.Layer):
    """Learns the latent dynamics and predicts observations and rewards.

    The loss is the paper's Eq. 10 objective: the KL term (by default
    :class:`~dreamer_tf.learning.losses.FreeNatsKL`, ``kl_scale * max(mean
    KL(posterior || prior), free_nats)``) minus the log-likelihoods ``log p(o)
    + log p(r) [+ pcont_scale * log p(discount)]``, means over batch and
    time. With ``representation='contrastive'`` the image term is replaced by
    the InfoNCE bound of the paper's Eq. 11; with ``'reward'`` it is dropped.

    Every part is a :data:`~dreamer_tf.learning.parts.Part`: an unbuilt layer,
    a function making one, or ``None`` for the config's.

    Args:
        config: The hyperparameters.
        vector_keys: Names of the vector observations the model sees when
            ``config.observation == 'proprio'`` (concatenated in this order).
        vector_size: Total size of those vectors.
        image_shape: ``(height, width, channels)`` of image observations.
        encoder: Maps the model's observation ``[..., *obs]`` to embeddings
            ``[..., embed_dim]``.
        decoder: Maps features ``[..., feature_size]`` to a distribution over
            the observation (only with ``representation='reconstruction'``).
        rssm: The recurrent cell; it declares its state as
            :class:`~dreamer_tf.layers.RSSMCell` does (a subclass with another
            latent, say).
        reward_head: Maps features to a distribution over the reward.
        continue_head: Maps features to a distribution over the discount
            (only with ``pcont=True``).
        kl_loss: The KL term, ``kl_loss(rssm, posterior, prior) -> (loss,
            metrics)``; :class:`~dreamer_tf.learning.losses.FreeNatsKL` of
            the config if ``None``.
        **kwargs: Passed to :class:`keras.layers.Layer`.

    Raises:
        ValueError: If a part is passed that the config does not use.
    """

    def __init__(
        self,
        config: DreamerConfig | dict,
        vector_keys: tuple[str, ...] = (),
        vector_size: int = 0,
        image_shape: tuple[int, int, int] = (64, 64, 3),
        encoder: Part = None,
        decoder: Part = None,
        rssm: Part = None,
        reward_head: Part = None,
        continue_head: Part = None,
        kl_loss=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(config, dict):
            config = DreamerConfig.from_dict(config)
        self.config = config
        self.vector_keys = tuple(vector_keys)
        self.vector_size = int(vector_size)
        self.image_shape = tuple(int(size) for size in image_shape)
        self.uses_pixels = config.observation == "pixels"
        self._check_parts(decoder, continue_head)
        self.encoder = make_part(encoder, self._default_encoder, "encoder")
        self.decoder = (
            make_part(decoder, self._default_decoder, "decoder")
            if config.representation == "reconstruction"
            else None
        )
        self.rssm = make_part(rssm, self._default_rssm, "rssm")
        self.reward_head = make_part(
            reward_head, self._default_reward_head, "reward_head"
        )
        self.continue_head = (
            make_part(continue_head, self._default_continue_head, "continue_head")
            if config.pcont
            else None
        )
        self.state_model = (
            DenseHead(
                (self.rssm.feature_size,), 2, config.num_units, config.dense_activation
            )
            if config.representation == "contrastive"
            else None
        )
        self.kl_loss = kl_loss or self._default_kl_loss()
        # DreamerV2's replay marks each window's first step as an episode
        # start, so the filter begins there from the zero state and action.
        self.resets_window_start = config.agent == "dreamerv2"

    def _default_kl_loss(self):
        config = self.config
        if config.kl_balance == 0.5:
            return FreeNatsKL(config.kl_scale, config.free_nats)
        return KLBalance(
            config.kl_scale,
            config.kl_balance,
            config.free_nats,
            config.kl_free_average,
            config.kl_forward,
        )

    def _check_parts(self, decoder: Part, continue_head: Part) -> None:
        config = self.config
        if not self.uses_pixels and not self.vector_keys:
            raise ValueError("observation='proprio' needs at least one vector key.")
        if decoder is not None and config.representation != "reconstruction":
            raise ValueError(
                f"A decoder was passed, but representation="
                f"{config.representation!r} uses none; set "
                "representation='reconstruction' or drop the decoder."
            )
        if continue_head is not None and not config.pcont:
            raise ValueError("A continue_head was passed; it needs pcont=True.")

    def _default_rssm(self) -> RSSMCell:
        config = self.config
        if config.rssm_classes:
            return CategoricalRSSMCell(
                config.stoch_size,
                config.rssm_classes,
                config.deter_size,
                config.rssm_hidden,
                config.dense_activation,
            )
        return RSSMCell(
            config.stoch_size,
            config.deter_size,
            config.rssm_hidden,
            config.dense_activation,
            config.rssm_min_std,
        )

    def _default_reward_head(self) -> RewardHead:
        config = self.config
        return RewardHead(
            num_layers=config.reward_layers,
            units=config.num_units,
            activation=config.dense_activation,
        )

    def _default_continue_head(self) -> ContinueHead:
        config = self.config
        return ContinueHead(
            num_layers=config.pcont_layers,
            units=config.num_units,
            activation=config.dense_activation,
        )

    def _default_encoder(self) -> keras.layers.Layer:
        config = self.config
        if self.uses_pixels:
            return ConvEncoder(config.cnn_depth, config.cnn_activation)
        return MLPEncoder(config.num_units, 2, config.dense_activation)

    def _default_decoder(self) -> keras.layers.Layer:
        config = self.config
        if self.uses_pixels:
            return ConvDecoder(
                config.cnn_depth, config.cnn_activation, self.image_shape
            )
        return DenseHead(
            (self.vector_size,), 2, config.num_units, config.dense_activation
        )

    def parts(self) -> dict[str, keras.layers.Layer]:
        """The model's layers by argument name (the parts it uses)."""
        parts = {
            "encoder": self.encoder,
            "decoder": self.decoder,
            "rssm": self.rssm,
            "reward_head": self.reward_head,
            "continue_head": self.continue_head,
        }
        return {name: layer for name, layer in parts.items() if layer is not None}

    def get_config(self) -> dict:
        """The constructor's arguments, every part serialised with its config."""
        return {
            **super().get_config(),
            "config": self.config.to_dict(),
            "vector_keys": list(self.vector_keys),
            "vector_size": self.vector_size,
            "image_shape": list(self.image_shape),
            **{name: serialize_part(layer) for name, layer in self.parts().items()},
            "kl_loss": keras.saving.serialize_keras_object(self.kl_loss),
        }

    @classmethod
    def from_config(cls, config: dict) -> WorldModel:
        """Rebuilds the model (unbuilt) from :meth:`get_config`."""
        config = dict(config)
        for name in (*_PART_NAMES, "kl_loss"):
            if config.get(name) is not None:
                config[name] = keras.saving.deserialize_keras_object(config[name])
        return cls(**config)

    def observation(self, data: dict[str, tf.Tensor]) -> tf.Tensor:
        """The model's input: the preprocessed image, or concatenated vectors."""
        if self.uses_pixels:
            return preprocess_image(data["image"])
        vectors = [tf.cast(data[key], tf.float32) for key in self.vector_keys]
        return tf.concat(vectors, -1)

    def embed(self, data: dict[str, tf.Tensor]) -> tf.Tensor:
        """Encodes the observation of ``data`` (any leading batch dims)."""
        return self.encoder(self.observation(data))

    def build(self, data_shape: dict) -> None:
        """Creates no variables: each sublayer builds on its first use.

        Keras calls this before the first ``world_model(data)``. Without it,
        Keras warns that the model "does not have a build() method", because
        the RSSM cell is run through ``observe`` rather than called, so it
        never sets ``built`` although its own sublayers are built.

        Args:
            data_shape: Shapes of the ``[batch, time, ...]`` sequences, by key.
        """

    def call(self, data: dict[str, tf.Tensor]):
        """Filters a batch of sequences; returns ``(posterior, prior)``."""
        return self.rssm.observe(self.embed(data), self._window_actions(data))

    def _window_actions(self, data: dict[str, tf.Tensor]) -> tf.Tensor:
        """The actions that filter a training window (see ``resets_window_start``)."""
        actions = tf.convert_to_tensor(data["action"])
        if not self.resets_window_start:
            return actions
        return tf.concat([tf.zeros_like(actions[:, :1]), actions[:, 1:]], 1)

    def loss(
        self, data: dict[str, tf.Tensor]
    ) -> tuple[tf.Tensor, dict[str, tf.Tensor], dict[str, tf.Tensor]]:
        """The world-model loss of a batch of sequences.

        Args:
            data: ``[batch, time, ...]`` observations, ``action``, ``reward``
                and ``discount``.

        Returns:
            ``(loss, posterior, metrics)``.
        """
        config = self.config
        data = _as_tensors(data)
        embed = self.embed(data)
        posterior, prior = self.rssm.observe(embed, self._window_actions(data))
        features = self.rssm.features(posterior)
        log_likelihoods = {"reward": self._reward_log_prob(features, data["reward"])}
        if self.decoder is not None:
            observation = self.observation(data)
            log_likelihoods["image"] = self.decoder(features).log_prob(observation)
        if self.state_model is not None:
            log_likelihoods["contrastive"] = self._contrastive_bound(embed, features)
        if self.continue_head is not None:
            target = tf.cast(data["discount"], tf.float32) * config.discount
            pcont = self.continue_head(features).log_prob(target)
            log_likelihoods["pcont"] = config.pcont_scale * pcont
        kl_term, kl_metrics = self.kl_loss(self.rssm, posterior, prior)
        mean_log_likelihoods = {
            key: tf.reduce_mean(value) for key, value in log_likelihoods.items()
        }
        loss = kl_term - tf.add_n(list(mean_log_likelihoods.values()))
        metrics = {f"{key}_loss": -value for key, value in mean_log_likelihoods.items()}
        metrics.update(kl_metrics)
        metrics.update(
            model_loss=loss,
            prior_entropy=tf.reduce_mean(self.rssm.distribution(prior).entropy()),
            posterior_entropy=tf.reduce_mean(
                self.rssm.distribution(posterior).entropy()
            ),
        )
        return loss, posterior, metrics

    def _reward_log_prob(self, features: tf.Tensor, reward: tf.Tensor) -> tf.Tensor:
        target = tf.cast(reward, tf.float32)
        if self.config.tanh_rewards:
            target = tf.tanh(target)
        return self.reward_head(features).log_prob(target)

    def _contrastive_bound(self, embed: tf.Tensor, features: tf.Tensor) -> tf.Tensor:
        """InfoNCE: ``log q(s_t|o_t) - log sum_o' q(s_t|o')`` over the batch."""
        flat_features = tf.reshape(features, [-1, features.shape[-1]])
        means = self.state_model(tf.reshape(embed, [-1, embed.shape[-1]])).mean()
        # Unit-variance Gaussian log-densities of every state under every
        # observation's prediction, up to a constant that cancels in the bound.
        squared_distance = (
            tf.reduce_sum(flat_features**2, -1)[:, None]
            - 2.0 * tf.matmul(flat_features, means, transpose_b=True)
            + tf.reduce_sum(means**2, -1)[None, :]
        )
        log_density = -0.5 * squared_distance
        bound = tf.linalg.diag_part(log_density) - tf.reduce_logsumexp(log_density, 1)
        return tf.reshape(bound, tf.shape(features)[:-1])

    def observe(self, observations, actions, state: State | None = None):
        """Filters sequences of observations: the posterior and prior states.

        Args:
            observations: ``[batch, time, ...]`` observations: a dict such as
                the replay's (keys the model does not read are ignored), or,
                for a model of pixels, the uint8 images themselves.
            actions: ``[batch, time, action_size]``; ``actions[:, t]`` led to
                observation ``t`` (zeros at an episode's first step).
            state: The state before the first step; zeros if ``None``.

        Returns:
            ``(posterior, prior)``, state sequences ``[batch, time, ...]``.
        """
        if not isinstance(observations, Mapping):
            observations = {"image": observations}
        embed = self.embed(_as_tensors(observations))
        return self.rssm.observe(embed, tf.convert_to_tensor(actions), state)

    def imagine(self, start: State, actions_or_policy, horizon: int | None = None):
        """Predicts open loop from a state: prior steps, no observations.

        Args:
            start: A state ``[batch, ...]`` (e.g. :meth:`state_at` of
                :meth:`observe`'s posterior).
            actions_or_policy: Actions ``[batch, horizon, action_size]``, or a
                policy ``features -> action distribution`` (such as
                ``agent.actor_critic.actor``) whose samples are taken.
            horizon: Steps to imagine with a policy (ignored for actions).

        Returns:
            The imagined states ``[batch, horizon, ...]`` (not ``start``).

        Raises:
            ValueError: If a policy is given without a horizon.
        """
        if not callable(actions_or_policy):
            return self.rssm.imagine(actions_or_policy, start)
        if horizon is None:
            raise ValueError("imagine() with a policy needs a horizon.")
        policy = actions_or_policy

        def step(state, _):
            return self.rssm.prior_step(
                state, policy(self.rssm.features(state)).sample()
            )

        # Sequential for repeatable sampling; see RSSMCell.observe().
        states = tf.scan(step, tf.range(horizon), start, parallel_iterations=1)
        return tf.nest.map_structure(
            lambda value: tf.transpose(value, [1, 0, *range(2, value.shape.rank)]),
            states,
        )

    def decode(self, states: State) -> tf.Tensor:
        """The decoder's most likely observation of each state.

        Args:
            states: States with any leading dims.

        Returns:
            For a model of pixels, float images in ``[0, 1]`` (display range,
            ``[..., height, width, channels]``); else the vector observation.

        Raises:
            ValueError: If the model has no decoder (``representation`` other
                than ``'reconstruction'``).
        """
        if self.decoder is None:
            raise ValueError(
                f"This world model has no decoder (representation="
                f"{self.config.representation!r})."
            )
        mode = tf.cast(self.decoder(self.rssm.features(states)).mode(), tf.float32)
        if not self.uses_pixels:
            return mode
        return tf.clip_by_value(mode + 0.5, 0.0, 1.0)

    @staticmethod
    def state_at(states: State, index: int) -> State:
        """Step ``index`` of state sequences ``[batch, time, ...]`` (``-1``: last)."""
        return {key: value[:, index] for key, value in states.items()}

    def open_loop_prediction(
        self, data: dict[str, tf.Tensor], context: int = 5
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """Observes ``context`` frames, then predicts the rest from actions only.

        Args:
            data: ``[batch, time, ...]`` sequences with images.
            context: Number of observed frames.

        Returns:
            ``(truth, prediction)``, both float images in ``[0, 1]`` of shape
            ``[batch, time, height, width, channels]``.
        """
        data = _as_tensors(data)
        actions = data["action"]
        posterior, _ = self.observe(
            {key: value[:, :context] for key, value in data.items()},
            actions[:, :context],
        )
        imagined = self.imagine(self.state_at(posterior, -1), actions[:, context:])
        prediction = tf.concat([self.decode(posterior), self.decode(imagined)], 1)
        truth = self.observation(data) + 0.5
        return truth, prediction


def _as_tensors(data: dict) -> dict[str, tf.Tensor]:
    return {key: tf.convert_to_tensor(value) for key, value in data.items()}
