"""Tutorial: Dreamer on your own gymnasium environment.

``ReachEnv`` is a tiny task: a point in the plane observed as the float
vector ``position`` (in a ``Dict`` observation), moved by actions in
``Box(-1, 1, (2,))`` and rewarded for staying near the origin. Importing this
module registers it, so the task ``gym_tutorial_custom_env:TutorialReach-v0``
names it, here and in the training program ``examples/dmc_train.py``. The
script

1. runs the task in a worker process, as the training program does, and
   collects a few episodes with random actions through a
   :class:`~dreamer_tf.acting.driver.Driver`, which hands them over in the replay's
   layout; it stores them in a :class:`~dreamer_tf.replay.Replay`;
2. builds a Dreamer agent that models vectors (``observation='proprio'``)
   and trains it a few updates on batches from ``replay.dataset``;
3. plays an evaluation episode with the agent's policy, through the same
   driver.

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=3, help="Updates to run.")
    parser.add_argument("--episodes", type=int, default=3, help="Random episodes.")
    args = parser.parse_args()

    # dreamer_tf before Keras: importing it hides TensorFlow's start-up lines.
    import dreamer_tf  # noqa: F401

    # isort: split
    import keras

    from dreamer_tf import envs
    from dreamer_tf.acting.driver import Driver, random_policy
    from dreamer_tf.acting.policy import agent_policy
    from dreamer_tf.agent import Dreamer
    from dreamer_tf.config import DreamerConfig
    from dreamer_tf.replay import Replay

    keras.utils.set_random_seed(0)
    config = DreamerConfig(
        observation="proprio",
        action_repeat=1,
        num_units=16,
        deter_size=16,
        stoch_size=4,
        rssm_hidden=16,
        horizon=4,
        batch_size=4,
        batch_length=8,
    )
    # As in the training program, the environment steps in a worker process.
    env = envs.make_vector_env(
        TASK, 1, seed=0, pixels=False, action_repeat=config.action_repeat
    )
    with env, tempfile.TemporaryDirectory() as directory:
        driver = Driver(env)
        replay = Replay(directory)
        explore = random_policy(env.single_action_space, np.random.default_rng(0))
        for episode in driver.episodes(explore, args.episodes):
            replay.add(episode)
        print(f"replay: {replay.num_episodes} episodes, {replay.num_steps} steps")
        print(f"episode keys: {sorted(episode)}")
        # The agent models every float vector key of the observation space:
        # here ``vector``, the flattened ``position``.
        agent = Dreamer(config, env.single_observation_space, env.single_action_space)
        batches = iter(replay.dataset(config.batch_size, config.batch_length, seed=0))
        for step in range(args.steps):
            metrics = agent.train(next(batches))
            print(
                f"update {step}: model_loss={float(metrics['model_loss']):.2f}, "
                f"reward_loss={float(metrics['reward_loss']):.2f}, "
                f"value_loss={float(metrics['value_loss']):.2f}"
            )
        (episode,) = driver.episodes(agent_policy(agent, training=False), 1)
    print(f"evaluation return: {episode['reward'].sum():.2f}")


if __name__ == "__main__":
    main()
