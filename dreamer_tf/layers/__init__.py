"""Dreamer's reusable Keras 3 building blocks (no training logic)."""

from dreamer_tf.layers.actors import OneHotActor, TanhNormalActor, TruncatedNormalActor
from dreamer_tf.layers.categorical_rssm import CategoricalRSSMCell
from dreamer_tf.layers.decoders import ConvDecoder
from dreamer_tf.layers.encoders import ConvEncoder, MLPEncoder
from dreamer_tf.layers.gru import GRUCell, NormGRUCell
from dreamer_tf.layers.heads import ContinueHead, DenseHead, RewardHead, ValueHead
from dreamer_tf.layers.phase_convolution import PhaseConv2D, PhaseConv2DTranspose
from dreamer_tf.layers.rssm import RSSMCell

__all__ = [
    "CategoricalRSSMCell",
    "ContinueHead",
    "ConvDecoder",
    "ConvEncoder",
    "DenseHead",
    "GRUCell",
    "MLPEncoder",
    "NormGRUCell",
    "OneHotActor",
    "PhaseConv2D",
    "PhaseConv2DTranspose",
    "RSSMCell",
    "RewardHead",
    "TanhNormalActor",
    "TruncatedNormalActor",
    "ValueHead",
]
