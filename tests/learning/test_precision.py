"""Precision that fits the hardware, and float16 loss scaling (numerics on CPU)."""

import pathlib
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf
from support.fixed_noise import PARTS, fixed_agent, fixed_batch, fixed_normal_noise
from support.tiny import tiny_config

from dreamer_tf import agent as agent_module
from dreamer_tf.agent import Dreamer
from dreamer_tf.config import DreamerConfig
from dreamer_tf.learning.loss_scale import DynamicLossScale
from dreamer_tf.learning.precision import (
    compute_policy,
    cpu_flags,
    cpu_has_native_bfloat16,
    describe_policy,
)


class ComputePolicyTest(tf.test.TestCase):
    def test_table(self):
        self.assertEqual(compute_policy(32, [], False), "float32")
        self.assertEqual(compute_policy(32, [(7, 0)], True), "float32")
        self.assertEqual(compute_policy(16, [(7, 5)], False), "mixed_float16")
        self.assertEqual(compute_policy(16, [(8, 6)], False), "mixed_bfloat16")
        self.assertEqual(compute_policy(16, [(8, 0), (7, 0)], True), "mixed_float16")
        self.assertEqual(compute_policy(16, [], True), "mixed_bfloat16")

    def test_auto_is_sixteen_where_native_and_thirty_two_elsewhere(self):
        self.assertEqual(compute_policy("auto", [], False), "float32")
        self.assertEqual(compute_policy("auto", [], True), "mixed_bfloat16")
        self.assertEqual(compute_policy("auto", [(7, 5)], False), "mixed_float16")
        self.assertEqual(compute_policy("auto", [(9, 0)], False), "mixed_bfloat16")
        self.assertEqual(compute_policy("16", [], True), compute_policy(16, [], True))

    def test_the_start_of_a_run_says_what_auto_chose_and_why(self):
        self.assertEqual(
            describe_policy("float32", "auto"),
            "float32 (--precision=auto: no native 16-bit compute here)",
        )
        self.assertEqual(
            describe_policy("mixed_bfloat16", "auto"),
            "bfloat16 compute, float32 weights "
            "(--precision=auto: native 16-bit compute here)",
        )
        self.assertEqual(describe_policy("float32", "32"), "float32 (--precision=32)")
        self.assertIn("loss scaling", describe_policy("mixed_float16", "16"))

    def test_config_keeps_precision_as_text_and_reads_saved_numbers(self):
        self.assertEqual(DreamerConfig().precision, "32")
        self.assertEqual(DreamerConfig(precision=16).precision, "16")
        self.assertEqual(DreamerConfig.from_dict({"precision": 32}).precision, "32")
        self.assertEqual(DreamerConfig(precision="auto").precision, "auto")
        with pytest.raises(ValueError, match="precision must be one of 32, 16, auto"):
            DreamerConfig(precision="8")

    def test_cpu_without_bfloat16_is_refused_in_one_line(self):
        with pytest.raises(ValueError, match=r"^precision=16 .*--precision=32\.$"):
            compute_policy(16, [], False)

    def _cpuinfo(self, name: str, text: str) -> str:
        path = pathlib.Path(self.get_temp_dir()) / name
        path.write_text(text)
        return str(path)

    def test_cpu_flags(self):
        x86 = self._cpuinfo(
            "x86",
            "processor\t: 0\nflags\t\t: fpu avx2 avx512_bf16\n"
            "processor\t: 1\nflags\t\t: fpu avx2 avx512_bf16\n",
        )
        self.assertIn("avx512_bf16", cpu_flags(x86))
        self.assertTrue(cpu_has_native_bfloat16(cpu_flags(x86)))
        arm = self._cpuinfo("arm", "Features\t: fp asimd sve\n")
        self.assertFalse(cpu_has_native_bfloat16(cpu_flags(arm)))
        self.assertEqual(cpu_flags("/nonexistent/cpuinfo"), frozenset())


