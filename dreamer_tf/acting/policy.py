"""The policy step, written once for the agent, the export and the actors.

:func:`policy_step` (reset at ``is_first``, encode, posterior step, actor
distribution) and :func:`explore` are what
:meth:`dreamer_tf.agent.Dreamer.policy` computes and what
:func:`dreamer_tf.acting.export.export_policy` saves. :func:`agent_policy` turns an
agent into a :data:`dreamer_tf.acting.driver.Policy`, used by the training loop,
evaluation and the actor processes alike; :func:`policy_weights` and
:func:`set_policy_weights` move the weights the step reads as plain numpy
arrays by name (how actors receive them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions


def policy_step(world_model, actor_critic, observation, latent, previous_action):
    """One step of the policy up to the action distribution.

    Rows whose ``observation["is_first"]`` is True start from the zero state
    and the zero action. The rows are replaced, not multiplied by 0, so a
    NaN that a non-finite observation left in an environment's state ends
    with its episode.

    Args:
        world_model: The :class:`~dreamer_tf.learning.world_model.WorldModel`.
        actor_critic: The :class:`~dreamer_tf.learning.actor_critic.ActorCritic`.
        observation: Dict of ``[batch, ...]`` tensors: the model's inputs and
            optionally ``is_first``; other keys are ignored.
        latent: The previous posterior state.
        previous_action: ``[batch, action_size]``, the previous action.

    Returns:
        ``(posterior state, action distribution)``.
    """
    if "is_first" in observation:
        starts = tf.cast(observation["is_first"], tf.bool)[:, None]
        latent, previous_action = tf.nest.map_structure(
            lambda value: tf.where(starts, tf.zeros_like(value), value),
            (latent, previous_action),
        )
    rssm = world_model.rssm
    embed = world_model.embed(observation)
    latent, _ = rssm.posterior_step(latent, previous_action, embed)
    return latent, actor_critic.policy(rssm.features(latent))


def explore(action, amount, kind: str, discrete: bool) -> tf.Tensor:
    """Adds exploration to a batch of actions.

    Args:
        action: ``[batch, action_size]`` actions.
        amount: The noise std (gaussian) or the probability of a random action.
        kind: ``none``, ``additive_gaussian``, ``completely_random`` or
            ``epsilon_greedy`` (gaussian noise on discrete actions, which has
            no meaning, falls back to epsilon-greedy).
        discrete: Whether actions are one-hot.

    Returns:
        The actions to take.
    """
    if kind == "none":
        return action
    if kind == "completely_random":
        return _random_actions(action, discrete)
    if kind == "additive_gaussian" and not discrete:
        noisy = tfd.Normal(action, tf.maximum(amount, 1e-8)).sample()
        return tf.clip_by_value(tf.where(amount > 0, noisy, action), -1.0, 1.0)
    random_action = _random_actions(action, discrete)
    use_random = tf.random.uniform(tf.shape(action)[:1]) < amount
    return tf.where(use_random[:, None], random_action, action)


def _random_actions(action, discrete: bool) -> tf.Tensor:
    if not discrete:
        return tf.random.uniform(tf.shape(action), -1.0, 1.0)
    indices = tf.random.uniform([tf.shape(action)[0]], 0, action.shape[-1], tf.int32)
    return tf.one_hot(indices, action.shape[-1])


def policy_weights(agent) -> dict[str, np.ndarray]:
    """The weights the policy step reads, by name, as numpy arrays.

    Args:
        agent: A :class:`~dreamer_tf.agent.Dreamer`; its
            :meth:`~dreamer_tf.agent.Dreamer.policy_variables` say which.

    Returns:
        Names to arrays (how actors receive the weights, pickled).
    """
    return {
        name: variable.numpy() for name, variable in agent.policy_variables().items()
    }


def set_policy_weights(agent, weights: Mapping[str, np.ndarray]) -> None:
    """Assigns weights from :func:`policy_weights` of an agent of the same build.

    Raises:
        ValueError: If a name is missing or unknown, or a shape does not fit;
            nothing is assigned then.
    """
    variables = agent.policy_variables()
    missing = sorted(set(variables) - set(weights))
    unknown = sorted(set(weights) - set(variables))
    if missing or unknown:
        problem = f"lack {missing[0]!r}" if missing else f"hold unknown {unknown[0]!r}"
        raise ValueError(
            f"The policy weights {problem} ({len(weights)} arrays for "
            f"{len(variables)} variables): they come from an agent of another build."
        )
    for name, variable in variables.items():
        if tuple(variable.shape) != np.shape(weights[name]):
            raise ValueError(
                f"Weight of shape {np.shape(weights[name])} for {name} of shape "
                f"{tuple(variable.shape)}."
            )
    for name, variable in variables.items():
        variable.assign(weights[name])


def agent_policy(agent, training: bool):
    """The agent's policy for :class:`dreamer_tf.acting.driver.Driver`.

    Args:
        agent: A :class:`~dreamer_tf.agent.Dreamer`.
        training: Sample with exploration noise if True, else the mode plus
            ``eval_noise`` (see :meth:`~dreamer_tf.agent.Dreamer.policy`).

    Returns:
        ``policy(observation, state) -> (numpy action, state)``.
    """

    def act(observation: Mapping[str, np.ndarray], state: Any):
        action, state = agent.policy(observation, state, training=training)
        return action.numpy(), state

    return act
