"""Helpers that let layers accept any number of leading batch dimensions."""

import tensorflow as tf


def flatten_batch(tensor: tf.Tensor, event_ndims: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Merges all leading dimensions of ``tensor`` into one.

    Args:
        tensor: A tensor of shape ``[*batch, *event]``.
        event_ndims: Number of trailing event dimensions to keep.

    Returns:
        The tensor reshaped to ``[prod(batch), *event]``, and the batch shape.
    """
    batch_ndims = tensor.shape.rank - event_ndims
    shape = tf.shape(tensor)
    flat = tf.reshape(tensor, tf.concat([[-1], shape[batch_ndims:]], 0))
    flat.set_shape([None, *tensor.shape[batch_ndims:]])
    return flat, shape[:batch_ndims]


def restore_batch(tensor: tf.Tensor, batch_shape: tf.Tensor) -> tf.Tensor:
    """Splits the leading dimension of ``tensor`` back into ``batch_shape``."""
    restored = tf.reshape(tensor, tf.concat([batch_shape, tf.shape(tensor)[1:]], 0))
    static_batch = tf.get_static_value(batch_shape)
    batch_dims = [None] * batch_shape.shape[0] if static_batch is None else static_batch
    restored.set_shape([*batch_dims, *tensor.shape[1:]])
    return restored
