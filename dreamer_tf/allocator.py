"""Which memory allocator a training process runs on: tcmalloc when installed.

TensorFlow on a CPU allocates and frees many short-lived buffers every
update; under tcmalloc (Debian's and Ubuntu's ``libtcmalloc-minimal4``,
conda-forge's ``gperftools``) the update took about 0.9x the time it took
under glibc's malloc on one machine measured, and the same time on another
(BUILD_NOTES.md). An allocator
can only be chosen before the process starts, so the training command's
entry point calls :func:`reexec_under_tcmalloc` first: if tcmalloc is found
and not yet loaded, the process replaces itself with the same command line
run with ``LD_PRELOAD`` naming it. Environment workers, actors and
benchmark children inherit the variable.

``DREAMER_TF_ALLOCATOR`` chooses: ``auto`` (the default: tcmalloc when
found), ``tcmalloc`` (refuse to start without it) or ``system`` (glibc's
malloc). This module does not import TensorFlow.
"""

from __future__ import annotations

import os
import pathlib
import sys
import sysconfig
from collections.abc import Mapping, Sequence

ALLOCATOR_VARIABLE = "DREAMER_TF_ALLOCATOR"
CHOICES = ("auto", "tcmalloc", "system")
LIBRARY_NAMES = ("libtcmalloc_minimal.so.4", "libtcmalloc.so.4")
INSTALL_HINT = "apt install libtcmalloc-minimal4, or conda install gperftools"
# tcmalloc writes a "large alloc" line to stderr for every allocation above
# this many bytes (1 GiB by default); a replay of a long run makes many.
_REPORT_THRESHOLD_VARIABLE = "TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD"
_NO_REPORTS = str(2**62)


class AllocatorError(ValueError):
    """``DREAMER_TF_ALLOCATOR`` names no choice, or asks for a missing tcmalloc."""


def search_directories() -> list[pathlib.Path]:
    """Where :func:`find_tcmalloc` looks: the Python prefix's, then the system's."""
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    candidates = [pathlib.Path(sys.prefix) / "lib"]
    if os.environ.get("CONDA_PREFIX"):
        candidates.append(pathlib.Path(os.environ["CONDA_PREFIX"]) / "lib")
    for root in ("/usr/local/lib", "/usr/lib", "/lib"):
        if multiarch:
            candidates.append(pathlib.Path(root) / multiarch)
        candidates.append(pathlib.Path(root))
    candidates.append(pathlib.Path("/usr/lib64"))
    return candidates


def find_tcmalloc(directories: Sequence[pathlib.Path] | None = None):
    """The path of an installed tcmalloc library, or ``None``.

    Args:
        directories: Where to look; :func:`search_directories` if ``None``.
    """
    for directory in search_directories() if directories is None else directories:
        for name in LIBRARY_NAMES:
            path = pathlib.Path(directory) / name
            if path.is_file():
                return path
    return None


def choice(environ: Mapping[str, str] | None = None) -> str:
    """The allocator asked for in ``DREAMER_TF_ALLOCATOR`` (``auto`` if unset).

    Raises:
        AllocatorError: If the value is not one of :data:`CHOICES`.
    """
    environ = os.environ if environ is None else environ
    value = environ.get(ALLOCATOR_VARIABLE, "").strip().lower() or "auto"
    if value not in CHOICES:
        raise AllocatorError(
            f"{ALLOCATOR_VARIABLE}={environ[ALLOCATOR_VARIABLE]!r} is not one of "
            f"{', '.join(CHOICES)}."
        )
    return value


def _preload_entries(environ: Mapping[str, str]) -> list[str]:
    """``LD_PRELOAD``'s libraries (separated by spaces or colons)."""
    return environ.get("LD_PRELOAD", "").replace(":", " ").split()


def preloaded_tcmalloc(environ: Mapping[str, str] | None = None) -> str | None:
    """The entry of ``LD_PRELOAD`` that names tcmalloc, if any."""
    environ = os.environ if environ is None else environ
    for entry in _preload_entries(environ):
        if "tcmalloc" in pathlib.Path(entry).name:
            return entry
    return None


