"""Actors and a rate-limited learner (issue 12), in units and end to end.

End-to-end runs use ``examples/dmc_train.py`` with ``debug.flags`` on
``tests/actor_envs.py``'s ``SeededPoint-v0``, whose observations carry the
seed of their environment and the episode's number, so each stored episode
names the actor (and incarnation) that played it.
"""

import importlib.util
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from actor_envs import origin

from dreamer_tf.actors import ActorOptions, check_actor_options
from dreamer_tf.actors.actor import SEED_STRIDE
from dreamer_tf.actors.group import MAX_QUICK_RESTARTS
from dreamer_tf.actors.learner import RateLimiter
from dreamer_tf.config import DreamerConfig
from dreamer_tf.replay import load_episode

ROOT = pathlib.Path(__file__).resolve().parents[1]
TESTS = pathlib.Path(__file__).resolve().parent
SCRIPT = str(ROOT / "examples" / "dmc_train.py")
DEBUG_FLAGS = f"--flagfile={ROOT / 'examples' / 'configs' / 'debug.flags'}"
TASK = "gym_actor_envs:SeededPoint-v0"
SEED = 0


def train_command(logdir, *extra, task=TASK):
    return [
        sys.executable,
        SCRIPT,
        DEBUG_FLAGS,
        f"--task={task}",
        "--observation=proprio",
        f"--seed={SEED}",
        f"--logdir={logdir}",
        *extra,
    ]


def environment(**extra):
    paths = [str(TESTS), os.environ.get("PYTHONPATH")]
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, paths)),
        **extra,
    }


def run_training(logdir, *extra, timeout=300, task=TASK, **env):
    return subprocess.run(
        train_command(logdir, *extra, task=task),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=environment(**env),
        check=False,
    )


def output(result) -> str:
    return result.stdout[-3000:] + result.stderr[-3000:]


