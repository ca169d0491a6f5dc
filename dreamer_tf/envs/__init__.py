"""Environments for Dreamer: DMC, gymnasium and Atari behind one gymnasium API.

Nothing in this package imports TensorFlow, directly or indirectly: MuJoCo's
EGL renderer crashes processes that have. Training code should step
environments through :func:`make_vector_env`, whose workers are fresh
processes that import only this package.
"""

from dreamer_tf.envs.make import make_env
from dreamer_tf.envs.tasks import SUITES, validate_task
from dreamer_tf.envs.vector import EnvWorkerError, SubprocessVectorEnv, make_vector_env
from dreamer_tf.envs.wrappers import (
    FLAG_KEYS,
    ActionRepeat,
    EpisodeFlags,
    ImageObservation,
    OneHotAction,
    is_one_hot_space,
    random_actions,
)

__all__ = [
    "FLAG_KEYS",
    "SUITES",
    "ActionRepeat",
    "EnvWorkerError",
    "EpisodeFlags",
    "ImageObservation",
    "OneHotAction",
    "SubprocessVectorEnv",
    "is_one_hot_space",
    "make_env",
    "make_vector_env",
    "random_actions",
    "validate_task",
]
