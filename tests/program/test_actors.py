"""Actors and a rate-limited learner (issue 12), in units and end to end.

End-to-end runs use ``examples/dmc_train.py`` with ``debug.flags`` on
``tests/actor_envs.py``'s ``SeededPoint-v0``, whose observations carry the
seed of their environment and the episode's number, so each stored episode
names the actor (and incarnation) that played it.
"""

import contextlib
import importlib.util
import json
import os
import pathlib
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Self

import numpy as np
import pytest
from support.actor_envs import origin
from support.run_program import TrainingProgram, metrics, output, run

from dreamer_tf.config import DreamerConfig
from dreamer_tf.parallel.actors.group import MAX_QUICK_RESTARTS
from dreamer_tf.parallel.options import ActorOptions, check_actor_options
from dreamer_tf.replay import load_episode
from dreamer_tf.seeds import ACTOR_STRIDE

pytestmark = pytest.mark.program

TASK = "gym_support.actor_envs:SeededPoint-v0"
SEED = 0
PROGRAM = TrainingProgram(TASK, flags=("--observation=proprio", f"--seed={SEED}"))


def stored_episodes(logdir) -> list[tuple[int, int]]:
    """``(env seed, episode number)`` of every episode in the replay."""
    paths = sorted((pathlib.Path(logdir) / "episodes").glob("*.npz"))
    return [origin(load_episode(path)["vector"][0]) for path in paths]


def actor_of(seed: int, actors: int) -> tuple[int, int]:
    """``(actor index, incarnation)`` of an environment seed (one env each)."""
    slot = (seed - SEED) // ACTOR_STRIDE - 1
    return slot % actors, slot // actors


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
        from support.fixed_noise import assign_fixed_weights, fixed_normal_noise
        from support.tiny import pixel_spaces, tiny_config

        from dreamer_tf.acting.export import export_policy
        from dreamer_tf.acting.policy import (
            agent_policy,
            policy_weights,
        )
        from dreamer_tf.agent import Dreamer
        from dreamer_tf.architecture import describe_agent
        from dreamer_tf.parallel.actors.actor import PolicyCopy

        config = tiny_config(expl_amount=0.3, eval_noise=0.0)
        spaces = pixel_spaces(action_size=2)
        with fixed_normal_noise():
            agent = Dreamer(config, *spaces)
            assign_fixed_weights(list(agent.policy_variables().values()), seed=4)
            agent.frames.assign(1234)
            copy = PolicyCopy(config.to_dict(), describe_agent(agent))
            # Weights travel to actors pickled, as plain numpy arrays.
            weights = pickle.loads(pickle.dumps(policy_weights(agent)))
            assert all(type(weight) is np.ndarray for weight in weights.values())
            assert copy.load(0, weights, 1234)
            assert not copy.load(0, {}, 0)  # an older version is ignored
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

        from dreamer_tf.parallel.actors.actor import ActorSetup
        from dreamer_tf.parallel.actors.process import ProcessActor

        config = DreamerConfig(observation="proprio", time_limit=40)
        options = {"pixels": False, "time_limit": 40, "action_repeat": 2}
        # No weights are sent, so the actor never builds an agent.
        setup = ActorSetup(0, 0, TASK, config.to_dict(), {}, options, 7)
        actor = ProcessActor(setup)
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
            (ActorOptions(start_timeout_s=0), "--actor_start_timeout must be > 0"),
            (ActorOptions(ray_join_timeout_s=-1), "--ray_join_timeout must be > 0"),
        ],
    )
    def test_bad_values(self, options, message):
        with pytest.raises(ValueError, match=message):
            check_actor_options(options, deterministic=False)


NEEDS_RAY = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None,
    reason="Ray is not installed (pip install -e '.[distributed]')",
)
# Resuming is the learner's (checkpoint, replay), the same for both backends;
# it is checked once, with processes, to keep the suite short.
BACKENDS = [
    pytest.param("process", True, id="process"),
    pytest.param("ray", False, id="ray", marks=NEEDS_RAY),
]
# The learner's progress and evaluation lines: "[440/1600 frames 28%] ...".
LOG_LINE = r"\[\d+(/\d+)? frames"


