"""Exports a trained agent's policy as a TensorFlow SavedModel.

The SavedModel needs only TensorFlow to run: no dreamer_tf, Keras classes or
TensorFlow Probability at load time. Its ``serving_default`` signature is one
step of the evaluation policy, as :meth:`dreamer_tf.agent.Dreamer.policy`
with ``training=False`` but without exploration noise::

    policy = tf.saved_model.load(directory)
    step = policy.signatures["serving_default"]
    state = policy.initial_state(tf.constant(num_envs))
    outputs = step(image=image, is_first=is_first, **state)
    action = outputs.pop("action")
    state = outputs  # the RSSM state and prev_action: feed back next step

The state's entries are those the agent's RSSM cell declares
(:attr:`~dreamer_tf.layers.RSSMCell.state_shapes`; ``deter``, ``stoch``,
``mean`` and ``std`` for the paper's cell), plus ``prev_action``.
"""

from __future__ import annotations

import os
import shutil

import gymnasium as gym
import tensorflow as tf

from dreamer_tf.acting.policy import policy_step
from dreamer_tf.files import replace_directory, staging_directory

PREVIOUS_ACTION = "prev_action"


class _PolicyModule(tf.Module):
    """Holds the world model and actor-critic and traces the policy step."""

    def __init__(self, agent, observation_specs: dict[str, tf.TensorSpec]):
        super().__init__(name="dreamer_policy")
        self.world_model = agent.world_model
        self.actor_critic = agent.actor_critic
        self._agent_initial_state = agent.initial_state
        self._state_shapes = {
            **agent.world_model.rssm.state_shapes,
            PREVIOUS_ACTION: (agent.action_size,),
        }
        clashes = sorted(set(self._state_shapes) & {*observation_specs, "is_first"})
        if clashes:
            raise ValueError(
                f"The RSSM state entry {clashes[0]!r} has the name of an "
                "observation input; rename it in the cell's state_shapes."
            )
        input_specs = dict(observation_specs)
        input_specs["is_first"] = tf.TensorSpec([None], tf.bool, name="is_first")
        for key, shape in self._state_shapes.items():
            input_specs[key] = tf.TensorSpec([None, *shape], tf.float32, name=key)
        self.step = tf.function(self._step, input_signature=[input_specs])
        self.initial_state = tf.function(
            self._initial_state,
            input_signature=[tf.TensorSpec([], tf.int32, name="batch_size")],
        )

    def _initial_state(self, batch_size: tf.Tensor) -> dict[str, tf.Tensor]:
        latent, previous_action = self._agent_initial_state(batch_size)
        return {**latent, PREVIOUS_ACTION: previous_action}

    def _step(self, inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        # The agent's policy step (dreamer_tf.acting.policy), with the mode action.
        observation = {
            key: value for key, value in inputs.items() if key not in self._state_shapes
        }
        latent = {
            key: inputs[key] for key in self._state_shapes if key != PREVIOUS_ACTION
        }
        latent, distribution = policy_step(
            self.world_model,
            self.actor_critic,
            observation,
            latent,
            inputs[PREVIOUS_ACTION],
        )
        action = tf.cast(distribution.mode(), tf.float32)
        return {"action": action, **latent, PREVIOUS_ACTION: action}


def export_policy(
    agent,
    directory: str,
    observation_space: gym.spaces.Dict | None = None,
) -> None:
    """Saves the agent's noise-free (mode) policy step as a SavedModel.

    The ``serving_default`` signature maps (observation, recurrent state) to
    (action, next state) for a batch of environments:

    - Inputs: ``image`` uint8 ``[None, H, W, C]`` if the agent sees pixels,
      else every float vector key of :attr:`Dreamer.vector_keys` (float32
      ``[None, dim]``); ``is_first`` bool ``[None]``, which resets the state
      of those rows to zeros (the start of an episode); the state: each
      entry of the RSSM cell's :attr:`~dreamer_tf.layers.RSSMCell.state_shapes`
      and ``prev_action``, float32 ``[None, *shape]``.
    - Outputs: ``action`` float32 ``[None, action_size]`` and the next state
      (the same entries; ``prev_action`` is the action).

    The action is the actor's mode without exploration noise: the argmax
    one-hot for discrete actions; for the tanh-Normal actor, as in
    :class:`~dreamer_tf.distributions.SampleDist`, the most likely of 100
    samples, so continuous actions vary slightly from call to call. ``stoch``
    is a sample of the posterior, as when the agent acts.

    The loaded object also has ``initial_state(batch_size)`` (an int32
    scalar; also the ``initial_state`` signature), the all-zero state of the
    start of an episode. Zero tensors of the input sizes serve as well.

    The SavedModel is written to a temporary directory beside ``directory``
    and renamed into place, so readers never see a partial export; an
    existing export at ``directory`` is replaced. Local paths only (the
    rename uses ``os.rename``).

    Args:
        agent: A :class:`~dreamer_tf.agent.Dreamer` (anything with its
            ``world_model``, ``actor_critic``, ``action_size``,
            ``vector_keys`` and ``observation_space``).
        directory: Where to write the SavedModel.
        observation_space: The observation space of the inputs; the agent's
            own (:attr:`Dreamer.observation_space`) if ``None``.

    Raises:
        ValueError: If ``observation_space`` lacks a key the agent needs.
        FileExistsError: If ``directory`` is an existing file.
    """
    directory = os.path.abspath(os.fspath(directory))
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise FileExistsError(
            f"Cannot export the policy to {directory}: it is a file. Choose a "
            "directory path."
        )
    module = _PolicyModule(agent, _observation_specs(agent, observation_space))
    signatures = {
        "serving_default": module.step.get_concrete_function(),
        "initial_state": module.initial_state.get_concrete_function(),
    }
    parent = os.path.dirname(directory)
    os.makedirs(parent, exist_ok=True)
    staging = staging_directory(directory)
    try:
        tf.saved_model.save(module, staging, signatures=signatures)
        replace_directory(staging, directory)
    finally:
        if os.path.exists(staging):
            shutil.rmtree(staging)


def _observation_specs(
    agent, observation_space: gym.spaces.Dict | None
) -> dict[str, tf.TensorSpec]:
    """The observation inputs of the signature: the image or the vector keys."""
    space = agent.observation_space if observation_space is None else observation_space
    spaces = dict(space.spaces)
    if agent.world_model.uses_pixels:
        if "image" not in spaces:
            raise ValueError(
                "The agent sees pixels but observation_space has no 'image' key; "
                f"it has {sorted(spaces)}."
            )
        shape = tuple(spaces["image"].shape)
        return {"image": tf.TensorSpec([None, *shape], tf.uint8, name="image")}
    missing = [key for key in agent.vector_keys if key not in spaces]
    if missing:
        raise ValueError(
            f"observation_space lacks the agent's vector keys {missing}; it has "
            f"{sorted(spaces)}."
        )
    return {
        key: tf.TensorSpec([None, *spaces[key].shape], tf.float32, name=key)
        for key in agent.vector_keys
    }
