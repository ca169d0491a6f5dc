"""How well the value model predicts the returns the agent really collects.

The value model is trained only on imagined trajectories, so nothing in its
loss says whether it matches real returns. This module compares its
predictions on real episodes with their discounted returns. A value model
whose targets are misaligned by one step (the next value taken from the
same step, or the value of one state regressed on the target of another)
learns a different function and shows up here; see ``BUILD_NOTES.md``.

Conventions follow :mod:`dreamer_tf.replay`: ``reward[t]`` is the reward
received on arriving at observation ``t`` (0 at the first), and the value of
state ``t`` predicts ``reward[t] + discount * reward[t + 1] + ...``, the same
target :func:`dreamer_tf.learning.returns.lambda_return` trains it on. The functions
here use NumPy only.
"""

from __future__ import annotations

import math

import numpy as np

TRUNCATION_TOLERANCE = 0.05


def discounted_returns(
    reward: np.ndarray, discount: float, continuation: np.ndarray | None = None
) -> np.ndarray:
    """``G_t = reward[t] + discount * continuation[t] * G_{t+1}``, ``G_T = 0``.

    Args:
        reward: Rewards of one episode, ``[T]``.
        discount: The discount factor gamma.
        continuation: Per-step continuation, ``[T]`` (the episode's
            ``discount`` entries, 0 after a terminal state); ones if ``None``.

    Returns:
        The discounted returns ``[T]`` as float64.

    Raises:
        ValueError: If ``reward`` is not 1-d or ``continuation`` differs in
            shape.
    """
    reward = np.asarray(reward, np.float64)
    if reward.ndim != 1:
        raise ValueError(f"reward must be 1-d (one episode); got {reward.shape}.")
    if continuation is None:
        continuation = np.ones_like(reward)
    continuation = np.asarray(continuation, np.float64)
    if continuation.shape != reward.shape:
        raise ValueError(
            f"continuation has shape {continuation.shape}, reward {reward.shape}."
        )
    returns = np.zeros_like(reward)
    later = 0.0
    for step in reversed(range(len(reward))):
        later = reward[step] + discount * continuation[step] * later
        returns[step] = later
    return returns


def reliable_steps(length: int, discount: float, terminated: bool) -> int:
    """How many leading steps of an episode have a trustworthy return.

    A time limit cuts the return short: ``G_t`` misses everything after the
    last step, which weighs ``discount ** (length - t)``. Steps whose missing
    weight is at most :data:`TRUNCATION_TOLERANCE` count; after a terminal
    state nothing is missing, so all steps count.

    Args:
        length: Entries in the episode.
        discount: The discount factor gamma, in ``(0, 1]``.
        terminated: Whether the episode ended in a terminal state.

    Returns:
        The number of leading steps to compare, possibly 0.
    """
    if terminated:
        return length
    if discount >= 1.0:
        return 0
    needed = math.ceil(math.log(TRUNCATION_TOLERANCE) / math.log(discount))
    return max(0, length - needed + 1)


def value_error(
    values: list[np.ndarray],
    episodes: list[dict[str, np.ndarray]],
    discount: float,
) -> dict[str, float]:
    """Bias and mean absolute error of predicted values against real returns.

    Args:
        values: The value model's prediction for every step of each episode,
            ``[T]`` each (for example from :meth:`Dreamer.state_values`).
        episodes: The episodes, with ``reward`` and optionally ``discount``
            (continuation) of the same length as their values.
        discount: The discount factor the value model was trained with.

    Returns:
        ``value_bias`` (the mean of value minus return) and ``value_error``
        (the mean of its absolute value) over the reliable steps (see
        :func:`reliable_steps`), or an empty dict if no step is reliable.

    Raises:
        ValueError: If the lists differ in length or a value sequence does not
            match its episode.
    """
    if len(values) != len(episodes):
        raise ValueError(f"{len(values)} value sequences for {len(episodes)} episodes.")
    errors = []
    for value, episode in zip(values, episodes):
        value = np.asarray(value, np.float64)
        continuation = episode.get("discount")
        if value.shape != np.shape(episode["reward"]):
            raise ValueError(
                f"values of shape {value.shape} for rewards of shape "
                f"{np.shape(episode['reward'])}."
            )
        terminated = continuation is not None and continuation[-1] == 0
        count = reliable_steps(len(value), discount, terminated)
        returns = discounted_returns(episode["reward"], discount, continuation)
        errors.append(value[:count] - returns[:count])
    errors = np.concatenate(errors) if errors else np.zeros(0)
    if not errors.size:
        return {}
    return {
        "value_bias": float(np.mean(errors)),
        "value_error": float(np.mean(np.abs(errors))),
    }
