"""Tests of dreamer_tf.envs.

DMC is only ever created in worker processes or subprocesses: importing
dm_control with EGL in a process that imported TensorFlow (other test files do)
crashes it.
"""

import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time
from typing import ClassVar

import gymnasium
import numpy as np
import pytest

from dreamer_tf.envs import (
    ActionRepeat,
    EnvWorkerError,
    EpisodeFlags,
    ImageObservation,
    OneHotAction,
    is_one_hot_space,
    make_env,
    make_vector_env,
    random_actions,
    validate_task,
)
from dreamer_tf.envs import vector as vector_module
from dreamer_tf.envs.atari import AtariPreprocess
from dreamer_tf.envs.tasks import dmc_tasks, parse_task

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
FLAGS = {"is_first", "is_last", "is_terminal"}


def run_python(
    code: str, extra_env: dict[str, str] | None = None, timeout: float = 120
):
    """Runs code in a fresh interpreter at the repository root."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **(extra_env or {})}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        check=False,
        text=True,
        timeout=timeout,
    )


class CountingEnv(gymnasium.Env):
    """Frame ``k`` (1-based) gives reward ``k``; terminates at ``terminate_at``."""

    metadata: ClassVar[dict] = {"render_modes": ["rgb_array"]}

    def __init__(self, terminate_at: int = 1000):
        self.terminate_at = terminate_at
        self.render_mode = "rgb_array"
        self.observation_space = gymnasium.spaces.Dict(
            {"frame": gymnasium.spaces.Box(0, np.inf, (1,), np.float32)}
        )
        self.action_space = gymnasium.spaces.Discrete(3)
        self.frames = 0
        self.renders = 0
        self.actions = []

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.frames = 0
        return {"frame": np.zeros(1, np.float32)}, {}

    def step(self, action):
        self.frames += 1
        self.actions.append(action)
        observation = {"frame": np.full(1, self.frames, np.float32)}
        return (
            observation,
            float(self.frames),
            self.frames >= self.terminate_at,
            False,
            {},
        )

    def render(self):
        self.renders += 1
        return np.full((32, 48, 3), self.frames, np.uint8)


class TestValidateTask:
    def test_unknown_suite_lists_suites(self):
        with pytest.raises(ValueError, match="dmc.*gym.*atari"):
            validate_task("mujoco_walker_walk")

    def test_dmc_unknown_domain_lists_domains(self):
        with pytest.raises(ValueError, match="Available domains:.*walker"):
            validate_task("dmc_wlaker_walk")

    def test_dmc_unknown_task_lists_tasks_of_domain(self):
        with pytest.raises(ValueError, match="Tasks of walker: stand, walk, run"):
            validate_task("dmc_walker_fly")

    def test_dmc_names_with_underscores_and_aliases(self):
        assert parse_task("dmc_cup_catch").domain == "ball_in_cup"
        assert parse_task("dmc_ball_in_cup_catch").task == "catch"
        spec = parse_task("dmc_cartpole_balance_sparse")
        assert (spec.domain, spec.task) == ("cartpole", "balance_sparse")
        spec = parse_task("dmc_humanoid_CMU_run")
        assert (spec.domain, spec.task) == ("humanoid_CMU", "run")

    def test_gym_unknown_id_suggests_close_matches(self):
        with pytest.raises(ValueError, match="Close matches: gym_Pendulum-v1"):
            validate_task("gym_Pendulm-v1")
        validate_task("gym_CartPole-v1")

    def test_atari_unknown_game_lists_games(self):
        with pytest.raises(ValueError, match="Did you mean pong.*Available games"):
            validate_task("atari_pongg")
        validate_task("atari_ms_pacman")

    def test_dmc_task_list_matches_dm_control(self):
        result = run_python(
            """
            import json
            from dm_control import suite
            print(json.dumps(sorted(map(list, suite.ALL_TASKS))))
            """,
            extra_env={"MUJOCO_GL": "disable"},
        )
        assert result.returncode == 0, result.stderr
        parsed = sorted(
            [domain, task] for domain, tasks in dmc_tasks().items() for task in tasks
        )
        assert parsed == json.loads(result.stdout)

    def test_validation_is_fast_and_imports_no_simulator(self):
        result = run_python(
            """
            import json, sys, time
            from dreamer_tf.envs import validate_task
            start = time.perf_counter()
            for task in ("dmc_walker_walk", "gym_Pendulum-v1", "atari_pong"):
                validate_task(task)
            heavy = [
                m for m in ("dm_control", "mujoco", "tensorflow") if m in sys.modules
            ]
            print(json.dumps([time.perf_counter() - start, heavy]))
            """
        )
        assert result.returncode == 0, result.stderr
        seconds, heavy_modules = json.loads(result.stdout.strip().splitlines()[-1])
        assert heavy_modules == []
        assert seconds < 2.0

    def test_vector_env_rejects_bad_task_before_starting_workers(self, monkeypatch):
        def forbid_start(*args, **kwargs):
            raise AssertionError("a worker was started")

        monkeypatch.setattr(vector_module.subprocess, "Popen", forbid_start)
        with pytest.raises(ValueError, match="Tasks of walker"):
            make_vector_env("dmc_walker_fly", 2, seed=0)
        with pytest.raises(ValueError, match="life_done applies to atari"):
            make_vector_env("dmc_walker_walk", 2, seed=0, life_done=True)

    @pytest.mark.parametrize(
        "task, kwargs, message",
        [
            ("atari_pong", {"pixels": False}, "needs pixels=True"),
            ("gym_CartPole-v1", {"action_repeat": 0}, "action_repeat"),
            ("gym_CartPole-v1", {"time_limit": 0}, "time_limit"),
            ("gym_CartPole-v1", {"image_size": (64,)}, "image_size"),
        ],
    )
    def test_make_env_rejects_bad_arguments(self, task, kwargs, message):
        with pytest.raises(ValueError, match=message):
            make_env(task, **kwargs)


class TestWrappers:
    def test_action_repeat_sums_rewards(self):
        inner = CountingEnv()
        env = ActionRepeat(inner, 3)
        env.reset()
        _, reward, terminated, truncated, _ = env.step(1)
        assert reward == 1 + 2 + 3
        _, reward, _, _, _ = env.step(1)
        assert reward == 4 + 5 + 6
        assert inner.frames == 6
        assert not terminated and not truncated

    def test_action_repeat_stops_at_episode_end(self):
        inner = CountingEnv(terminate_at=4)
        env = ActionRepeat(inner, 3)
        env.reset()
        env.step(0)
        observation, reward, terminated, _, _ = env.step(0)
        assert terminated
        assert reward == 4
        assert inner.frames == 4
        assert observation["frame"][0] == 4

    def test_only_last_frame_of_repeat_is_rendered(self):
        inner = CountingEnv()
        env = ImageObservation(ActionRepeat(inner, 3), (16, 16), keep_observation=True)
        observation, _ = env.reset()
        renders_after_reset = inner.renders
        observation, *_ = env.step(0)
        assert inner.renders - renders_after_reset == 1
        assert observation["image"].shape == (16, 16, 3)
        assert observation["image"].dtype == np.uint8
        assert observation["image"][0, 0, 0] == 3  # The frame after 3 repeats.
        assert env.observation_space.contains(observation)

    def test_grayscale_image_keeps_a_channel_axis(self):
        env = ImageObservation(
            CountingEnv(), (8, 8), grayscale=True, keep_observation=False
        )
        observation, _ = env.reset()
        assert set(observation) == {"image"}
        assert observation["image"].shape == (8, 8, 1)

    def test_one_hot_action_maps_and_rejects(self):
        inner = CountingEnv()
        env = OneHotAction(inner)
        assert env.action_space == gymnasium.spaces.Box(0, 1, (3,), np.float32)
        env.reset()
        env.step(np.array([0, 0, 1], np.float32))
        env.step(
            np.array([1 - 1e-7, 1e-7, 0], np.float32)
        )  # Straight-through rounding.
        assert inner.actions == [2, 0]
        for bad_action in ([0.5, 0.5, 0], [1, 1, 0], [0, 0, 0], [1, 0]):
            with pytest.raises(ValueError, match="one-hot"):
                env.step(np.array(bad_action, np.float32))

    def test_random_actions(self):
        rng = np.random.default_rng(0)
        one_hot = random_actions(gymnasium.spaces.Box(0, 1, (4,), np.float32), 500, rng)
        assert one_hot.shape == (500, 4) and one_hot.dtype == np.float32
        assert np.all(one_hot.sum(axis=1) == 1) and np.all(np.isin(one_hot, (0, 1)))
        assert set(one_hot.argmax(axis=1)) == {0, 1, 2, 3}
        continuous = random_actions(
            gymnasium.spaces.Box(-1, 1, (2,), np.float32), 500, rng
        )
        assert continuous.shape == (500, 2) and continuous.dtype == np.float32
        assert continuous.min() >= -1 and continuous.max() <= 1
        assert continuous.min() < -0.9 and continuous.max() > 0.9
        assert len(np.unique(continuous)) == continuous.size

    def test_is_one_hot_space(self):
        assert is_one_hot_space(gymnasium.spaces.Box(0, 1, (3,), np.float32))
        assert not is_one_hot_space(gymnasium.spaces.Box(-1, 1, (3,), np.float32))
        assert not is_one_hot_space(gymnasium.spaces.Discrete(3))

    def test_episode_flags_and_seed_of_first_reset(self):
        env = EpisodeFlags(ActionRepeat(CountingEnv(terminate_at=2), 1), seed=5)
        observation, info = env.reset()
        assert env.unwrapped.np_random_seed == 5
        assert (observation["is_first"], observation["is_last"]) == (True, False)
        assert info["discount"] == 1.0
        observation, _, _, _, info = env.step(0)
        assert not observation["is_first"] and not observation["is_last"]
        assert info["discount"] == 1.0
        observation, _, terminated, _, info = env.step(0)
        assert terminated and observation["is_last"] and observation["is_terminal"]
        assert info["discount"] == 0.0
        assert env.observation_space.contains(observation)


class FakeAle:
    def __init__(self, env):
        self._env = env

    def lives(self):
        return 3 if self._env.frames < 6 else 2


class FlickeringAtari(gymnasium.Env):
    """Even frames show a sprite at the left, odd frames at the right."""

    def __init__(self):
        self.observation_space = gymnasium.spaces.Box(0, 255, (20, 20, 3), np.uint8)
        self.action_space = gymnasium.spaces.Discrete(4)
        self.ale = FakeAle(self)
        self.frames = 0

    def get_action_meanings(self):
        return ["NOOP", "FIRE", "LEFT", "RIGHT"]

    def frame(self):
        image = np.zeros((20, 20, 3), np.uint8)
        columns = slice(0, 10) if self.frames % 2 == 0 else slice(10, 20)
        image[:, columns] = 200
        return image

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.frames = 0
        return self.frame(), {}

    def step(self, action):
        self.frames += 1
        return self.frame(), 1.0, False, False, {}


class TestAtariPreprocess:
    def test_max_pools_last_two_frames_and_skips(self):
        inner = FlickeringAtari()
        env = AtariPreprocess(inner, frame_skip=4, noop_max=0, image_size=(20, 20))
        observation, _ = env.reset(seed=0)
        assert observation["image"][:, :10].min() == 200  # Reset: one frame only.
        assert observation["image"][:, 10:].max() == 0
        observation, reward, *_ = env.step(1)
        assert reward == 4 and inner.frames == 4
        assert observation["image"].min() == 200  # Both halves from two frames.

    def test_life_loss_ends_episode_only_when_asked(self):
        for life_done, expected in ((True, True), (False, False)):
            env = AtariPreprocess(
                FlickeringAtari(), frame_skip=4, noop_max=0, life_done=life_done
            )
            env.reset(seed=0)
            env.step(0)
            _, _, terminated, _, _ = env.step(0)
            assert terminated == expected

    def test_noop_starts_depend_on_seed(self):
        frames_played = set()
        for seed in range(6):
            inner = FlickeringAtari()
            AtariPreprocess(inner, noop_max=30).reset(seed=seed)
            assert 1 <= inner.frames <= 30
            frames_played.add(inner.frames)
        assert len(frames_played) > 1


class TestGymSuite:
    def test_vector_observation_and_one_hot_specs(self):
        env = make_env("gym_CartPole-v1", seed=0, pixels=False)
        assert set(env.observation_space) == {"vector"} | FLAGS
        assert env.observation_space["vector"] == gymnasium.spaces.Box(
            -np.inf, np.inf, (4,), np.float32
        )
        assert env.action_space == gymnasium.spaces.Box(0, 1, (2,), np.float32)
        observation, info = env.reset()
        assert env.observation_space.contains(observation)
        assert observation["is_first"] and info["discount"] == 1.0

    def test_continuous_actions_are_normalised(self):
        env = make_env("gym_Pendulum-v1", seed=3, pixels=False, action_repeat=1)
        assert env.action_space == gymnasium.spaces.Box(-1, 1, (1,), np.float32)
        reference = gymnasium.make("Pendulum-v1")
        env.reset()
        reference.reset(seed=3)
        for action in (1.0, -0.5):
            observation, *_ = env.step(np.array([action], np.float32))
            reference_observation, *_ = reference.step(
                np.array([2.0 * action], np.float32)
            )
            np.testing.assert_allclose(
                observation["vector"], reference_observation, rtol=1e-6
            )

    def test_seeding_gives_identical_first_observations(self):
        first = [
            make_env("gym_Pendulum-v1", seed=seed, pixels=False).reset()[0]
            for seed in (1, 1, 2)
        ]
        np.testing.assert_array_equal(first[0]["vector"], first[1]["vector"])
        assert not np.array_equal(first[0]["vector"], first[2]["vector"])

    def test_pixels_are_rendered_after_the_action_repeat(self):
        env = make_env("gym_CartPole-v1", pixels=True, action_repeat=3)
        wrapper_types = []
        while isinstance(env, gymnasium.Wrapper):
            wrapper_types.append(type(env))
            env = env.env
        assert wrapper_types.index(ImageObservation) < wrapper_types.index(ActionRepeat)

    def test_time_limit_in_frames_with_action_repeat(self):
        env = make_env(
            "gym_CartPole-v1", seed=0, pixels=False, action_repeat=2, time_limit=5
        )
        env.reset()
        results = [env.step(np.array([1, 0], np.float32))[1:4] for _ in range(3)]
        assert results == [(2.0, False, False), (2.0, False, False), (1.0, False, True)]


class TestAtariSuite:
    def test_specs(self):
        env = make_env("atari_pong", seed=0)
        assert set(env.observation_space) == {"image"} | FLAGS
        assert env.observation_space["image"] == gymnasium.spaces.Box(
            0, 255, (64, 64, 3), np.uint8
        )
        assert env.action_space == gymnasium.spaces.Box(0, 1, (6,), np.float32)
        observation, _ = env.reset()
        assert env.observation_space.contains(observation)
        gray = make_env("atari_pong", seed=0, grayscale=True)
        assert gray.observation_space["image"].shape == (64, 64, 1)
        assert gray.reset()[0]["image"].shape == (64, 64, 1)

    def test_frame_skip_and_seeded_determinism(self):
        rollouts = []
        for _ in range(2):
            env = make_env("atari_breakout", seed=4, action_repeat=4)
            rng = np.random.default_rng(0)
            observation, info = env.reset()
            images, frame_numbers = [observation["image"]], []
            for action in random_actions(env.action_space, 30, rng):
                observation, _, _, _, info = env.step(action)
                images.append(observation["image"])
                frame_numbers.append(info["episode_frame_number"])
            rollouts.append(np.stack(images))
        np.testing.assert_array_equal(rollouts[0], rollouts[1])
        assert set(np.diff(frame_numbers)) == {4}

    def test_life_done_terminates_with_lives_left(self):
        env = make_env("atari_breakout", seed=0, life_done=True, time_limit=100_000)
        env.reset()
        rng = np.random.default_rng(0)
        for _ in range(3000):
            observation, _, terminated, truncated, info = env.step(
                random_actions(env.action_space, 1, rng)[0]
            )
            if terminated or truncated:
                break
        assert terminated and observation["is_terminal"]
        assert info["lives"] > 0 and info["discount"] == 0.0


class TestDmcInWorkers:
    def test_specs_seeding_time_limit_and_autoreset(self):
        with make_vector_env(
            "dmc_walker_walk", 2, seed=0, action_repeat=2, time_limit=20
        ) as env:
            space = env.single_observation_space
            assert set(space) == {"image", "orientations", "height", "velocity"} | FLAGS
            assert space["image"] == gymnasium.spaces.Box(0, 255, (64, 64, 3), np.uint8)
            assert space["height"].shape == (1,) and space["height"].dtype == np.float32
            assert space["orientations"].shape == (14,)
            assert env.single_action_space == gymnasium.spaces.Box(
                -1, 1, (6,), np.float32
            )
            observation, info = env.reset()
            assert observation["image"].shape == (2, 64, 64, 3)
            assert observation["is_first"].all() and not observation["is_last"].any()
            # Workers are seeded seed + i, so their first observations differ.
            assert not np.array_equal(observation["image"][0], observation["image"][1])
            actions = np.zeros((2, 6), np.float32)
            for step in range(1, 11):
                observation, reward, terminated, truncated, info = env.step(actions)
                assert not terminated.any()
                assert truncated.all() == (step == 10)  # 20 frames / repeat 2.
                np.testing.assert_array_equal(info["discount"], [1.0, 1.0])
            assert observation["is_last"].all() and not observation["is_terminal"].any()
            observation, reward, terminated, truncated, _ = env.step(actions)
            assert observation["is_first"].all() and not observation["is_last"].any()
            np.testing.assert_array_equal(reward, [0.0, 0.0])
            first, _ = env.reset(seed=[7, 7])
            again, _ = env.reset(seed=[7, 7])
        for key in ("image", "orientations", "velocity"):
            np.testing.assert_array_equal(first[key][0], first[key][1])
            np.testing.assert_array_equal(first[key], again[key])

    def test_action_repeat_sums_rewards(self):
        actions = np.random.default_rng(0).uniform(-1, 1, (8, 1, 6)).astype(np.float32)
        rewards = {}
        for repeat in (1, 2):
            with make_vector_env(
                "dmc_walker_walk", 1, seed=3, action_repeat=repeat, pixels=False
            ) as env:
                env.reset()
                rewards[repeat] = [
                    env.step(action)[1][0]
                    for action in np.repeat(actions, 2 // repeat, axis=0)
                ]
        np.testing.assert_allclose(
            rewards[2], np.add(rewards[1][0::2], rewards[1][1::2]), rtol=1e-5
        )
        assert np.std(rewards[2]) > 0

    def test_proprio_only_alias_task(self):
        with make_vector_env("dmc_cup_catch", 1, seed=0, pixels=False) as env:
            assert "image" not in env.single_observation_space
            assert env.single_action_space.shape == (2,)
            observation, _ = env.reset()
            assert set(observation) == {"position", "velocity"} | FLAGS
            assert observation["position"].dtype == np.float32

    def test_in_process_dmc_refused_after_tensorflow_import(self):
        result = run_python(
            """
            import sys, types
            sys.modules["tensorflow"] = types.ModuleType("tensorflow")
            from dreamer_tf.envs import make_env
            try:
                make_env("dmc_walker_walk")
            except RuntimeError as error:
                print("refused:", error)
            """,
            extra_env={"MUJOCO_GL": "egl"},
        )
        assert result.returncode == 0, result.stderr
        assert "refused:" in result.stdout and "make_vector_env" in result.stdout


class TestWorkers:
    def test_worker_modules_import_no_tensorflow(self):
        result = run_python(
            """
            import json, sys
            import numpy as np
            import dreamer_tf.envs, dreamer_tf.envs.worker, dreamer_tf.replay
            for task in ("dmc_walker_walk", "gym_CartPole-v1", "atari_pong"):
                pixels = task != "gym_CartPole-v1"
                env = dreamer_tf.envs.make_env(task, seed=0, pixels=pixels)
                env.reset()
                env.step(dreamer_tf.envs.random_actions(
                    env.action_space, 1, np.random.default_rng(0))[0])
                env.close()
            prefixes = ("tensorflow", "keras", "tf_keras", "tensorflow_probability")
            print(json.dumps(sorted(m for m in sys.modules if m.startswith(prefixes))))
            """
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout.strip().splitlines()[-1]) == []

    def test_workers_render_dmc_for_a_tensorflow_driver(self, tmp_path):
        # The marker shows whether workers re-run the driver script, as
        # multiprocessing's spawn does; that would import TensorFlow there.
        script = tmp_path / "driver.py"
        marker = tmp_path / "marker.txt"
        script.write_text(
            textwrap.dedent(
                f"""
                import tensorflow
                with open({str(marker)!r}, "a") as file:
                    file.write("x")
                if __name__ == "__main__":
                    from dreamer_tf.envs import make_vector_env
                    with make_vector_env("dmc_cartpole_swingup", 1, seed=0) as env:
                        observation, _ = env.reset()
                        observation, *_ = env.step(
                            [env.single_action_space.sample() * 0]
                        )
                    print("image mean", observation["image"].mean())
                """
            )
        )
        result = subprocess.run(
            [sys.executable, str(script)],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            capture_output=True,
            check=False,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert "image mean" in result.stdout
        assert float(result.stdout.split("image mean")[1]) > 10
        assert marker.read_text() == "x"

    def test_two_workers_step_and_reject_non_one_hot_actions(self):
        with make_vector_env("gym_CartPole-v1", 2, seed=0, pixels=False) as env:
            assert env.action_space.shape == (2, 2)
            observation, _ = env.reset()
            assert observation["vector"].shape == (2, 4)
            assert observation["vector"].dtype == np.float32
            with pytest.raises(ValueError, match="one-hot"):
                env.step(np.full((2, 2), 0.5, np.float32))
            with pytest.raises(ValueError, match="shape"):
                env.step(np.zeros((3, 2), np.float32))
            observation, reward, terminated, _, info = env.step(
                np.eye(2, dtype=np.float32)
            )
            np.testing.assert_array_equal(reward, [2.0, 2.0])
            assert reward.dtype == np.float32 and terminated.dtype == bool
            assert not observation["is_first"].any()
            np.testing.assert_array_equal(info["discount"], [1.0, 1.0])

    def test_killed_worker_raises_clear_error(self):
        env = make_vector_env(
            "gym_CartPole-v1", 2, seed=0, role="training", pixels=False
        )
        env.reset()
        worker_pids = env.worker_pids
        os.kill(worker_pids[1], signal.SIGKILL)
        time.sleep(0.2)
        with pytest.raises(
            EnvWorkerError,
            match=r"worker 1 .*training env of task 'gym_CartPole-v1'.*SIGKILL",
        ):
            env.step(np.eye(2, dtype=np.float32))
        assert env.closed
        with pytest.raises(EnvWorkerError, match="closed"):
            env.step(np.eye(2, dtype=np.float32))
        for pid in worker_pids:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)

    def test_worker_exception_is_reported_with_task(self):
        env = make_vector_env("gym_CartPole-v1", 1, seed=0, pixels=False)
        with pytest.raises(
            EnvWorkerError, match=r"(?s)'gym_CartPole-v1' raised.*Seed must be"
        ):
            env.reset(seed=-1)
        assert env.closed

    def test_gym_pixels_in_worker(self):
        with make_vector_env(
            "gym_InvertedPendulum-v5", 1, seed=0, image_size=(32, 48)
        ) as env:
            assert set(env.single_observation_space) == {"image"} | FLAGS
            assert env.single_action_space == gymnasium.spaces.Box(
                -1, 1, (1,), np.float32
            )
            observation, _ = env.reset()
            assert observation["image"].shape == (1, 32, 48, 3)
            assert observation["image"].dtype == np.uint8
            assert observation["image"].max() > 0
