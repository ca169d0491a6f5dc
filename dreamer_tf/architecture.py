"""An agent's architecture as JSON values, and the agent it rebuilds.

:func:`describe_agent` writes down what a config cannot: the observation and
action spaces (an image size included) and every layer of the agent, each
with its class and Keras config, user layers included (register them with
``keras.saving.register_keras_serializable``). :func:`agent_from_architecture`
builds the same agent again, with fresh weights, in any process: the actors',
an evaluation's or a user's (see :func:`dreamer_tf.run.saved_agent.load_agent`).
"""

from __future__ import annotations

import importlib

import keras

from dreamer_tf.agent import Dreamer
from dreamer_tf.agent_v2 import DreamerV2
from dreamer_tf.config import DreamerConfig
from dreamer_tf.errors import first_line
from dreamer_tf.spaces import space_from_json, space_to_json

ARCHITECTURE_FORMAT = 1

AGENT_CLASSES = {Dreamer.agent_name: Dreamer, DreamerV2.agent_name: DreamerV2}


def agent_class(config: DreamerConfig) -> type[Dreamer]:
    """The agent class that trains ``config.agent``: Dreamer or DreamerV2.

    Construct it like :class:`~dreamer_tf.agent.Dreamer`::

        agent = agent_class(config)(config, observation_space, action_space)
    """
    return AGENT_CLASSES[config.agent]


def describe_agent(agent: Dreamer) -> dict:
    """The architecture of an agent as JSON values.

    Returns:
        ``format``, ``observation_space``, ``action_space``, and the
        serialised ``world_model`` and ``actor_critic`` (every part with its
        class, registered name and config).
    """
    return {
        "format": ARCHITECTURE_FORMAT,
        "observation_space": space_to_json(agent.observation_space),
        "action_space": space_to_json(agent.action_space),
        "world_model": keras.saving.serialize_keras_object(agent.world_model),
        "actor_critic": keras.saving.serialize_keras_object(agent.actor_critic),
    }


def agent_from_architecture(
    config: DreamerConfig, architecture: dict, strategy=None
) -> Dreamer:
    """Builds the agent an architecture describes (fresh weights).

    The layers take the dtype policy of ``config.precision`` on this
    machine, not the one recorded, so a run trained in 16 bits on one
    machine can be evaluated in 32 on another.

    Args:
        config: The run's config (``config.json``).
        architecture: What :func:`describe_agent` returned.
        strategy: The ``tf.distribute`` strategy to build under.

    Raises:
        ValueError: If a recorded layer class cannot be found.
    """
    _import_layer_modules(architecture)

    def deserialize(key: str):
        return lambda: _deserialize(_unbuilt(architecture[key]), key)

    return agent_class(config)(
        config,
        space_from_json(architecture["observation_space"]),
        space_from_json(architecture["action_space"]),
        strategy=strategy,
        world_model=deserialize("world_model"),
        actor_critic=deserialize("actor_critic"),
    )


def script_layers(architecture: dict) -> set[str]:
    """Classes of an architecture defined in a script's ``__main__``.

    Other processes cannot import them, so a run with such a layer cannot
    be evaluated, exported or loaded from another program.
    """
    return {
        name for module, name in _recorded_classes(architecture) if module == "__main__"
    }


def _deserialize(serialized: dict, key: str):
    missing = [
        f"{name} (module {module})"
        for module, name in sorted(_recorded_classes(serialized))
        if keras.saving.get_registered_object(name) is None
        and not module.startswith(("keras", "dreamer_tf"))
    ]
    if missing:
        raise ValueError(
            f"the recorded {key} uses {missing[0]}, which is not registered in "
            "this process; import the module that defines it (registered with "
            "keras.saving.register_keras_serializable) first."
        )
    try:
        return keras.saving.deserialize_keras_object(serialized)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"the recorded {key} does not rebuild: {first_line(error)}"
        ) from None


def _recorded_classes(serialized) -> set[tuple[str, str]]:
    """``(module, registered name)`` of every object in a serialised one."""
    classes = set()
    if isinstance(serialized, dict):
        if isinstance(serialized.get("module"), str) and "class_name" in serialized:
            name = serialized.get("registered_name") or serialized["class_name"]
            classes.add((serialized["module"], name))
        for value in serialized.values():
            classes |= _recorded_classes(value)
    elif isinstance(serialized, list):
        for value in serialized:
            classes |= _recorded_classes(value)
    return classes


def _import_layer_modules(architecture: dict) -> None:
    # Importing a module registers its layers; classes of a script's
    # __main__ are registered only if that script is running.
    for module in sorted({module for module, _ in _recorded_classes(architecture)}):
        if module.split(".")[0] in ("keras", "dreamer_tf", "builtins", "__main__"):
            continue
        try:
            importlib.import_module(module)
        except ImportError:
            pass  # deserialize_keras_object then names the missing class.


def _unbuilt(serialized):
    """A copy of a serialised object that deserialises unbuilt, in today's dtype.

    Keras builds a deserialised layer from its recorded ``build_config`` and
    gives it its recorded dtype policy; the agent builds its parts itself,
    under its own policy.
    """
    if isinstance(serialized, list):
        return [_unbuilt(value) for value in serialized]
    if not isinstance(serialized, dict):
        return serialized
    is_object = "class_name" in serialized
    copy = {}
    for key, value in serialized.items():
        if is_object and key in ("build_config", "compile_config"):
            continue
        if is_object and key == "config" and isinstance(value, dict):
            value = {name: item for name, item in value.items() if name != "dtype"}
        copy[key] = _unbuilt(value)
    return copy
