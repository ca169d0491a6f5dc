"""Shapes, parameter counts and serialisation of the Keras layers."""

import keras
import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from dreamer_tf.layers import (
    ContinueHead,
    ConvDecoder,
    ConvEncoder,
    DenseHead,
    MLPEncoder,
    OneHotActor,
    RewardHead,
    RSSMCell,
    TanhNormalActor,
    ValueHead,
)

BATCH_SHAPES = ((3,), (2, 3))


def count(layer: keras.layers.Layer) -> int:
    return sum(int(np.prod(weight.shape)) for weight in layer.weights)


def round_trip(layer: keras.layers.Layer) -> keras.layers.Layer:
    config = keras.saving.serialize_keras_object(layer)
    return keras.saving.deserialize_keras_object(config)


def copy_weights(source: keras.layers.Layer, target: keras.layers.Layer) -> None:
    target.set_weights(source.get_weights())


class LayerShapesTest(tf.test.TestCase, parameterized.TestCase):
    @parameterized.parameters(*BATCH_SHAPES)
    def test_conv_encoder(self, *batch):
        embed = ConvEncoder(depth=4)(tf.zeros([*batch, 64, 64, 3]))
        self.assertEqual(embed.shape, (*batch, 32 * 4))

    @parameterized.parameters(*BATCH_SHAPES)
    def test_conv_decoder(self, *batch):
        distribution = ConvDecoder(depth=4)(tf.zeros([*batch, 20]))
        self.assertEqual(distribution.mean().shape, (*batch, 64, 64, 3))
        self.assertEqual(
            distribution.log_prob(tf.zeros([*batch, 64, 64, 3])).shape, batch
        )

    def test_conv_decoder_rejects_unreachable_shape(self):
        with self.assertRaisesRegex(ValueError, "image_shape"):
            ConvDecoder(depth=4, image_shape=(32, 32, 3))(tf.zeros([2, 20]))

    @parameterized.parameters(*BATCH_SHAPES)
    def test_mlp_encoder(self, *batch):
        self.assertEqual(MLPEncoder(16)(tf.zeros([*batch, 5])).shape, (*batch, 16))

    @parameterized.parameters(*BATCH_SHAPES)
    def test_heads(self, *batch):
        features = tf.zeros([*batch, 10])
        for head in (ValueHead(units=8), RewardHead(units=8), ContinueHead(units=8)):
            distribution = head(features)
            self.assertEqual(distribution.mean().shape, batch)
            self.assertEqual(distribution.log_prob(tf.zeros(batch)).shape, batch)
        vector = DenseHead((4,), num_layers=1, units=8)(features)
        self.assertEqual(vector.mean().shape, (*batch, 4))

    def test_dense_stacks_multiply_matrices_on_any_batch_shape(self):
        # On [time, batch, features] Keras' Dense would run a tensordot, whose
        # reshapes keep TensorFlow from fusing matmul, bias and activation.
        features = tf.zeros([3, 5, 10])
        layers = (ValueHead(units=8), TanhNormalActor(2, units=8), OneHotActor(3))
        for layer in layers:
            with self.subTest(layer=type(layer).__name__):
                function = tf.function(lambda x, layer=layer: layer(x).mean())
                graph = function.get_concrete_function(features).graph
                names = [op.name for op in graph.get_operations()]
                self.assertEmpty([name for name in names if "Tensordot" in name])
                matmuls = [op for op in graph.get_operations() if op.type == "MatMul"]
                self.assertNotEmpty(matmuls)
                for op in matmuls:
                    self.assertEqual(op.inputs[0].shape.rank, 2)

    def test_continue_head_accepts_soft_labels(self):
        head = ContinueHead(units=8)
        log_prob = head(tf.zeros([3, 10])).log_prob(tf.fill([3], 0.99))
        self.assertAllEqual(tf.math.is_finite(log_prob), [True] * 3)

    def test_head_rejects_unknown_distribution(self):
        with self.assertRaisesRegex(ValueError, "distribution"):
            DenseHead(distribution="poisson")

    @parameterized.parameters(*BATCH_SHAPES)
    def test_actors(self, *batch):
        features = tf.zeros([*batch, 10])
        tanh_normal = TanhNormalActor(3, units=8)(features)
        for action in (tanh_normal.sample(), tanh_normal.mode(), tanh_normal.mean()):
            self.assertEqual(action.shape, (*batch, 3))
        self.assertEqual(tanh_normal.entropy().shape, batch)
        one_hot = OneHotActor(4, units=8)(features)
        self.assertEqual(one_hot.sample().shape, (*batch, 4))
        self.assertEqual(one_hot.mode().shape, (*batch, 4))

    def test_actor_initial_std(self):
        actor = TanhNormalActor(2, units=8, init_std=5.0)
        actor(tf.zeros([1, 10]))
        actor.output_layer.kernel.assign(tf.zeros_like(actor.output_layer.kernel))
        std = actor(tf.ones([1, 10])).distribution.distribution.distribution.stddev()
        self.assertAllClose(std, tf.fill([1, 2], 5.0 + 1e-4))

    @parameterized.parameters(*BATCH_SHAPES)
    def test_rssm_steps(self, *batch):
        cell = RSSMCell(stoch_size=4, deter_size=6, hidden_size=8)
        state = {
            key: tf.zeros([*batch, value.shape[-1]])
            for key, value in cell.initial_state(1).items()
        }
        prior = cell(state, tf.zeros([*batch, 2]))
        posterior, prior = cell(state, tf.zeros([*batch, 2]), tf.zeros([*batch, 5]))
        for step in (prior, posterior):
            self.assertEqual(step["stoch"].shape, (*batch, 4))
            self.assertEqual(step["deter"].shape, (*batch, 6))
            self.assertAllGreaterEqual(step["std"], 0.1)
        self.assertAllEqual(posterior["deter"], prior["deter"])
        self.assertEqual(cell.features(posterior).shape, (*batch, 10))

    def test_rssm_observe_and_imagine_under_xla(self):
        cell = RSSMCell(stoch_size=4, deter_size=6, hidden_size=8)

        @tf.function(jit_compile=True)
        def rollout(embed, action):
            posterior, prior = cell.observe(embed, action)
            last = {key: value[:, -1] for key, value in posterior.items()}
            return posterior, prior, cell.imagine(action, last)

        posterior, prior, imagined = rollout(tf.zeros([2, 5, 7]), tf.zeros([2, 5, 3]))
        for states in (posterior, prior, imagined):
            self.assertEqual(states["stoch"].shape, (2, 5, 4))
            self.assertEqual(states["deter"].shape, (2, 5, 6))

    def test_observe_carries_state_through_time(self):
        cell = RSSMCell(stoch_size=4, deter_size=6, hidden_size=8)
        embed = tf.random.normal([1, 3, 7])
        action = tf.random.normal([1, 3, 2])
        posterior, _ = cell.observe(embed, action)
        # Recompute the second prior by hand from the first posterior.
        first = {key: value[:, 0] for key, value in posterior.items()}
        second_prior = cell.prior_step(first, action[:, 1])
        self.assertAllClose(second_prior["deter"], posterior["deter"][:, 1], atol=1e-5)


