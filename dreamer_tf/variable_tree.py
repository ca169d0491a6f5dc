"""Stable names for every variable of a model, for checkpoints and weight messages.

Keras names variables by layer names that depend on how many layers a process
made before (``dense_3/kernel``), and ``tf.train.Checkpoint`` does not see
layers held in Python lists, so a checkpoint of a Keras 3 model can miss
weights or hold them only by an optimizer's position. :func:`named_variables`
names each variable by where it lives instead: the attribute path from the
root, list indices included (``world_model/encoder/convs/0/kernel``), and an
optimizer's slots by the variable they follow
(``model_optimizer/world_model/encoder/convs/0/kernel/momentum``). The names
depend only on the code that builds the model, so they match across
processes; :func:`restore_variables` restores by them and refuses, naming it,
a variable the checkpoint lacks.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping

import keras
import tensorflow as tf

Variable = keras.Variable | tf.Variable

# What a bare Keras layer holds itself (its sublayer and variable lists, its
# tracker): sublayers and variables are found through the user's attributes.
_KERAS_LAYER_INTERNALS = frozenset(vars(keras.layers.Layer()))
_VALUE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"


def named_variables(root, prefix: str = "") -> dict[str, Variable]:
    """Every variable reachable from ``root``, by its attribute path.

    ``root`` is a Keras layer or optimizer, a ``tf.Module``, a variable, or a
    dict, list or tuple of them. A layer's sublayers are found through its
    attributes (in lists, tuples and dicts too), each named by the first
    attribute that holds it, public names before private ones; a layer's own
    variables are named by their Keras ``name`` (``kernel``,
    ``moving_mean``). An optimizer's ``iteration`` keeps its name and each
    slot is named by the variable it follows, which must be named too (so
    pass the optimizers together with the models they train).

    Args:
        root: What to name.
        prefix: Put before every name (``"agent"`` gives ``"agent/..."``).

    Returns:
        Names to variables, in a stable order.

    Raises:
        ValueError: If two variables get one name, a layer holds a variable
            in no attribute, or an optimizer's slot follows no named variable.
    """
    named: dict[str, Variable] = {}
    seen: set[int] = set()
    optimizers: list[tuple[str, keras.optimizers.Optimizer]] = []
    for name, item in _walk(root, prefix, seen):
        if isinstance(item, keras.optimizers.Optimizer):
            optimizers.append((name, item))
        else:
            _add(named, name, item)
    for name, optimizer in optimizers:
        slots = _optimizer_slots(name, optimizer, named)
        for slot_name, slot in slots.items():
            _add(named, slot_name, slot)
    return named


def _add(named: dict, name: str, variable: Variable) -> None:
    if name in named:
        raise ValueError(
            f"Two variables are named {name!r}; give the layer's variables "
            "distinct names."
        )
    named[name] = variable


def _join(prefix: str, name) -> str:
    return f"{prefix}/{name}" if prefix else str(name)


def _is_variable(value) -> bool:
    return isinstance(value, (keras.Variable, tf.Variable))


def _walk(value, name: str, seen: set[int]) -> Iterator[tuple[str, object]]:
    """Yields ``(name, variable or optimizer)`` under ``value``, each once."""
    if isinstance(value, (str, bytes)) or id(value) in seen:
        return
    if _is_variable(value) or isinstance(value, keras.optimizers.Optimizer):
        seen.add(id(value))
        yield name, value
    elif isinstance(value, keras.layers.Layer):
        seen.add(id(value))
        yield from _walk_layer(value, name, seen)
    elif isinstance(value, tf.Module):
        seen.add(id(value))
        for attribute, child in _attributes(value, ()):
            yield from _walk(child, _join(name, attribute), seen)
    elif isinstance(value, Mapping):
        for key in sorted(value, key=str):
            yield from _walk(value[key], _join(name, key), seen)
    elif isinstance(value, (list, tuple)):
        for index, child in enumerate(value):
            yield from _walk(child, _join(name, index), seen)


def _walk_layer(layer: keras.layers.Layer, name: str, seen: set[int]):
    own = {id(variable): variable for variable in layer.variables}
    for attribute, child in _attributes(layer, _KERAS_LAYER_INTERNALS):
        if _is_variable(child):
            continue  # Named below by its Keras name, held or not.
        for child_name, item in _walk(child, _join(name, attribute), seen):
            if _is_variable(item):
                own.pop(id(item), None)
            yield child_name, item
    # What is left is the layer's own: its weights and any variable of a
    # sublayer that no attribute holds (which then shares the namespace).
    for variable in own.values():
        if id(variable) not in seen:
            seen.add(id(variable))
            yield _join(name, variable.name), variable


def _attributes(obj, skip) -> list[tuple[str, object]]:
    # ``_self_*`` attributes are TensorFlow's own bookkeeping of dependencies.
    items = [
        (attribute, value)
        for attribute, value in vars(obj).items()
        if attribute not in skip and not attribute.startswith("_self_")
    ]
    return sorted(items, key=lambda item: (item[0].startswith("_"), item[0]))


def _optimizer_slots(
    name: str,
    optimizer: keras.optimizers.Optimizer,
    named: dict[str, Variable],
) -> dict[str, Variable]:
    # Keras names a slot ``<variable path with '_' for '/'>_<slot>`` (e.g.
    # ``dense_kernel_momentum``): that ties it to the variable it follows.
    # A slot is named relative to what holds the optimizer (the agent holds
    # model_optimizer and world_model: model_optimizer/world_model/...).
    owner = name.rpartition("/")[0]
    start = len(owner) + 1 if owner else 0
    by_path = {}
    for variable_name, variable in named.items():
        if isinstance(variable, keras.Variable):
            key = variable.path.replace("/", "_")
            if key in by_path:
                raise ValueError(
                    f"{variable_name!r} and {by_path[key]!r} have Keras paths "
                    f"that read alike ({key!r}), so the optimizer {name!r}'s "
                    "slots cannot be told apart; give their layers distinct names."
                )
            under_owner = not owner or variable_name.startswith(f"{owner}/")
            by_path[key] = variable_name[start:] if under_owner else variable_name
    slots = {}
    for slot in optimizer.variables:
        if slot.name in ("iteration", "learning_rate"):
            slots[_join(name, slot.name)] = slot
            continue
        followed = _followed_variable(slot.name, by_path)
        if followed is None:
            raise ValueError(
                f"The optimizer {name!r} holds {slot.name!r}, which follows no "
                "variable of the models it was named with; name the optimizer "
                "together with the models it trains."
            )
        variable_name, slot_kind = followed
        slots[_join(name, f"{variable_name}/{slot_kind}")] = slot
    return slots


def _followed_variable(slot_name: str, by_path: dict[str, str]):
    parts = slot_name.split("_")
    for split in range(len(parts) - 1, 0, -1):
        path, kind = "_".join(parts[:split]), "_".join(parts[split:])
        if path in by_path:
            return by_path[path], kind
    return None


def checkpoint_of(named: Mapping[str, Variable]) -> tf.train.Checkpoint:
    """A ``tf.train.Checkpoint`` whose keys are the given names."""
    return tf.train.Checkpoint(**named)


def checkpoint_key(name: str) -> str:
    """The key under which a checkpoint of :func:`checkpoint_of` stores ``name``."""
    return name.replace(".", "..").replace("/", ".S") + _VALUE_SUFFIX


def stored_names(path: str | os.PathLike) -> set[str]:
    """The variable names a checkpoint of :func:`checkpoint_of` holds.

    Args:
        path: The checkpoint's prefix (``.../ckpt-3``).
    """
    names = set()
    for key, _ in tf.train.list_variables(os.fspath(path)):
        if key.endswith(_VALUE_SUFFIX):
            stored = key[: -len(_VALUE_SUFFIX)]
            names.add(stored.replace(".S", "/").replace("..", "."))
    return names


def check_stored(
    named: Mapping[str, Variable], path: str | os.PathLike, exact: bool = True
) -> None:
    """Checks that a checkpoint holds a value for every name, before restoring.

    Args:
        named: Names to variables.
        path: The checkpoint's prefix.
        exact: Also refuse a checkpoint that holds variables not in
            ``named`` (a whole agent, as opposed to one of its parts).

    Raises:
        ValueError: Naming the first variable the checkpoint lacks (or, with
            ``exact``, holds in excess).
    """
    stored = stored_names(path) - {"save_counter"}
    missing = sorted(set(named) - stored)
    if missing:
        more = f" and {len(missing) - 1} more variables" if len(missing) > 1 else ""
        raise ValueError(f"the checkpoint lacks {missing[0]!r}{more}")
    excess = sorted(stored - set(named)) if exact else []
    if excess:
        more = f", and {len(excess) - 1} more" if len(excess) > 1 else ""
        raise ValueError(
            f"the checkpoint holds {excess[0]!r}, which this model does not have{more}"
        )


def restore_variables(
    named: Mapping[str, Variable], path: str | os.PathLike, exact: bool = True
) -> None:
    """Restores variables by name from a checkpoint of :func:`checkpoint_of`.

    Args:
        named: Names to variables (e.g. :func:`named_variables` of a world
            model with ``prefix="agent/world_model"``, to restore it alone
            from a run's checkpoint).
        path: The checkpoint's prefix.
        exact: As in :func:`check_stored`.

    Raises:
        ValueError: As :func:`check_stored`; nothing is restored then.
    """
    check_stored(named, path, exact)
    status = checkpoint_of(named).read(os.fspath(path))
    status.assert_existing_objects_matched()
    if not exact:
        # The rest of the checkpoint is left out on purpose: no warnings.
        status.expect_partial()
