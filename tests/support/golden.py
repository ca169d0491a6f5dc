"""What the golden-update tests pin: weight-change checksums, and how they compare.

Both golden tests (Dreamer's and DreamerV2's) reduce an update to its
metrics and, per part, three checksums of its weight change; a pinned value
matches within its own tolerance.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

PROJECTION_SEED = 123


def flat(variables) -> np.ndarray:
    """The values of ``variables`` in one vector."""
    return np.concatenate([variable.numpy().ravel() for variable in variables])


def change_checksums(before: dict, variables: dict) -> dict[str, float]:
    """Sum, absolute sum and a random projection of each part's weight change.

    Args:
        before: Each part's :func:`flat` values before the updates.
        variables: Each part's variables after them, in the same order.

    Returns:
        ``{"<part>/change_sum": ..., "<part>/change_abs_sum": ...,
        "<part>/change_projection": ...}``.
    """
    checksums = {}
    projection = np.random.default_rng(PROJECTION_SEED)
    for part, part_variables in variables.items():
        change = flat(part_variables) - before[part]
        checksums[f"{part}/change_sum"] = float(change.sum())
        checksums[f"{part}/change_abs_sum"] = float(np.abs(change).sum())
        direction = projection.normal(size=change.shape)
        checksums[f"{part}/change_projection"] = float(change @ direction)
    return checksums


def assert_golden_value(
    test: tf.test.TestCase, key: str, actual: float, expected: dict, case: str
) -> None:
    """Checks one pinned value of ``expected`` (a case's golden dict)."""
    if "change" in key:
        # Sums of signed changes cancel; judge them on the scale of the
        # part's total change.
        part = key.split("/")[0]
        scale = expected[f"{part}/change_abs_sum"]
        rtol, atol = 1e-3, 1e-3 * scale
    else:
        rtol, atol = 2e-4, 1e-6
    test.assertAllClose(
        actual, expected[key], rtol=rtol, atol=atol, msg=f"{case}: {key}"
    )
