"""Atomic, durable file writes: a crash leaves the old file or the new one.

Every file a run writes for a later process to trust (episodes, run files,
the checkpoint state file, exports) goes through :func:`atomic_file` or
:func:`replace_directory`: the data goes to a hidden temporary name in the
same directory (``.<name>.*.part``, which readers skip), is flushed and
fsynced, renamed over the final name, and the directory is fsynced so the
rename survives a power loss too. This module imports nothing heavy.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

TEMPORARY_SUFFIX = ".part"


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: int = 0o644) -> Iterator[BinaryIO]:
    """Opens a temporary file that replaces ``path`` when the block ends.

    If the block raises, the temporary file is removed and ``path`` is left
    as it was.

    Args:
        path: The final file; its directory must exist.
        mode: Its permission bits.

    Yields:
        The temporary file, open for binary writing.
    """
    path = pathlib.Path(path)
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX
    )
    try:
        with os.fdopen(descriptor, "wb") as file:
            # mkstemp creates 0600; run files are data others may read.
            os.fchmod(file.fileno(), mode)
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    fsync_directory(path.parent)


def write_atomically(path: str | os.PathLike, data: str | bytes) -> None:
    """Writes ``data`` (text as UTF-8) to ``path`` with :func:`atomic_file`."""
    with atomic_file(path) as file:
        file.write(data.encode("utf-8") if isinstance(data, str) else data)


def staging_directory(directory: str | os.PathLike) -> str:
    """A new empty directory beside ``directory``, to be moved into its place.

    Unlike ``tempfile.mkdtemp`` (``drwx------``) it gets the permissions a
    new directory of the user gets (``0777`` less the umask), which the
    final directory keeps.
    """
    directory = os.fspath(directory)
    staging = tempfile.mkdtemp(
        prefix=f".{os.path.basename(directory)}.",
        dir=os.path.dirname(directory) or ".",
    )
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)
    return staging


def replace_directory(staging: str | os.PathLike, directory: str | os.PathLike):
    """Moves a fully written ``staging`` directory to ``directory``.

    An existing ``directory`` is moved aside first and removed after, so a
    reader sees the old tree or the new one, never a mix. Both paths must be
    on one local file system.
    """
    staging, directory = os.fspath(staging), os.fspath(directory)
    if os.path.exists(directory):
        replaced = staging + ".replaced"
        os.rename(directory, replaced)
        os.rename(staging, directory)
        shutil.rmtree(replaced)
    else:
        os.rename(staging, directory)
    fsync_directory(os.path.dirname(directory) or ".")


def fsync_directory(directory: str | os.PathLike) -> None:
    """Makes renames in ``directory`` durable (where the platform allows it)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