def metrics(logdir) -> list[dict]:
    lines = (pathlib.Path(logdir) / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def stored_episodes(logdir) -> list[tuple[int, int]]:
    """``(env seed, episode number)`` of every episode in the replay."""
    paths = sorted((pathlib.Path(logdir) / "episodes").glob("*.npz"))
    return [origin(load_episode(path)["vector"][0]) for path in paths]


def actor_of(seed: int, actors: int) -> tuple[int, int]:
    """``(actor index, incarnation)`` of an environment seed (one env each)."""
    slot = (seed - SEED) // SEED_STRIDE - 1
    return slot % actors, slot // actors


class FakeProgress:
    """The counters the rate limiter reads, as in a checkpoint."""

    class Value:
        def __init__(self, value):
            self.value = value

        def numpy(self):
            return self.value

        def assign(self, value):
            self.value = value

        def assign_add(self, value):
            self.value += value

    def __init__(self):
        self.updates = self.Value(0)
        self.pretrained = self.Value(False)
        self.last_train = self.Value(0)


def simulate(
    config, frames_per_tick: int, updates_per_tick: int, total: int, episode=1000
):
    """Actors and learner taking turns; returns (frames, updates) per tick.

    An episode finishes every ``episode`` frames.
    """
    progress, limiter = FakeProgress(), None
    limiter = RateLimiter(config, progress)
    frames, history, episodes = 0, [], 0
    # A bounded number of turns: a limiter that deadlocks fails, not hangs.
    while frames < total and len(history) < 10 * total:
        ceiling = limiter.ceiling(frames, episodes)
        frames += min(frames_per_tick, max(ceiling - frames, 0))
        episodes = frames // episode
        if not progress.pretrained.numpy():
            if frames >= config.prefill and episodes:
                progress.updates.assign_add(config.pretrain)
                progress.pretrained.assign(True)
                progress.last_train.assign(frames)
        else:
            for _ in range(updates_per_tick):
                if not limiter.update_due(frames):
                    break
                progress.updates.assign_add(1)
                limiter.updated()
        history.append((frames, int(progress.updates.numpy())))
    return history


class TestRateLimiter:
    CONFIG = DreamerConfig(prefill=2000, pretrain=50, train_every=1000, train_steps=10)

    @pytest.mark.parametrize(
        "frames_per_tick, updates_per_tick",
        [(8, 1), (200, 1), (4, 5), (1000, 3)],
        ids=["balanced", "slow-learner", "slow-actors", "bursty-actors"],
    )
    def test_ratio_within_5_percent_over_any_10k_frames(
        self, frames_per_tick, updates_per_tick
    ):
        history = simulate(self.CONFIG, frames_per_tick, updates_per_tick, 60_000)
        frames = np.array([point[0] for point in history])
        updates = np.array([point[1] for point in history])
        start = np.argmax(updates >= self.CONFIG.pretrain)
        target = self.CONFIG.train_steps / self.CONFIG.train_every
        checked = 0
        for begin in range(start, len(history)):
            end = np.searchsorted(frames, frames[begin] + 10_000)
            if end >= len(history):
                break
            ratio = (updates[end] - updates[begin]) / (frames[end] - frames[begin])
            assert abs(ratio / target - 1) <= 0.05, (begin, frames[begin], ratio)
            checked += 1
        assert checked > 10

    def test_actors_pause_a_quarter_phase_past_the_updates(self):
        config = self.CONFIG
        progress = FakeProgress()
        limiter = RateLimiter(config, progress)
        assert limiter.ceiling(0, 0) == config.prefill
        # Prefill reached but no episode finished yet: keep collecting.
        assert limiter.ceiling(2000, 0) > 2000
        progress.updates.assign(config.pretrain)
        progress.pretrained.assign(True)
        progress.last_train.assign(2000)
        assert limiter.ceiling(2000, 2) == 2250
        assert not limiter.update_due(2099)
        assert limiter.update_due(2100)
        for _ in range(3):
            progress.updates.assign_add(1)
            limiter.updated()
        assert limiter.ceiling(5000, 5) == 2550
        for _ in range(7):
            progress.updates.assign_add(1)
            limiter.updated()
        assert int(progress.last_train.numpy()) == 3000
        assert limiter.ceiling(5000, 5) == 3250

    @pytest.mark.parametrize("train_steps", [1, 2, 3, 10, 100])
    def test_the_next_update_always_becomes_due(self, train_steps):
        # Actors that pause before the next update is due deadlock the run.
        config = DreamerConfig(
            prefill=100, pretrain=2, train_every=100, train_steps=train_steps
        )
        history = simulate(config, 1, 1, total=1000, episode=100)
        assert history[-1][0] >= 1000
        assert history[-1][1] == 2 + 9 * train_steps


class TestOnePolicy:
    """The agent, its export and an actor's copy act alike on the same weights."""

    STEPS = 4

    @staticmethod
    def observations(batch: int = 2):
        rng = np.random.default_rng(3)
        for t in range(TestOnePolicy.STEPS):
            yield {
                "image": rng.integers(0, 256, (batch, 64, 64, 3), dtype=np.uint8),
                "is_first": np.array([t == 0, t in (0, 2)]),
            }

    @staticmethod
    def act(policy, observations):
        state, actions = None, []
        for observation in observations:
            action, state = policy(observation, state)
            actions.append(np.asarray(action))
        return np.stack(actions)

    def test_agent_export_and_actor_act_alike(self, tmp_path):
        import pickle

        import tensorflow as tf
        from fixed_noise import assign_fixed_weights, fixed_normal_noise
        from tiny import pixel_spaces, tiny_config

        from dreamer_tf.actors.actor import PolicyCopy
        from dreamer_tf.agent import Dreamer
        from dreamer_tf.export import export_policy
        from dreamer_tf.policy import agent_policy, policy_variables, policy_weights

        config = tiny_config(expl_amount=0.3, eval_noise=0.0)
        spaces = pixel_spaces(action_size=2)
        with fixed_normal_noise():
            agent = Dreamer(config, *spaces)
            assign_fixed_weights(policy_variables(agent), seed=4)
            agent.frames.assign(1234)
            copy = PolicyCopy(config.to_dict(), *spaces)
            # Weights travel to actors pickled, as plain numpy arrays.
            weights = pickle.loads(pickle.dumps(policy_weights(agent)))
            assert all(type(weight) is np.ndarray for weight in weights)
            assert copy.load(0, weights, 1234)
            assert not copy.load(0, [], 0)  # an older version is ignored
            trained = self.act(agent_policy(agent, training=True), self.observations())
            copied = self.act(copy, self.observations())
            evaluated = self.act(
                agent_policy(agent, training=False), self.observations()
            )
            export_policy(agent, str(tmp_path / "policy"), spaces[0])
        np.testing.assert_allclose(copied, trained, rtol=1e-6, atol=1e-6)

        exported = tf.saved_model.load(str(tmp_path / "policy"))
        step = exported.signatures["serving_default"]

        def export_act(observation, state):
            if state is None:
                state = exported.initial_state(tf.constant(2))
            outputs = step(
                **{k: tf.constant(v) for k, v in observation.items()}, **state
            )
            action = outputs.pop("action")
            return action.numpy(), outputs

        exported_actions = self.act(export_act, self.observations())
        np.testing.assert_allclose(exported_actions, evaluated, rtol=1e-5, atol=1e-5)
        # Exploration noise makes training actions differ from the mode.
        assert np.abs(trained - evaluated).max() > 1e-3


class TestProcessActor:
    def test_sending_to_a_busy_actor_never_blocks_the_learner(self):
        # An actor blocked writing to a full pipe reads nothing; a learner
        # that then blocks writing weights to it deadlocks the run.
        import threading

        from dreamer_tf.actors.actor import ActorSetup
        from dreamer_tf.actors.process import ProcessActor

        config = DreamerConfig(observation="proprio", time_limit=40)
        options = {"pixels": False, "time_limit": 40, "action_repeat": 2}
        actor = ProcessActor(ActorSetup(0, 0, TASK, config.to_dict(), options, 7))
        try:
            actor.send(("allow", 40_000))
            time.sleep(5)  # Unread step messages fill the pipe: the actor blocks.
            payload = np.zeros(32 * 1024 * 1024, np.uint8)
            sending = threading.Thread(target=actor.send, args=(("allow", 0, payload),))
            sending.start()
            sending.join(2.0)
            assert not sending.is_alive(), "the learner blocked on a busy actor"
            frames, deadline = 0, time.monotonic() + 120
            while frames < 40_000:
                assert time.monotonic() < deadline
                frames += sum(m[1] for m in actor.receive(0.5) if m[0] == "step")
        finally:
            actor.close()
        sending.join(10)
        assert not actor.process.is_alive()


class TestOptions:
    def test_deterministic_needs_the_synchronous_loop(self):
        with pytest.raises(ValueError, match="--deterministic runs only with"):
            check_actor_options(ActorOptions(actors=2), deterministic=True)
        check_actor_options(ActorOptions(actors=0), deterministic=True)

    @pytest.mark.parametrize(
        "options, message",
        [
            (ActorOptions(actors=-1), "--actors must be >= 0"),
            (ActorOptions(actors=1, backend="mpi"), "--actor_backend must be"),
            (ActorOptions(actors=1, sync_every=0), "--actor_sync_every must be"),
        ],
    )
    def test_bad_values(self, options, message):
        with pytest.raises(ValueError, match=message):
            check_actor_options(options, deterministic=False)


# Resuming is the learner's (checkpoint, replay), the same for both backends;
# it is checked once, with processes, to keep the suite short.
BACKENDS = [
    pytest.param("process", True, id="process"),
    pytest.param(
        "ray",
        False,
        id="ray",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("ray") is None,
            reason="Ray is not installed (pip install -e '.[distributed]')",
        ),
    ),
]


