"""Builds one environment of any suite with Dreamer's preprocessing."""

import numbers

import gymnasium
import numpy as np

from dreamer_tf.envs.atari import AtariPreprocess
from dreamer_tf.envs.dmc import DeepMindControlEnv
from dreamer_tf.envs.tasks import TaskSpec, parse_task
from dreamer_tf.envs.wrappers import (
    ActionRepeat,
    EpisodeFlags,
    ImageObservation,
    OneHotAction,
)

# Sticky actions of Machado et al. (2018), as in ALE v5 environments.
ATARI_STICKY_ACTION_PROBABILITY = 0.25
ATARI_NOOP_MAX = 30
#: Frames per agent step unless a task's caller says otherwise (the paper's).
DEFAULT_ACTION_REPEAT = 2


def check_make_env_arguments(
    task: str,
    *,
    seed: int | None = None,
    action_repeat: int = DEFAULT_ACTION_REPEAT,
    time_limit: int = 1000,
    image_size: tuple[int, int] = (64, 64),
    pixels: bool = True,
    grayscale: bool = False,
    life_done: bool = False,
) -> TaskSpec:
    """Checks the arguments of :func:`make_env` without creating anything.

    Args:
        task: See :func:`make_env`.
        seed: See :func:`make_env`.
        action_repeat: See :func:`make_env`.
        time_limit: See :func:`make_env`.
        image_size: See :func:`make_env`.
        pixels: See :func:`make_env`.
        grayscale: See :func:`make_env`.
        life_done: See :func:`make_env`.

    Returns:
        The parsed task.

    Raises:
        ValueError: If the task does not exist or an argument is invalid.
    """
    spec = parse_task(task)
    if seed is not None and (not _is_int(seed) or seed < 0):
        raise ValueError(f"seed must be a non-negative int or None, got {seed!r}.")
    if not _is_int(action_repeat) or action_repeat < 1:
        raise ValueError(f"action_repeat must be an int >= 1, got {action_repeat!r}.")
    if not _is_int(time_limit) or time_limit < 1:
        raise ValueError(
            f"time_limit (in frames) must be an int >= 1, got {time_limit!r}."
        )
    if len(tuple(image_size)) != 2 or not all(
        _is_int(size) and size > 0 for size in image_size
    ):
        raise ValueError(
            f"image_size must be (height, width) of positive ints, got {image_size!r}."
        )
    if life_done and spec.suite != "atari":
        raise ValueError(f"life_done applies to atari tasks only, not {task!r}.")
    if not pixels and spec.suite == "atari":
        raise ValueError(
            f"Atari tasks observe only pixels; {task!r} needs pixels=True."
        )
    if grayscale and not pixels:
        raise ValueError("grayscale=True needs pixels=True.")
    return spec


def make_env(
    task: str,
    *,
    seed: int | None = None,
    action_repeat: int = DEFAULT_ACTION_REPEAT,
    time_limit: int = 1000,
    image_size: tuple[int, int] = (64, 64),
    pixels: bool = True,
    grayscale: bool = False,
    life_done: bool = False,
) -> gymnasium.Env:
    """Creates one environment of the DMC, gymnasium or Atari suite.

    Every environment speaks the gymnasium API. Its observation is a dict
    (``observation_space`` a ``gymnasium.spaces.Dict``) with:

    - ``image``: uint8 ``[height, width, 3]`` (``[..., 1]`` if grayscale), when
      ``pixels`` is True;
    - float32 vectors of at least one dimension: DMC's proprioceptive keys, or
      ``vector`` for a gymnasium environment observed without pixels;
    - bool scalars ``is_first``, ``is_last``, ``is_terminal`` (see
      :class:`~dreamer_tf.envs.wrappers.EpisodeFlags`). These are bookkeeping:
      model inputs are ``image`` and the float32 vector keys.

    The action space is ``Box(-1, 1, (n,), float32)`` for continuous control and
    one-hot ``Box(0, 1, (n,), float32)`` for discrete actions. ``step`` puts the
    discount in ``info['discount']`` (0.0 at a true terminal, else 1.0).

    Args:
        task: ``dmc_<domain>_<task>`` (``cup`` means ``ball_in_cup``; camera 0,
            camera 2 for quadruped), ``gym_<registered id>`` (``module:Id``
            works as in ``gymnasium.make``; the module must be importable in
            worker processes), or ``atari_<game>`` (ALE ROM name, e.g. ``pong``,
            ``ms_pacman``; sticky actions 0.25, up to 30 no-op starts, max-pool
            of the last two frames).
        seed: Seed of the first ``reset`` called without one; None seeds from
            the operating system.
        action_repeat: Frames per agent step; rewards are summed over them and
            the repeat stops at episode end. DMC and gymnasium render only the
            last frame of a repeat. For Atari this is the frame skip (Dreamer
            uses 4).
        time_limit: Episode length in frames (environment steps before action
            repeat); the episode is truncated there. 1000 frames are 500 agent
            steps at action repeat 2. Atari runs usually pass 108_000 (the ALE
            standard of 30 minutes).
        image_size: ``(height, width)`` of the ``image`` key.
        pixels: Observe images. If False there is no ``image`` key and DMC never
            renders (proprioceptive training); gymnasium environments then give
            their vector observation as ``vector``. Atari requires True.
        grayscale: One luminance channel instead of RGB.
        life_done: Atari only: end the episode (terminated) when a life is lost.

    Returns:
        The environment. Call ``reset`` first.

    Raises:
        ValueError: If the task does not exist (the message lists what does) or
            an argument is invalid; raised before anything is created.
        TypeError: If a gymnasium environment has an unsupported action or
            observation space type.
        RuntimeError: For DMC in a process that imported TensorFlow (see
            :func:`dreamer_tf.envs.dmc.check_can_load_dm_control`).
    """
    spec = check_make_env_arguments(
        task,
        seed=seed,
        action_repeat=action_repeat,
        time_limit=time_limit,
        image_size=image_size,
        pixels=pixels,
        grayscale=grayscale,
        life_done=life_done,
    )
    image_size = (int(image_size[0]), int(image_size[1]))
    if spec.suite == "dmc":
        env = _make_dmc(spec, action_repeat, time_limit, image_size, pixels, grayscale)
    elif spec.suite == "gym":
        env = _make_gym(spec, action_repeat, time_limit, image_size, pixels, grayscale)
    else:
        env = _make_atari(
            spec, action_repeat, time_limit, image_size, grayscale, life_done
        )
    return EpisodeFlags(env, seed=seed)