class ParameterCountTest(tf.test.TestCase):
    """The paper's code at its defaults, 6-dim actions, 64x64x3 images."""

    def test_world_model_actor_value(self):
        features = tf.zeros([1, 230])
        encoder, decoder, reward = ConvEncoder(), ConvDecoder(), RewardHead()
        rssm = RSSMCell()
        rssm.observe(encoder(tf.zeros([1, 1, 64, 64, 3])), tf.zeros([1, 1, 6]))
        decoder(features)
        reward(features)
        actor, value = TanhNormalActor(6), ValueHead()
        actor(features)
        value(features)
        world_model = sum(count(layer) for layer in (encoder, rssm, decoder, reward))
        self.assertEqual(world_model, 5_296_820)
        self.assertEqual(count(actor), 578_412)
        self.assertEqual(count(value), 413_601)


class SerializationTest(tf.test.TestCase, parameterized.TestCase):
    @parameterized.named_parameters(
        ("conv_encoder", lambda: ConvEncoder(depth=4), [2, 64, 64, 3]),
        ("mlp_encoder", lambda: MLPEncoder(8, 3), [2, 5]),
        ("conv_decoder", lambda: ConvDecoder(depth=4), [2, 10]),
        ("dense_head", lambda: DenseHead((3,), 2, 8), [2, 10]),
        ("value_head", lambda: ValueHead(units=8), [2, 10]),
        ("reward_head", lambda: RewardHead(units=8), [2, 10]),
        ("continue_head", lambda: ContinueHead(units=8), [2, 10]),
        ("one_hot_actor", lambda: OneHotActor(4, units=8), [2, 10]),
    )
    def test_round_trip_reproduces_outputs(self, make_layer, input_shape):
        layer = make_layer()
        inputs = tf.random.normal(input_shape)
        expected = _deterministic_output(layer(inputs))
        restored = round_trip(layer)
        self.assertIsInstance(restored, type(layer))
        self.assertEqual(restored.get_config(), layer.get_config())
        restored(inputs)
        copy_weights(layer, restored)
        self.assertAllClose(_deterministic_output(restored(inputs)), expected)

    def test_tanh_normal_actor_round_trip(self):
        layer = TanhNormalActor(3, units=8, init_std=2.0, mean_scale=4.0)
        inputs = tf.random.normal([2, 10])
        expected = layer(inputs).log_prob(tf.fill([2, 3], 0.5))
        restored = round_trip(layer)
        restored(inputs)
        copy_weights(layer, restored)
        self.assertAllClose(restored(inputs).log_prob(tf.fill([2, 3], 0.5)), expected)

    def test_rssm_round_trip(self):
        cell = RSSMCell(stoch_size=4, deter_size=6, hidden_size=8, min_std=0.2)
        state = cell.initial_state(2)
        expected = cell(state, tf.ones([2, 3]))
        restored = round_trip(cell)
        restored(state, tf.ones([2, 3]))
        copy_weights(cell, restored)
        actual = restored(state, tf.ones([2, 3]))
        for key in ("mean", "std", "deter"):
            self.assertAllClose(actual[key], expected[key])


def _deterministic_output(output):
    if isinstance(output, tf.Tensor):
        return output
    return output.mean()