class TestActorRuns:
    @pytest.mark.parametrize("backend, resume", BACKENDS)
    def test_two_actors_fill_the_replay_and_the_run_resumes(
        self, tmp_path, backend, resume
    ):
        logdir = tmp_path / "run"
        flags = ("--actors=2", f"--actor_backend={backend}", "--actor_sync_every=2")
        result = run_training(logdir, *flags, "--steps=400")
        assert result.returncode == 0, output(result)
        stored = stored_episodes(logdir)
        assert {actor_of(seed, 2) for seed, _ in stored} == {(0, 0), (1, 0)}
        last = metrics(logdir)[-1]
        # Pretraining (2 updates) and at least two more phases of 2.
        assert last["updates"] >= 6, last
        assert last["actors/0/fps"] > 0 and last["actors/1/fps"] > 0, last
        assert last["actors/restarts"] == 0
        assert 0 < last["train/updates_per_frame"] <= 0.05, last
        if not resume:
            return

        result = run_training(logdir, *flags, "--steps=600")
        assert result.returncode == 0, output(result)
        assert "resuming at" in result.stdout
        resumed = metrics(logdir)[-1]
        assert resumed["frames"] >= 600 and resumed["updates"] > last["updates"]
        # Fresh actors add episodes to those kept from the first run.
        assert len(stored_episodes(logdir)) > len(stored)

    def test_killed_actor_restarts_and_killed_learner_resumes(self, tmp_path):
        logdir, env_log = tmp_path / "run", tmp_path / "env_log"
        env_log.mkdir()
        command = train_command(logdir, "--actors=2", "--steps=1600")
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
            env=environment(ACTOR_ENVS_LOG=str(env_log)),
        )
        lines = []

        def read_until(prefix: str) -> str:
            while True:
                line = process.stdout.readline()
                assert line, "".join(lines)[-3000:]
                lines.append(line)
                if line.startswith(prefix):
                    return line

        try:
            pids = json.loads(read_until("actors started: pids ").split("pids ")[1])
            # Once the replay holds two of actor 0's episodes, kill it.
            deadline = time.monotonic() + 120
            while self.count(logdir, (0, 0)) < 2:
                assert time.monotonic() < deadline, "".join(lines)[-3000:]
                time.sleep(0.2)
            os.kill(pids[0], signal.SIGKILL)
            died = read_until("actor 0 (pid")
            restarted = int(read_until("actor 0 restarted as pid ").split()[-1])
            # The learner keeps training: a log line after the restart.
            read_until("[")
            read_until("[")
            before_learner_kill = set(os.listdir(logdir / "episodes"))
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        finally:
            process.kill()
        assert died.strip() == (
            f"actor 0 (pid {pids[0]}) died: killed by SIGKILL; restarting it"
        )
        # Actors whose learner died end too (they see their pipe close).
        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in (pids[1], restarted)):
            assert time.monotonic() < deadline, "actors outlived their learner"
            time.sleep(0.2)
        restarts = [
            event["actors/restarts"]
            for event in metrics(logdir)
            if "actors/restarts" in event
        ]
        assert restarts[-1] == 1, restarts

        # Every episode the killed actor's env finished is in the replay, but
        # for the one it may have been sending when it died.
        stored = set(stored_episodes(logdir))
        finished = sorted(
            tuple(map(int, path.name.split("-"))) for path in env_log.iterdir()
        )
        killed = [item for item in finished if actor_of(item[0], 2) == (0, 0)]
        assert len(killed) >= 2
        missing = [item for item in killed if item not in stored]
        assert missing in ([], killed[-1:]), (missing, killed)
        assert self.count(logdir, (0, 1)) + self.count(logdir, (1, 0)) > 0

        # Rerunning the command resumes with fresh actors; nothing stored is lost.
        result = run_training(logdir, "--actors=2", "--steps=1600")
        assert result.returncode == 0, output(result)
        assert "resuming at" in result.stdout
        assert before_learner_kill <= set(os.listdir(logdir / "episodes"))
        assert metrics(logdir)[-1]["frames"] >= 1600

    @staticmethod
    def count(logdir, actor: tuple[int, int]) -> int:
        """Stored episodes of one actor incarnation."""
        return sum(actor_of(seed, 2) == actor for seed, _ in stored_episodes(logdir))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = pathlib.Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()