def preload_environment(
    environ: Mapping[str, str] | None = None,
    directories: Sequence[pathlib.Path] | None = None,
) -> dict[str, str]:
    """The environment a process started from here should run with.

    ``environ`` with tcmalloc added to ``LD_PRELOAD`` when the choice allows
    and the library is found, and its large-allocation reports turned off
    (unless set). With ``system``, tcmalloc is taken out of ``LD_PRELOAD``.

    Args:
        environ: The environment to extend; ``os.environ`` if ``None``.
        directories: Passed to :func:`find_tcmalloc`.

    Raises:
        AllocatorError: For a bad choice, or ``tcmalloc`` asked for and not found.
    """
    environment = dict(os.environ if environ is None else environ)
    wanted = choice(environment)
    preloaded = preloaded_tcmalloc(environment)
    if wanted == "system":
        if preloaded:
            entries = _preload_entries(environment)
            environment["LD_PRELOAD"] = " ".join(e for e in entries if e != preloaded)
        return environment
    if not preloaded:
        library = find_tcmalloc(directories)
        if library is None:
            if wanted == "tcmalloc":
                raise AllocatorError(
                    f"{ALLOCATOR_VARIABLE}=tcmalloc, but no tcmalloc library was "
                    f"found ({INSTALL_HINT})."
                )
            return environment
        existing = environment.get("LD_PRELOAD", "").strip()
        environment["LD_PRELOAD"] = f"{library} {existing}".strip()
    environment.setdefault(_REPORT_THRESHOLD_VARIABLE, _NO_REPORTS)
    return environment


def reexec_under_tcmalloc(directories: Sequence[pathlib.Path] | None = None) -> None:
    """Restarts this process under tcmalloc when it should and can; else returns.

    Call it first thing in a program's entry point. The process is replaced
    by the same command line (``sys.orig_argv``) with ``LD_PRELOAD`` set as
    :func:`preload_environment` says; it returns at once when that changes
    nothing (tcmalloc already loaded, or not installed) or off Linux. A bad
    ``DREAMER_TF_ALLOCATOR`` ends the program with a one-line error.
    """
    try:
        environment = preload_environment(directories=directories)
    except AllocatorError as error:
        sys.exit(f"error: {error}")
    same = environment.get("LD_PRELOAD", "") == os.environ.get("LD_PRELOAD", "")
    if same or not sys.platform.startswith("linux"):
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, list(sys.orig_argv), environment)


def loaded_tcmalloc(maps: str | None = None) -> str | None:
    """The path of the tcmalloc library mapped into this process, if any.

    Args:
        maps: The text of ``/proc/self/maps``; read if ``None``.
    """
    if maps is None:
        try:
            maps = pathlib.Path("/proc/self/maps").read_text()
        except OSError:
            return None
    for fields in map(str.split, maps.splitlines()):
        if fields and "tcmalloc" in pathlib.Path(fields[-1]).name:
            return fields[-1]
    return None


def describe(
    environ: Mapping[str, str] | None = None,
    maps: str | None = None,
    directories: Sequence[pathlib.Path] | None = None,
) -> str:
    """What the start of a run says about the allocator it runs on."""
    environ = os.environ if environ is None else environ
    loaded = loaded_tcmalloc(maps)
    if loaded:
        return f"tcmalloc ({loaded}; {ALLOCATOR_VARIABLE}=system for glibc's malloc)"
    if choice(environ) == "system":
        return f"glibc malloc ({ALLOCATOR_VARIABLE}=system)"
    if find_tcmalloc(directories) is None:
        return f"glibc malloc (tcmalloc not found: {INSTALL_HINT})"
    return (
        "glibc malloc (tcmalloc found, not loaded: this process was not "
        "started by dreamer-tf or cli.launch)"
    )
