"""The agent a run directory holds: its recorded architecture and weights.

``logdir/architecture.json`` is :func:`dreamer_tf.architecture.describe_agent`
of the run's agent. Resuming, ``--eval_only``, export, the actor processes
and :func:`load_agent` all rebuild the agent from it, so a run with custom
layers evaluates, exports, resumes and acts like the one that trained.
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
from collections.abc import Callable

from dreamer_tf.agent import Dreamer
from dreamer_tf.architecture import (
    ARCHITECTURE_FORMAT,
    agent_class,
    agent_from_architecture,
    describe_agent,
    script_layers,
)
from dreamer_tf.config import DreamerConfig
from dreamer_tf.errors import RunError, first_line
from dreamer_tf.files import write_atomically
from dreamer_tf.run.checkpoints import RunCheckpoints
from dreamer_tf.run.rundir import ARCHITECTURE_FILE_NAME, saved_run
from dreamer_tf.spaces import space_from_json, space_to_json
from dreamer_tf.variable_tree import named_variables

logger = logging.getLogger(__name__)

# Where a run's checkpoint keeps the agent (see dreamer_tf.run.program).
AGENT_PREFIX = "agent"

AgentFactory = Callable[..., Dreamer]


def read_architecture(logdir: str | os.PathLike) -> dict | None:
    """The architecture recorded in a run directory, or None if there is none.

    Raises:
        RunError: If the file is damaged or of an unknown format.
    """
    path = pathlib.Path(logdir).expanduser() / ARCHITECTURE_FILE_NAME
    if not path.exists():
        return None
    try:
        architecture = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise RunError(f"{path} is unreadable ({first_line(error)}).") from None
    if (
        not isinstance(architecture, dict)
        or architecture.get("format") != ARCHITECTURE_FORMAT
    ):
        raise RunError(
            f"{path} is not an architecture of format {ARCHITECTURE_FORMAT}; it "
            "was written by another dreamer_tf version or damaged."
        )
    return architecture


def run_agent(
    logdir: pathlib.Path,
    config: DreamerConfig,
    observation_space,
    action_space,
    strategy=None,
    agent_factory: AgentFactory | None = None,
    record: bool = True,
) -> Dreamer:
    """The agent of a run: rebuilt from its record, or made and recorded.

    Args:
        logdir: The run directory.
        config: The run's config.
        observation_space: The environment's observation space.
        action_space: Its action space.
        strategy: The learner's strategy.
        agent_factory: Makes the agent of a new run:
            ``agent_factory(config, observation_space, action_space,
            strategy=strategy)``; :class:`~dreamer_tf.agent.Dreamer` if
            ``None``. Ignored once the run has an architecture.
        record: Write the architecture of a new run (not when evaluating).

    Raises:
        RunError: If the recorded spaces differ from the environment's, or a
            factory's agent cannot be recorded faithfully.
    """
    recorded = read_architecture(logdir)
    if recorded is not None:
        _check_spaces(logdir, recorded, observation_space, action_space)
        try:
            return agent_from_architecture(config, recorded, strategy)
        except ValueError as error:
            raise RunError(
                f"Cannot rebuild the agent of {str(logdir)!r}: {first_line(error)}"
            ) from None
    factory = agent_factory or agent_class(config)
    try:
        agent = factory(config, observation_space, action_space, strategy=strategy)
    except ValueError as error:
        raise RunError(f"Cannot build the agent: {first_line(error)}") from None
    architecture = describe_agent(agent)
    scripted = sorted(script_layers(architecture))
    if scripted:
        logger.warning(
            "The agent's %s is defined in the running script (__main__): "
            "--eval_only, export and load_agent elsewhere cannot find it. Define "
            "custom layers in a module the script imports.",
            ", ".join(scripted),
        )
    if agent_factory is not None:
        _check_rebuilds(agent, config, architecture, strategy)
    if record:
        write_atomically(
            logdir / ARCHITECTURE_FILE_NAME, json.dumps(architecture, indent=2)
        )
    return agent


def load_agent(
    logdir: str | os.PathLike, checkpoint: int | None = None, strategy=None
) -> Dreamer:
    """Rebuilds a run's agent and restores its trained weights.

    Args:
        logdir: The run directory (``config.json``, ``architecture.json`` and
            ``checkpoints/``).
        checkpoint: The number ``N`` of ``ckpt-N`` to restore; the newest
            that restores if ``None`` (damaged newer ones are skipped).
        strategy: A ``tf.distribute`` strategy to build under.

    Returns:
        The agent, with weights, optimizer state and frame count of the
        checkpoint. Nothing in ``logdir`` is written.

    Raises:
        RunError: If the logdir holds no run, no checkpoint restores, or the
            chosen one does not fit the architecture.
    """
    logdir = pathlib.Path(logdir).expanduser()
    saved = saved_run(logdir)
    if saved is None:
        raise RunError(f"{str(logdir)!r} holds no run (no config.json).")
    fields = DreamerConfig().to_dict()
    config = DreamerConfig.from_dict({k: v for k, v in saved.items() if k in fields})
    architecture = read_architecture(logdir)
    if architecture is None:
        raise RunError(
            f"{str(logdir)!r} has no {ARCHITECTURE_FILE_NAME}: it was written by a "
            "dreamer_tf before 0.2, whose checkpoints this version cannot restore."
        )
    agent = agent_from_architecture(config, architecture, strategy)
    directory = logdir / "checkpoints"
    named = named_variables(agent, AGENT_PREFIX)
    checkpoints = RunCheckpoints(directory, named, partial=True)
    if checkpoints.read(checkpoint) is None:
        raise RunError(f"No checkpoint in {str(directory)!r}.")
    return agent


def _check_spaces(logdir, recorded: dict, observation_space, action_space) -> None:
    for name, space in (("observation", observation_space), ("action", action_space)):
        if recorded[f"{name}_space"] != space_to_json(space):
            raise RunError(
                f"The environment's {name} space {space} is not the one the run in "
                f"{str(logdir)!r} was trained on "
                f"({space_from_json(recorded[f'{name}_space'])}); use its task "
                "and options, or a new logdir."
            )


def _check_rebuilds(agent: Dreamer, config, architecture: dict, strategy) -> None:
    """Refuses an agent whose record would rebuild into another one."""
    try:
        rebuilt = agent_from_architecture(config, architecture, strategy)
    except Exception as error:  # noqa: BLE001 - any failure: cannot be recorded.
        raise RunError(
            f"The agent cannot be rebuilt from its recorded layers "
            f"({first_line(error, with_type=True)}); give every custom layer "
            "get_config and keras.saving.register_keras_serializable."
        ) from None
    expected = {n: tuple(v.shape) for n, v in named_variables(agent).items()}
    actual = {n: tuple(v.shape) for n, v in named_variables(rebuilt).items()}
    if expected != actual:
        differing = sorted(set(expected) ^ set(actual)) or sorted(
            name for name in expected if expected[name] != actual[name]
        )
        raise RunError(
            f"The agent rebuilt from its recorded layers differs at "
            f"{differing[0]!r}: a custom layer's get_config misses an argument "
            "of its constructor."
        )
