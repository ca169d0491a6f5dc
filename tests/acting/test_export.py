"""The exported SavedModel policy: TensorFlow-only loading, state feedback, inputs."""

import os
import stat
import subprocess
import sys
import textwrap

import gymnasium as gym
import keras
import numpy as np
import pytest
import tensorflow as tf
from support.tiny import pixel_spaces, tiny_config

from dreamer_tf.acting.export import export_policy
from dreamer_tf.agent import Dreamer

BATCH = 2
STEPS = 4

# Runs in a fresh interpreter that cannot import dreamer_tf: it loads each
# export, runs it for STEPS steps on random images feeding the returned state
# back (row 1 starts a new episode at step 2), and saves every step's inputs
# and outputs for the test process to check.
LOADER = textwrap.dedent(
    """
    import sys


    class BlockDreamerTf:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "dreamer_tf":
                raise ImportError("the exported policy must not need dreamer_tf")
            return None


    sys.meta_path.insert(0, BlockDreamerTf())
    import numpy as np
    import tensorflow as tf

    batch, steps, output = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    rng = np.random.default_rng(0)
    results = {}
    for name, directory in zip(sys.argv[4::2], sys.argv[5::2]):
        policy = tf.saved_model.load(directory)
        step = policy.signatures["serving_default"]
        state = {k: v.numpy() for k, v in policy.initial_state(batch).items()}
        for t in range(steps):
            image = rng.integers(0, 256, (batch, 64, 64, 3), dtype=np.uint8)
            is_first = np.array([t == 0, t in (0, 2)])
            inputs = {"image": image, "is_first": is_first, **state}
            outputs = step(**{k: tf.constant(v) for k, v in inputs.items()})
            outputs = {k: v.numpy() for k, v in outputs.items()}
            for key, value in inputs.items():
                results[f"{name}/{t}/in/{key}"] = value
            for key, value in outputs.items():
                results[f"{name}/{t}/out/{key}"] = value
            state = {k: v for k, v in outputs.items() if k != "action"}
        try:
            step(image=tf.zeros([batch, 32, 32, 3], tf.uint8), is_first=is_first,
                 **{k: tf.constant(v) for k, v in state.items()})
        except (TypeError, ValueError):
            results[f"{name}/rejects_wrong_image_shape"] = np.array(True)
    assert "dreamer_tf" not in sys.modules, "dreamer_tf was imported"
    np.savez(output, **results)
    """
)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """Exports a one-hot and a continuous tiny agent, runs both in a subprocess."""
    root = tmp_path_factory.mktemp("export")
    agents = {}
    for name, one_hot in (("onehot", True), ("continuous", False)):
        keras.utils.set_random_seed(0)
        agents[name] = Dreamer(tiny_config(), *pixel_spaces(3, one_hot=one_hot))
        export_policy(agents[name], str(root / name))
    output = root / "results.npz"
    arguments = [str(BATCH), str(STEPS), str(output)]
    for name in agents:
        arguments += [name, str(root / name)]
    result = subprocess.run(
        [sys.executable, "-c", LOADER, *arguments],
        check=False,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(output) as results:
        return root, agents, dict(results)


def _expected_step(agent, inputs):
    """One policy step computed in this process from the agent's layers."""
    keep = 1.0 - inputs["is_first"].astype(np.float32)[:, None]
    state = {
        key: tf.constant(inputs[key] * keep)
        for key in ("deter", "stoch", "mean", "std")
    }
    previous_action = tf.constant(inputs["prev_action"] * keep)
    rssm = agent.world_model.rssm
    embed = agent.world_model.embed({"image": tf.constant(inputs["image"])})
    posterior, _ = rssm.posterior_step(state, previous_action, embed)
    return posterior


def _step_data(results, name, t):
    return {
        part: {
            key.rsplit("/", 1)[1]: value
            for key, value in results.items()
            if key.startswith(f"{name}/{t}/{part}/")
        }
        for part in ("in", "out")
    }


@pytest.mark.parametrize("name", ["onehot", "continuous"])
def test_exported_step_matches_agent(exports, name):
    _, agents, results = exports
    agent = agents[name]
    rssm = agent.world_model.rssm
    for t in range(STEPS):
        data = _step_data(results, name, t)
        outputs = data["out"]
        posterior = _expected_step(agent, data["in"])
        # The stochastic state is a sample; all else follows from the inputs.
        for key in ("deter", "mean", "std"):
            np.testing.assert_allclose(outputs[key], posterior[key], atol=1e-5)
        action = outputs["action"]
        assert action.shape == (BATCH, agent.action_size)
        assert np.all(np.abs(action) <= 1.0)
        np.testing.assert_array_equal(outputs["prev_action"], action)
        if name == "onehot":
            latent = {key: tf.constant(outputs[key]) for key in ("stoch", "deter")}
            features = rssm.features(latent)
            mode = agent.actor_critic.policy(features).mode().numpy()
            np.testing.assert_array_equal(action, mode)
            np.testing.assert_array_equal(action.sum(-1), np.ones(BATCH))
    # The recurrent state did carry information forward.
    assert np.abs(results[f"{name}/{STEPS - 1}/out/deter"]).max() > 0


def test_is_first_resets_state(exports):
    _, _, results = exports
    reset_inputs = _step_data(results, "onehot", 2)["in"]
    assert reset_inputs["is_first"].tolist() == [False, True]
    # Row 1 starts over from the zero state: its deter after the step is the
    # deterministic function of the zero state, the same as at step 0.
    first = results["onehot/0/out/deter"][1]
    np.testing.assert_allclose(results["onehot/2/out/deter"][1], first, atol=1e-6)
    assert not np.allclose(results["onehot/3/out/deter"][0], first)


def test_signature_rejects_wrong_image_shape(exports):
    _, _, results = exports
    assert results["onehot/rejects_wrong_image_shape"]


def test_export_replaces_previous_export(exports):
    root, agents, _ = exports
    export_policy(agents["onehot"], str(root / "onehot"))
    assert not [path for path in os.listdir(root) if path.startswith(".")]
    assert tf.saved_model.contains_saved_model(str(root / "onehot"))


def test_the_export_folder_has_a_new_folders_permissions(exports):
    root, _, _ = exports
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(root / "onehot").st_mode) == 0o777 & ~umask


