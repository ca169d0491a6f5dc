"""Task names (``dmc_walker_walk``, ``gym_Pendulum-v1``, ``atari_pong``) and checks.

Everything here is fast and free of side effects: it never creates an
environment, never imports dm_control (whose EGL display is opened at import
time and crashes processes that imported TensorFlow) and never starts a worker.
"""

import ast
import dataclasses
import difflib
import functools
import importlib
import importlib.util
import pathlib

SUITES = ("dmc", "gym", "atari")

# Short names used in the Dreamer paper for DMC domains with long names.
DMC_DOMAIN_ALIASES = {"cup": "ball_in_cup"}

_SUITE_EXAMPLES = {
    "dmc": "dmc_walker_walk",
    "gym": "gym_Pendulum-v1",
    "atari": "atari_pong",
}


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """A parsed task name.

    Attributes:
        suite: One of :data:`SUITES`.
        name: The suite-specific part: ``"walker_walk"``, ``"Pendulum-v1"``,
            ``"pong"``.
        domain: For ``dmc``, the dm_control domain (aliases resolved), else None.
        task: For ``dmc``, the dm_control task of the domain, else None.
    """

    suite: str
    name: str
    domain: str | None = None
    task: str | None = None


@functools.lru_cache(maxsize=1)
def dmc_tasks() -> dict[str, tuple[str, ...]]:
    """Lists the dm_control suite's tasks without importing dm_control.

    The suite registers each task with an ``@SUITE.add(...)`` decorator; this
    reads those decorators from the suite's source files.

    Returns:
        A dict from domain name to the names of its tasks; empty if dm_control
        is not installed.
    """
    spec = importlib.util.find_spec("dm_control")
    if spec is None or not spec.submodule_search_locations:
        return {}
    suite_directory = pathlib.Path(spec.submodule_search_locations[0]) / "suite"
    tasks_by_domain = {}
    for source_path in sorted(suite_directory.glob("*.py")):
        module = ast.parse(source_path.read_text(encoding="utf-8"))
        task_names = tuple(
            node.name
            for node in module.body
            if isinstance(node, ast.FunctionDef)
            and any(_is_suite_add(decorator) for decorator in node.decorator_list)
        )
        if task_names:
            tasks_by_domain[source_path.stem] = task_names
    return tasks_by_domain


def _is_suite_add(decorator: ast.expr) -> bool:
    if isinstance(decorator, ast.Call):
        decorator = decorator.func
    return (
        isinstance(decorator, ast.Attribute)
        and decorator.attr == "add"
        and isinstance(decorator.value, ast.Name)
        and decorator.value.id == "SUITE"
    )


@functools.lru_cache(maxsize=1)
def atari_games() -> tuple[str, ...]:
    """Lists the Atari games whose ROMs ship with ale-py.

    Returns:
        Game names in snake case (``"pong"``, ``"ms_pacman"``); empty if ale-py
        is not installed.
    """
    try:
        from ale_py import roms
    except ImportError:
        return ()
    return tuple(sorted(roms.get_all_rom_ids()))


def parse_task(task: str) -> TaskSpec:
    """Splits a task name into its suite and the suite's own name for it.

    Args:
        task: ``<suite>_<name>``, e.g. ``"dmc_cup_catch"``, ``"gym_CartPole-v1"``
            or ``"atari_pong"``.

    Returns:
        The parsed task.

    Raises:
        ValueError: If the suite, or the task within it, does not exist; the
            message lists what is available.
        TypeError: If ``task`` is not a string.
    """
    if not isinstance(task, str):
        raise TypeError(
            f"A task must be a string like 'dmc_walker_walk', got {task!r}."
        )
    suite, separator, name = task.partition("_")
    if suite not in SUITES or not separator or not name:
        examples = ", ".join(f"{s} (e.g. {_SUITE_EXAMPLES[s]})" for s in SUITES)
        raise ValueError(
            f"Unknown task {task!r}: a task is '<suite>_<name>' with suite one of "
            f"{examples}."
        )
    if suite == "dmc":
        return _parse_dmc(task, name)
    if suite == "gym":
        _check_gym_id(task, name)
        return TaskSpec(suite, name)
    _check_atari_game(task, name)
    return TaskSpec(suite, name)


