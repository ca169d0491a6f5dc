"""Variables named by where they live: complete, stable across processes, strict."""

import keras
import numpy as np
import tensorflow as tf
from support.tiny import pixel_spaces, tiny_config

from dreamer_tf.agent import Dreamer
from dreamer_tf.variable_tree import (
    checkpoint_of,
    named_variables,
    restore_variables,
)


class Stack(keras.layers.Layer):
    """A user layer holding its sublayers in a list, and one batch norm."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = [keras.layers.Dense(3), keras.layers.Dense(2)]
        self.norm = keras.layers.BatchNormalization()

    def call(self, inputs, training=False):
        for layer in self.hidden:
            inputs = layer(inputs)
        return self.norm(inputs, training=training)


def built_stack() -> Stack:
    stack = Stack()
    stack(np.zeros((1, 4), np.float32))
    return stack


class NamedVariablesTest(tf.test.TestCase):
    def test_list_held_layers_are_named_by_attribute_and_index(self):
        names = sorted(named_variables(built_stack(), "stack"))
        self.assertEqual(
            names,
            [
                "stack/hidden/0/bias",
                "stack/hidden/0/kernel",
                "stack/hidden/1/bias",
                "stack/hidden/1/kernel",
                "stack/norm/beta",
                "stack/norm/gamma",
                "stack/norm/moving_mean",
                "stack/norm/moving_variance",
            ],
        )

    def test_every_variable_of_the_agent_is_named_once(self):
        agent = Dreamer(tiny_config(), *pixel_spaces())
        named = named_variables(agent)
        expected = [
            *agent.world_model.variables,
            *agent.actor_critic.variables,
            *agent.model_optimizer.variables,
            *agent.actor_optimizer.variables,
            *agent.value_optimizer.variables,
            agent.frames,
        ]
        self.assertCountEqual([id(v) for v in named.values()], map(id, expected))
        self.assertIn("world_model/encoder/convolutions/3/kernel", named)
        self.assertIn(
            "model_optimizer/world_model/encoder/convolutions/3/kernel/momentum", named
        )

    def test_names_do_not_depend_on_what_the_process_built_before(self):
        first = Dreamer(tiny_config(), *pixel_spaces())
        keras.layers.Dense(5).build((None, 2))  # shifts Keras' automatic names
        second = Dreamer(tiny_config(), *pixel_spaces())
        first_names, second_names = named_variables(first), named_variables(second)
        self.assertEqual(list(first_names), list(second_names))
        self.assertNotEqual(
            first_names["world_model/rssm/gru/kernel"].path,
            second_names["world_model/rssm/gru/kernel"].path,
        )
        for name, variable in first_names.items():
            self.assertEqual(variable.shape, second_names[name].shape, msg=name)

    def test_names_do_not_depend_on_where_the_agent_is_held(self):
        agent = Dreamer(tiny_config(), *pixel_spaces())
        alone = named_variables(agent, "agent")
        held = named_variables({"agent": agent, "counter": tf.Variable(0)})
        self.assertEqual(list(alone), [name for name in held if name != "counter"])
        self.assertIn(
            "agent/model_optimizer/world_model/rssm/gru/kernel/momentum", alone
        )

    def test_slots_follow_their_variable_not_their_position(self):
        agent = Dreamer(tiny_config(), *pixel_spaces())
        named = named_variables(agent)
        kernel = named["actor_critic/value/output_layer/kernel"]
        momentum = named[
            "value_optimizer/actor_critic/value/output_layer/kernel/momentum"
        ]
        self.assertEqual(momentum.shape, kernel.shape)
        self.assertIn(kernel.path.replace("/", "_"), momentum.name)


class RestoreByNameTest(tf.test.TestCase):
    def test_batch_norm_statistics_survive_save_and_restore(self):
        stack = built_stack()
        stack(
            np.random.default_rng(0).normal(size=(8, 4)).astype("float32"),
            training=True,
        )
        path = checkpoint_of(named_variables(stack)).save(self.get_temp_dir() + "/c")
        fresh = built_stack()
        restore_variables(named_variables(fresh), path)
        for name, variable in named_variables(stack).items():
            self.assertAllEqual(named_variables(fresh)[name], variable, msg=name)
        self.assertNotAllClose(fresh.norm.moving_mean, np.zeros(2))

    def test_a_world_model_restores_alone_from_an_agent_checkpoint(self):
        trained = Dreamer(tiny_config(), *pixel_spaces())
        for variable in trained.world_model.variables:
            variable.assign(tf.fill(variable.shape, tf.cast(3, variable.dtype)))
        path = checkpoint_of(named_variables(trained, "agent")).save(
            self.get_temp_dir() + "/agent"
        )
        fresh = Dreamer(tiny_config(), *pixel_spaces())
        part = named_variables(fresh.world_model, "agent/world_model")
        restore_variables(part, path, exact=False)
        self.assertLen(part, len(fresh.world_model.variables))
        for variable in fresh.world_model.variables:
            self.assertAllEqual(variable, tf.fill(variable.shape, 3), msg=variable.path)

    def test_a_missing_variable_is_refused_by_name_before_anything_changes(self):
        stack = built_stack()
        named = named_variables(stack)
        del named["hidden/1/kernel"]
        path = checkpoint_of(named).save(self.get_temp_dir() + "/partial")
        fresh = built_stack()
        before = {name: v.numpy() for name, v in named_variables(fresh).items()}
        with self.assertRaisesRegex(ValueError, "lacks 'hidden/1/kernel'"):
            restore_variables(named_variables(fresh), path)
        for name, variable in named_variables(fresh).items():
            self.assertAllEqual(variable, before[name], msg=name)


if __name__ == "__main__":
    tf.test.main()
