"""The policy as the driver calls it: numpy in, numpy out, a fresh state per episode.

:func:`agent_policy` turns an agent into a :data:`dreamer_tf.driver.Policy`,
used by the training loop, evaluation and the actor processes alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow as tf


def reset_starting_states(agent, state, is_first: np.ndarray):
    """Gives environments that start an episode a fresh policy state.

    The policy zeroes those rows by multiplying them with 0, which keeps a NaN
    that a non-finite observation left in them; replacing the rows keeps one
    bad episode from spoiling every later episode of that environment.

    Args:
        agent: The agent (anything with ``initial_state(batch_size)``).
        state: The policy state, or None at the start.
        is_first: ``[num_envs]`` bools.

    Returns:
        The state with the rows of starting environments replaced.
    """
    if state is None or not np.any(is_first):
        return state
    starts = tf.constant(np.asarray(is_first, bool))

    def replace_rows(old, fresh):
        rows = tf.reshape(starts, [-1] + [1] * (len(old.shape) - 1))
        return tf.where(rows, fresh, old)

    return tf.nest.map_structure(
        replace_rows, state, agent.initial_state(len(is_first))
    )


def agent_policy(agent, training: bool):
    """The agent's policy for :class:`dreamer_tf.driver.Driver`.

    Args:
        agent: A :class:`~dreamer_tf.agent.Dreamer`.
        training: Sample with exploration noise if True, else the mode plus
            ``eval_noise`` (see :meth:`~dreamer_tf.agent.Dreamer.policy`).

    Returns:
        ``policy(observation, state) -> (numpy action, state)``.
    """

    def act(observation: Mapping[str, np.ndarray], state: Any):
        state = reset_starting_states(agent, state, observation["is_first"])
        action, state = agent.policy(observation, state, training=training)
        return action.numpy(), state

    return act