def test_proprio_agent_with_several_vector_keys(tmp_path):
    observation_space = gym.spaces.Dict(
        {
            "position": gym.spaces.Box(-1, 1, (3,), np.float32),
            "velocity": gym.spaces.Box(-1, 1, (2,), np.float32),
        }
    )
    agent = Dreamer(
        tiny_config(observation="proprio"),
        observation_space,
        gym.spaces.Box(-1, 1, (2,), np.float32),
    )
    # Without a space, the export takes the one the agent was built with.
    for space, position_shape in ((observation_space, [None, 3]), (None, [None, 3])):
        export_policy(agent, str(tmp_path / "policy"), space)
        policy = tf.saved_model.load(str(tmp_path / "policy"))
        step = policy.signatures["serving_default"]
        specs = step.structured_input_signature[1]
        assert specs["position"].shape.as_list() == position_shape
        assert "image" not in specs
        outputs = step(
            position=tf.zeros([1, 3]),
            velocity=tf.ones([1, 2]),
            is_first=tf.constant([True]),
            **policy.initial_state(1),
        )
        assert outputs["action"].shape == (1, 2)


def test_bad_arguments_fail_before_tracing(tmp_path):
    agent = Dreamer(tiny_config(), *pixel_spaces(2))
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(FileExistsError, match="is a file"):
        export_policy(agent, str(a_file))
    wrong_space = gym.spaces.Dict({"state": gym.spaces.Box(-1, 1, (3,))})
    with pytest.raises(ValueError, match="no 'image' key"):
        export_policy(agent, str(tmp_path / "policy"), wrong_space)
    assert not (tmp_path / "policy").exists()