def validate_task(task: str) -> None:
    """Checks that a task exists, before any environment or worker is created.

    Args:
        task: A task name as accepted by :func:`dreamer_tf.envs.make_env`.

    Raises:
        ValueError: If the suite or the task does not exist. The message lists the
            suites, or for ``dmc`` the domains and the tasks of the domain, for
            ``gym`` close matches among the registered ids, for ``atari`` the
            games.
    """
    parse_task(task)


def _parse_dmc(task: str, name: str) -> TaskSpec:
    tasks_by_domain = dmc_tasks()
    if not tasks_by_domain:
        raise ValueError(
            f"Task {task!r} needs dm_control, which is not installed: "
            "pip install dm-control."
        )
    domain_names = sorted(tasks_by_domain) + sorted(DMC_DOMAIN_ALIASES)
    # Domains and tasks both contain underscores, so try the longest domain
    # that prefixes the name (``ball_in_cup_catch`` is not domain ``ball``).
    for domain in sorted(domain_names, key=len, reverse=True):
        if name.startswith(domain + "_"):
            break
    else:
        domain = DMC_DOMAIN_ALIASES.get(name, name)
        if domain in tasks_by_domain:
            raise ValueError(
                f"Task {task!r} names DMC domain {domain!r} but no task. Tasks of "
                f"{domain}: {', '.join(tasks_by_domain[domain])}."
            )
        aliases = ", ".join(f"{k} = {v}" for k, v in DMC_DOMAIN_ALIASES.items())
        raise ValueError(
            f"Unknown DMC domain in task {task!r}. Available domains: "
            f"{', '.join(sorted(tasks_by_domain))} (aliases: {aliases}). "
            "Write the task as dmc_<domain>_<task>, e.g. dmc_walker_walk."
        )
    task_name = name[len(domain) + 1 :]
    domain = DMC_DOMAIN_ALIASES.get(domain, domain)
    if task_name not in tasks_by_domain[domain]:
        raise ValueError(
            f"Unknown task {task_name!r} of DMC domain {domain!r} in {task!r}. "
            f"Tasks of {domain}: {', '.join(tasks_by_domain[domain])}."
        )
    return TaskSpec("dmc", name, domain=domain, task=task_name)


def _check_gym_id(task: str, env_id: str) -> None:
    import gymnasium

    module_name, colon, short_id = env_id.rpartition(":")
    if colon:
        # gymnasium.make("module:Env-v0") imports the module that registers the
        # environment; do the same so the registry is complete.
        try:
            importlib.import_module(module_name)
        except ImportError as error:
            raise ValueError(
                f"Task {task!r}: cannot import module {module_name!r} that should "
                f"register {short_id!r}: {error}."
            ) from error
    registered_ids = sorted(gymnasium.registry)
    if short_id in gymnasium.registry:
        return
    close_matches = difflib.get_close_matches(short_id, registered_ids, n=5)
    if close_matches:
        hint = f"Close matches: {', '.join('gym_' + m for m in close_matches)}."
    else:
        hint = f"Registered ids: {', '.join(registered_ids)}."
    raise ValueError(
        f"Unknown gymnasium environment id {short_id!r} in {task!r}. {hint}"
    )


def _check_atari_game(task: str, game: str) -> None:
    games = atari_games()
    if not games:
        raise ValueError(f"Task {task!r} needs ale-py, which is not installed.")
    if game not in games:
        close_matches = difflib.get_close_matches(game, games, n=3)
        hint = f" Did you mean {', '.join(close_matches)}?" if close_matches else ""
        raise ValueError(
            f"Unknown Atari game {game!r} in {task!r}.{hint} Available games: "
            f"{', '.join(games)}."
        )
