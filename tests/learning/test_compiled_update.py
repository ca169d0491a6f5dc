"""The XLA-compiled update gives the same losses and weights as the plain one."""

import numpy as np
import tensorflow as tf
from support.fixed_noise import PARTS, fixed_agent, fixed_batch, fixed_normal_noise
from support.tiny import tiny_config


def trained(jit_compile: bool):
    config = tiny_config(jit_compile=jit_compile, pcont=True, free_nats=0.5)
    agent = fixed_agent(config)
    with fixed_normal_noise():
        steps = [agent.train(fixed_batch(config, seed=step)) for step in range(2)]
    weights = {
        part: [v.numpy() for v in getattr(agent, f"{part}_variables")] for part in PARTS
    }
    return agent, steps, weights


class CompiledUpdateTest(tf.test.TestCase):
    def test_xla_update_equals_the_uncompiled_update(self):
        _, plain_steps, plain_weights = trained(jit_compile=False)
        agent, xla_steps, xla_weights = trained(jit_compile=True)
        self.assertTrue(agent._train_function._jit_compile)
        for plain, compiled in zip(plain_steps, xla_steps):
            self.assertEqual(sorted(plain), sorted(compiled))
            for key, value in plain.items():
                self.assertAllClose(compiled[key], value, rtol=2e-4, atol=1e-5, msg=key)
        for part in PARTS:
            for plain, compiled in zip(plain_weights[part], xla_weights[part]):
                # One Adam step moves a weight by about its learning rate;
                # float differences must stay far below that.
                self.assertAllClose(compiled, plain, rtol=0, atol=1e-6, msg=part)
        self.assertTrue(np.isfinite(float(xla_steps[-1]["model_loss"])))
