"""Tutorial: replace Dreamer's actor with your own Keras layer.

An actor is any Keras layer that maps model features ``[..., feature_dim]``
to an action distribution with a reparameterised ``sample()`` (the actor
loss backpropagates through imagined actions into the actor), a ``mode()``
(evaluation actions) and an ``entropy()`` (logged as ``action_entropy``).

``StateIndependentStdActor`` predicts only the mean of the tanh-Gaussian
from the features; its standard deviation is one learned vector shared by
all states, a common choice in policy-gradient methods (the paper's actor
predicts both). :func:`dreamer_tf.distributions.tanh_normal` builds the
squashed distribution and wraps it in
:class:`~dreamer_tf.distributions.SampleDist`, which estimates its mode and
entropy from samples. The script trains a few updates on random data and
checks that the actor optimizer updates exactly this layer's variables::

    python examples/tutorial_custom_actor.py --steps 3
"""

from __future__ import annotations

# dreamer_tf first: importing it hides TensorFlow's start-up log lines.
import dreamer_tf  # noqa: F401

# isort: split
import argparse

import gymnasium as gym
import keras
import numpy as np
import tensorflow as tf

from dreamer_tf.agent import Dreamer
from dreamer_tf.config import DreamerConfig
from dreamer_tf.distributions import SampleDist, tanh_normal


@keras.saving.register_keras_serializable(package="tutorial")
class StateIndependentStdActor(keras.layers.Layer):
    """A tanh-Gaussian policy whose std does not depend on the state.

    Args:
        action_size: Dimensions of the action vector.
        units: Width of the two hidden layers.
        activation: Activation of the hidden layers.
        init_std: Initial standard deviation of the pre-tanh Gaussian.
        num_samples: Samples for the mode and entropy estimates.
        **kwargs: Passed to :class:`keras.layers.Layer`.
    """

    def __init__(
        self,
        action_size: int,
        units: int = 64,
        activation: str = "tanh",
        init_std: float = 1.0,
        num_samples: int = 20,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.action_size = action_size
        self.units = units
        self.activation = activation
        self.init_std = init_std
        self.num_samples = num_samples
        self.hidden_layers = [keras.layers.Dense(units, activation) for _ in range(2)]
        self.mean_layer = keras.layers.Dense(action_size)

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.hidden_layers:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.mean_layer.build(shape)
        self.log_std = self.add_weight(
            shape=(self.action_size,),
            initializer=keras.initializers.Constant(np.log(self.init_std)),
            name="log_std",
        )

    def call(self, features) -> SampleDist:
        hidden = features
        for layer in self.hidden_layers:
            hidden = layer(hidden)
        mean = tf.cast(self.mean_layer(hidden), tf.float32)
        std = tf.exp(tf.cast(self.log_std, tf.float32)) * tf.ones_like(mean)
        return tanh_normal(mean, std, self.num_samples)

    def get_config(self):
        return {
            **super().get_config(),
            "action_size": self.action_size,
            "units": self.units,
            "activation": self.activation,
            "init_std": self.init_std,
            "num_samples": self.num_samples,
        }


def random_batch(config: DreamerConfig, action_size: int, seed: int) -> dict:
    """Random 64x64 image sequences in the replay layout."""
    rng = np.random.default_rng(seed)
    shape = (config.batch_size, config.batch_length)
    colours = rng.integers(0, 256, (*shape, 1, 1, 3), dtype=np.uint8)
    return {
        "image": np.tile(colours, (1, 1, 64, 64, 1)),
        "action": rng.uniform(-1, 1, (*shape, action_size)).astype(np.float32),
        "reward": rng.normal(size=shape).astype(np.float32),
        "discount": np.ones(shape, np.float32),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=3, help="Updates to run.")
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    config = DreamerConfig(
        cnn_depth=4,
        deter_size=16,
        stoch_size=4,
        rssm_hidden=16,
        num_units=16,
        horizon=4,
        batch_size=4,
        batch_length=8,
    )
    observation_space = gym.spaces.Dict(
        {"image": gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)}
    )
    action_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    actor = StateIndependentStdActor(action_space.shape[0], units=32)
    agent = Dreamer(config, observation_space, action_space, actor=actor)

    # The agent built the actor; its optimizer updates exactly its variables.
    actor_ids = {id(variable) for variable in actor.trainable_variables}
    assert {id(variable) for variable in agent.actor_variables} == actor_ids
    others = agent.model_variables + agent.value_variables
    assert not actor_ids & {id(variable) for variable in others}
    print("actor variables:", ", ".join(v.path for v in agent.actor_variables))

    before = [variable.numpy() for variable in agent.actor_variables]
    batch = random_batch(config, action_space.shape[0], seed=0)
    for step in range(args.steps):
        metrics = agent.train(batch)
        print(
            f"update {step}: actor_loss={float(metrics['actor_loss']):.3f}, "
            f"action_entropy={float(metrics['action_entropy']):.3f}, "
            f"std={np.exp(actor.log_std.numpy()).round(4)}"
        )
    changed = [
        not np.array_equal(old, variable.numpy())
        for old, variable in zip(before, agent.actor_variables)
    ]
    print(f"{sum(changed)} of {len(changed)} actor variables changed")
    assert args.steps == 0 or all(changed)

    observation = {"image": np.zeros((2, 64, 64, 3), np.uint8)}
    action, _ = agent.policy(observation, None, training=False)
    print(f"evaluation actions of 2 environments: {action.numpy().round(3)}")


if __name__ == "__main__":
    main()