def _make_dmc(
    spec: TaskSpec,
    action_repeat: int,
    time_limit: int,
    image_size: tuple[int, int],
    pixels: bool,
    grayscale: bool,
) -> gymnasium.Env:
    env = DeepMindControlEnv(spec.domain, spec.task, image_size=image_size)
    env = gymnasium.wrappers.TimeLimit(env, max_episode_steps=time_limit)
    env = ActionRepeat(env, action_repeat)
    env = _normalize_continuous_actions(env)
    if pixels:
        env = ImageObservation(env, image_size, grayscale, keep_observation=True)
    return env


def _make_gym(
    spec: TaskSpec,
    action_repeat: int,
    time_limit: int,
    image_size: tuple[int, int],
    pixels: bool,
    grayscale: bool,
) -> gymnasium.Env:
    env = gymnasium.make(
        spec.name,
        render_mode="rgb_array" if pixels else None,
        max_episode_steps=time_limit,
    )
    env = ActionRepeat(env, action_repeat)
    if isinstance(env.action_space, gymnasium.spaces.Discrete):
        env = OneHotAction(env)
    elif isinstance(env.action_space, gymnasium.spaces.Box):
        env = _normalize_continuous_actions(env)
    else:
        raise TypeError(
            f"gym_{spec.name} has action space {env.action_space}; only Box and "
            "Discrete action spaces are supported."
        )
    if pixels:
        return ImageObservation(env, image_size, grayscale, keep_observation=False)
    if not isinstance(env.observation_space, gymnasium.spaces.Box):
        raise TypeError(
            f"gym_{spec.name} has observation space {env.observation_space}; "
            "without pixels only Box observations are supported."
        )
    vector_shape = env.observation_space.shape or (1,)
    vector_space = gymnasium.spaces.Box(-np.inf, np.inf, vector_shape, np.float32)
    return gymnasium.wrappers.TransformObservation(
        env,
        lambda observation: {
            "vector": np.asarray(observation, np.float32).reshape(vector_shape)
        },
        gymnasium.spaces.Dict({"vector": vector_space}),
    )


def _make_atari(
    spec: TaskSpec,
    frame_skip: int,
    time_limit: int,
    image_size: tuple[int, int],
    grayscale: bool,
    life_done: bool,
) -> gymnasium.Env:
    from ale_py.env import AtariEnv

    env = AtariEnv(
        game=spec.name,
        obs_type="grayscale" if grayscale else "rgb",
        frameskip=1,
        repeat_action_probability=ATARI_STICKY_ACTION_PROBABILITY,
        full_action_space=False,
    )
    env = gymnasium.wrappers.TimeLimit(env, max_episode_steps=time_limit)
    env = AtariPreprocess(
        env,
        frame_skip=frame_skip,
        noop_max=ATARI_NOOP_MAX,
        life_done=life_done,
        image_size=image_size,
        grayscale=grayscale,
    )
    return OneHotAction(env)


def _normalize_continuous_actions(env: gymnasium.Env) -> gymnasium.Env:
    space = env.action_space
    if len(space.shape) != 1 or not space.is_bounded():
        raise ValueError(f"Continuous actions must be a bounded 1-d Box, got {space}.")
    if np.all(space.low == -1.0) and np.all(space.high == 1.0):
        if space.dtype == np.float32:
            return env
        env = gymnasium.Wrapper(env)
    else:
        env = gymnasium.wrappers.RescaleAction(
            env,
            np.full(space.shape, -1.0, space.dtype),
            np.full(space.shape, 1.0, space.dtype),
        )
    env.action_space = gymnasium.spaces.Box(-1.0, 1.0, space.shape, np.float32)
    return env


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
