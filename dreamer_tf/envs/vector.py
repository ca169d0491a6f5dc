"""A vector of environments stepping in parallel in TensorFlow-free processes.

Why not gymnasium's ``AsyncVectorEnv``: it builds one environment in the
calling process to read the spaces (importing dm_control there, which crashes
next to TensorFlow), its ``spawn`` workers re-import the caller's ``__main__``
module (typically a training script that imports TensorFlow), and a killed
worker surfaces as a bare ``EOFError``. Here each worker is a fresh
``python -m dreamer_tf.envs.worker`` process that imports only
``dreamer_tf.envs``.
"""

import os
import pathlib
import signal
import socket
import subprocess
import sys
from multiprocessing.connection import Connection
from typing import Any, TypeVar

import gymnasium
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from dreamer_tf.envs.make import DEFAULT_ACTION_REPEAT, check_make_env_arguments
from dreamer_tf.envs.wrappers import is_one_hot_space, one_hot_index

_PACKAGE_PARENT = str(pathlib.Path(__file__).resolve().parents[2])
_CLOSE_TIMEOUT_S = 10.0
_VectorEnvT = TypeVar("_VectorEnvT", bound="SubprocessVectorEnv")


class EnvWorkerError(RuntimeError):
    """An environment worker raised an exception or died.

    The vector environment is closed when this is raised; workers are never
    restarted behind the caller's back.
    """


