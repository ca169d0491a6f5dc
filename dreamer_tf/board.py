"""``dreamer-tf tensorboard``: TensorBoard on runs, each named by its directory.

``tensorboard --logdir runs/quick`` names that run ``.``, because its events
are in the logdir itself. :func:`main` instead gives TensorBoard a temporary
directory of links, one per run directory (named ``quick``) or parent
directory of runs (whose runs are then named ``parent/run``); a single parent
directory is given as it is, so its runs are named by their path below it.
Links, not TensorBoard's ``--logdir_spec name:path,...``: that flag turns off
TensorBoard's fast data server, and its Python loader then reads slowly and
keeps the points that a resumed run logs again, where the data server keeps
only the new ones.

TensorBoard imports TensorFlow when it serves its first page, in a server
thread; importing this package filters TensorFlow's start-up lines (see
:mod:`dreamer_tf._quiet`) once the import is over. :func:`_serve` imports it
first, in the main thread, so that a Ctrl-C during the first page cannot cut
the import short, which would leave the filter's lines unfiltered (as after
a crash).

What TensorBoard 2.21's frontend takes from the URL: ``?smoothing=0`` sets
the smoothing of the Time Series dashboard, which the printed URL opens
(``#scalars&_smoothingWeight=0`` would do it for the older Scalars tab).
Outlier clipping ("Ignore outliers in chart scaling", on by default) has
neither a URL parameter nor a server setting: the browser's local storage
keeps it, so unticking it once in the dashboard's settings lasts.
"""

from __future__ import annotations

import argparse
import pathlib
import signal
import sys
import tempfile
import threading

from tensorboard import program

PROG = "dreamer-tf tensorboard"
#: Added to TensorBoard's URL: the Time Series dashboard, without smoothing.
URL_SUFFIX = "?smoothing=0#timeseries"
# Files that make a directory a run rather than a parent directory of runs.
_RUN_FILES = ("config.json", "metrics.jsonl")
_EVENT_FILE_PREFIX = "events.out.tfevents."


