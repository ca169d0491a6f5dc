"""Tutorial: Dreamer on your own gymnasium environment.

``ReachEnv`` is a tiny task: a point in the plane observed as the float
vector ``position`` (in a ``Dict`` observation), moved by actions in
``Box(-1, 1, (2,))`` and rewarded for staying near the origin. The script

1. collects a few episodes with random actions and stores them in a
   :class:`~dreamer_tf.replay.Replay`, in the replay's layout;
2. builds a Dreamer agent that models vectors (``observation='proprio'``)
   and trains it a few updates on batches from ``replay.dataset``;
3. acts in the environment with ``agent.policy``;
4. runs the registered id ``gym_tutorial_custom_env:TutorialReach-v0`` in a
   worker process, as the training program ``examples/dmc_train.py`` does.

This module imports TensorFlow only inside :func:`main`, so worker processes
can import it to register the environment without loading TensorFlow::

    python examples/tutorial_custom_env.py --steps 3
"""

from __future__ import annotations

import argparse
import tempfile
from typing import ClassVar

import gymnasium
import numpy as np

EPISODE_STEPS = 20
TASK = "gym_tutorial_custom_env:TutorialReach-v0"


class ReachEnv(gymnasium.Env):
    """Keep a point near the origin; the observation is its position.

    Args:
        episode_steps: Steps after which an episode is truncated.
        render_mode: Only ``None``: this environment does not render.
    """

    metadata: ClassVar[dict] = {"render_modes": []}

    def __init__(self, episode_steps: int = EPISODE_STEPS, render_mode=None):
        self.observation_space = gymnasium.spaces.Dict(
            {"position": gymnasium.spaces.Box(-2.0, 2.0, (2,), np.float32)}
        )
        self.action_space = gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.episode_steps = episode_steps
        self.render_mode = render_mode
        self._position = np.zeros(2, np.float32)
        self._steps = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._position = self.np_random.uniform(-1.5, 1.5, 2).astype(np.float32)
        self._steps = 0
        return {"position": self._position.copy()}, {}

    def step(self, action):
        action = np.clip(np.asarray(action, np.float32), -1.0, 1.0)
        drift = self.np_random.normal(0.0, 0.05, 2)
        self._position = np.clip(self._position + 0.2 * action + drift, -2.0, 2.0)
        self._position = self._position.astype(np.float32)
        self._steps += 1
        reward = float(1.0 - np.linalg.norm(self._position))
        truncated = self._steps >= self.episode_steps
        return {"position": self._position.copy()}, reward, False, truncated, {}


def make_flat_reach_env(**kwargs) -> gymnasium.Env:
    """``ReachEnv`` with its Dict observation flattened to one ``Box``.

    ``dreamer_tf.envs.make_env`` accepts gymnasium environments whose
    observation is a ``Box`` (exposed as the ``vector`` key) or that render
    ``rgb_array`` images; a ``Dict`` observation must be flattened first.
    """
    return gymnasium.wrappers.FlattenObservation(ReachEnv(**kwargs))


# Importing this module registers the id: workers import it because the task
# name says ``tutorial_custom_env:``. The entry point is a string, so
# gymnasium imports it only when an environment is made.
if "TutorialReach-v0" not in gymnasium.registry:
    gymnasium.register(
        "TutorialReach-v0", entry_point="tutorial_custom_env:make_flat_reach_env"
    )


def collect_episode(env: ReachEnv, rng: np.random.Generator) -> dict:
    """Runs one episode with random actions; returns it in the replay layout.

    Entry ``t`` holds observation ``t``, the action that led to it (zeros at
    ``t = 0``), the reward received with it (0 at ``t = 0``) and the discount
    (0 only after a true terminal), so every array has ``T + 1`` entries.
    """
    observation, _ = env.reset(seed=int(rng.integers(2**31)))
    episode = {
        "position": [observation["position"]],
        "action": [np.zeros(2, np.float32)],
        "reward": [0.0],
        "discount": [1.0],
    }
    done = False
    while not done:
        action = rng.uniform(-1.0, 1.0, 2).astype(np.float32)
        observation, reward, terminated, truncated, _ = env.step(action)
        episode["position"].append(observation["position"])
        episode["action"].append(action)
        episode["reward"].append(reward)
        episode["discount"].append(0.0 if terminated else 1.0)
        done = terminated or truncated
    return {key: np.asarray(values, np.float32) for key, values in episode.items()}


def act(agent, env: ReachEnv, seed: int) -> float:
    """Runs one evaluation episode with the agent's policy; returns its return."""
    observation, _ = env.reset(seed=seed)
    state, total, is_first, done = None, 0.0, True, False
    while not done:
        # The policy takes a batch of environments: add a leading dimension.
        inputs = {
            "position": observation["position"][None],
            "is_first": np.array([is_first]),
        }
        action, state = agent.policy(inputs, state, training=False)
        observation, reward, terminated, truncated, _ = env.step(action.numpy()[0])
        total += reward
        is_first, done = False, terminated or truncated
    return total


def run_in_worker(steps: int) -> None:
    """Steps the registered task in a worker process, as the training program."""
    from dreamer_tf import envs
    from dreamer_tf.driver import Driver, random_policy

    # Workers are fresh interpreters that inherit this process's sys.path, so
    # they import this module (which registers the id) as validate_task does.
    envs.validate_task(TASK)
    with envs.make_vector_env(TASK, 1, seed=0, pixels=False, time_limit=40) as env:
        # The driver steps environments with a policy and assembles episodes,
        # as the training program does.
        driver = Driver(env)
        policy = random_policy(env.single_action_space, np.random.default_rng(0))
        for _ in range(steps):
            driver.step(policy)
        keys = sorted(driver.observation)
        print(f"{TASK} in worker {env.worker_pids[0]}: keys {keys}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=3, help="Updates to run.")
    parser.add_argument("--episodes", type=int, default=3, help="Random episodes.")
    args = parser.parse_args()

    import keras

    from dreamer_tf.agent import Dreamer
    from dreamer_tf.config import DreamerConfig
    from dreamer_tf.replay import Replay

    keras.utils.set_random_seed(0)
    env = ReachEnv()
    rng = np.random.default_rng(0)
    config = DreamerConfig(
        observation="proprio",
        num_units=16,
        deter_size=16,
        stoch_size=4,
        rssm_hidden=16,
        horizon=4,
        batch_size=4,
        batch_length=8,
    )
    with tempfile.TemporaryDirectory() as directory:
        replay = Replay(directory)
        for _ in range(args.episodes):
            replay.add(collect_episode(env, rng))
        print(f"replay: {replay.num_episodes} episodes, {replay.num_steps} steps")
        # The agent models every float vector key of the observation space.
        agent = Dreamer(config, env.observation_space, env.action_space)
        batches = iter(replay.dataset(config.batch_size, config.batch_length, seed=0))
        for step in range(args.steps):
            metrics = agent.train(next(batches))
            print(
                f"update {step}: model_loss={float(metrics['model_loss']):.2f}, "
                f"reward_loss={float(metrics['reward_loss']):.2f}, "
                f"value_loss={float(metrics['value_loss']):.2f}"
            )
    print(f"evaluation return: {act(agent, env, seed=1):.2f}")
    run_in_worker(steps=5)


if __name__ == "__main__":
    main()
