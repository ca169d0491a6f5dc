"""User-built agents for the tests: a categorical RSSM, a 96x96 decoder, factories.

What a researcher would write in their own module: layers registered for
Keras serialisation and factories for :func:`dreamer_tf.run.cli.launch`
(``custom_agent_program.py`` is the script that launches them). The
categorical cell is a test double of the component library's state
protocol, not DreamerV2's cell.
"""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from dreamer_tf.agent import Dreamer
from dreamer_tf.layers import ConvDecoder, RSSMCell

tfd = tfp.distributions


@keras.saving.register_keras_serializable(package="dreamer_tf_tests")
class CategoricalRSSMCell(RSSMCell):
    """An RSSM whose latent is ``groups`` one-hot variables of ``classes`` each.

    Its state is ``{logits, stoch, deter}``: ``stoch`` holds the flattened
    one-hot samples (straight-through gradients), so ``stoch_size = groups *
    classes``.
    """

    def __init__(self, groups: int = 4, classes: int = 4, **kwargs):
        kwargs["stoch_size"] = groups * classes
        self.groups, self.classes = groups, classes
        super().__init__(**kwargs)

    @property
    def state_shapes(self):
        return {
            "logits": (self.stoch_size,),
            "stoch": (self.stoch_size,),
            "deter": (self.deter_size,),
        }

    @property
    def stats_size(self) -> int:
        return self.stoch_size

    def _grouped(self, flat):
        return tf.reshape(flat, [*tf.unstack(tf.shape(flat)[:-1]), self.groups, -1])

    def distribution(self, state):
        logits = self._grouped(state["logits"])
        return tfd.Independent(tfd.OneHotCategorical(logits=logits), 1)

    def latent_state(self, stats, deter):
        logits = self._grouped(stats)
        sample = tfd.OneHotCategorical(logits=logits, dtype=tf.float32).sample()
        probabilities = tf.nn.softmax(logits)
        sample += probabilities - tf.stop_gradient(probabilities)
        return {
            "logits": stats,
            "stoch": tf.reshape(sample, tf.shape(stats)),
            "deter": deter,
        }

    def get_config(self):
        config = super().get_config()
        del config["stoch_size"]
        return {**config, "groups": self.groups, "classes": self.classes}


@keras.saving.register_keras_serializable(package="dreamer_tf_tests")
class Decoder96(ConvDecoder):
    """The paper's decoder with kernels that grow a 1x1 map to 96x96."""

    def __init__(self, depth: int = 32, **kwargs):
        kwargs.setdefault("image_shape", (96, 96, 3))
        kwargs.setdefault("kernel_sizes", (7, 8, 8, 6))
        super().__init__(depth=depth, **kwargs)


def categorical_agent(config, observation_space, action_space, strategy=None):
    """Dreamer with a categorical latent of 4 x 4 classes."""
    return Dreamer(
        config,
        observation_space,
        action_space,
        strategy=strategy,
        rssm=lambda: CategoricalRSSMCell(
            4,
            4,
            deter_size=config.deter_size,
            hidden_size=config.rssm_hidden,
            activation=config.dense_activation,
        ),
    )


def agent_96(config, observation_space, action_space, strategy=None):
    """Dreamer on 96x96 images: the default encoder and :class:`Decoder96`."""
    return Dreamer(
        config,
        observation_space,
        action_space,
        strategy=strategy,
        decoder=lambda: Decoder96(config.cnn_depth),
    )


FACTORIES = {"categorical": categorical_agent, "96": agent_96}
