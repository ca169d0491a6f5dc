"""DeepMind Control Suite tasks as gymnasium environments, one frame per step.

dm_control opens its EGL display when it is imported, and that crashes any
process that has imported TensorFlow. Use these environments through
:func:`dreamer_tf.envs.make_vector_env`, whose worker processes never import
TensorFlow.
"""

import os
import sys
from typing import Any, ClassVar

import gymnasium
import numpy as np

# Camera 0 of quadruped follows from too far away; the Dreamer paper uses 2.
_CAMERA_BY_DOMAIN = {"quadruped": 2}


def check_can_load_dm_control() -> None:
    """Refuses to import dm_control where its EGL renderer would crash.

    Raises:
        RuntimeError: If this process imported TensorFlow and dm_control would
            render with EGL (``MUJOCO_GL`` unset or ``egl``).
    """
    backend = os.environ.get("MUJOCO_GL", "egl").lower()
    if "tensorflow" in sys.modules and backend == "egl":
        raise RuntimeError(
            "This process has imported TensorFlow, and MuJoCo's EGL renderer "
            "crashes such processes (even GALLIUM_DRIVER=softpipe aborts at exit). "
            "Create DMC environments with dreamer_tf.envs.make_vector_env, whose "
            "worker processes never import TensorFlow, or set MUJOCO_GL to another "
            "backend before starting Python."
        )


class DeepMindControlEnv(gymnasium.Env):
    """A dm_control suite task, stepping one frame (physics control step) at a time.

    Observations are the task's proprioceptive vectors as float32 arrays of at
    least one dimension; ``render()`` returns the camera image. The task's own
    time limit is disabled (wrap with ``gymnasium.wrappers.TimeLimit``), so
    ``terminated`` is True only when the task itself ends the episode.
    ``info['discount']`` is the dm_env time step's discount.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"]}

    def __init__(
        self,
        domain: str,
        task: str,
        image_size: tuple[int, int] = (64, 64),
        camera_id: int | None = None,
    ):
        """Loads the task.

        Args:
            domain: dm_control domain, e.g. ``"walker"`` or ``"ball_in_cup"``.
            task: Task of the domain, e.g. ``"walk"``.
            image_size: ``(height, width)`` of rendered frames.
            camera_id: Camera to render; default 2 for quadruped, else 0.

        Raises:
            RuntimeError: See :func:`check_can_load_dm_control`.
        """
        check_can_load_dm_control()
        os.environ.setdefault("MUJOCO_GL", "egl")
        from dm_control import suite

        self._env = suite.load(domain, task, task_kwargs={"time_limit": float("inf")})
        self._image_size = tuple(image_size)
        self._camera_id = (
            _CAMERA_BY_DOMAIN.get(domain, 0) if camera_id is None else camera_id
        )
        self.render_mode = "rgb_array"
        self.observation_space = gymnasium.spaces.Dict(
            {
                key: gymnasium.spaces.Box(
                    -np.inf, np.inf, _at_least_1d_shape(spec.shape), np.float32
                )
                for key, spec in self._env.observation_spec().items()
            }
        )
        action_spec = self._env.action_spec()
        self.action_space = gymnasium.spaces.Box(
            action_spec.minimum.astype(np.float32),
            action_spec.maximum.astype(np.float32),
            action_spec.shape,
            np.float32,
        )

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Starts an episode.

        Args:
            seed: Reseeds the task's random state (initial poses, targets).
            options: Unused.

        Returns:
            The first observation and ``{"discount": 1.0}``.
        """
        super().reset(seed=seed)
        if seed is not None:
            self._env.task.random.seed(seed % 2**32)
        time_step = self._env.reset()
        return self._observation(time_step.observation), {"discount": 1.0}

    def step(
        self, action: np.ndarray
    ) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Advances one control step.

        Args:
            action: Action within the task's action bounds.

        Returns:
            Observation, reward, terminated (the task ended the episode), False,
            and ``{"discount": time_step.discount}``.
        """
        time_step = self._env.step(np.asarray(action, dtype=np.float64))
        reward = time_step.reward or 0.0
        discount = 1.0 if time_step.discount is None else float(time_step.discount)
        observation = self._observation(time_step.observation)
        return (
            observation,
            float(reward),
            time_step.last(),
            False,
            {"discount": discount},
        )

    def render(self) -> np.ndarray:
        """Renders the current state.

        Returns:
            uint8 array ``[height, width, 3]``.
        """
        height, width = self._image_size
        return self._env.physics.render(height, width, camera_id=self._camera_id)

    def close(self) -> None:
        """Frees the simulation and its rendering contexts."""
        self._env.close()

    @staticmethod
    def _observation(observation: dict[str, Any]) -> dict[str, np.ndarray]:
        return {
            key: np.asarray(value, dtype=np.float32).reshape(
                _at_least_1d_shape(np.shape(value))
            )
            for key, value in observation.items()
        }


def _at_least_1d_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(shape) if len(shape) else (1,)
