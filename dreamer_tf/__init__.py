"""dreamer_tf: Dreamer (Hafner et al., ICLR 2020) in TensorFlow and Keras 3.

Public symbols are imported lazily, so that importing ``dreamer_tf`` (or its
TensorFlow-free ``dreamer_tf.envs`` workers) never pulls TensorFlow in:
MuJoCo's EGL renderer crashes in any process that has imported TensorFlow.

Importing the package also quiets TensorFlow's start-up log lines (see
:mod:`dreamer_tf._quiet`); set ``DREAMER_TF_VERBOSE=1`` to see them.
"""

import importlib

from dreamer_tf import _quiet

__version__ = "0.2.0"

_quiet.install()

_PUBLIC_SYMBOLS = {
    "DreamerConfig": "dreamer_tf.config",
    "ConvEncoder": "dreamer_tf.layers",
    "MLPEncoder": "dreamer_tf.layers",
    "ConvDecoder": "dreamer_tf.layers",
    "DenseHead": "dreamer_tf.layers",
    "ValueHead": "dreamer_tf.layers",
    "RewardHead": "dreamer_tf.layers",
    "ContinueHead": "dreamer_tf.layers",
    "RSSMCell": "dreamer_tf.layers",
    "TanhNormalActor": "dreamer_tf.layers",
    "OneHotActor": "dreamer_tf.layers",
    "TruncatedNormalActor": "dreamer_tf.layers",
    "CategoricalRSSMCell": "dreamer_tf.layers",
    "NormGRUCell": "dreamer_tf.layers",
    "SampleDist": "dreamer_tf.distributions",
    "OneHotDist": "dreamer_tf.distributions",
    "ClippedTanh": "dreamer_tf.distributions",
    "lambda_return": "dreamer_tf.learning.returns",
    "nstep_return": "dreamer_tf.learning.returns",
    "reward_sum_return": "dreamer_tf.learning.returns",
    "discounted_returns": "dreamer_tf.run.calibration",
    "value_error": "dreamer_tf.run.calibration",
    "WorldModel": "dreamer_tf.learning.world_model",
    "ActorCritic": "dreamer_tf.learning.actor_critic",
    "Dreamer": "dreamer_tf.agent",
    "DreamerV2": "dreamer_tf.agent_v2",
    "ActorCriticV2": "dreamer_tf.learning.actor_critic_v2",
    "agent_class": "dreamer_tf.architecture",
    "Replay": "dreamer_tf.replay",
    "EpisodeBuilder": "dreamer_tf.acting.driver",
    "Driver": "dreamer_tf.acting.driver",
    "make_env": "dreamer_tf.envs",
    "make_vector_env": "dreamer_tf.envs",
    "validate_task": "dreamer_tf.envs",
    "RunSpec": "dreamer_tf.run.rundir",
    "load_agent": "dreamer_tf.run.saved_agent",
    "FreeNatsKL": "dreamer_tf.learning.losses",
    "KLBalance": "dreamer_tf.learning.losses",
    "named_variables": "dreamer_tf.variable_tree",
}

__all__ = sorted(_PUBLIC_SYMBOLS)  # noqa: PLE0605 - the lazy table is the list


def __getattr__(name):
    module_name = _PUBLIC_SYMBOLS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'dreamer_tf' has no attribute {name!r}")
    return getattr(importlib.import_module(module_name), name)


def __dir__():
    return sorted(list(globals()) + __all__)
