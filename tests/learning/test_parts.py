"""Every part of the agent can be passed in, and the part passed in is what trains."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from support.custom_agents import CategoricalRSSMCell, categorical_agent
from support.tiny import pixel_spaces, random_batch, tiny_config

from dreamer_tf.acting.export import export_policy
from dreamer_tf.agent import Dreamer
from dreamer_tf.architecture import agent_from_architecture, describe_agent
from dreamer_tf.layers import (
    ContinueHead,
    ConvDecoder,
    ConvEncoder,
    RewardHead,
    RSSMCell,
    TanhNormalActor,
    ValueHead,
)
from dreamer_tf.learning.actor_critic import ActorCritic
from dreamer_tf.learning.losses import FreeNatsKL
from dreamer_tf.learning.world_model import WorldModel
from dreamer_tf.variable_tree import named_variables


def subclass(base):
    """A user's subclass of ``base``, registered as Keras serialisation asks."""
    name = f"User{base.__name__}"
    cls = type(name, (base,), {})
    return keras.saving.register_keras_serializable(package="test_parts")(cls)


USER_CLASSES = {
    base.__name__: subclass(base)
    for base in (
        ConvEncoder,
        ConvDecoder,
        RSSMCell,
        RewardHead,
        ContinueHead,
        TanhNormalActor,
        ValueHead,
        WorldModel,
        ActorCritic,
    )
}


class CountingKL(FreeNatsKL):
    """The paper's KL term that also reports a metric of its own."""

    def __call__(self, rssm, posterior, prior):
        loss, metrics = super().__call__(rssm, posterior, prior)
        return loss, {**metrics, "counting_kl": loss}


def changed_after_training(agent, layer, config) -> list[str]:
    """Names of ``layer``'s trainable variables that one update left unchanged."""
    before = [variable.numpy() for variable in layer.trainable_variables]
    agent.train(random_batch(config))
    return [
        variable.path
        for variable, old in zip(layer.trainable_variables, before)
        if np.array_equal(variable.numpy(), old)
    ]


class InjectedPartsTest(tf.test.TestCase):
    def test_every_part_passed_in_is_the_one_that_trains(self):
        config = tiny_config(pcont=True)
        cnn, act = config.cnn_depth, config.dense_activation
        parts = {
            "encoder": lambda: USER_CLASSES["ConvEncoder"](cnn),
            "decoder": lambda: USER_CLASSES["ConvDecoder"](cnn),
            "rssm": lambda: USER_CLASSES["RSSMCell"](4, 16, 16, act),
            "reward_head": lambda: USER_CLASSES["RewardHead"](units=16),
            "continue_head": lambda: USER_CLASSES["ContinueHead"](units=16),
            "actor": lambda: USER_CLASSES["TanhNormalActor"](2, 2, 16),
            "value": lambda: USER_CLASSES["ValueHead"](units=16),
        }
        # No free nats, so the KL term reaches the prior's layers on every update.
        kl_loss = CountingKL(scale=1.0, free_nats=0.0)
        agent = Dreamer(config, *pixel_spaces(), kl_loss=kl_loss, **parts)
        layers = {**agent.world_model.parts(), **agent.actor_critic.parts()}
        self.assertEqual(sorted(layers), sorted(parts))
        for name, layer in layers.items():
            self.assertStartsWith(type(layer).__name__, "User", msg=name)
        # Every variable of the agent's networks belongs to a part passed in:
        # no default was built beside them.
        part_variables = {id(v) for layer in layers.values() for v in layer.variables}
        networks = [*agent.world_model.variables, *agent.actor_critic.variables]
        self.assertEqual({id(v) for v in networks}, part_variables)
        for name, layer in layers.items():
            unchanged = changed_after_training(agent, layer, config)
            self.assertEqual(unchanged, [], msg=f"{name} did not train")
        metrics = agent.train(random_batch(config))
        self.assertIn("counting_kl", metrics)

    def test_the_world_model_and_actor_critic_go_in_whole(self):
        config = tiny_config(free_nats=0.0)
        world_model = USER_CLASSES["WorldModel"](config, image_shape=(64, 64, 3))
        actor_critic = USER_CLASSES["ActorCritic"](config, 2, False)
        agent = Dreamer(
            config,
            *pixel_spaces(),
            world_model=world_model,
            actor_critic=lambda: actor_critic,
        )
        self.assertIs(agent.world_model, world_model)
        self.assertIs(agent.actor_critic, actor_critic)
        for layer in (world_model, actor_critic):
            self.assertEqual(changed_after_training(agent, layer, config), [])

    def test_a_part_made_under_another_dtype_policy_is_refused(self):
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy("mixed_bfloat16")
        try:
            encoder = ConvEncoder(4)
        finally:
            keras.config.set_dtype_policy(previous)
        with pytest.raises(ValueError, match="encoder .*mixed_bfloat16.*lambda"):
            Dreamer(tiny_config(), *pixel_spaces(), encoder=encoder)

    def test_bad_parts_are_refused_in_one_line(self):
        built = ConvEncoder(4)
        built.build((None, 64, 64, 3))
        cases = [
            ({"encoder": built}, ValueError, "already built"),
            ({"value": "value"}, TypeError, "value must be a Keras layer"),
            ({"actor": lambda: 3}, TypeError, "returned a int"),
            (
                {"world_model": lambda: None, "rssm": lambda: RSSMCell()},
                ValueError,
                "Both world_model and its part rssm",
            ),
            ({"continue_head": lambda: ContinueHead()}, ValueError, "pcont=True"),
        ]
        for parts, error, message in cases:
            with pytest.raises(error, match=message):
                Dreamer(tiny_config(), *pixel_spaces(), **parts)

    def test_world_model_and_actor_critic_round_trip_their_config(self):
        config = tiny_config(pcont=True)
        agent = Dreamer(config, *pixel_spaces(), kl_loss=FreeNatsKL(0.5, 1.0))
        for layer in (agent.world_model, agent.actor_critic):
            serialized = json.loads(
                json.dumps(keras.saving.serialize_keras_object(layer))
            )
            rebuilt = keras.saving.deserialize_keras_object(serialized)
            self.assertEqual(type(rebuilt), type(layer))
            self.assertEqual(sorted(rebuilt.parts()), sorted(layer.parts()))
        rebuilt = agent_from_architecture(config, describe_agent(agent))
        self.assertEqual(
            rebuilt.world_model.kl_loss.get_config(), {"scale": 0.5, "free_nats": 1.0}
        )
        shapes = {n: v.shape for n, v in named_variables(agent).items()}
        self.assertEqual(
            {n: v.shape for n, v in named_variables(rebuilt).items()}, shapes
        )


