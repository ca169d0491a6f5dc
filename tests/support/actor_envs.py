"""A task whose episodes say where they came from, for the actor tests.

Importing this module registers ``SeededPoint-v0``; a run uses it as
``gym_support.actor_envs:SeededPoint-v0`` with this directory on ``PYTHONPATH``. Its
observation is ``[position, seed / 1e5, episode / 100]``: the seed the
environment was first reset with (which tells the actor and its
incarnation) and the number of the episode, from 1, scaled to keep the
model's losses small (:func:`origin` reads them back). An episode ends by
truncation after :data:`EPISODE_STEPS` steps. If ``ACTOR_ENVS_LOG`` names a
directory, each finished episode is also written down there as
``<seed>-<episode>`` (a file),
by the environment itself, before any actor could send it.

``BrokenInActors-v0`` is the same task, but its first step raises when its
seed is an actor's (at least ``ACTOR_SEEDS_FROM``): the learner's evaluation
environment works, every actor dies at once.
"""

import os
import pathlib
from typing import Any, ClassVar

import gymnasium
import numpy as np

EPISODE_STEPS = 20
ACTOR_SEEDS_FROM = 100_000
SEED_SCALE = 1e5


class SeededPoint(gymnasium.Env):
    """A point pushed along a line; the reward is minus its distance from 0."""

    metadata: ClassVar[dict] = {"render_modes": []}

    def __init__(self, render_mode: str | None = None, broken_in_actors=False):
        if render_mode is not None:
            raise ValueError("SeededPoint has no pixels; use it with pixels=False.")
        self.render_mode = render_mode
        self.broken_in_actors = broken_in_actors
        self.observation_space = gymnasium.spaces.Box(-1e3, 1e3, (3,), np.float32)
        self.action_space = gymnasium.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self._seed = -1
        self._episode = 0
        self._step = 0
        self._position = 0.0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Starts the next episode at a random position."""
        super().reset(seed=seed)
        if seed is not None:
            self._seed = seed
        self._episode += 1
        self._step = 0
        self._position = float(self.np_random.uniform(-1.0, 1.0))
        return self._observation(), {}

    def step(self, action) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Moves the point; truncates after EPISODE_STEPS steps."""
        self._step += 1
        if self.broken_in_actors and self._seed >= ACTOR_SEEDS_FROM:
            raise RuntimeError(f"broken on purpose (seed {self._seed})")
        push = float(np.asarray(action, np.float32).reshape(-1)[0])
        self._position = float(np.clip(self._position + 0.1 * push, -1.5, 1.5))
        truncated = self._step >= EPISODE_STEPS
        if truncated and os.environ.get("ACTOR_ENVS_LOG"):
            path = pathlib.Path(os.environ["ACTOR_ENVS_LOG"])
            (path / f"{self._seed}-{self._episode}").touch()
        return self._observation(), -abs(self._position), False, truncated, {}

    def _observation(self) -> np.ndarray:
        values = [self._position, self._seed / SEED_SCALE, self._episode / 100]
        return np.array(values, np.float32)


def origin(observation: np.ndarray) -> tuple[int, int]:
    """``(seed, episode)`` of an observation of this task."""
    return round(float(observation[1]) * SEED_SCALE), round(float(observation[2]) * 100)


gymnasium.register(id="SeededPoint-v0", entry_point=SeededPoint)
gymnasium.register(
    id="BrokenInActors-v0",
    entry_point=SeededPoint,
    kwargs={"broken_in_actors": True},
)