class TestActorRuns:
    @pytest.mark.parametrize("backend, resume", BACKENDS)
    def test_two_actors_fill_the_replay_and_the_run_resumes(
        self, tmp_path, backend, resume
    ):
        logdir = tmp_path / "run"
        flags = ("--actors=2", f"--actor_backend={backend}", "--actor_sync_every=2")
        result = PROGRAM.run(logdir, *flags, "--steps=400")
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

        result = PROGRAM.run(logdir, *flags, "--steps=600")
        assert result.returncode == 0, output(result)
        assert "resuming at" in result.stdout
        resumed = metrics(logdir)[-1]
        assert resumed["frames"] >= 600 and resumed["updates"] > last["updates"]
        # Fresh actors add episodes to those kept from the first run.
        assert len(stored_episodes(logdir)) > len(stored)

    def test_killed_actor_restarts_and_killed_learner_resumes(self, tmp_path):
        with KilledActorRun(tmp_path, "--steps=1600") as trial:
            trial.kill_actor()
            before_learner_kill = set(os.listdir(trial.logdir / "episodes"))
            os.kill(trial.process.pid, signal.SIGKILL)
            trial.process.wait(timeout=30)
            # Actors whose learner died end too (they see their pipe close).
            deadline = time.monotonic() + 30
            while any(
                identity(pid) is not None for pid in (trial.pids[1], trial.restarted)
            ):
                assert time.monotonic() < deadline, "actors outlived their learner"
                time.sleep(0.2)
        trial.assert_restarted_and_nothing_lost(re.escape("killed by SIGKILL"))
        assert count(trial.logdir, (0, 1)) + count(trial.logdir, (1, 0)) > 0

        # Rerunning the command resumes with fresh actors; nothing stored is lost.
        result = PROGRAM.run(trial.logdir, "--actors=2", "--steps=1600")
        assert result.returncode == 0, output(result)
        assert "resuming at" in result.stdout
        assert before_learner_kill <= set(os.listdir(trial.logdir / "episodes"))
        assert metrics(trial.logdir)[-1]["frames"] >= 1600

    @NEEDS_RAY
    def test_killed_ray_actor_restarts_and_the_run_finishes(self, tmp_path):
        with KilledActorRun(tmp_path, "--actor_backend=ray", "--steps=800") as trial:
            trial.kill_actor()
            returncode = trial.finish()
            # Ray's processes (raylet, GCS, agents, workers) end with the run.
            left = trial.survivors(wait=30)
        assert returncode == 0, trial.tail()
        assert not left, left
        trial.assert_restarted_and_nothing_lost(r"the Ray actor died \(.+\)")
        assert count(trial.logdir, (0, 1)) > 0  # the new incarnation played
        assert metrics(trial.logdir)[-1]["frames"] >= 800


def count(logdir, actor: tuple[int, int]) -> int:
    """Stored episodes of one actor incarnation (of two actors)."""
    return sum(actor_of(seed, 2) == actor for seed, _ in stored_episodes(logdir))