class DynamicLossScaleTest(tf.test.TestCase):
    def test_halves_on_overflow_and_doubles_when_stable(self):
        loss_scale = DynamicLossScale(initial_scale=8.0, growth_steps=3)
        loss_scale.update(tf.constant(False))
        self.assertEqual(float(loss_scale.scale), 4.0)
        for _ in range(2):
            loss_scale.update(tf.constant(True))
        self.assertEqual(float(loss_scale.scale), 4.0)
        loss_scale.update(tf.constant(True))
        self.assertEqual(float(loss_scale.scale), 8.0)
        self.assertEqual(int(loss_scale.finite_steps), 0)

    def test_gradients_are_unscaled(self):
        variable = tf.Variable([1.0, -2.0])
        with tf.GradientTape(persistent=True) as tape:
            loss = tf.reduce_sum(variable**2)
        expected = tape.gradient(loss, [variable])
        actual = DynamicLossScale(initial_scale=1024.0).gradients(
            tape, loss, [variable]
        )
        self.assertAllClose(actual, expected)


def make_agent(gpus=(), cpu_bfloat16=False, **changes) -> Dreamer:
    with (
        mock.patch.object(agent_module, "_gpu_capabilities", return_value=list(gpus)),
        mock.patch.object(
            agent_module, "cpu_has_native_bfloat16", return_value=cpu_bfloat16
        ),
    ):
        return fixed_agent(tiny_config(**changes))


class SixteenBitUpdateTest(tf.test.TestCase):
    """The 16-bit paths run here on the CPU: numerics only, not speed."""

    def _train(self, agent):
        with fixed_normal_noise():
            return agent.train(fixed_batch(agent.config))

    def test_cpu_without_bfloat16_refuses_precision_16(self):
        with pytest.raises(ValueError, match="--precision=32"):
            make_agent(precision=16)

    def test_float16_with_loss_scaling_matches_float32(self):
        reference = self._train(make_agent())
        agent = make_agent(gpus=[(7, 0)], precision=16)
        self.assertEqual(agent.dtype_policy, "mixed_float16")
        # The first scale (2**15) may overflow float16 gradients: those steps
        # are skipped (weights untouched) and the scale halves until it fits.
        for skipped in range(20):
            metrics = self._train(agent)
            if float(metrics["update_skipped"]) == 0.0:
                break
        self.assertEqual(float(metrics["update_skipped"]), 0.0)
        for key in ("model_loss", "actor_loss", "value_loss"):
            self.assertAllClose(metrics[key], reference[key], rtol=0.02, msg=key)
        for part in PARTS:
            halvings = np.log2(2.0**15 / float(metrics[f"{part}_loss_scale"]))
            self.assertBetween(halvings, 0, skipped)
            self.assertEqual(halvings, round(halvings))
            variable = getattr(agent, f"{part}_variables")[0]
            self.assertEqual(variable.dtype, tf.float32)
            self.assertEqual(int(getattr(agent, f"{part}_optimizer").iterations), 1)

    def test_float16_overflow_skips_the_update_and_halves_the_scale(self):
        agent = make_agent(gpus=[(7, 0)], precision=16)
        agent.loss_scales["model"].scale.assign(3e38)
        before = [v.numpy() for v in agent.model_variables]
        metrics = self._train(agent)
        self.assertEqual(float(metrics["update_skipped"]), 1.0)
        self.assertAllClose(float(metrics["model_loss_scale"]), 1.5e38, rtol=1e-6)
        self.assertEqual(float(metrics["actor_loss_scale"]), 2.0**15)
        for old, new in zip(before, agent.model_variables):
            self.assertAllEqual(old, new.numpy())

    def test_auto_trains_in_float32_on_a_cpu_without_bfloat16(self):
        self.assertEqual(make_agent(precision="auto").dtype_policy, "float32")
        agent = make_agent(cpu_bfloat16=True, precision="auto")
        self.assertEqual(agent.dtype_policy, "mixed_bfloat16")

    def test_bfloat16_on_a_cpu_that_has_it(self):
        reference = self._train(make_agent())
        agent = make_agent(cpu_bfloat16=True, precision=16)
        self.assertEqual(agent.dtype_policy, "mixed_bfloat16")
        self.assertEqual(agent.loss_scales, {})
        metrics = self._train(agent)
        self.assertEqual(float(metrics["update_skipped"]), 0.0)
        self.assertAllClose(metrics["model_loss"], reference["model_loss"], rtol=0.02)
        self.assertTrue(np.isfinite(float(metrics["actor_loss"])))
