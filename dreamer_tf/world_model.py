"""The world model: encoder, RSSM, observation decoder, reward (and discount) heads."""

from __future__ import annotations

import keras
import tensorflow as tf

from dreamer_tf.config import DreamerConfig
from dreamer_tf.layers import (
    ContinueHead,
    ConvDecoder,
    ConvEncoder,
    DenseHead,
    MLPEncoder,
    RewardHead,
    RSSMCell,
)

NON_OBSERVATION_KEYS = ("action", "reward", "discount")


def preprocess_image(image: tf.Tensor) -> tf.Tensor:
    """Maps uint8 pixels to floats in ``[-0.5, 0.5]``: ``x / 255 - 0.5``."""
    return tf.cast(image, tf.float32) / 255.0 - 0.5


class WorldModel(keras.layers.Layer):
    """Learns the latent dynamics and predicts observations and rewards.

    The loss is the paper's Eq. 10 objective with free nats: ``kl_scale *
    max(mean KL(posterior || prior), free_nats) - (log p(o) + log p(r) [+
    pcont_scale * log p(discount)])``, means over batch and time. With
    ``representation='contrastive'`` the image term is replaced by the
    InfoNCE bound of the paper's Eq. 11; with ``'reward'`` it is dropped.

    Args:
        config: The hyperparameters.
        vector_keys: Names of the vector observations the model sees when
            ``config.observation == 'proprio'`` (concatenated in this order).
        vector_size: Total size of those vectors.
        image_shape: ``(height, width, channels)`` of image observations.
        encoder: A layer mapping the model's observation ``[..., *obs]`` to
            embeddings ``[..., embed_dim]``; the config's encoder if ``None``.
        decoder: A layer mapping features ``[..., feature_dim]`` to a
            distribution over the observation; the config's if ``None``.
        **kwargs: Passed to :class:`keras.layers.Layer`.
    """

    def __init__(
        self,
        config: DreamerConfig,
        vector_keys: tuple[str, ...] = (),
        vector_size: int = 0,
        image_shape: tuple[int, int, int] = (64, 64, 3),
        encoder: keras.layers.Layer | None = None,
        decoder: keras.layers.Layer | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.config = config
        self.vector_keys = tuple(vector_keys)
        self.uses_pixels = config.observation == "pixels"
        if not self.uses_pixels and not self.vector_keys:
            raise ValueError("observation='proprio' needs at least one vector key.")
        act = config.dense_activation
        if self.uses_pixels:
            default_encoder = ConvEncoder(config.cnn_depth, config.cnn_activation)
            default_decoder = ConvDecoder(
                config.cnn_depth, config.cnn_activation, image_shape
            )
        else:
            default_encoder = MLPEncoder(config.num_units, 2, act)
            default_decoder = DenseHead((vector_size,), 2, config.num_units, act)
        self.encoder = encoder or default_encoder
        decoder = decoder or default_decoder
        self.decoder = decoder if config.representation == "reconstruction" else None
        self.rssm = RSSMCell(
            config.stoch_size,
            config.deter_size,
            config.rssm_hidden,
            act,
            config.rssm_min_std,
        )
        self.reward_head = RewardHead(
            num_layers=config.reward_layers, units=config.num_units, activation=act
        )
        self.continue_head = (
            ContinueHead(
                num_layers=config.pcont_layers,
                units=config.num_units,
                activation=act,
            )
            if config.pcont
            else None
        )
        self.state_model = (
            DenseHead((self.rssm.feature_size,), 2, config.num_units, act)
            if config.representation == "contrastive"
            else None
        )

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
        return self.rssm.observe(self.embed(data), data["action"])

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
        posterior, prior = self.rssm.observe(embed, data["action"])
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
        divergence = tf.reduce_mean(
            self.rssm.distribution(posterior).kl_divergence(
                self.rssm.distribution(prior)
            )
        )
        kl_term = config.kl_scale * tf.maximum(divergence, config.free_nats)
        mean_log_likelihoods = {
            key: tf.reduce_mean(value) for key, value in log_likelihoods.items()
        }
        loss = kl_term - tf.add_n(list(mean_log_likelihoods.values()))
        metrics = {f"{key}_loss": -value for key, value in mean_log_likelihoods.items()}
        metrics.update(
            model_loss=loss,
            kl=divergence,
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
        embed = self.embed(data)
        posterior, _ = self.rssm.observe(
            embed[:, :context], data["action"][:, :context]
        )
        observed = self.decoder(self.rssm.features(posterior)).mode()
        last_state = {key: value[:, -1] for key, value in posterior.items()}
        prior = self.rssm.imagine(data["action"][:, context:], last_state)
        imagined = self.decoder(self.rssm.features(prior)).mode()
        prediction = tf.concat([observed, imagined], 1) + 0.5
        truth = self.observation(data) + 0.5
        return truth, tf.clip_by_value(prediction, 0.0, 1.0)


def _as_tensors(data: dict) -> dict[str, tf.Tensor]:
    return {key: tf.convert_to_tensor(value) for key, value in data.items()}