class KilledActorRun:
    """A run of two actors whose actor 0 is killed with SIGKILL mid-run.

    The environments write down each episode they finish (``ACTOR_ENVS_LOG``),
    so the checks know what the replay must hold. The output is read by a
    thread, so every wait has a deadline. Leaving the ``with`` block kills the
    learner and every process it started that still runs (Ray's included),
    so a failing test leaves nothing behind.

    Args:
        tmp_path: The test's directory (the logdir is ``run`` in it).
        *flags: Training flags besides ``--actors=2``.
    """

    def __init__(self, tmp_path: pathlib.Path, *flags: str):
        self.logdir, self.env_log = tmp_path / "run", tmp_path / "env_log"
        self.env_log.mkdir()
        self.pids: list[int] = []
        self.restarted = 0
        self._died = ""
        self._lines: list[str] = []
        self._family: dict[int, str] = {}  # every descendant seen: pid -> identity
        self.process = PROGRAM.start(
            self.logdir,
            "--actors=2",
            *flags,
            variables={"ACTOR_ENVS_LOG": str(self.env_log)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._output: queue.Queue = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self._output.put(line)
        self._output.put(None)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *error) -> None:
        self.process.kill()
        self.process.wait()
        for pid in self.survivors():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._reader.join(10)
        if not self._reader.is_alive():
            self.process.stdout.close()

    def kill_actor(self) -> None:
        """Kills actor 0 once the replay holds two of its episodes.

        Returns after the restart and two more lines of the learner's log
        (it keeps training).
        """
        started = self.read_until("actors started: pids ")
        self.pids = json.loads(started.split("pids ")[1])
        deadline = time.monotonic() + 120
        while count(self.logdir, (0, 0)) < 2:
            assert time.monotonic() < deadline, self.tail()
            self._watch()
            time.sleep(0.2)
        os.kill(self.pids[0], signal.SIGKILL)
        self._died = self.read_until(r"actor 0 \(pid ")
        self.restarted = int(self.read_until("actor 0 restarted as pid ").split()[-1])
        self.read_until(LOG_LINE)
        self.read_until(LOG_LINE)

    def read_until(self, pattern: str, timeout: float = 120) -> str:
        """The next output line that starts with ``pattern`` (a regex)."""
        deadline = time.monotonic() + timeout
        while True:
            line = self._next_line(deadline, pattern)
            assert line is not None, f"the run ended before {pattern!r}:\n{self.tail()}"
            if re.match(pattern, line):
                return line

    def finish(self, timeout: float = 180) -> int:
        """Waits for the run to end; returns its exit code."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            assert time.monotonic() < deadline, f"the run did not end:\n{self.tail()}"
            self._watch()
            self._drain()
            time.sleep(0.2)
        self._drain()
        return self.process.returncode

    def _next_line(self, deadline: float, awaited: str) -> str | None:
        while True:
            self._watch()
            assert time.monotonic() < deadline, f"no {awaited!r}:\n{self.tail()}"
            try:
                line = self._output.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is not None:
                self._lines.append(line)
            return line

    def _drain(self) -> None:
        with contextlib.suppress(queue.Empty):
            while (line := self._output.get_nowait()) is not None:
                self._lines.append(line)

    def tail(self) -> str:
        """The output's end, for failure messages."""
        return "".join(self._lines)[-3000:]

    def _watch(self) -> None:
        """Notes the learner's descendants, to find any that outlive it."""
        for pid in descendants(self.process.pid):
            started = identity(pid)
            if started is not None:
                self._family.setdefault(pid, started)

    def survivors(self, wait: float = 0.0) -> dict[int, str]:
        """The command lines of the learner's descendants that still run.

        Args:
            wait: Seconds to wait for them to end.
        """
        deadline = time.monotonic() + wait
        while True:
            left = [pid for pid, seen in self._family.items() if identity(pid) == seen]
            if not left or time.monotonic() >= deadline:
                return {pid: command_line(pid) for pid in left}
            time.sleep(0.2)

    def assert_restarted_and_nothing_lost(self, reason: str) -> None:
        """Checks the restart's line and count, and the killed actor's episodes.

        Args:
            reason: A regex of how the learner saw actor 0 die.
        """
        expected = rf"actor 0 \(pid {self.pids[0]}\) died: {reason}; restarting it"
        assert re.fullmatch(expected, self._died.strip()), self._died
        restarts = [
            event["actors/restarts"]
            for event in metrics(self.logdir)
            if "actors/restarts" in event
        ]
        assert restarts[-1] == 1, restarts

        # Every episode the killed actor's env finished is in the replay, but
        # for the one it may have been sending when it died.
        stored = set(stored_episodes(self.logdir))
        finished = sorted(
            tuple(map(int, path.name.split("-"))) for path in self.env_log.iterdir()
        )
        killed = [item for item in finished if actor_of(item[0], 2) == (0, 0)]
        assert len(killed) >= 2
        missing = [item for item in killed if item not in stored]
        assert missing in ([], killed[-1:]), (missing, killed)


def descendants(pid: int) -> set[int]:
    """The processes a process started, and theirs, from ``/proc``."""
    found, parents = set(), [pid]
    while parents:
        for children in pathlib.Path(f"/proc/{parents.pop()}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                for child in map(int, children.read_text().split()):
                    if child not in found:
                        found.add(child)
                        parents.append(child)
    return found


def identity(pid: int) -> str | None:
    """A running process's start time; None once it has ended (as a zombie has).

    The start time tells a process from a later one that reuses its pid.
    """
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state, *fields = stat.rsplit(")", 1)[1].split()
    return None if state in ("Z", "X") else fields[18]


def command_line(pid: int) -> str:
    """A process's command line, for failure messages."""
    with contextlib.suppress(OSError):
        return pathlib.Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    return "?"


class TestActorErrors:
    """Bad actor options are one-line errors before any model is built."""

    def test_unreachable_ray_address(self, tmp_path):
        closed_port = socket.socket()
        closed_port.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{closed_port.getsockname()[1]}"
        closed_port.close()
        start = time.monotonic()
        result = PROGRAM.run(
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
        result = PROGRAM.run(
            tmp_path / "run",
            "--actors=1",
            task="gym_support.actor_envs:BrokenInActors-v0",
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
        command = PROGRAM.command(tmp_path / "run", "--actors=1", "--actor_backend=ray")
        result = run([sys.executable, "-c", hide_ray, *command[1:]], timeout=60)
        assert result.returncode != 0
        assert result.stderr.strip().splitlines()[-1] == (
            "error: --actor_backend=ray needs Ray, which is not installed; "
            "install the extra: pip install -e '.[distributed]'"
        )
