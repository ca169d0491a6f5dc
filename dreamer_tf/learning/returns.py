"""Value targets of imagined trajectories: V_lambda, V_N^k and V_R.

All estimators take time along ``axis`` (default 0, time-major) and return
one target per step of ``reward``.
"""

from __future__ import annotations

import tensorflow as tf


def _to_time_major(tensor: tf.Tensor, axis: int) -> tf.Tensor:
    if axis == 0:
        return tensor
    perm = [axis, *[dim for dim in range(tensor.shape.rank) if dim != axis]]
    return tf.transpose(tensor, perm)


def _from_time_major(tensor: tf.Tensor, axis: int) -> tf.Tensor:
    if axis == 0:
        return tensor
    perm = [*range(1, axis + 1), 0, *range(axis + 1, tensor.shape.rank)]
    return tf.transpose(tensor, perm)


def _time_major_inputs(reward, value, pcont, bootstrap, axis: int):
    """Converts the estimators' inputs to float32 tensors with time first."""
    reward = tf.convert_to_tensor(reward, tf.float32)
    pcont = tf.ones_like(reward) * tf.cast(pcont, tf.float32)
    return (
        _to_time_major(reward, axis),
        _to_time_major(tf.convert_to_tensor(value, tf.float32), axis),
        _to_time_major(pcont, axis),
        tf.convert_to_tensor(bootstrap, tf.float32),
    )


def lambda_return(
    reward: tf.Tensor,
    value: tf.Tensor,
    pcont,
    bootstrap: tf.Tensor,
    lambda_: float,
    axis: int = 0,
) -> tf.Tensor:
    """The lambda-return ``V_lambda`` (the paper's Eq. 6), computed backwards.

    ``R_t = r_t + p_t * ((1 - lambda) * v_{t+1} + lambda * R_{t+1})`` with
    ``R_T = bootstrap`` after the last step. ``lambda_=1`` gives the discounted
    Monte-Carlo return bootstrapped at the end; ``lambda_=0`` the one-step TD
    target ``r_t + p_t * v_{t+1}``.

    Args:
        reward: Rewards ``r_t``, time along ``axis``.
        value: Values ``v_t`` of the same steps; ``v_{t+1}`` is taken from
            ``value`` shifted by one and ``bootstrap`` at the end.
        pcont: Continuation (discount) ``p_t``, a scalar or like ``reward``.
        bootstrap: Value after the last step, ``reward`` without ``axis``.
        lambda_: Mixing weight in ``[0, 1]``.
        axis: The time axis.

    Returns:
        The returns ``R_t``, shaped like ``reward``.
    """
    reward, value, pcont, bootstrap = _time_major_inputs(
        reward, value, pcont, bootstrap, axis
    )
    next_value = tf.concat([value[1:], bootstrap[None]], 0)
    inputs = reward + pcont * next_value * (1 - lambda_)

    def step(later_return, elements):
        step_input, step_pcont = elements
        return step_input + step_pcont * lambda_ * later_return

    returns = tf.scan(step, (inputs, pcont), bootstrap, reverse=True)
    return _from_time_major(returns, axis)


def nstep_return(
    reward: tf.Tensor,
    value: tf.Tensor,
    pcont,
    bootstrap: tf.Tensor,
    steps: int,
    axis: int = 0,
) -> tf.Tensor:
    """The k-step return ``V_N^k``: ``k`` rewards, then a value bootstrap.

    ``R_t = sum_{n=t}^{h-1} (prod_{i=t}^{n-1} p_i) r_n + (prod_{i=t}^{h-1} p_i)
    v_h`` with ``h = min(t + k, T)`` and ``v_T = bootstrap``.

    Args:
        reward: Rewards ``r_t``, time along ``axis``.
        value: Values ``v_t`` of the same steps.
        pcont: Continuation ``p_t``, a scalar or like ``reward``.
        bootstrap: Value after the last step.
        steps: ``k``, the number of rewards summed before bootstrapping.
        axis: The time axis.

    Returns:
        The returns, shaped like ``reward``.
    """
    reward, value, pcont, bootstrap = _time_major_inputs(
        reward, value, pcont, bootstrap, axis
    )
    horizon = reward.shape[0]
    values = tf.concat([value, bootstrap[None]], 0)
    returns = []
    for start in range(horizon):
        end = min(start + steps, horizon)
        total = tf.zeros_like(bootstrap)
        weight = tf.ones_like(bootstrap)
        for index in range(start, end):
            total += weight * reward[index]
            weight *= pcont[index]
        returns.append(total + weight * values[end])
    return _from_time_major(tf.stack(returns, 0), axis)


def reward_sum_return(reward: tf.Tensor, pcont, axis: int = 0) -> tf.Tensor:
    """``V_R``: the discounted sum of imagined rewards, without a value model.

    Args:
        reward: Rewards ``r_t``, time along ``axis``.
        pcont: Continuation ``p_t``, a scalar or like ``reward``.
        axis: The time axis.

    Returns:
        ``R_t = r_t + p_t * R_{t+1}`` with ``R_T = 0``, shaped like ``reward``.
    """
    reward = tf.convert_to_tensor(reward, tf.float32)
    zeros = tf.zeros_like(reward)
    bootstrap = tf.zeros_like(tf.gather(reward, 0, axis=axis))
    return lambda_return(reward, zeros, pcont, bootstrap, 1.0, axis)