class TestActorErrors:
    """Bad actor options are one-line errors before any model is built."""

    def test_unreachable_ray_address(self, tmp_path):
        closed_port = socket.socket()
        closed_port.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{closed_port.getsockname()[1]}"
        closed_port.close()
        start = time.monotonic()
        result = run_training(
            tmp_path / "run",
            "--actors=2",
            "--actor_backend=ray",
            f"--ray_address={address}",
            timeout=60,
        )
        assert result.returncode != 0
        assert time.monotonic() - start < 30
        lines = result.stderr.strip().splitlines()
        assert lines[-1].startswith(f"error: cannot reach the Ray cluster at {address}")
        assert not (tmp_path / "run" / "checkpoints").exists()

    def test_an_actor_that_keeps_dying_stops_the_run(self, tmp_path):
        result = run_training(
            tmp_path / "run", "--actors=1", task="gym_actor_envs:BrokenInActors-v0"
        )
        assert result.returncode != 0
        assert result.stdout.count("actor 0 (pid") == MAX_QUICK_RESTARTS
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith(f"error: actor 0 died {MAX_QUICK_RESTARTS + 1} times")
        assert last.endswith("; the run stops (rerun to resume).")

    def test_ray_not_installed_names_the_extra(self, tmp_path):
        hide_ray = (
            "import importlib.util, runpy, sys\n"
            "find_spec = importlib.util.find_spec\n"
            "importlib.util.find_spec = lambda name, *a: None if name == 'ray' "
            "else find_spec(name, *a)\n"
            "sys.argv = sys.argv[1:]\n"
            "runpy.run_path(sys.argv[0], run_name='__main__')\n"
        )
        command = train_command(tmp_path / "run", "--actors=1", "--actor_backend=ray")
        result = subprocess.run(
            [sys.executable, "-c", hide_ray, *command[1:]],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            env=environment(),
            check=False,
        )
        assert result.returncode != 0
        assert result.stderr.strip().splitlines()[-1] == (
            "error: --actor_backend=ray needs Ray, which is not installed; "
            "install the extra: pip install -e '.[distributed]'"
        )
