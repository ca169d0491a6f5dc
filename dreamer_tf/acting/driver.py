"""The driver: the one place that steps environments with a policy.

:class:`Driver` steps a vector environment (see
:func:`dreamer_tf.envs.make_vector_env`) with any policy and assembles the
finished episodes with :class:`EpisodeBuilder`. The training loop, evaluation,
the actor processes, the benchmarks and the tutorials all collect through it.
A policy is a callable ``policy(observation, state) -> (action, state)`` on
batched numpy observations; its state is opaque to the driver, starts as
``None`` and is kept between steps. This module imports no TensorFlow.
"""

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from dreamer_tf.envs import random_actions
from dreamer_tf.replay import Episode

#: ``policy(observation, state) -> (action, state)`` on batched numpy arrays.
Policy = Callable[[dict[str, np.ndarray], Any], tuple[np.ndarray, Any]]


@dataclasses.dataclass(frozen=True)
class StepResult:
    """What one step of every environment produced.

    Attributes:
        episodes: ``(environment index, episode)`` for each episode finished by
            this step, in the replay's layout.
        env_steps: How many environments took a step (those that started a new
            episode by autoreset took none).
        frames: The frames of those steps, ``action_repeat`` each: the one
            place the run's frame count is computed from agent steps.
    """

    episodes: list[tuple[int, Episode]]
    env_steps: int
    frames: int


class Driver:
    """Steps a vector environment with a policy and assembles its episodes.

    Args:
        env: A vector environment whose observations carry ``is_first``,
            ``is_last`` and ``is_terminal``, and that knows its
            ``action_repeat`` (a :class:`~dreamer_tf.envs.SubprocessVectorEnv`).
    """

    def __init__(self, env):
        self.env = env
        self.observation: dict[str, np.ndarray] | None = None
        self.state: Any = None
        self._builder = EpisodeBuilder(env.num_envs)

    def reset(self) -> None:
        """Resets every environment; starts episodes and a fresh policy state."""
        self.observation, _ = self.env.reset()
        self.state = None
        self._builder = EpisodeBuilder(self.env.num_envs)
        action_size = int(np.prod(self.env.single_action_space.shape))
        self._builder.add(
            self.observation, np.zeros((self.env.num_envs, action_size)), None
        )

    def step(self, policy: Policy) -> StepResult:
        """Acts once in every environment with ``policy``.

        Resets the environments first if :meth:`reset` was not called.

        Args:
            policy: ``policy(observation, state) -> (action, state)``.

        Returns:
            The finished episodes and the number of environments that stepped.
        """
        if self.observation is None:
            self.reset()
        action, self.state = policy(self.observation, self.state)
        action = np.asarray(action)
        self.observation, reward, _, _, info = self.env.step(action)
        episodes = self._builder.add(
            self.observation, action, reward, info.get("discount")
        )
        env_steps = int(np.sum(~self.observation["is_first"]))
        return StepResult(episodes, env_steps, env_steps * self.env.action_repeat)

    def episodes(
        self,
        policy: Policy,
        count: int,
        on_episode: Callable[[int, Episode], None] | None = None,
    ) -> list[Episode]:
        """Resets, then steps until ``count`` episodes have finished.

        Args:
            policy: ``policy(observation, state) -> (action, state)``.
            count: Number of episodes; with several environments, the first
                ``count`` to finish, in the order they finish.
            on_episode: Called with ``(number, episode)`` as each of them
                finishes, numbered from 1 (e.g. to show progress).

        Returns:
            The episodes.
        """
        self.reset()
        finished: list[Episode] = []
        while len(finished) < count:
            for _, episode in self.step(policy).episodes:
                if len(finished) < count:
                    finished.append(episode)
                    if on_episode is not None:
                        on_episode(len(finished), episode)
        return finished


def random_policy(action_space, rng: np.random.Generator) -> Policy:
    """A policy of uniformly random actions.

    Args:
        action_space: The single environment's action space.
        rng: The generator the actions are drawn from.

    Returns:
        A policy that keeps its state unchanged.
    """

    def act(observation: Mapping[str, np.ndarray], state: Any):
        return random_actions(action_space, len(observation["is_first"]), rng), state

    return act


class EpisodeBuilder:
    """Assembles episodes from the batched stream of a vector environment.

    Feed it every batch of observations as it comes (from ``reset`` and from
    each ``step``), together with the actions that led to them. A row with
    ``is_first`` starts an episode (its action is replaced by zeros, reward 0,
    discount 1); a row with ``is_last`` completes one, which is returned with
    its environment's index. Rows of an environment that has not started an
    episode are ignored.
    """

    def __init__(self, num_envs: int):
        """Initialises empty episodes.

        Args:
            num_envs: Number of environments in the batch.
        """
        self._transitions: list[list[dict[str, np.ndarray]] | None] = [None] * num_envs

    def add(
        self,
        observation: Mapping[str, np.ndarray],
        action: np.ndarray,
        reward: np.ndarray | None,
        discount: np.ndarray | None = None,
    ) -> list[tuple[int, Episode]]:
        """Adds one batch of transitions.

        Args:
            observation: Batched observation dict with ``is_first`` and
                ``is_last`` (as returned by
                :class:`dreamer_tf.envs.SubprocessVectorEnv`).
            action: ``[num_envs, A]`` actions that led to ``observation``
                (anything for rows with ``is_first``, e.g. after ``reset``).
            reward: ``[num_envs]`` rewards received with ``observation``; None
                for zeros (e.g. after ``reset``).
            discount: ``[num_envs]`` discounts (``info["discount"]``); None
                uses ``1 - is_terminal``.

        Returns:
            ``(environment index, episode)`` for each episode completed by this
            batch (possibly none), in the replay's layout.
        """
        action = np.asarray(action, dtype=np.float32)
        num_envs = len(self._transitions)
        if reward is None:
            reward = np.zeros(num_envs, np.float32)
        reward = np.asarray(reward, dtype=np.float32)
        if discount is None:
            discount = 1.0 - np.asarray(observation["is_terminal"], dtype=np.float32)
        discount = np.asarray(discount, dtype=np.float32)
        finished = []
        for index in range(num_envs):
            is_first = bool(observation["is_first"][index])
            if is_first:
                self._transitions[index] = []
            transitions = self._transitions[index]
            if transitions is None:
                continue
            transition = {
                key: np.asarray(value[index]) for key, value in observation.items()
            }
            transition["action"] = (
                np.zeros_like(action[index]) if is_first else action[index]
            )
            transition["reward"] = np.float32(0.0 if is_first else reward[index])
            transition["discount"] = np.float32(1.0 if is_first else discount[index])
            transitions.append(transition)
            if bool(observation["is_last"][index]):
                episode = {
                    key: np.stack([step[key] for step in transitions])
                    for key in transition
                }
                finished.append((index, episode))
                self._transitions[index] = None
        return finished
