"""Atari preprocessing in the style of Machado et al. (2018), without OpenCV.

gymnasium's ``AtariPreprocessing`` resizes with OpenCV, which is not a
dependency of this package, so this wrapper re-implements the parts Dreamer
uses and resizes with Pillow.
"""

from typing import Any

import gymnasium
import numpy as np

from dreamer_tf.envs.wrappers import image_space, resize_frame


class AtariPreprocess(gymnasium.Wrapper):
    """No-op starts, frame skip with max-pooling, life-loss ends, resized images.

    The inner environment must step one emulator frame at a time
    (``frameskip=1``); sticky actions belong to it
    (``repeat_action_probability``). Observations are ``{"image": uint8
    [height, width, 3 or 1]}``: the pixel-wise maximum of the last two frames
    of a skip, which removes the flicker of sprites drawn every other frame.
    """

    def __init__(
        self,
        env: gymnasium.Env,
        frame_skip: int = 4,
        noop_max: int = 30,
        life_done: bool = False,
        image_size: tuple[int, int] = (64, 64),
        grayscale: bool = False,
    ):
        """Initialises the wrapper.

        Args:
            env: An ``ale_py`` Atari environment with ``frameskip=1`` (possibly
                wrapped, e.g. in a ``TimeLimit``).
            frame_skip: Emulator frames per agent step; rewards are summed.
            noop_max: ``reset`` plays a uniform number in ``[1, noop_max]`` of
                no-op frames; 0 disables.
            life_done: End the episode (terminated) when a life is lost. The
                next ``reset`` then starts a new game.
            image_size: ``(height, width)`` of the image.
            grayscale: One luminance channel instead of RGB.

        Raises:
            ValueError: If ``frame_skip`` < 1, ``noop_max`` < 0, or action 0 of
                the game is not a no-op.
        """
        if frame_skip < 1:
            raise ValueError(f"frame_skip must be at least 1, got {frame_skip}.")
        if noop_max < 0:
            raise ValueError(f"noop_max must be non-negative, got {noop_max}.")
        super().__init__(env)
        if noop_max and env.unwrapped.get_action_meanings()[0] != "NOOP":
            raise ValueError("Action 0 of this game is not NOOP; set noop_max=0.")
        self._frame_skip = frame_skip
        self._noop_max = noop_max
        self._life_done = life_done
        self._image_size = tuple(image_size)
        self._grayscale = grayscale
        self._lives = 0
        self._previous_frame = None
        self.observation_space = gymnasium.spaces.Dict(
            {"image": image_space(self._image_size, grayscale)}
        )

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Starts a new game and plays the no-op frames.

        Args:
            seed: Seeds the emulator (sticky actions) and the no-op count.
            options: Passed to the inner ``reset``.

        Returns:
            The first observation and the info.
        """
        frame, info = self.env.reset(seed=seed, options=options)
        noops = self.np_random.integers(1, self._noop_max + 1) if self._noop_max else 0
        for _ in range(noops):
            frame, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:
                frame, info = self.env.reset()
        self._lives = self.env.unwrapped.ale.lives()
        self._previous_frame = frame
        return self._observation(frame, frame), info

    def step(
        self, action: int
    ) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Plays ``frame_skip`` frames with one action.

        Args:
            action: Index into the game's minimal action set.

        Returns:
            Observation, summed reward, terminated, truncated and the last info.
        """
        total_reward = 0.0
        frame = previous_frame = self._previous_frame
        for _ in range(self._frame_skip):
            previous_frame = frame
            frame, reward, terminated, truncated, info = self.env.step(action)
            total_reward += float(reward)
            lives = self.env.unwrapped.ale.lives()
            if self._life_done and lives < self._lives:
                terminated = True
            self._lives = lives
            if terminated or truncated:
                break
        self._previous_frame = frame
        observation = self._observation(previous_frame, frame)
        return observation, total_reward, terminated, truncated, info

    def _observation(
        self, previous_frame: np.ndarray, frame: np.ndarray
    ) -> dict[str, np.ndarray]:
        pooled = np.maximum(previous_frame, frame)
        return {"image": resize_frame(pooled, self._image_size, self._grayscale)}
