"""Runs of agents built in code: they train, resume, act with actors, evaluate, export.

The first run of each goes through a user's script
(``custom_agent_program.py``, an agent factory handed to
:func:`dreamer_tf.run.cli.launch`); every later start is the stock program,
which rebuilds the agent from the run's recorded architecture.
"""

import json
import pathlib
import sys

import numpy as np
import pytest
import tensorflow as tf
from support.custom_agents import Decoder96
from support.run_program import TESTS, TrainingProgram, metrics, output

from dreamer_tf.run.saved_agent import load_agent
from dreamer_tf.variable_tree import checkpoint_key, named_variables

pytestmark = pytest.mark.program

CATEGORICAL = TrainingProgram(
    "gym_support.actor_envs:SeededPoint-v0",
    flags=("--observation=proprio",),
    timeout=400,
)
PIXELS_96 = TrainingProgram("dmc_cartpole_balance", flags=("--image_size=96",))


def custom_command(program: TrainingProgram, agent: str, logdir, *extra):
    """The program's command line, run by the user's script with ``--agent``."""
    command = program.command(logdir, *extra)
    return [
        sys.executable,
        str(TESTS / "support" / "custom_agent_program.py"),
        f"--agent={agent}",
    ] + command[2:]


def run_custom(program, agent, logdir, *extra):
    from support.run_program import run

    result = run(custom_command(program, agent, logdir, *extra), program.timeout)
    assert result.returncode == 0, output(result)
    return result


def recorded_classes(logdir) -> str:
    return (pathlib.Path(logdir) / "architecture.json").read_text()


class TestCategoricalLatentRun:
    def test_it_trains_resumes_with_actors_evaluates_and_exports(self, tmp_path):
        logdir = tmp_path / "run"
        run_custom(CATEGORICAL, "categorical", logdir, "--steps=200")
        assert '"class_name": "CategoricalRSSMCell"' in recorded_classes(logdir)
        first_updates = metrics(logdir)[-1]["updates"]

        resumed = CATEGORICAL.run(logdir, "--steps=400", "--actors=2")
        assert resumed.returncode == 0, output(resumed)
        assert "resuming at 200 frames" in resumed.stdout
        assert "actors started" in resumed.stdout
        assert metrics(logdir)[-1]["updates"] > first_updates

        export_dir = tmp_path / "policy"
        evaluated = CATEGORICAL.run(
            logdir, "--eval_only", f"--export_dir={export_dir}", timeout=300
        )
        assert evaluated.returncode == 0, output(evaluated)
        assert "eval returns:" in evaluated.stdout

        policy = tf.saved_model.load(str(export_dir))
        state = policy.initial_state(tf.constant(3))
        assert sorted(state) == ["deter", "logits", "prev_action", "stoch"]
        step = policy.signatures["serving_default"]
        observation = {
            name: tf.zeros((3, *spec.shape[1:]), spec.dtype)
            for name, spec in step.structured_input_signature[1].items()
            if name not in state and name != "is_first"
        }
        outputs = step(**observation, is_first=tf.ones(3, tf.bool), **state)
        assert np.all(np.isfinite(outputs["action"].numpy()))


class TestImageSize96Run:
    def test_load_agent_rebuilds_the_trained_agent_and_eval_only_runs(self, tmp_path):
        logdir = tmp_path / "run"
        run_custom(PIXELS_96, "96", logdir, "--steps=200")

        agent = load_agent(logdir)
        assert isinstance(agent.world_model.decoder, Decoder96)
        assert agent.observation_space["image"].shape == (96, 96, 3)
        newest = tf.train.latest_checkpoint(str(logdir / "checkpoints"))
        reader = tf.train.load_checkpoint(newest)
        for name, variable in named_variables(agent, "agent").items():
            np.testing.assert_array_equal(
                variable.numpy(), reader.get_tensor(checkpoint_key(name)), err_msg=name
            )
        observation = {
            "image": np.zeros((2, 96, 96, 3), np.uint8),
            "is_first": np.ones(2, bool),
        }
        action, _ = agent.policy(observation, None, training=False)
        assert action.shape == (2, 1)

        evaluated = PIXELS_96.run(logdir, "--eval_only")
        assert evaluated.returncode == 0, output(evaluated)
        assert "eval returns:" in evaluated.stdout

        # An environment whose images are not the recorded ones is refused.
        architecture = json.loads((logdir / "architecture.json").read_text())
        architecture["observation_space"]["dict"]["image"]["shape"] = [64, 64, 3]
        (logdir / "architecture.json").write_text(json.dumps(architecture))
        refused = PIXELS_96.run(logdir, "--eval_only")
        assert refused.returncode != 0
        last = refused.stderr.strip().splitlines()[-1]
        assert last.startswith("error: The environment's observation space"), last


def test_a_run_refuses_a_layer_it_cannot_find(tmp_path):
    logdir = tmp_path / "run"
    run_custom(CATEGORICAL, "categorical", logdir, "--steps=200")
    text = recorded_classes(logdir).replace(
        "dreamer_tf_tests>CategoricalRSSMCell", "dreamer_tf_tests>Missing"
    )
    (logdir / "architecture.json").write_text(text)
    result = CATEGORICAL.run(logdir, "--eval_only")
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "dreamer_tf_tests>Missing" in last and "not registered" in last, last
