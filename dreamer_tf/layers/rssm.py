"""The Recurrent State-Space Model (RSSM) of PlaNet and Dreamer.

A state is a dict of tensors that ``tf.nest`` maps over. The cell declares
it (the *state protocol*), and everything that holds a state reads the
declaration instead of naming entries: the agent's initial state, the policy
step, the SavedModel export, imagination and the world model's loss.

- :attr:`RSSMCell.state_shapes`: each entry's shape without batch dims
  (float32); for the paper's cell ``{mean, std, stoch, deter}``, where
  ``deter`` is the GRU's deterministic path and ``stoch`` a sample of the
  diagonal Gaussian with ``mean`` and ``std``.
- :meth:`RSSMCell.initial_state`: the all-zero state of an episode's start.
- :meth:`RSSMCell.features` and :attr:`RSSMCell.feature_size`: the heads'
  input.
- :meth:`RSSMCell.distribution`: the distribution over the latent that a
  state holds, for the KL term and entropies.
- :attr:`RSSMCell.stats_size` and :meth:`RSSMCell.latent_state`: how the
  prior and posterior layers' outputs become a state; a cell with another
  latent (e.g. categorical) overrides these with the three above.
"""

from __future__ import annotations

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from dreamer_tf.layers._shapes import flatten_batch, restore_batch
from dreamer_tf.layers.gru import GRUCell

tfd = tfp.distributions

State = dict[str, tf.Tensor]