class SplitUpdateTest(tf.test.TestCase):
    """The model step and the behaviour step, each called alone."""

    def changed_parts(self, step_name: str) -> dict[str, bool]:
        config = tiny_config(free_nats=0.0)
        agent = Dreamer(config, *pixel_spaces())
        groups = {
            "model": agent.model_variables,
            "actor": agent.actor_variables,
            "value": agent.value_variables,
        }
        before = {k: [v.numpy() for v in vs] for k, vs in groups.items()}
        metrics = getattr(agent, step_name)(random_batch(config))
        self.assertEqual(float(metrics["update_skipped"]), 0.0)
        return {
            name: any(
                not np.array_equal(v.numpy(), old)
                for v, old in zip(groups[name], before[name])
            )
            for name in groups
        }

    def test_the_model_step_moves_only_the_world_model(self):
        self.assertEqual(
            self.changed_parts("train_model"),
            {"model": True, "actor": False, "value": False},
        )

    def test_the_behavior_step_moves_only_actor_and_value(self):
        self.assertEqual(
            self.changed_parts("train_behavior"),
            {"model": False, "actor": True, "value": True},
        )


class CategoricalLatentTest(tf.test.TestCase):
    """A cell with another state works everywhere the state goes."""

    def setUp(self):
        super().setUp()
        self.config = tiny_config()
        self.agent = categorical_agent(self.config, *pixel_spaces())

    def test_it_trains_and_acts(self):
        self.agent.world_model.kl_loss = FreeNatsKL(1.0, 0.0)
        rssm = self.agent.world_model.rssm
        self.assertIsInstance(rssm, CategoricalRSSMCell)
        self.assertEqual(sorted(rssm.initial_state(3)), ["deter", "logits", "stoch"])
        unchanged = changed_after_training(self.agent, rssm, self.config)
        self.assertEqual(unchanged, [])
        observation = {"image": np.zeros((2, 64, 64, 3), np.uint8), "is_first": [1, 1]}
        action, (latent, _) = self.agent.policy(observation, None, training=True)
        self.assertEqual(action.shape, (2, 2))
        stoch = latent["stoch"].numpy().reshape(2, 4, 4)
        self.assertAllClose(stoch.sum(-1), np.ones((2, 4)), atol=1e-5)

    def test_its_exported_policy_acts_with_its_own_state(self):
        directory = self.get_temp_dir() + "/policy"
        export_policy(self.agent, directory, pixel_spaces()[0])
        policy = tf.saved_model.load(directory)
        state = policy.initial_state(tf.constant(2))
        self.assertEqual(sorted(state), ["deter", "logits", "prev_action", "stoch"])
        step = policy.signatures["serving_default"]
        image = tf.zeros((2, 64, 64, 3), tf.uint8)
        outputs = step(image=image, is_first=tf.constant([True, True]), **state)
        self.assertEqual(outputs["action"].shape, (2, 2))
        self.assertEqual(outputs["logits"].shape, (2, 16))

    def test_it_rebuilds_from_its_recorded_architecture(self):
        architecture = json.loads(json.dumps(describe_agent(self.agent)))
        rebuilt = agent_from_architecture(self.config, architecture)
        self.assertIsInstance(rebuilt.world_model.rssm, CategoricalRSSMCell)
        self.assertEqual(
            list(named_variables(rebuilt)), list(named_variables(self.agent))
        )


if __name__ == "__main__":
    tf.test.main()
