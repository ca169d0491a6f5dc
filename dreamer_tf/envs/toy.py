"""A tiny continuous-control task for fast learning checks.

``PointReach-v0``: a point on a line, pushed by a 1-d action, must reach a
random goal and stay there. Observations are ``[position, goal]``; the reward
is ``-|position - goal|`` per step. A random policy earns about -0.67 per
step; a policy that moves to the goal and stays earns close to 0. It learns
in minutes on a CPU, so a broken loss shows up as a failed test. Use it as
the task ``gym_dreamer_tf.envs.toy:PointReach-v0`` (the module part makes
gymnasium import this module, which registers the environment, in every
worker).
"""

from typing import Any, ClassVar

import gymnasium
import numpy as np

STEP_SIZE = 0.2
BOUND = 1.5


class PointReach(gymnasium.Env):
    """Move a point on ``[-1.5, 1.5]`` to a goal drawn uniformly in ``[-1, 1]``."""

    metadata: ClassVar[dict] = {"render_modes": []}

    def __init__(self, render_mode: str | None = None):
        if render_mode is not None:
            raise ValueError("PointReach has no pixels; use it with pixels=False.")
        self.render_mode = render_mode
        self.observation_space = gymnasium.spaces.Box(-BOUND, BOUND, (2,), np.float32)
        self.action_space = gymnasium.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self._position = 0.0
        self._goal = 0.0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Draws a new start position and goal."""
        super().reset(seed=seed)
        self._position, self._goal = self.np_random.uniform(-1.0, 1.0, 2)
        return self._observation(), {}

    def step(self, action) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Moves by ``0.2 * action`` (clipped to [-1, 1]); never terminates."""
        push = float(np.clip(np.asarray(action, np.float32).reshape(-1)[0], -1, 1))
        self._position = float(
            np.clip(self._position + STEP_SIZE * push, -BOUND, BOUND)
        )
        reward = -abs(self._position - self._goal)
        return self._observation(), reward, False, False, {}

    def _observation(self) -> np.ndarray:
        return np.array([self._position, self._goal], np.float32)


gymnasium.register(id="PointReach-v0", entry_point=PointReach, max_episode_steps=100)
