"""The RSSM's GRU cell against the GRU equations and Keras' own cell."""

import keras
import numpy as np
import tensorflow as tf

from dreamer_tf.layers import GRUCell

UNITS, INPUTS, BATCH = 5, 3, 4


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def gru_step(inputs, state, kernel, recurrent_kernel, bias):
    """The ``reset_after`` GRU in numpy: gates ``z, r, h`` in that order."""
    projected = inputs @ kernel + bias[0]
    recurrent = state @ recurrent_kernel + bias[1]
    input_z, input_r, input_h = np.split(projected, 3, -1)
    recurrent_z, recurrent_r, recurrent_h = np.split(recurrent, 3, -1)
    update = sigmoid(input_z + recurrent_z)
    reset = sigmoid(input_r + recurrent_r)
    candidate = np.tanh(input_h + reset * recurrent_h)
    return update * state + (1 - update) * candidate


def cells_and_inputs(seed=0, **kwargs):
    """Our cell and Keras' with the same random weights, and float64 inputs."""
    rng = np.random.default_rng(seed)
    cells = GRUCell(UNITS, **kwargs), keras.layers.GRUCell(UNITS, **kwargs)
    for cell in cells:
        cell.build((None, INPUTS))
    cells[0].set_weights(
        [rng.normal(size=w.shape).astype(np.float32) for w in cells[0].get_weights()]
    )
    cells[1].set_weights(cells[0].get_weights())
    inputs = rng.normal(size=(BATCH, INPUTS))
    state = rng.normal(size=(BATCH, UNITS))
    return cells, inputs, state


def gradients(cell, inputs, state):
    """Gradients of a nonlinear loss: inputs, state, then the weights."""
    inputs, state = tf.cast(inputs, tf.float32), tf.cast(state, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch([inputs, state])
        output, _ = cell(inputs, [state])
        loss = tf.reduce_sum(tf.sin(3 * output))
    return tape.gradient(loss, [inputs, state, *cell.trainable_variables])


class GRUCellTest(tf.test.TestCase):
    def test_equals_the_gru_equations(self):
        (cell, _), inputs, state = cells_and_inputs()
        expected = gru_step(
            inputs, state, *(w.astype(np.float64) for w in cell.get_weights())
        )
        output, new_state = cell(
            tf.constant(inputs, tf.float32), [tf.constant(state, tf.float32)]
        )
        self.assertAllClose(output, expected, rtol=1e-5, atol=1e-5)
        self.assertAllClose(new_state[0], output)

    def test_unnested_state(self):
        (cell, _), inputs, state = cells_and_inputs(seed=1)
        output, new_state = cell(
            tf.constant(inputs, tf.float32), tf.constant(state, tf.float32)
        )
        self.assertIsInstance(new_state, tf.Tensor)
        self.assertAllClose(new_state, output)

    def test_gradients_equal_keras_cell(self):
        cells, inputs, state = cells_and_inputs(seed=2)
        ours, theirs = (gradients(cell, inputs, state) for cell in cells)
        self.assertLen(ours, 5)
        for actual, expected in zip(ours, theirs):
            self.assertAllClose(actual, expected, rtol=1e-5, atol=1e-5)

    def test_backward_pass_copies_no_gate(self):
        (cell, _), inputs, state = cells_and_inputs(seed=3)
        function = tf.function(lambda x, h: gradients(cell, x, h))
        graph = function.get_concrete_function(
            inputs.astype(np.float32), state.astype(np.float32)
        ).graph
        op_types = {op.type for op in graph.get_operations()}
        self.assertNotIn("StridedSliceGrad", op_types)
        self.assertIn("ConcatV2", op_types)

    def test_other_settings_run_keras_code(self):
        for kwargs in ({"reset_after": False}, {"use_bias": False}):
            with self.subTest(**kwargs):
                cells, inputs, state = cells_and_inputs(seed=4, **kwargs)
                ours, theirs = (
                    cell(
                        tf.constant(inputs, tf.float32),
                        [tf.constant(state, tf.float32)],
                    )[0]
                    for cell in cells
                )
                self.assertAllClose(ours, theirs, rtol=1e-6, atol=1e-6)

    def test_bfloat16_compute(self):
        (cell, _), inputs, state = cells_and_inputs(seed=5)
        expected = cell(
            tf.constant(inputs, tf.float32), [tf.constant(state, tf.float32)]
        )[0]
        cell.dtype_policy = keras.DTypePolicy("mixed_bfloat16")
        output, _ = cell(
            tf.constant(inputs, tf.bfloat16), [tf.constant(state, tf.bfloat16)]
        )
        self.assertEqual(output.dtype, tf.bfloat16)
        self.assertAllClose(tf.cast(output, tf.float32), expected, rtol=0.05, atol=0.05)

    def test_config_round_trip(self):
        cell = GRUCell(UNITS, reset_after=True)
        config = keras.saving.serialize_keras_object(cell)
        restored = keras.saving.deserialize_keras_object(config)
        self.assertIsInstance(restored, GRUCell)
        self.assertEqual(restored.units, UNITS)


if __name__ == "__main__":
    tf.test.main()