class SubprocessVectorEnv(gymnasium.vector.VectorEnv):
    """``num_envs`` copies of one task, each in its own worker process.

    Spaces follow gymnasium's vector API: ``single_observation_space`` and
    ``single_action_space`` are those of one environment (see
    :func:`dreamer_tf.envs.make_env`), ``observation_space`` and
    ``action_space`` are batched with a leading ``[num_envs]`` dimension.
    ``step`` sends every action before it waits for any result, so workers
    simulate and render in parallel.

    Autoreset (gymnasium's next-step mode, ``metadata["autoreset_mode"]``):
    when environment ``i`` ends an episode (``is_last[i]``, i.e. terminated or
    truncated), the next ``step`` ignores ``actions[i]`` and returns the first
    observation of a new episode for it, with ``is_first[i]`` True, reward 0
    and terminated/truncated False. So the training loop needs no special
    case: every observation with ``is_first`` starts an episode (reset the
    latent state there; the action that led to it is zero), every observation
    with ``is_last`` ends one (store the episode). See
    :class:`dreamer_tf.acting.driver.Driver`.

    Returned rewards are float32 ``[num_envs]``; ``infos["discount"]`` is
    float ``[num_envs]`` (1.0 on reset), following gymnasium's vector info
    layout (with a ``_discount`` mask). ``action_repeat`` is the frames of
    one agent step, as the environments were built with.
    """

    def __init__(
        self,
        task: str,
        num_envs: int,
        *,
        seed: int,
        role: str | None = None,
        **make_env_kwargs: Any,
    ):
        """Starts the workers and builds one environment in each.

        Args:
            task: Task name, see :func:`dreamer_tf.envs.make_env`.
            num_envs: Number of worker processes, at least 1.
            seed: Worker ``i`` builds its environment with seed ``seed + i``.
            role: What the environments are for, e.g. ``"training"`` or
                ``"evaluation"``; error messages name it.
            **make_env_kwargs: Other keyword arguments of ``make_env``.

        Raises:
            ValueError: If the task or an argument is invalid (raised before any
                worker starts).
            EnvWorkerError: If a worker fails to build its environment.
        """
        self._processes: list[subprocess.Popen] = []
        self._connections: list[Connection] = []
        if not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be an int >= 1, got {num_envs!r}.")
        if not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}.")
        check_make_env_arguments(task, seed=seed, **make_env_kwargs)
        self.task = task
        self.action_repeat = make_env_kwargs.get("action_repeat", DEFAULT_ACTION_REPEAT)
        self.description = f"{role} env" if role else "env"
        self.num_envs = num_envs
        self.metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP}
        self.closed = False
        try:
            for _ in range(num_envs):
                self._start_worker()
            for index in range(num_envs):
                make_request = (task, {**make_env_kwargs, "seed": seed + index})
                self._send(index, ("make", make_request))
            spaces = [self._receive(index) for index in range(num_envs)]
        except BaseException:
            self._kill_workers()
            raise
        self.single_observation_space, self.single_action_space = spaces[0]
        for index, (observation_space, action_space) in enumerate(spaces):
            if (observation_space, action_space) != spaces[0]:
                self._kill_workers()
                raise EnvWorkerError(
                    f"Worker {index} of the {self.description} of task {task!r} "
                    "built an environment with "
                    "spaces different from worker 0's."
                )
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._one_hot_actions = is_one_hot_space(self.single_action_space)

    @property
    def worker_pids(self) -> tuple[int, ...]:
        """Process ids of the workers, in environment order."""
        return tuple(process.pid for process in self._processes)

    def reset(
        self,
        *,
        seed: int | list[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Resets every environment.

        Args:
            seed: An int seeds environment ``i`` with ``seed + i``; a list gives
                one seed (or None) per environment; None keeps each
                environment's own random stream (its construction seed on the
                first reset).
            options: Passed to every environment's ``reset``.

        Returns:
            Batched observations (``is_first`` all True) and infos.

        Raises:
            ValueError: If a list of seeds has the wrong length.
            EnvWorkerError: If a worker failed or died.
        """
        self._check_open()
        if seed is None or isinstance(seed, int):
            seeds = [None if seed is None else seed + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"Expected {self.num_envs} seeds, got {len(seeds)}.")
        for index, env_seed in enumerate(seeds):
            self._send(index, ("reset", {"seed": env_seed, "options": options}))
        results = [self._receive(index) for index in range(self.num_envs)]
        observations = self._stack([result[0] for result in results])
        infos = {}
        for index, (_, info) in enumerate(results):
            infos = self._add_info(infos, info, index)
        return observations, infos

    def step(
        self, actions: np.ndarray
    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, dict]:
        """Steps every environment with its action (see the class doc on autoreset).

        Args:
            actions: ``[num_envs, action_dim]``; one-hot rows for discrete tasks.

        Returns:
            Batched observations, rewards (float32), terminated, truncated (bool)
            and infos.

        Raises:
            ValueError: If ``actions`` has the wrong shape or a row is not one-hot
                for a discrete task (nothing is sent to the workers then).
            EnvWorkerError: If a worker failed or died.
        """
        self._check_open()
        actions = np.asarray(actions, dtype=np.float32)
        if actions.shape != self.action_space.shape:
            raise ValueError(
                f"Expected actions of shape {self.action_space.shape} for task "
                f"{self.task!r}, got {actions.shape}."
            )
        if self._one_hot_actions:
            for action in actions:
                one_hot_index(action, actions.shape[1])
        for index in range(self.num_envs):
            self._send(index, ("step", actions[index]))
        results = [self._receive(index) for index in range(self.num_envs)]
        observations = self._stack([result[0] for result in results])
        rewards = np.array([result[1] for result in results], dtype=np.float32)
        terminated = np.array([result[2] for result in results], dtype=bool)
        truncated = np.array([result[3] for result in results], dtype=bool)
        infos = {}
        for index, result in enumerate(results):
            infos = self._add_info(infos, result[4], index)
        return observations, rewards, terminated, truncated, infos

    def close_extras(self, **kwargs: Any) -> None:
        """Asks the workers to close their environments and waits for them.

        Args:
            **kwargs: Unused; part of gymnasium's interface.
        """
        for index in range(len(self._connections)):
            try:
                self._connections[index].send(("close", None))
            except OSError:
                pass
        for connection, process in zip(self._connections, self._processes):
            try:
                if connection.poll(_CLOSE_TIMEOUT_S):
                    connection.recv()
            except (OSError, EOFError):
                pass
            connection.close()
            try:
                process.wait(_CLOSE_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._connections, self._processes = [], []

    # typing.Self needs Python 3.11; setup.py still allows 3.10.
    def __enter__(self: _VectorEnvT) -> _VectorEnvT:  # noqa: PYI019
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "closed", True):
            self._kill_workers()

    def _start_worker(self) -> None:
        parent_socket, child_socket = socket.socketpair()
        environment = dict(os.environ)
        # MuJoCo must pick its EGL backend before dm_control is imported.
        environment.setdefault("MUJOCO_GL", "egl")
        # Workers see the driver's import path, so that a task's module that
        # validate_task imported here (gym_<module>:<id>) imports there too.
        driver_path = [entry or os.getcwd() for entry in sys.path]
        environment["PYTHONPATH"] = os.pathsep.join(
            filter(None, [_PACKAGE_PARENT, *driver_path, environment.get("PYTHONPATH")])
        )
        with child_socket:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "dreamer_tf.envs.worker",
                    str(child_socket.fileno()),
                ],
                pass_fds=(child_socket.fileno(),),
                env=environment,
                stdin=subprocess.DEVNULL,
            )
        self._processes.append(process)
        self._connections.append(Connection(parent_socket.detach()))

    def _send(self, index: int, message: tuple[str, Any]) -> None:
        try:
            self._connections[index].send(message)
        except OSError as error:
            raise self._worker_died(index) from error

    def _receive(self, index: int) -> Any:
        try:
            status, payload = self._connections[index].recv()
        except (EOFError, OSError) as error:
            raise self._worker_died(index) from error
        if status != "ok":
            self._kill_workers()
            raise EnvWorkerError(
                f"Environment worker {index} of the {self.description} of task "
                f"{self.task!r} raised an "
                f"exception; all workers were stopped.\n{payload}"
            )
        return payload

    def _worker_died(self, index: int) -> EnvWorkerError:
        process = self._processes[index]
        try:
            exit_code = process.wait(_CLOSE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            exit_code = None
        if exit_code is None:
            how = "closed its connection"
        elif exit_code < 0:
            how = f"was killed by signal {signal.Signals(-exit_code).name}"
        else:
            how = f"exited with code {exit_code}"
        self._kill_workers()
        return EnvWorkerError(
            f"Environment worker {index} (pid {process.pid}) of the "
            f"{self.description} of task {self.task!r} {how}. Workers are not "
            "restarted: all were stopped and this vector env is closed; create a "
            "new one to continue."
        )

    def _kill_workers(self) -> None:
        for connection in self._connections:
            connection.close()
        for process in self._processes:
            if process.poll() is None:
                process.kill()
            process.wait()
        self._connections, self._processes = [], []
        self.closed = True

    def _check_open(self) -> None:
        if self.closed:
            raise EnvWorkerError(
                f"The {self.description} of task {self.task!r} is closed (closed by "
                "the caller or after a worker failed); create a new one."
            )

    def _stack(
        self, observations: list[dict[str, np.ndarray]]
    ) -> dict[str, np.ndarray]:
        return {
            key: np.stack([observation[key] for observation in observations])
            for key in self.single_observation_space.spaces
        }


def make_vector_env(
    task: str,
    num_envs: int,
    *,
    seed: int,
    role: str | None = None,
    **make_env_kwargs: Any,
) -> SubprocessVectorEnv:
    """Creates ``num_envs`` environments of one task in worker processes.

    The workers never import TensorFlow, so DMC renders with EGL there while the
    calling process trains. See :class:`SubprocessVectorEnv` for the autoreset
    semantics: observations carry ``is_first`` / ``is_last`` / ``is_terminal``.

    Args:
        task: Task name, see :func:`dreamer_tf.envs.make_env`.
        num_envs: Number of environments (one process each).
        seed: Environment ``i`` is built with seed ``seed + i``.
        role: What the environments are for (``"training"``, ``"evaluation"``);
            error messages name it.
        **make_env_kwargs: Keyword arguments of ``make_env`` (``action_repeat``,
            ``time_limit``, ``image_size``, ``pixels``, ``grayscale``,
            ``life_done``).

    Returns:
        The vector environment; close it (or use it as a context manager).

    Raises:
        ValueError: If the task or an argument is invalid, before any worker
            starts.
        EnvWorkerError: If a worker fails to build its environment.
    """
    return SubprocessVectorEnv(task, num_envs, seed=seed, role=role, **make_env_kwargs)
