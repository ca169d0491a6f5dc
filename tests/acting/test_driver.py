"""The driver against a hand-written loop over single environments.

The expectation is built without the driver, the vector environment or the
episode builder: each environment is made in this process and stepped one
episode after another, as the vector environment's next-step autoreset does.
"""

import numpy as np

from dreamer_tf.acting.driver import Driver, EpisodeBuilder, random_policy
from dreamer_tf.envs import make_env, make_vector_env
from dreamer_tf.replay import Replay

TASK = "gym_dreamer_tf.envs.toy:PointReach-v0"
OPTIONS = {"pixels": False, "time_limit": 20, "action_repeat": 2}
SEED = 5


def counting_policy(observation, state):
    """Pushes toward the goal by an amount that depends on the step count.

    The state (steps since each environment's episode began) makes the
    actions depend on the driver handing the state back correctly.
    """
    steps = np.zeros(len(observation["is_first"]), int) if state is None else state
    steps = np.where(observation["is_first"], 0, steps + 1)
    position, goal = observation["vector"][:, 0], observation["vector"][:, 1]
    push = np.clip((goal - position) * 3, -1, 1) * np.cos(steps)
    return push[:, None].astype(np.float32), steps


def hand_episodes(seed: int, count: int) -> list[dict]:
    """``count`` episodes of one environment, assembled by hand."""
    env = make_env(TASK, seed=seed, **OPTIONS)
    episodes = []
    for _ in range(count):
        observation, info = env.reset()
        steps = [(observation, np.zeros(1, np.float32), 0.0, 1.0)]
        state = None
        while not observation["is_last"]:
            batched = {
                key: np.asarray(value)[None] for key, value in observation.items()
            }
            action, state = counting_policy(batched, state)
            observation, reward, _, _, info = env.step(action[0])
            steps.append((observation, action[0], reward, info["discount"]))
        episode = {
            key: np.stack([np.asarray(step[0][key]) for step in steps])
            for key in observation
        }
        episode["action"] = np.stack([step[1] for step in steps]).astype(np.float32)
        episode["reward"] = np.array([step[2] for step in steps], np.float32)
        episode["discount"] = np.array([step[3] for step in steps], np.float32)
        episodes.append(episode)
    env.close()
    return episodes


class TestDriver:
    def test_episodes_equal_a_hand_written_loop(self):
        per_env = 3
        expected = {index: hand_episodes(SEED + index, per_env) for index in (0, 1)}
        collected = {0: [], 1: []}
        frames = 0
        with make_vector_env(TASK, 2, seed=SEED, **OPTIONS) as env:
            driver = Driver(env)
            driver.reset()
            while min(len(episodes) for episodes in collected.values()) < per_env:
                result = driver.step(counting_policy)
                frames += result.frames
                for index, episode in result.episodes:
                    collected[index].append(episode)
        for index in (0, 1):
            for got, want in zip(collected[index], expected[index]):
                assert sorted(got) == sorted(want)
                for key in want:
                    assert got[key].dtype == want[key].dtype, key
                    np.testing.assert_array_equal(got[key], want[key], err_msg=key)
        # 10 steps of 2 frames per episode; steps that restart an env count none.
        finished = sum(len(episodes) for episodes in collected.values())
        assert frames >= finished * 20

    def test_episodes_restarts_and_returns_the_first_to_finish(self):
        rng = np.random.default_rng(0)
        with make_vector_env(TASK, 1, seed=SEED, **OPTIONS) as env:
            driver = Driver(env)
            first = driver.episodes(counting_policy, 2)
            again = driver.episodes(counting_policy, 2)
            random = driver.episodes(random_policy(env.single_action_space, rng), 1)
        assert [len(episode["reward"]) for episode in first] == [11, 11]
        # The environment continues its seeded stream; a reset is not a replay.
        assert not np.array_equal(first[0]["vector"], again[0]["vector"])
        assert np.all(np.abs(random[0]["action"]) <= 1)
        assert random[0]["is_first"][0] and random[0]["is_last"][-1]


class TestEpisodeBuilder:
    def test_builds_aligned_episodes_from_vector_stream(self, tmp_path):
        builder = EpisodeBuilder(num_envs=2)

        def batch(values, first, last, terminal):
            return {
                "obs": np.array(values, np.float32)[:, None],
                "is_first": np.array(first),
                "is_last": np.array(last),
                "is_terminal": np.array(terminal),
            }

        actions = np.array([[9, 9], [9, 9]], np.float32)
        assert builder.add(batch([0, 100], [1, 1], [0, 0], [0, 0]), actions, None) == []
        assert (
            builder.add(
                batch([1, 101], [0, 0], [0, 0], [0, 0]), [[1, 1], [2, 2]], [1, 2]
            )
            == []
        )
        finished = builder.add(
            batch([2, 102], [0, 0], [1, 0], [1, 0]), [[3, 3], [4, 4]], [3, 4]
        )
        assert len(finished) == 1
        env_index, episode = finished[0]
        assert env_index == 0
        np.testing.assert_array_equal(episode["obs"][:, 0], [0, 1, 2])
        np.testing.assert_array_equal(episode["action"], [[0, 0], [1, 1], [3, 3]])
        np.testing.assert_array_equal(episode["reward"], [0, 1, 3])
        np.testing.assert_array_equal(episode["discount"], [1, 1, 0])
        np.testing.assert_array_equal(episode["is_first"], [True, False, False])
        # Next-step autoreset: env 0 restarts, env 1 ends by truncation.
        finished = builder.add(
            batch([10, 103], [1, 0], [0, 1], [0, 0]), [[7, 7], [5, 5]], [0, 6]
        )
        assert len(finished) == 1
        env_index, episode = finished[0]
        assert env_index == 1
        np.testing.assert_array_equal(episode["obs"][:, 0], [100, 101, 102, 103])
        np.testing.assert_array_equal(episode["discount"], [1, 1, 1, 1])
        np.testing.assert_array_equal(episode["action"][0], [0, 0])
        assert Replay(tmp_path).add(episode).name.endswith("-3.npz")
