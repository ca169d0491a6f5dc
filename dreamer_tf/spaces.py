"""The spaces shared by the environments and the agent.

A continuous action space is ``Box(-1, 1, (n,), float32)``; a discrete one is
exposed one-hot as ``Box(0, 1, (n,), float32)``; observations are a ``Dict``
of ``Box`` spaces. :func:`space_to_json` and :func:`space_from_json` write
them down for a run's directory. This module imports neither TensorFlow nor
an environment suite, so both sides read it.
"""

import gymnasium
import numpy as np


def is_one_hot_space(space: gymnasium.Space) -> bool:
    """Tells whether an action space is our one-hot encoding of a discrete space.

    Args:
        space: An action space.

    Returns:
        True for a 1-d ``Box`` whose lows are all 0 and highs all 1.
    """
    return (
        isinstance(space, gymnasium.spaces.Box)
        and len(space.shape) == 1
        and bool(np.all(space.low == 0.0))
        and bool(np.all(space.high == 1.0))
    )


def space_to_json(space: gymnasium.Space) -> dict:
    """A ``Box`` or a ``Dict`` of them as plain JSON values.

    Raises:
        TypeError: For any other space.
    """
    if isinstance(space, gymnasium.spaces.Dict):
        return {
            "dict": {key: space_to_json(value) for key, value in space.spaces.items()}
        }
    if isinstance(space, gymnasium.spaces.Box):
        return {
            "shape": list(space.shape),
            "dtype": np.dtype(space.dtype).name,
            "low": _bound(space.low),
            "high": _bound(space.high),
        }
    raise TypeError(f"Cannot record a {type(space).__name__} space; use Box or Dict.")


def space_from_json(value: dict) -> gymnasium.Space:
    """The space :func:`space_to_json` wrote."""
    if "dict" in value:
        return gymnasium.spaces.Dict(
            {key: space_from_json(item) for key, item in value["dict"].items()}
        )
    dtype = np.dtype(value["dtype"])
    shape = tuple(value["shape"])
    low, high = (
        np.broadcast_to(np.asarray(value[key], np.float64), shape).astype(dtype)
        for key in ("low", "high")
    )
    return gymnasium.spaces.Box(low, high, shape, dtype)


def _bound(bound: np.ndarray):
    # One number when every entry is the same (the usual case), else a list.
    flat = np.asarray(bound, np.float64).ravel()
    if flat.size and np.all(flat == flat[0]):
        return float(flat[0])
    return np.asarray(bound, np.float64).tolist()
