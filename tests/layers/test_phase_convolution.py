"""The phase layers against the definitions of strided and transposed convolutions."""

import keras
import numpy as np
import tensorflow as tf

from dreamer_tf.layers.phase_convolution import PhaseConv2D, PhaseConv2DTranspose


def transposed_convolution(inputs, kernel, bias):
    """Stride-2 VALID transposed convolution by its definition, in numpy.

    Every input pixel scatters ``kernel * value`` into the output window that
    starts at twice its position.
    """
    batch, height, width, _ = inputs.shape
    size, _, filters, _ = kernel.shape
    outputs = np.zeros(
        (batch, 2 * (height - 1) + size, 2 * (width - 1) + size, filters)
    )
    for row in range(height):
        for column in range(width):
            window = np.einsum("bc,hwfc->bhwf", inputs[:, row, column], kernel)
            outputs[:, 2 * row : 2 * row + size, 2 * column : 2 * column + size] += (
                window
            )
    return outputs + bias


def strided_convolution(inputs, kernel, bias):
    """Stride-2 VALID convolution by its definition, in numpy."""
    batch, height, width, _ = inputs.shape
    size, _, _, filters = kernel.shape
    rows, columns = (height - size) // 2 + 1, (width - size) // 2 + 1
    outputs = np.zeros((batch, rows, columns, filters))
    for row in range(rows):
        for column in range(columns):
            window = inputs[:, 2 * row : 2 * row + size, 2 * column : 2 * column + size]
            outputs[:, row, column] = np.einsum("bhwc,hwcf->bf", window, kernel)
    return outputs + bias


def gradients_of(layer, inputs):
    """Gradients of a nonlinear loss of ``layer(inputs)``: inputs, then weights."""
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs = layer(inputs)
        loss = tf.reduce_sum(outputs * tf.sin(outputs))
    return tape.gradient(loss, [inputs, *layer.trainable_variables])


class PhaseLayerChecks:
    """Checks of a phase layer against its definition and its Keras twin.

    A ``tf.test.TestCase`` subclass names the layer, the Keras layer it
    equals, the numpy definition and the ``(kernel, height, width)`` cases.
    """

    layer_class = None
    keras_class = None
    definition = None
    definition_cases = ()
    gradient_cases = ()
    unknown_size_case = ()
    whole_output_case = ()
    refused_geometries = ()

    def layer_and_inputs(self, size, height, width, channels=3, filters=4):
        rng = np.random.default_rng(size * 100 + height * 10 + width)
        layer = self.layer_class(filters, size, activation=None)
        layer.build((None, height, width, channels))
        layer.kernel.assign(rng.normal(size=layer.kernel.shape) / size)
        layer.bias.assign(rng.normal(size=layer.bias.shape))
        inputs = rng.normal(size=(2, height, width, channels)).astype(np.float32)
        return layer, inputs

    def test_equals_the_definition(self):
        for size, height, width in self.definition_cases:
            with self.subTest(kernel=size, height=height, width=width):
                layer, inputs = self.layer_and_inputs(size, height, width)
                expected = type(self).definition(
                    inputs.astype(np.float64),
                    layer.kernel.numpy().astype(np.float64),
                    layer.bias.numpy().astype(np.float64),
                )
                actual = layer(inputs).numpy()
                self.assertEqual(actual.shape, expected.shape)
                self.assertAllClose(actual, expected, rtol=1e-5, atol=1e-5)

    def test_gradients_equal_the_keras_layer(self):
        for size, height, width in self.gradient_cases:
            with self.subTest(kernel=size, height=height, width=width):
                layer, inputs = self.layer_and_inputs(size, height, width)
                reference = self.keras_class(4, size, strides=2)
                reference.build(inputs.shape)
                reference.set_weights(layer.get_weights())
                inputs = tf.constant(inputs)
                for actual, expected in zip(
                    gradients_of(layer, inputs), gradients_of(reference, inputs)
                ):
                    self.assertAllClose(actual, expected, rtol=1e-4, atol=1e-4)

    def test_refuses_other_geometry(self):
        for kwargs in self.refused_geometries:
            with (
                self.subTest(**kwargs),
                self.assertRaisesRegex(ValueError, "strides 2"),
            ):
                self.layer_class(4, **kwargs)

    def test_no_crop_where_the_output_is_whole(self):
        # A crop that keeps everything would still copy the activations in
        # the backward pass.
        layer, inputs = self.layer_and_inputs(*self.whole_output_case)
        graph = tf.function(layer).get_concrete_function(inputs).graph
        crops = [
            op
            for op in graph.get_operations()
            if op.type == "StridedSlice" and op.inputs[0].shape.rank == 4
        ]
        self.assertEmpty(crops)
        self.assertEqual(graph.outputs[0].shape, layer(inputs).shape)

    def test_unknown_spatial_size(self):
        layer, inputs = self.layer_and_inputs(*self.unknown_size_case)
        function = tf.function(
            layer, input_signature=[tf.TensorSpec([None, None, None, 3])]
        )
        self.assertAllClose(function(inputs), layer(inputs), rtol=1e-5, atol=1e-5)


class PhaseConv2DTest(PhaseLayerChecks, tf.test.TestCase):
    layer_class = PhaseConv2D
    keras_class = keras.layers.Conv2D
    definition = staticmethod(strided_convolution)
    definition_cases = tuple(
        (size, height, width)
        for size in (2, 3, 4, 5)
        for height, width in ((size, size), (8, 9), (31, 31), (64, 64))
    )
    gradient_cases = ((4, 64, 64), (4, 31, 31), (3, 9, 9))
    unknown_size_case = (4, 9, 8)
    whole_output_case = (4, 64, 64)
    refused_geometries = (
        {"kernel_size": 4, "strides": 1},
        {"kernel_size": 4, "padding": "same"},
        {"kernel_size": (4, 3)},
    )


class PhaseConv2DTransposeTest(PhaseLayerChecks, tf.test.TestCase):
    layer_class = PhaseConv2DTranspose
    keras_class = keras.layers.Conv2DTranspose
    definition = staticmethod(transposed_convolution)
    definition_cases = tuple(
        (size, height, width)
        for size in (2, 3, 4, 5, 6)
        for height, width in ((1, 1), (2, 3), (5, 5), (4, 7))
    )
    gradient_cases = ((5, 1, 1), (5, 5, 5), (6, 13, 13))
    unknown_size_case = (5, 3, 4)
    whole_output_case = (6, 30, 30)
    refused_geometries = (
        {"kernel_size": 5, "strides": 1},
        {"kernel_size": 5, "padding": "same"},
        {"kernel_size": 5, "output_padding": 1},
    )

    def test_bfloat16_compute(self):
        layer, inputs = self.layer_and_inputs(6, 4, 4)
        expected = layer(inputs).numpy()
        layer.dtype_policy = keras.DTypePolicy("mixed_bfloat16")
        outputs = layer(tf.cast(inputs, tf.bfloat16))
        self.assertEqual(outputs.dtype, tf.bfloat16)
        self.assertAllClose(tf.cast(outputs, tf.float32), expected, rtol=0.05, atol=0.1)

    def test_config_round_trip(self):
        layer = PhaseConv2DTranspose(4, 5, activation="relu")
        clone = PhaseConv2DTranspose.from_config(layer.get_config())
        self.assertEqual(clone.kernel_size, (5, 5))
        self.assertEqual(clone.strides, (2, 2))


if __name__ == "__main__":
    tf.test.main()
