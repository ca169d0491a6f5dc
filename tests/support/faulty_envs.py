"""Gymnasium tasks that misbehave on purpose, for the run-integrity tests.

Importing this module registers them; a run uses them as
``gym_support.faulty_envs:<id>`` with this directory on ``PYTHONPATH``. Each is a point
on a line observed as a 3-d vector (no pixels); its first episode is clean.

- ``CleanPoint-v0``: no fault, the reference.
- ``NanReward-v0``: a NaN reward at step :data:`FAULT_STEP` of every other
  episode (the second, fourth, ...).
- ``NanObservation-v0``: a NaN in one entry of the observation, in the same
  places.
- ``HugeReward-v0``: from the second episode on, every reward is 1e30: finite,
  but the world model's reward loss overflows to infinity on any batch that
  holds one.
"""

from typing import Any, ClassVar

import gymnasium
import numpy as np

FAULT_STEP = 10
HUGE_REWARD = 1e30


class FaultyPoint(gymnasium.Env):
    """A point pushed along a line, with an optional fault.

    Args:
        fault: None, ``"nan_reward"``, ``"nan_observation"`` or
            ``"huge_reward"``.
        render_mode: Must be None (no pixels).
    """

    metadata: ClassVar[dict] = {"render_modes": []}

    def __init__(self, fault: str | None = None, render_mode: str | None = None):
        if render_mode is not None:
            raise ValueError("FaultyPoint has no pixels; use it with pixels=False.")
        self.render_mode = render_mode
        self.fault = fault
        self.observation_space = gymnasium.spaces.Box(-2.0, 2.0, (3,), np.float32)
        self.action_space = gymnasium.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self._episodes = 0
        self._step = 0
        self._position = 0.0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Starts an episode at a random position."""
        super().reset(seed=seed)
        self._episodes += 1
        self._step = 0
        self._position = float(self.np_random.uniform(-1.0, 1.0))
        return self._observation(faulty=False), {}

    def step(self, action) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Moves the point; the reward is minus its distance from 0."""
        self._step += 1
        push = float(np.asarray(action, np.float32).reshape(-1)[0])
        self._position = float(np.clip(self._position + 0.1 * push, -1.5, 1.5))
        faulty = self._episodes % 2 == 0 and self._step == FAULT_STEP
        reward = -abs(self._position)
        if self.fault == "huge_reward" and self._episodes >= 2:
            reward = HUGE_REWARD
        elif self.fault == "nan_reward" and faulty:
            reward = float("nan")
        return self._observation(faulty), reward, False, False, {}

    def _observation(self, faulty: bool) -> np.ndarray:
        observation = np.array([self._position, 0.5, -0.5], np.float32)
        if self.fault == "nan_observation" and faulty:
            observation[1] = np.nan
        return observation


for _name, _fault in (
    ("CleanPoint-v0", None),
    ("NanReward-v0", "nan_reward"),
    ("NanObservation-v0", "nan_observation"),
    ("HugeReward-v0", "huge_reward"),
):
    gymnasium.register(id=_name, entry_point=FaultyPoint, kwargs={"fault": _fault})
