"""The update's guards: gradient clipping per optimizer, skipping non-finite steps."""

import numpy as np
import tensorflow as tf
from support.fixed_noise import PARTS, fixed_agent, fixed_batch, fixed_normal_noise
from support.tiny import tiny_config

from dreamer_tf.agent import Dreamer


def make_agent(**changes) -> Dreamer:
    return fixed_agent(tiny_config(**changes))


def snapshot(agent: Dreamer) -> dict[str, list[np.ndarray]]:
    """Weights and optimizer state (moments and iterations) of every part."""
    state = {}
    for part in PARTS:
        optimizer = getattr(agent, f"{part}_optimizer")
        state[f"{part}_weights"] = [
            v.numpy() for v in getattr(agent, f"{part}_variables")
        ]
        state[f"{part}_optimizer"] = [v.numpy() for v in optimizer.variables]
    return state


def largest_change(before, after) -> float:
    return max(float(np.max(np.abs(a - b))) for a, b in zip(after, before))


class GradientClippingTest(tf.test.TestCase):
    """Each optimizer's step is clipped to ``grad_clip`` in global norm.

    Adam's first step is ``lr * g / (|g| + eps)``, nearly independent of the
    gradient's scale; a clip far below ``eps`` makes every step tiny, which
    shows that each part's gradient went through the clip.
    """

    def _changes(self, grad_clip: float) -> dict[str, float]:
        agent = make_agent(grad_clip=grad_clip)
        before = snapshot(agent)
        with fixed_normal_noise():
            metrics = agent.train(fixed_batch(agent.config))
        after = snapshot(agent)
        changes = {
            part: largest_change(before[f"{part}_weights"], after[f"{part}_weights"])
            for part in PARTS
        }
        return changes, metrics

    def test_every_part_is_clipped(self):
        config = tiny_config()
        unclipped, metrics = self._changes(grad_clip=1e6)
        clipped, clipped_metrics = self._changes(grad_clip=1e-12)
        for part in PARTS:
            rate = getattr(config, f"{part}_lr")
            self.assertGreater(unclipped[part], 0.5 * rate, part)
            self.assertLess(clipped[part], 0.02 * rate, part)
            # The reported norm is the gradient's before clipping.
            self.assertAllClose(
                clipped_metrics[f"{part}_grad_norm"],
                metrics[f"{part}_grad_norm"],
                rtol=1e-4,
            )


class NonFiniteUpdateTest(tf.test.TestCase):
    def test_nan_in_batch_skips_the_whole_update(self):
        agent = make_agent()
        batch = fixed_batch(agent.config)
        batch["reward"][1, 2] = np.nan
        before = snapshot(agent)
        metrics = agent.train(batch)
        self.assertEqual(float(metrics["update_skipped"]), 1.0)
        after = snapshot(agent)
        for key in before:
            for old, new in zip(before[key], after[key]):
                self.assertAllEqual(old, new, msg=key)
        self.assertEqual(int(agent.model_optimizer.iterations.numpy()), 0)

    def test_finite_update_after_a_skipped_one_is_applied(self):
        agent = make_agent()
        batch = fixed_batch(agent.config)
        poisoned = {key: value.copy() for key, value in batch.items()}
        poisoned["action"][0, 0, 0] = np.inf
        self.assertEqual(float(agent.train(poisoned)["update_skipped"]), 1.0)
        before = snapshot(agent)
        metrics = agent.train(batch)
        self.assertEqual(float(metrics["update_skipped"]), 0.0)
        after = snapshot(agent)
        for part in PARTS:
            self.assertGreater(
                largest_change(before[f"{part}_weights"], after[f"{part}_weights"]),
                0.0,
                part,
            )
            iterations = getattr(agent, f"{part}_optimizer").iterations
            self.assertEqual(int(iterations.numpy()), 1, part)


class WorkPerUpdateTest(tf.test.TestCase):
    def test_value_model_runs_once_per_update(self):
        agent = make_agent()
        value_head = agent.actor_critic.value
        calls = []
        original = value_head.call

        def counting_call(*args, **kwargs):
            calls.append(1)
            return original(*args, **kwargs)

        value_head.call = counting_call
        try:
            agent.train(fixed_batch(agent.config))
        finally:
            value_head.call = original
        # Counted while the update is traced: one pass over imagined states
        # serves both the targets and the value loss.
        self.assertLen(calls, 1)