@keras.saving.register_keras_serializable(package="dreamer_tf")
class RSSMCell(keras.layers.Layer):
    """One step of the RSSM: the transition prior and the representation posterior.

    Transition (prior) ``q(s_t | s_{t-1}, a_{t-1})``: ``[stoch, action] ->
    Dense(hidden) -> GRUCell(deter) -> Dense(hidden) -> Dense(2 * stoch)``.
    Representation (posterior) ``p(s_t | s_{t-1}, a_{t-1}, o_t)``: the prior's
    ``deter_t`` with the observation embedding ``-> Dense(hidden) -> Dense(2 *
    stoch)``. Both use ``std = softplus(raw) + min_std`` and reparameterised
    samples.

    Args:
        stoch_size: Size of the stochastic state.
        deter_size: Size of the deterministic (GRU) state.
        hidden_size: Width of the dense layers.
        activation: Activation of the dense layers.
        min_std: Lower bound of the std.
        **kwargs: Passed to :class:`keras.layers.Layer`.

    Call args:
        state: The previous state, each entry ``[..., size]``.
        action: The action ``a_{t-1}``, ``[..., action_dim]``.
        embed: The embedding of ``o_t``, or ``None`` for a prior step only.

    Returns:
        The prior state when ``embed`` is ``None``, else ``(posterior, prior)``.
    """

    def __init__(
        self,
        stoch_size: int = 30,
        deter_size: int = 200,
        hidden_size: int = 200,
        activation: str = "elu",
        min_std: float = 0.1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.stoch_size = stoch_size
        self.deter_size = deter_size
        self.hidden_size = hidden_size
        self.activation = activation
        self.min_std = min_std
        self.prior_input = keras.layers.Dense(hidden_size, activation)
        self.gru = self.make_recurrent_cell()
        self.prior_hidden = keras.layers.Dense(hidden_size, activation)
        self.prior_stats = keras.layers.Dense(self.stats_size)
        self.posterior_hidden = keras.layers.Dense(hidden_size, activation)
        self.posterior_stats = keras.layers.Dense(self.stats_size)

    def make_recurrent_cell(self) -> keras.layers.Layer:
        """The deterministic path's cell: Keras' GRU equations with ``deter_size``.

        A subclass returns another cell called as ``cell(inputs, [state]) ->
        (state, [state])`` and built by ``cell.build((None, hidden_size))``.
        """
        return GRUCell(self.deter_size)

    @property
    def state_shapes(self) -> dict[str, tuple[int, ...]]:
        """Each entry of a state, by name: its shape without the batch dims.

        Every entry is float32. A subclass with another latent returns its
        own entries; it must keep ``deter`` (the recurrent state) and
        ``stoch`` (``stoch_size`` numbers: the prior step's input and, with
        ``deter``, the default :meth:`features`).
        """
        stoch = (self.stoch_size,)
        return {
            "mean": stoch,
            "std": stoch,
            "stoch": stoch,
            "deter": (self.deter_size,),
        }

    @property
    def stats_size(self) -> int:
        """Outputs of the prior's and posterior's last layer: ``2 * stoch_size``."""
        return 2 * self.stoch_size

    @property
    def feature_size(self) -> int:
        """Size of :meth:`features`: ``stoch_size + deter_size``."""
        return self.stoch_size + self.deter_size

    def initial_state(self, batch_size, dtype=tf.float32) -> State:
        """The all-zero state of the start of an episode.

        Args:
            batch_size: Leading dimension (int or scalar tensor).
            dtype: Dtype of the entries.

        Returns:
            A state dict with entries ``[batch_size, *shape]`` of
            :attr:`state_shapes`.
        """
        return {
            key: tf.zeros([batch_size, *shape], dtype)
            for key, shape in self.state_shapes.items()
        }

    def features(self, state: State) -> tf.Tensor:
        """The input of every head: ``concat(stoch, deter)``."""
        return tf.concat([state["stoch"], state["deter"]], -1)

    def distribution(self, state: State) -> tfd.Distribution:
        """The diagonal Gaussian ``Normal(mean, std)`` over ``stoch``."""
        return tfd.Independent(tfd.Normal(state["mean"], state["std"]), 1)

    def latent_state(self, stats: tf.Tensor, deter: tf.Tensor) -> State:
        """The state for a prior or posterior layer's output and the GRU's state.

        Args:
            stats: ``[batch, stats_size]`` float32: the mean and the raw std,
                ``std = softplus(raw) + min_std``.
            deter: ``[batch, deter_size]``, the deterministic state.

        Returns:
            The state, with ``stoch`` a reparameterised sample.
        """
        mean, raw_std = tf.split(stats, 2, -1)
        std = tf.nn.softplus(raw_std) + self.min_std
        stoch = tfd.Normal(mean, std).sample()
        return {"mean": mean, "std": std, "stoch": stoch, "deter": deter}

    def _state_from(self, stats_layer, hidden, deter) -> State:
        return self.latent_state(tf.cast(stats_layer(hidden), tf.float32), deter)

    def prior_step(self, state: State, action: tf.Tensor) -> State:
        """One transition step ``q(s_t | s_{t-1}, a_{t-1})`` (the "img step")."""
        inputs = tf.concat([state["stoch"], tf.cast(action, state["stoch"].dtype)], -1)
        flat_inputs, batch_shape = flatten_batch(inputs, 1)
        flat_deter, _ = flatten_batch(state["deter"], 1)
        hidden = self.prior_input(flat_inputs)
        deter, _ = self.gru(hidden, [flat_deter])
        deter = tf.cast(deter, tf.float32)
        prior = self._state_from(self.prior_stats, self.prior_hidden(deter), deter)
        return tf.nest.map_structure(lambda x: restore_batch(x, batch_shape), prior)

    def posterior_step(
        self, state: State, action: tf.Tensor, embed: tf.Tensor
    ) -> tuple[State, State]:
        """One representation step ``p(s_t | s_{t-1}, a_{t-1}, o_t)`` (the "obs step").

        Returns:
            ``(posterior, prior)``; both share ``deter``.
        """
        prior = self.prior_step(state, action)
        inputs = tf.concat([prior["deter"], tf.cast(embed, prior["deter"].dtype)], -1)
        hidden = self.posterior_hidden(inputs)
        posterior = self._state_from(self.posterior_stats, hidden, prior["deter"])
        return posterior, prior

    def build(self, state_shape, action_shape, embed_shape=None):
        self.prior_input.build((None, self.stoch_size + action_shape[-1]))
        self.gru.build((None, self.hidden_size))
        self.prior_hidden.build((None, self.deter_size))
        self.prior_stats.build((None, self.hidden_size))
        if embed_shape is not None:
            self.posterior_hidden.build((None, self.deter_size + embed_shape[-1]))
            self.posterior_stats.build((None, self.hidden_size))

    def call(self, state, action, embed=None):
        if embed is None:
            return self.prior_step(state, action)
        return self.posterior_step(state, action, embed)

    def observe(
        self, embed: tf.Tensor, action: tf.Tensor, state: State | None = None
    ) -> tuple[State, State]:
        """Filters a sequence: posterior steps over time.

        Args:
            embed: Embeddings ``[batch, time, embed_dim]``.
            action: ``action[:, t]`` is the action that led to observation
                ``t`` (zeros at the first step of an episode), ``[batch, time,
                action_dim]``.
            state: Start state, ``[batch, size]``; zeros when ``None``.

        Returns:
            ``(posterior, prior)`` state sequences, entries ``[batch, time,
            size]``.
        """
        embed, action = tf.convert_to_tensor(embed), tf.convert_to_tensor(action)
        if state is None:
            state = self.initial_state(tf.shape(action)[0])
        sequences = (_swap_batch_time(embed), _swap_batch_time(action))

        def step(carry, inputs):
            posterior, _ = carry
            return self.posterior_step(posterior, inputs[1], inputs[0])

        # One iteration at a time: with the default 10, the sampling ops of
        # later steps (which do not wait for the carry) draw from their
        # random streams in a racy order, and seeded runs are not repeatable.
        posterior, prior = tf.scan(
            step, sequences, (state, state), parallel_iterations=1
        )
        return _batch_major(posterior), _batch_major(prior)

    def imagine(self, action: tf.Tensor, state: State | None = None) -> State:
        """Predicts open loop: prior steps over a sequence of actions.

        Args:
            action: Actions ``[batch, time, action_dim]``.
            state: Start state, ``[batch, size]``; zeros when ``None``.

        Returns:
            The prior state sequence, entries ``[batch, time, size]``.
        """
        action = tf.convert_to_tensor(action)
        if state is None:
            state = self.initial_state(tf.shape(action)[0])
        # Sequential for repeatable sampling; see observe().
        prior = tf.scan(
            self.prior_step, _swap_batch_time(action), state, parallel_iterations=1
        )
        return _batch_major(prior)

    def get_config(self):
        return {
            **super().get_config(),
            "stoch_size": self.stoch_size,
            "deter_size": self.deter_size,
            "hidden_size": self.hidden_size,
            "activation": self.activation,
            "min_std": self.min_std,
        }


def _swap_batch_time(tensor: tf.Tensor) -> tf.Tensor:
    return tf.transpose(tensor, [1, 0, *range(2, tensor.shape.rank)])


def _batch_major(state: State) -> State:
    return tf.nest.map_structure(_swap_batch_time, state)
