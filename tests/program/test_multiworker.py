"""A learner spread over two hosts: MultiWorkerMirroredStrategy from TF_CONFIG.

Two local worker processes on loopback (127.0.0.1) each hold one replica and
half of a global batch; one process without a strategy takes the whole
batch. Sampling is made noise-free (every Normal sample is its mean), so the
two updates must agree to float tolerance: the same losses and gradient
norms, and the same weights afterwards.
"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from support import TESTS
from support.run_program import free_ports

pytestmark = pytest.mark.program

TIMEOUT_S = 300

SCRIPT = r"""
import json, os, sys
from unittest import mock

import keras, numpy as np, tensorflow as tf, tensorflow_probability as tfp
from support.tiny import pixel_spaces, random_batch, tiny_config

from dreamer_tf.agent import Dreamer

workers = int(sys.argv[1])
output = sys.argv[2]


def noise_free(self, n, seed=None):
    loc = tf.convert_to_tensor(self.loc) + 0.0 * tf.convert_to_tensor(self.scale)
    return tf.broadcast_to(loc, tf.concat([[n], tf.shape(loc)], 0))


strategy = (
    tf.distribute.MultiWorkerMirroredStrategy() if workers > 1
    else tf.distribute.get_strategy()
)
config = tiny_config(batch_size=4)
batch = random_batch(config)
with mock.patch.object(tfp.distributions.Normal, "_sample_n", noise_free):
    keras.utils.set_random_seed(0)
    agent = Dreamer(config, *pixel_spaces(), strategy=strategy)
    if workers > 1:
        index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
        half = config.batch_size // workers
        rows = {
            key: value[index * half:(index + 1) * half] for key, value in batch.items()
        }
        data = strategy.experimental_distribute_values_from_function(
            lambda context: rows
        )
    else:
        data = batch
    metrics = [agent.train(data) for _ in range(2)]
weights = np.concatenate([
    variable.numpy().ravel()
    for part in ("model", "actor", "value")
    for variable in getattr(agent, f"{part}_variables")
])
np.savez(output, weights=weights, **{
    f"{step}/{key}": float(value) for step, values in enumerate(metrics)
    for key, value in values.items()
})
"""


def start(workers: int, output: pathlib.Path, tf_config: dict | None):
    paths = [str(TESTS), os.environ.get("PYTHONPATH")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, paths))}
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(workers), str(output)],
        env=env,
        cwd=TESTS,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process) -> str:
    try:
        text, _ = process.communicate(timeout=TIMEOUT_S)
    finally:
        process.kill()
    assert process.returncode == 0, text[-4000:]
    return text


def test_two_workers_on_loopback_match_one_process(tmp_path):
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    workers = [
        start(
            2,
            tmp_path / f"worker{index}.npz",
            {"cluster": cluster, "task": {"type": "worker", "index": index}},
        )
        for index in range(2)
    ]
    single = start(1, tmp_path / "single.npz", None)
    for process in [*workers, single]:
        finish(process)
    reference = np.load(tmp_path / "single.npz")
    for index in range(2):
        result = np.load(tmp_path / f"worker{index}.npz")
        for key in ("model_loss", "actor_loss", "value_loss", "model_grad_norm"):
            for step in range(2):
                np.testing.assert_allclose(
                    result[f"{step}/{key}"],
                    reference[f"{step}/{key}"],
                    rtol=1e-4,
                    err_msg=f"worker {index}, update {step}, {key}",
                )
        np.testing.assert_allclose(
            result["weights"], reference["weights"], rtol=1e-4, atol=1e-6
        )
