"""DreamerV2's RSSM: categorical latent variables and a layer-normalised GRU."""

from __future__ import annotations

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from dreamer_tf.distributions import OneHotDist
from dreamer_tf.layers.gru import NormGRUCell
from dreamer_tf.layers.rssm import RSSMCell, State

tfd = tfp.distributions


@keras.saving.register_keras_serializable(package="dreamer_tf")
class CategoricalRSSMCell(RSSMCell):
    """An RSSM whose stochastic state is ``variables`` one-hot vectors of ``classes``.

    The layers are those of :class:`~dreamer_tf.layers.RSSMCell`; the prior's
    and posterior's last layers output one logit per class of every variable,
    and the deterministic path is a :class:`~dreamer_tf.layers.NormGRUCell`
    (Hafner et al., 2021, Sec. 2 and Appendix: 32 variables of 32 classes).

    A state is ``{logits, stoch, deter}``, with ``logits`` and ``stoch``
    flattened to ``variables * classes`` (:attr:`stoch_size`). ``stoch`` is
    a one-hot sample of every variable whose gradient is that of the class
    probabilities (straight-through, the paper's Algorithm 1), so gradients
    reach the representation and the actor through sampled states.

    Args:
        variables: Number of categorical variables.
        classes: Classes of each variable.
        deter_size: Size of the deterministic (GRU) state.
        hidden_size: Width of the dense layers.
        activation: Activation of the dense layers.
        layer_norm: Layer-normalise the GRU's gates (the authors' code always
            does).
        update_bias: The GRU's update-gate bias.
        **kwargs: Passed to :class:`keras.layers.Layer`.
    """

    def __init__(
        self,
        variables: int = 32,
        classes: int = 32,
        deter_size: int = 200,
        hidden_size: int = 200,
        activation: str = "elu",
        layer_norm: bool = True,
        update_bias: float = -1.0,
        **kwargs,
    ):
        # Read by make_recurrent_cell(), which the base constructor calls.
        self.layer_norm = layer_norm
        self.update_bias = update_bias
        super().__init__(
            stoch_size=variables * classes,
            deter_size=deter_size,
            hidden_size=hidden_size,
            activation=activation,
            **kwargs,
        )
        self.variables_count = variables
        self.classes = classes

    def make_recurrent_cell(self) -> NormGRUCell:
        """DreamerV2's GRU with this cell's ``layer_norm`` and ``update_bias``."""
        return NormGRUCell(
            self.deter_size, layer_norm=self.layer_norm, update_bias=self.update_bias
        )

    @property
    def state_shapes(self) -> dict[str, tuple[int, ...]]:
        """``logits`` and ``stoch`` of ``variables * classes``, and ``deter``."""
        return {
            "logits": (self.stoch_size,),
            "stoch": (self.stoch_size,),
            "deter": (self.deter_size,),
        }

    @property
    def stats_size(self) -> int:
        """One logit per class of every variable."""
        return self.stoch_size

    def _grouped(self, flat: tf.Tensor) -> tf.Tensor:
        shape = tf.concat(
            [tf.shape(flat)[:-1], [self.variables_count, self.classes]], 0
        )
        return tf.reshape(flat, shape)

    def distribution(self, state: State) -> tfd.Distribution:
        """``variables`` independent one-hot categoricals (event shape ``[V, C]``)."""
        logits = self._grouped(tf.cast(state["logits"], tf.float32))
        return tfd.Independent(OneHotDist(logits=logits), reinterpreted_batch_ndims=1)

    def latent_state(self, stats: tf.Tensor, deter: tf.Tensor) -> State:
        """The state of the logits ``stats``, with a straight-through sample."""
        sample = OneHotDist(logits=self._grouped(stats)).sample()
        return {
            "logits": stats,
            "stoch": tf.reshape(sample, tf.shape(stats)),
            "deter": deter,
        }

    def get_config(self) -> dict:
        config = super().get_config()
        # Fixed by variables and classes, or unused by a categorical latent.
        del config["stoch_size"], config["min_std"]
        return {
            **config,
            "variables": self.variables_count,
            "classes": self.classes,
            "layer_norm": self.layer_norm,
            "update_bias": self.update_bias,
        }
