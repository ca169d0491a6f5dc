"""Wrappers that gymnasium does not provide, and helpers for our action spaces.

Every environment made by :func:`dreamer_tf.envs.make_env` follows the
action-space convention of :mod:`dreamer_tf.spaces`.
"""

from typing import Any

import gymnasium
import numpy as np
from PIL import Image

from dreamer_tf.spaces import is_one_hot_space

# Tolerance for one-hot actions: a straight-through sample
# ``one_hot + probs - stop_gradient(probs)`` is one-hot only up to rounding.
_ONE_HOT_TOLERANCE = 1e-3

FLAG_KEYS = ("is_first", "is_last", "is_terminal")


def random_actions(
    space: gymnasium.Space, num: int, rng: np.random.Generator
) -> np.ndarray:
    """Draws uniformly random actions in our action-space convention.

    Args:
        space: A 1-d ``Box`` action space of one environment: one-hot
            (see :func:`is_one_hot_space`) or continuous.
        num: Number of actions to draw (e.g. the number of environments).
        rng: Source of randomness.

    Returns:
        float32 array ``[num, n]``: uniform one-hot rows for a one-hot space,
        else uniform between the space's bounds (``[-1, 1]`` by convention).

    Raises:
        ValueError: If ``space`` is not a bounded 1-d ``Box``.
    """
    if not isinstance(space, gymnasium.spaces.Box) or len(space.shape) != 1:
        raise ValueError(f"Expected a 1-d Box action space, got {space}.")
    size = space.shape[0]
    if is_one_hot_space(space):
        return np.eye(size, dtype=np.float32)[rng.integers(0, size, num)]
    if not space.is_bounded():
        raise ValueError(f"Cannot draw uniform actions from unbounded {space}.")
    return rng.uniform(space.low, space.high, (num, size)).astype(np.float32)


def one_hot_index(action: Any, size: int) -> int:
    """Checks that an action is one-hot and returns the index of its 1.

    Args:
        action: Array-like of shape ``[size]``.
        size: Number of discrete actions.

    Returns:
        The index of the entry that is 1.

    Raises:
        ValueError: If the action has the wrong shape or is not one-hot (one
            entry 1, the rest 0, up to a small rounding tolerance).
    """
    action = np.asarray(action, dtype=np.float64)
    if action.shape != (size,):
        raise ValueError(
            f"Expected a one-hot action of shape ({size},), got shape {action.shape}."
        )
    index = int(np.argmax(action))
    target = np.zeros(size)
    target[index] = 1.0
    if not np.allclose(action, target, rtol=0.0, atol=_ONE_HOT_TOLERANCE):
        raise ValueError(
            f"Expected a one-hot action (one entry 1, the others 0), got {action}. "
            "Discrete environments take one-hot actions; use "
            "dreamer_tf.envs.random_actions or a one-hot policy."
        )
    return index


def resize_frame(
    frame: np.ndarray, image_size: tuple[int, int], grayscale: bool = False
) -> np.ndarray:
    """Resizes an RGB or grayscale frame with Pillow.

    Args:
        frame: uint8 array ``[H, W, 3]``, ``[H, W, 1]`` or ``[H, W]``.
        image_size: Target ``(height, width)``.
        grayscale: Convert to luminance.

    Returns:
        uint8 array ``[height, width, 1 if grayscale else 3]``.
    """
    frame = np.asarray(frame, dtype=np.uint8)
    if frame.ndim == 3 and frame.shape[-1] == 1:
        frame = frame[..., 0]
    convert_to_gray = grayscale and frame.ndim == 3
    if frame.shape[:2] != tuple(image_size) or convert_to_gray:
        image = Image.fromarray(frame)
        if convert_to_gray:
            image = image.convert("L")
        image = image.resize((image_size[1], image_size[0]), Image.BILINEAR)
        frame = np.array(image)
    if frame.ndim == 2:
        frame = frame[..., None]
    return np.ascontiguousarray(frame)


