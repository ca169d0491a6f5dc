"""The training program's presets, and the expansion of presets on a command line.

A preset is a ``.flags`` file shipped in this package: one flag per line,
``#`` comments, and ``--preset=NAME`` lines that include another preset
first. ``--preset`` takes a preset's name (``--preset=cpu``) or the path of
any such file; so does absl's ``--flagfile``, which this module expands
itself so that both work from any directory. Inside a file, a relative path
is taken from the file's own directory (from the current one if nothing is
there). :func:`expand_arguments` turns a command line into plain flags and
remembers which presets it used and which flags were typed beside them, for
the run's start block.

This module does not import TensorFlow.
"""

from __future__ import annotations

import dataclasses
import pathlib

PRESET_DIR = pathlib.Path(__file__).resolve().parent
PRESET_SUFFIX = ".flags"
_INCLUDE_FLAGS = ("--preset", "--flagfile")


@dataclasses.dataclass(frozen=True)
class Arguments:
    """A command line with its presets expanded.

    Attributes:
        flags: Every flag, presets' first where they were given, in order.
        presets: The presets and flagfiles named on the command line (names
            for shipped presets, paths for files), in order.
        overrides: The flags typed on the command line itself.
    """

    flags: list[str]
    presets: list[str]
    overrides: list[str]


def preset_names() -> list[str]:
    """The names of the shipped presets, sorted."""
    return sorted(path.stem for path in PRESET_DIR.glob(f"*{PRESET_SUFFIX}"))


def preset_summary(name: str) -> str:
    """The start of a shipped preset's leading comment, to its first ``:`` or ``.``."""
    lines = []
    for line in preset_path(name).read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("# ").strip())
    text = " ".join(lines) + " "
    ends = [index for index in (text.find(": "), text.find(". ")) if index >= 0]
    return text[: min(ends)] if ends else text.strip()


def preset_path(
    name_or_path: str, relative_to: pathlib.Path | None = None, by_name: bool = True
) -> pathlib.Path:
    """The file a ``--preset`` or ``--flagfile`` value names.

    Args:
        name_or_path: A shipped preset's name (``cpu``), or a path.
        relative_to: The directory of the file that names it, if any: a
            relative path is looked up there first.
        by_name: Whether a bare name (no ``/``, no ``.flags``) names a
            shipped preset (``--preset``) rather than a file (``--flagfile``).

    Returns:
        The file's path.

    Raises:
        ValueError: If it names no preset and no file (the message lists the
            presets).
    """
    bare = "/" not in name_or_path and not name_or_path.endswith(PRESET_SUFFIX)
    if by_name and bare:
        path = PRESET_DIR / f"{name_or_path}{PRESET_SUFFIX}"
        if path.is_file():
            return path
        raise ValueError(
            f"no preset {name_or_path!r}; presets: {', '.join(preset_names())} "
            "(or pass a path to a .flags file)"
        )
    path = pathlib.Path(name_or_path).expanduser()
    if not path.is_absolute() and relative_to is not None:
        beside = relative_to / path
        path = beside if beside.exists() else path
    if not path.is_file():
        raise ValueError(f"flags file {name_or_path!r} does not exist")
    return path


def expand_arguments(arguments: list[str]) -> Arguments:
    """Replaces every ``--preset`` and ``--flagfile`` by the flags it holds.

    Args:
        arguments: The command line without the program's name.

    Returns:
        The expanded :class:`Arguments`.

    Raises:
        ValueError: For a preset or file that does not exist, one without a
            value, or files that include each other.
    """
    expanded, presets, overrides = [], [], []
    for include, value in _includes(arguments):
        if include is None:
            overrides.append(value)
            expanded.append(value)
        else:
            path = preset_path(value, by_name=include == "--preset")
            presets.append(value if path.parent == PRESET_DIR else str(path))
            expanded.extend(_file_flags(path, ()))
    return Arguments(expanded, presets, overrides)


def _includes(arguments: list[str]):
    """Yields ``(include flag, its value)``, or ``(None, flag)``, per argument."""
    items = iter(arguments)
    for argument in items:
        name, equals, value = argument.partition("=")
        if name not in _INCLUDE_FLAGS:
            yield None, argument
            continue
        if not equals:
            value = next(items, "")
        if not value:
            raise ValueError(f"{name} needs a value: {name}=NAME_OR_PATH")
        yield name, value


def _file_flags(path: pathlib.Path, including: tuple) -> list[str]:
    """The flags of a file, with the files it includes expanded in place."""
    resolved = path.resolve()
    if resolved in including:
        chain = " -> ".join(str(item) for item in (*including, resolved))
        raise ValueError(f"flags files include each other: {chain}")
    flags = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for line in (line.strip() for line in lines):
        if not line or line.startswith("#"):
            continue
        for include, value in _includes([line]):
            if include is None:
                flags.append(value)
            else:
                included = preset_path(
                    value, relative_to=path.parent, by_name=include == "--preset"
                )
                flags.extend(_file_flags(included, (*including, resolved)))
    return flags
