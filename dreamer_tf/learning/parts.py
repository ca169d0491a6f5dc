"""How an agent takes its parts: a layer, a function that makes one, or the default.

Every part of :class:`~dreamer_tf.learning.world_model.WorldModel`,
:class:`~dreamer_tf.learning.actor_critic.ActorCritic` and
:class:`~dreamer_tf.agent.Dreamer` is given as a :data:`Part`. A function is
called where the agent makes its defaults, under the agent's dtype policy and
``tf.distribute`` scope, so it is the way to pass a layer that must compute
in 16 bits or be mirrored; an instance must not be built yet (its variables
are then made in that scope too).
"""

from __future__ import annotations

from collections.abc import Callable

import keras

#: A part of an agent: an unbuilt layer, a function of no arguments that makes
#: one, or ``None`` for the config's default.
Part = keras.layers.Layer | Callable[[], keras.layers.Layer] | None


def make_part(part: Part, default: Callable[[], keras.layers.Layer], name: str):
    """The layer to use for one part.

    Args:
        part: What the user passed: an unbuilt layer, a function of no
            arguments returning one, or ``None`` for the default.
        default: Makes the default layer.
        name: The part's argument name, for errors.

    Returns:
        The unbuilt layer.

    Raises:
        TypeError: If ``part`` (or what its function returns) is no layer.
        ValueError: If the layer is already built.
    """
    if part is None:
        return default()
    layer = part
    if not isinstance(part, keras.layers.Layer):
        if not callable(part):
            raise TypeError(
                f"{name} must be a Keras layer, a function returning one, or "
                f"None; got {type(part).__name__}."
            )
        layer = part()
        if not isinstance(layer, keras.layers.Layer):
            raise TypeError(
                f"The function passed as {name} returned a "
                f"{type(layer).__name__}, not a Keras layer."
            )
    if layer.built:
        raise ValueError(
            f"The {name} ({type(layer).__name__}) is already built; pass it "
            "unbuilt, or a function that makes it, so that its variables are "
            "made under the agent's dtype policy and distribution strategy."
        )
    return layer


def serialize_part(part) -> dict:
    """A part's Keras serialisation, without what would build it on loading.

    ``keras.saving.deserialize_keras_object`` builds a layer whose record has
    a ``build_config``; a part must come back unbuilt, so that its agent
    builds it under its own dtype policy and strategy.
    """
    serialized = keras.saving.serialize_keras_object(part)
    for key in ("build_config", "compile_config"):
        serialized.pop(key, None)
    return serialized
