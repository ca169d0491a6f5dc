"""Dynamic loss scaling for float16 gradients, as the paper's optimizer does it."""

from __future__ import annotations

import tensorflow as tf


class DynamicLossScale(tf.Module):
    """A loss scale that halves on non-finite gradients and doubles when stable.

    float16 gradients underflow to zero below about 6e-8; scaling the loss by
    a large factor keeps them representable, and the gradients are divided by
    it again in float32. Like TensorFlow's dynamic loss scale (which the
    paper's code used): start at ``2**15``, halve after any step whose
    gradients are not finite (that step is skipped), double after
    ``growth_steps`` finite steps in a row.

    Args:
        initial_scale: The first scale.
        growth_steps: Finite steps in a row before the scale doubles.
        name: Module name.
    """

    def __init__(
        self,
        initial_scale: float = 2.0**15,
        growth_steps: int = 2000,
        name: str = "loss_scale",
    ):
        super().__init__(name=name)
        self.growth_steps = growth_steps
        # Every replica computes the same update from all-reduced gradients.
        options = {
            "trainable": False,
            "aggregation": tf.VariableAggregation.ONLY_FIRST_REPLICA,
        }
        self.scale = tf.Variable(initial_scale, dtype=tf.float32, **options)
        self.finite_steps = tf.Variable(0, dtype=tf.int64, **options)

    def gradients(self, tape: tf.GradientTape, loss: tf.Tensor, variables) -> list:
        """The gradient of ``loss``, computed scaled and returned unscaled."""
        scale = tf.convert_to_tensor(self.scale)
        gradients = tape.gradient(
            loss, variables, output_gradients=tf.cast(scale, loss.dtype)
        )
        return [gradient / scale for gradient in gradients]

    def update(self, finite: tf.Tensor) -> None:
        """Adapts the scale after a step whose gradients were ``finite`` or not."""
        grown = tf.logical_and(finite, self.finite_steps + 1 >= self.growth_steps)
        factor = tf.where(finite, tf.where(grown, 2.0, 1.0), 0.5)
        self.scale.assign(self.scale * factor)
        self.finite_steps.assign(
            tf.where(tf.logical_and(finite, ~grown), self.finite_steps + 1, 0)
        )