def main(argv: list[str] | None = None) -> int:
    """Runs ``dreamer-tf tensorboard`` until Ctrl-C.

    Args:
        argv: The command line after ``tensorboard``; ``sys.argv[1:]`` if
            ``None``. Arguments after ``--`` go to TensorBoard unchanged.

    Returns:
        0 when Ctrl-C (or kill) stops TensorBoard, 1 if its server cannot
        start.

    Raises:
        SystemExit: With code 2 for invalid arguments, after the usage.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    split = argv.index("--") if "--" in argv else len(argv)
    parser = _parser()
    args = parser.parse_args(argv[:split])
    try:
        entries = named_entries(args.directories)
    except ValueError as error:
        parser.error(str(error))
    passed = argv[split + 1 :]
    flags = _server_flags(args) + _fast_loading_flags(passed) + passed
    with tempfile.TemporaryDirectory(prefix="dreamer-tf-tensorboard-") as links:
        logdir = _logdir(entries, pathlib.Path(links))
        return _serve(logdir, flags, entries)


def named_entries(directories: list[str]) -> dict[str, pathlib.Path]:
    """Names run directories and parent directories of runs by their own names.

    Args:
        directories: Paths of run directories (holding ``config.json``,
            ``metrics.jsonl`` or event files, or no folder yet) or of parent
            directories of runs.

    Returns:
        Each directory, resolved, under its name (``"."`` is named after the
        current directory); a directory given twice appears once.

    Raises:
        ValueError: If a directory does not exist, or two have the same name.
    """
    entries: dict[str, pathlib.Path] = {}
    for directory in directories:
        path = pathlib.Path(directory).expanduser().resolve()
        if not path.is_dir():
            raise ValueError(f"no directory {directory!r}; check the path")
        other = entries.setdefault(path.name, path)
        if other != path:
            raise ValueError(
                f"two directories are named {path.name!r} ({other} and {path}); "
                "give a directory above both instead: its runs are named by "
                "their path below it"
            )
    return entries


def is_run(directory: pathlib.Path) -> bool:
    """Whether ``directory`` is a run, rather than a parent directory of runs.

    Args:
        directory: An existing directory.

    Returns:
        True if it holds a run's files (``config.json``, ``metrics.jsonl`` or
        TensorBoard event files), or no folder (a run about to start).
    """
    entries = list(directory.iterdir())
    return any(
        entry.name in _RUN_FILES or entry.name.startswith(_EVENT_FILE_PREFIX)
        for entry in entries
    ) or not any(entry.is_dir() for entry in entries)


def _parser() -> argparse.ArgumentParser:
    # argparse cannot parse what follows --, so the usage is written out.
    indent = " " * len(f"usage: {PROG} ")
    parser = argparse.ArgumentParser(
        prog=PROG,
        usage="%(prog)s [-h] [--port PORT] [--host HOST] [--bind_all]\n"
        f"{indent}DIR [DIR ...] [-- TENSORBOARD_ARG ...]",
        description="Starts TensorBoard on runs, each named by its directory, "
        "and prints the URL to open: the Time Series dashboard, returns first, "
        "without smoothing. Ctrl-C stops it.",
        epilog="Arguments after -- go to TensorBoard unchanged (e.g. -- "
        "--reload_interval 30). TensorBoard's outlier clipping ('Ignore outliers "
        "in chart scaling') cannot be set from the URL: untick it once in the "
        "dashboard's settings, and the browser keeps it off.",
    )
    parser.add_argument(
        "directories",
        nargs="+",
        metavar="DIR",
        help="a run directory (its --logdir) or a directory of runs",
    )
    parser.add_argument(
        "--port",
        type=int,
        help="port to serve on (default: 6006, or the next free one)",
    )
    parser.add_argument("--host", help="address to serve on (default: localhost only)")
    parser.add_argument(
        "--bind_all",
        action="store_true",
        help="serve on all network interfaces (other machines can connect)",
    )
    return parser


def _server_flags(args: argparse.Namespace) -> list[str]:
    """TensorBoard's own flags for the options given."""
    flags = [] if args.port is None else ["--port", str(args.port)]
    flags += [] if args.host is None else ["--host", args.host]
    return flags + (["--bind_all"] if args.bind_all else [])


def _fast_loading_flags(passed: list[str]) -> list[str]:
    """``--load_fast=true`` when TensorBoard's data server is installed.

    TensorBoard's default (``auto``) uses the server then too, but writes a
    five-line notice to stderr about it; ``true`` does the same silently.
    """
    if any(flag.startswith("--load_fast") for flag in passed):
        return []
    try:
        import tensorboard_data_server
    except ImportError:
        return []
    return ["--load_fast=true"] if tensorboard_data_server.server_binary() else []


def _logdir(entries: dict[str, pathlib.Path], links: pathlib.Path) -> pathlib.Path:
    """The logdir for TensorBoard: a lone parent directory, or else ``links``.

    A parent directory given alone is used as it is, so runs started in it
    later appear too. Otherwise ``links`` gets a link to each directory
    under its name.
    """
    (only, *others) = entries.values()
    if not others and not is_run(only):
        return only
    for name, path in entries.items():
        (links / name).symlink_to(path, target_is_directory=True)
    return links


def _serve(
    logdir: pathlib.Path, flags: list[str], entries: dict[str, pathlib.Path]
) -> int:
    """Serves ``logdir`` with TensorBoard until Ctrl-C; prints where."""
    import tensorflow  # noqa: F401  (see the module doc)

    board = program.TensorBoard()
    board.configure(argv=[PROG, "--logdir", str(logdir), *flags])
    try:
        url = board.launch()
    except program.TensorBoardServerException as error:
        print(f"{PROG}: {error.msg}", file=sys.stderr)
        return 1
    width = max(len(name) for name in entries)
    for name, path in entries.items():
        kind = "run" if is_run(path) else "runs in"
        print(f"  {name:<{width}}  {kind} {path}")
    print(f"TensorBoard: open {url}{URL_SUFFIX}  (Ctrl-C stops it)", flush=True)
    # kill stops it as Ctrl-C does, so that the links are removed too.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
