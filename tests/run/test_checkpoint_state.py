"""State that must survive a restart, compared by value after save and restore."""

import json

import numpy as np
import tensorflow as tf
from support.fixed_noise import PARTS, fixed_agent, fixed_batch, fixed_normal_noise
from support.tiny import tiny_config

from dreamer_tf.agent import Dreamer
from dreamer_tf.run.schedule import Progress
from dreamer_tf.variable_tree import checkpoint_of, named_variables, restore_variables


def make_agent(seed: int) -> Dreamer:
    return fixed_agent(tiny_config(), seed)


def run_variables(agent: Dreamer, progress: Progress) -> dict:
    """The variables a run checkpoints, by name (as the training program does)."""
    return named_variables({"agent": agent, "progress": progress})


def state_of(agent: Dreamer) -> dict[str, np.ndarray]:
    """Every weight, every optimizer variable and the frame counter, by name."""
    state = {"frames": agent.frames.numpy()}
    for part in PARTS:
        for index, variable in enumerate(getattr(agent, f"{part}_variables")):
            state[f"{part}/weight{index}"] = variable.numpy()
        optimizer = getattr(agent, f"{part}_optimizer")
        for index, variable in enumerate(optimizer.variables):
            state[f"{part}/optimizer{index}"] = np.asarray(variable.numpy())
    return state


class CheckpointStateTest(tf.test.TestCase):
    def setUp(self):
        super().setUp()
        self.trained = make_agent(seed=0)
        config = self.trained.config
        with fixed_normal_noise():
            for step in range(2):
                self.trained.train(fixed_batch(config, seed=step))
        self.trained.frames.assign(1234)
        self.progress = Progress()
        self.progress.updates.assign(2)
        self.progress.pretrained.assign(True)
        self.progress.last_train.assign(1000)
        self.progress.last_eval.assign(800)
        self.progress.last_log.assign(1200)
        rng = np.random.default_rng(5)
        rng.normal(size=7)
        self.rng_state = json.dumps(rng.bit_generator.state)
        self.progress.rng_state.assign(self.rng_state)
        checkpoint = checkpoint_of(run_variables(self.trained, self.progress))
        self.path = checkpoint.save(self.get_temp_dir() + "/ckpt")

    def _restored(self):
        agent, progress = make_agent(seed=10), Progress()
        restore_variables(run_variables(agent, progress), self.path)
        return agent, progress

    def test_weights_optimizer_moments_and_counters_survive(self):
        restored, progress = self._restored()
        expected, actual = state_of(self.trained), state_of(restored)
        self.assertEqual(sorted(actual), sorted(expected))
        for key, value in expected.items():
            self.assertAllEqual(actual[key], value, msg=key)
        for part in PARTS:
            optimizer = getattr(restored, f"{part}_optimizer")
            self.assertEqual(int(optimizer.iterations.numpy()), 2, part)
        for name in ("updates", "pretrained", "last_train", "last_eval", "last_log"):
            self.assertAllEqual(
                getattr(progress, name), getattr(self.progress, name), msg=name
            )
        rng = np.random.default_rng(0)
        rng.bit_generator.state = json.loads(progress.rng_state.numpy().decode())
        expected_rng = np.random.default_rng(0)
        expected_rng.bit_generator.state = json.loads(self.rng_state)
        self.assertAllEqual(rng.normal(size=3), expected_rng.normal(size=3))

    def test_restored_agent_continues_the_same_update(self):
        restored, _ = self._restored()
        batch = fixed_batch(self.trained.config, seed=2)
        with fixed_normal_noise():
            expected = self.trained.train(batch)
            actual = restored.train(batch)
        for key, value in expected.items():
            self.assertAllClose(actual[key], value, rtol=1e-6, msg=key)
        expected, actual = state_of(self.trained), state_of(restored)
        for key, value in expected.items():
            self.assertAllClose(actual[key], value, rtol=1e-6, atol=1e-7, msg=key)