def image_space(image_size: tuple[int, int], grayscale: bool) -> gymnasium.Space:
    """The space of the ``image`` observation key.

    Args:
        image_size: ``(height, width)``.
        grayscale: One channel instead of three.

    Returns:
        ``Box(0, 255, (height, width, channels), uint8)``.
    """
    shape = (*image_size, 1 if grayscale else 3)
    return gymnasium.spaces.Box(0, 255, shape, np.uint8)


class ActionRepeat(gymnasium.Wrapper):
    """Repeats each action, sums the rewards and stops early at episode end.

    Put it below any wrapper that renders, so that only the last frame of a
    repeat is rendered. The info of the last inner step is returned.
    """

    def __init__(self, env: gymnasium.Env, repeat: int):
        """Initialises the wrapper.

        Args:
            env: Environment whose ``step`` advances one frame.
            repeat: Frames per agent step, at least 1.

        Raises:
            ValueError: If ``repeat`` is smaller than 1.
        """
        if repeat < 1:
            raise ValueError(f"Action repeat must be at least 1, got {repeat}.")
        super().__init__(env)
        self.repeat = repeat

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Steps the inner environment up to ``repeat`` times with one action.

        Args:
            action: Action for the inner environment.

        Returns:
            The last observation, the summed reward, terminated, truncated and
            the last info.
        """
        total_reward = 0.0
        for _ in range(self.repeat):
            observation, reward, terminated, truncated, info = self.env.step(action)
            total_reward += float(reward)
            if terminated or truncated:
                break
        return observation, total_reward, terminated, truncated, info


class OneHotAction(gymnasium.ActionWrapper):
    """Exposes a ``Discrete(n)`` action space as one-hot ``Box(0, 1, (n,))``."""

    def __init__(self, env: gymnasium.Env):
        """Initialises the wrapper.

        Args:
            env: Environment with a ``Discrete`` action space.

        Raises:
            TypeError: If the action space is not ``Discrete``.
        """
        if not isinstance(env.action_space, gymnasium.spaces.Discrete):
            raise TypeError(
                f"OneHotAction needs a Discrete action space, got {env.action_space}."
            )
        super().__init__(env)
        self._size = int(env.action_space.n)
        self._start = int(env.action_space.start)
        self.action_space = gymnasium.spaces.Box(0.0, 1.0, (self._size,), np.float32)

    def action(self, action: Any) -> int:
        """Turns a one-hot action into the discrete action.

        Args:
            action: One-hot array of shape ``[n]``.

        Returns:
            The discrete action.

        Raises:
            ValueError: If ``action`` is not one-hot.
        """
        return self._start + one_hot_index(action, self._size)


class ImageObservation(gymnasium.ObservationWrapper):
    """Adds the rendered frame, resized with Pillow, as the ``image`` key.

    Unlike gymnasium's ``AddRenderObservation`` plus ``ResizeObservation``, this
    needs no OpenCV and yields our dict layout.
    """

    def __init__(
        self,
        env: gymnasium.Env,
        image_size: tuple[int, int],
        grayscale: bool = False,
        keep_observation: bool = True,
    ):
        """Initialises the wrapper.

        Args:
            env: Environment with ``render_mode == "rgb_array"``.
            image_size: ``(height, width)`` of the image.
            grayscale: Convert the frame to one luminance channel.
            keep_observation: Keep the keys of the inner ``Dict`` observation
                next to ``image``; if False the observation is only the image.

        Raises:
            ValueError: If the environment does not render to arrays.
            TypeError: If ``keep_observation`` is set for a non-``Dict``
                observation space.
        """
        if env.render_mode != "rgb_array":
            raise ValueError(
                f"Pixel observations need render_mode 'rgb_array', got "
                f"{env.render_mode!r}."
            )
        super().__init__(env)
        self._image_size = tuple(image_size)
        self._grayscale = grayscale
        self._keep_observation = keep_observation
        spaces = {}
        if keep_observation:
            if not isinstance(env.observation_space, gymnasium.spaces.Dict):
                raise TypeError(
                    "keep_observation needs a Dict observation space, got "
                    f"{env.observation_space}."
                )
            spaces.update(env.observation_space.spaces)
        spaces["image"] = image_space(self._image_size, grayscale)
        self.observation_space = gymnasium.spaces.Dict(spaces)

    def observation(self, observation: Any) -> dict[str, np.ndarray]:
        """Renders the current frame and adds it as ``image``.

        Args:
            observation: The inner environment's observation.

        Returns:
            The observation with ``image`` (only ``image`` without
            ``keep_observation``).
        """
        frame = resize_frame(self.env.render(), self._image_size, self._grayscale)
        if self._keep_observation:
            return {**observation, "image": frame}
        return {"image": frame}


class EpisodeFlags(gymnasium.Wrapper):
    """Adds ``is_first``, ``is_last``, ``is_terminal`` and ``info['discount']``.

    The flags are bool scalars in the observation dict (and its space):
    ``is_first`` is True only on the observation returned by ``reset``,
    ``is_last`` on the last observation of an episode (terminated or
    truncated), ``is_terminal`` only when the episode really ended (no
    bootstrapping). They are bookkeeping for the training loop, not model
    inputs. ``info['discount']`` is always present: the environment's own
    discount where it has one (DMC), else 0.0 on termination and 1.0 otherwise.

    The seed given here is used by the first ``reset`` called without a seed.
    """

    def __init__(self, env: gymnasium.Env, seed: int | None = None):
        """Initialises the wrapper.

        Args:
            env: Environment with a ``Dict`` observation space.
            seed: Seed for the first ``reset`` that is given none.

        Raises:
            TypeError: If the observation space is not a ``Dict``.
        """
        if not isinstance(env.observation_space, gymnasium.spaces.Dict):
            raise TypeError(
                f"EpisodeFlags needs a Dict observation space, got "
                f"{env.observation_space}."
            )
        super().__init__(env)
        self._initial_seed = seed
        self._has_reset = False
        flag_space = gymnasium.spaces.Box(0, 1, (), np.bool_)
        self.observation_space = gymnasium.spaces.Dict(
            {**env.observation_space.spaces, **dict.fromkeys(FLAG_KEYS, flag_space)}
        )

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Resets the environment.

        Args:
            seed: Seed of the environment's randomness; on the first reset
                ``None`` means the seed given to the constructor.
            options: Passed to the inner ``reset``.

        Returns:
            The first observation (``is_first`` True) and the info.
        """
        if seed is None and not self._has_reset:
            seed = self._initial_seed
        self._has_reset = True
        observation, info = self.env.reset(seed=seed, options=options)
        info = {**info, "discount": 1.0}
        return self._with_flags(observation, True, False, False), info

    def step(
        self, action: Any
    ) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Steps the environment.

        Args:
            action: Action for the inner environment.

        Returns:
            Observation with flags, reward, terminated, truncated and info with
            ``discount``.
        """
        observation, reward, terminated, truncated, info = self.env.step(action)
        terminated, truncated = bool(terminated), bool(truncated)
        discount = info.get("discount", 0.0 if terminated else 1.0)
        info = {**info, "discount": float(discount)}
        observation = self._with_flags(
            observation, False, terminated or truncated, terminated
        )
        return observation, float(reward), terminated, truncated, info

    @staticmethod
    def _with_flags(
        observation: dict[str, np.ndarray],
        is_first: bool,
        is_last: bool,
        is_terminal: bool,
    ) -> dict[str, np.ndarray]:
        # 0-d arrays rather than numpy scalars: spaces' contains() wants arrays.
        return {
            **observation,
            "is_first": np.array(is_first),
            "is_last": np.array(is_last),
            "is_terminal": np.array(is_terminal),
        }
