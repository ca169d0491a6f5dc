"""Episode replay: atomic episode files on disk, a bounded copy in RAM, sampling.

An episode is a dict of numpy arrays with equal leading length ``T + 1``:
observation keys (``image`` uint8 ``[T+1, H, W, C]``, float32 vectors, bool
flags), ``action`` float32 ``[T+1, A]`` where ``action[t]`` led to observation
``t`` (zeros at ``t = 0``), ``reward`` float32 ``[T+1]`` (``reward[0] = 0``) and
``discount`` float32 ``[T+1]``. ``T`` is the episode's number of steps.

Each episode is stored as ``<UTC time>-<uuid>-<T>.npz`` (mode 0644). The name
is a hint only: :class:`Replay` counts and samples the episodes whose data
loads, is finite and matches the expected keys, dtypes and shapes. This module
imports TensorFlow only inside :meth:`Replay.dataset`, so environment workers
and tools can use it without.
"""

import dataclasses
import logging
import os
import pathlib
import re
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from dreamer_tf.files import atomic_file

logger = logging.getLogger(__name__)

REQUIRED_KEYS = ("action", "reward", "discount")
EPISODE_FILE_PATTERN = re.compile(
    r"^(?P<time>\d{8}T\d{12})-(?P<uid>[0-9a-f]{32})-(?P<steps>\d+)\.npz$"
)
_FLOAT32_KEYS = REQUIRED_KEYS

Episode = dict[str, np.ndarray]
Signature = dict[str, tuple[np.dtype, tuple[int, ...]]]
EPISODE_FILE_MODE = 0o644


def episode_steps(episode: Mapping[str, np.ndarray]) -> int:
    """Number of steps ``T`` of an episode (its arrays have ``T + 1`` entries).

    Args:
        episode: An episode dict.

    Returns:
        ``len(episode["reward"]) - 1``.
    """
    return len(episode["reward"]) - 1


def steps_from_file_name(path: str | os.PathLike) -> int | None:
    """Reads an episode's number of steps from its file name.

    Args:
        path: Path or name of a file.

    Returns:
        The number of steps, or None if the name is not an episode file name.
    """
    match = EPISODE_FILE_PATTERN.match(pathlib.Path(path).name)
    return int(match["steps"]) if match else None


def count_episodes(directory: str | os.PathLike) -> tuple[int, int]:
    """Counts the episodes and steps in a directory from file names only.

    Fast but trusting: a damaged or foreign file with an episode's name counts
    too. :attr:`Replay.total_steps` counts from the data.

    Args:
        directory: Directory of episode files; a missing directory counts as
            empty.

    Returns:
        ``(episodes, steps)``. Multiply steps by the action repeat for frames.
    """
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        return 0, 0
    steps = [steps_from_file_name(path) for path in directory.iterdir()]
    steps = [count for count in steps if count is not None]
    return len(steps), sum(steps)


def check_episode(episode: Mapping[str, Any], copy: bool = True) -> Episode:
    """Checks an episode's layout and returns it as a dict of arrays.

    Copying matters: an array that is a view into a larger buffer would keep
    the whole buffer alive in the replay, and a caller could overwrite an array
    it reuses.

    Args:
        episode: Mapping from key to array-like with a shared leading length.
        copy: Copy every array; without, arrays are only converted if needed.

    Returns:
        A new dict of C-contiguous arrays (that own their memory if ``copy``);
        ``action``, ``reward`` and ``discount`` as float32.

    Raises:
        ValueError: If a required key is missing, lengths differ, or the episode
            has no step.
    """
    missing = [key for key in REQUIRED_KEYS if key not in episode]
    if missing:
        raise ValueError(
            f"Episode lacks required keys {missing}; it has {sorted(episode)}."
        )
    checked = {}
    for key, value in episode.items():
        dtype = np.float32 if key in _FLOAT32_KEYS else None
        checked[key] = np.array(value, dtype=dtype, order="C", copy=copy or None)
    lengths = {key: len(value) if value.ndim else 0 for key, value in checked.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(
            f"Episode arrays must share their leading length, got {lengths}."
        )
    if lengths["reward"] < 2:
        raise ValueError("An episode needs at least one step (two entries).")
    return checked


def find_nonfinite(episode: Mapping[str, np.ndarray]) -> str | None:
    """Describes the first non-finite (NaN or infinite) float entry of an episode.

    Args:
        episode: An episode dict.

    Returns:
        For example ``"reward at step 12"``, or None if every float is finite.
    """
    for key, array in episode.items():
        if not np.issubdtype(array.dtype, np.floating):
            continue
        bad = ~np.isfinite(array.reshape(len(array), -1)).all(axis=1)
        if bad.any():
            return f"{key} at step {int(np.argmax(bad))}"
    return None


def episode_signature(observation_space: Any, action_space: Any) -> Signature:
    """The keys, dtypes and per-step shapes of episodes from an environment.

    Args:
        observation_space: A ``gymnasium.spaces.Dict`` of one environment.
        action_space: Its ``Box`` action space.

    Returns:
        ``{key: (dtype, shape)}`` as :meth:`Replay.add` stores them.
    """
    signature = {
        key: (np.dtype(space.dtype), tuple(space.shape))
        for key, space in observation_space.spaces.items()
    }
    signature["action"] = (np.dtype(np.float32), tuple(action_space.shape))
    signature["reward"] = (np.dtype(np.float32), ())
    signature["discount"] = (np.dtype(np.float32), ())
    return signature


def signature_mismatch(signature: Signature, expected: Signature) -> str | None:
    """Says how an episode's signature differs from the expected one.

    Returns:
        One ``key: found instead of expected`` clause per differing key (for
        example an image of shape ``(32, 32, 3)`` instead of ``(64, 64, 3)``),
        joined by ``"; "``, or None if they are equal.
    """
    differences = [
        f"{key}: {signature.get(key, 'missing')} instead of "
        f"{expected.get(key, 'absent')}"
        for key in sorted(set(signature) | set(expected))
        if signature.get(key) != expected.get(key)
    ]
    return "; ".join(differences) or None


def save_episode(
    directory: str | os.PathLike, episode: Mapping[str, Any]
) -> pathlib.Path:
    """Writes an episode atomically as a compressed ``.npz``.

    The data goes to a temporary file in the same directory, is flushed and
    fsynced, and only then renamed to its final name, so a crash at any moment
    leaves either the whole episode or no ``.npz`` at all.

    Args:
        directory: Target directory; created if missing.
        episode: The episode (see the module doc).

    Returns:
        Path of the written file, ``<UTC time>-<uuid>-<steps>.npz``.

    Raises:
        ValueError: See :func:`check_episode`.
    """
    return _write_episode(pathlib.Path(directory), check_episode(episode, copy=False))


def _write_episode(directory: pathlib.Path, episode: Episode) -> pathlib.Path:
    directory.mkdir(parents=True, exist_ok=True)
    now_ns = time.time_ns()
    seconds, microseconds = divmod(now_ns // 1000, 1_000_000)
    timestamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(seconds))
    timestamp += f"{microseconds:06d}"
    path = directory / f"{timestamp}-{uuid.uuid4().hex}-{episode_steps(episode)}.npz"
    with atomic_file(path, EPISODE_FILE_MODE) as file:
        np.savez_compressed(file, **episode)
    return path


def load_episode(path: str | os.PathLike) -> Episode:
    """Reads and checks one episode file.

    Args:
        path: An episode file written by :func:`save_episode`.

    Returns:
        The episode.

    Raises:
        ValueError: If the name is not an episode file name, the file is not a
            zip archive, or the content is not an episode whose length matches
            the name.
        Exception: Whatever numpy or zipfile raise on truncated or corrupt files
            (``zipfile.BadZipFile``, ``zlib.error``, ``EOFError``, ``OSError``).
    """
    path = pathlib.Path(path)
    steps = steps_from_file_name(path)
    if steps is None:
        raise ValueError(f"{path.name!r} is not an episode file name.")
    # numpy calls any file that is neither .npy nor zip "pickled data".
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path.name!r} is not a zip (.npz) archive: damaged or not an episode."
        )
    with np.load(path, allow_pickle=False) as archive:
        # Reading every array checks its CRC, which catches truncated files.
        episode = {key: archive[key] for key in archive.files}
    episode = check_episode(episode, copy=False)
    if episode_steps(episode) != steps:
        raise ValueError(
            f"{path.name!r} names {steps} steps but holds {episode_steps(episode)}."
        )
    return episode


@dataclasses.dataclass(frozen=True)
class MemoryUsage:
    """RAM held by a replay's episodes.

    Attributes:
        held_bytes: Bytes of the memory blocks the stored arrays keep alive.
        raw_bytes: Bytes of the array elements themselves.
    """

    held_bytes: int
    raw_bytes: int

    @property
    def ratio(self) -> float:
        """``held_bytes / raw_bytes`` (1.0 when empty)."""
        return self.held_bytes / self.raw_bytes if self.raw_bytes else 1.0


class Replay:
    """Episodes on disk and, up to a capacity, in RAM; samples training windows.

    On construction it loads the episodes already in ``directory``, newest
    first, up to the capacity, so a restarted run keeps its data. Files that
    are truncated, corrupt, foreign (including leftovers of interrupted
    writes), hold non-finite values or differ from the expected signature are
    skipped with one warning each (naming the file and the reason) and counted
    in :attr:`skipped_files`; they never stop training. Files beyond the
    capacity are not loaded; their reward arrays alone are checked to count
    their steps in :attr:`total_steps`.

    Sampling (the spec's "Replay"): pick an episode uniformly among those with
    at least ``length`` entries, then a uniform window of ``length``
    consecutive entries inside it; windows never cross episodes.
    ``balance_ends`` draws the start uniformly from ``[0, T + 1]`` and clips it
    to the last valid start, which gives the window ending at the episode's end
    extra weight (as the authors' ``balance`` option).

    Thread safety: :meth:`add` may be called while a :meth:`dataset` iterator
    samples in tf.data's thread.
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        capacity_frames: int | None = None,
        *,
        action_repeat: int = 1,
        evict_from_disk: bool = False,
        balance_ends: bool = False,
        seed: int | None = None,
        signature: Signature | None = None,
    ):
        """Creates the replay and loads the episodes in ``directory``.

        Args:
            directory: Where episodes are written and read; created if missing.
            capacity_frames: Most frames kept in RAM (``steps *
                action_repeat``); the oldest episodes are evicted first, but the
                newest one is always kept. None keeps everything.
            action_repeat: Frames per stored step, to convert the capacity.
            evict_from_disk: Also delete evicted episodes' files (including
                those beyond the capacity when loading).
            balance_ends: Favour windows at episode ends (see the class doc).
            seed: Seed of the generator used by :meth:`sample` by default.
            signature: Keys, dtypes and per-step shapes every episode must have
                (see :func:`episode_signature`); None takes them from the
                newest loadable file.

        Raises:
            ValueError: If the capacity or action repeat is not positive.
        """
        if capacity_frames is not None and capacity_frames < 1:
            raise ValueError(
                f"capacity_frames must be positive, got {capacity_frames}."
            )
        if action_repeat < 1:
            raise ValueError(f"action_repeat must be positive, got {action_repeat}.")
        self.directory = pathlib.Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.capacity_frames = capacity_frames
        self.action_repeat = action_repeat
        self.evict_from_disk = evict_from_disk
        self.balance_ends = balance_ends
        self.rng = np.random.default_rng(seed)
        self.skipped_files = 0
        self._lock = threading.Lock()
        # Oldest first; dicts keep insertion order.
        self._episodes: dict[pathlib.Path, Episode] = {}
        self._num_steps = 0
        self._total_steps = 0
        self._signature = dict(signature) if signature is not None else None
        self._load_directory()

    @property
    def num_episodes(self) -> int:
        """Number of episodes held in RAM."""
        return len(self._episodes)

    @property
    def num_steps(self) -> int:
        """Number of steps of the episodes held in RAM."""
        return self._num_steps

    @property
    def total_steps(self) -> int:
        """Steps of every valid episode on disk, held in RAM or not.

        Counted from the data, never from file names. Episodes evicted from
        disk (``evict_from_disk``) no longer count.
        """
        return self._total_steps

    @property
    def total_frames(self) -> int:
        """The environment frames of :attr:`total_steps` (``action_repeat`` each)."""
        return self._total_steps * self.action_repeat

    def __len__(self) -> int:
        return len(self._episodes)

    def latest(self, count: int) -> list[Episode]:
        """The ``count`` most recently added episodes held in RAM, oldest first.

        Episodes loaded from disk at start-up count as added in file-name
        (time) order. The arrays are shared with the replay: do not modify
        them.
        """
        with self._lock:
            episodes = list(self._episodes.values())
        return episodes[-count:] if count > 0 else []

    def add(self, episode: Mapping[str, Any]) -> pathlib.Path:
        """Writes a finished episode to disk and keeps it in RAM.

        Args:
            episode: The episode (see the module doc). Its arrays are copied.

        Returns:
            The path of the episode file.

        Raises:
            ValueError: If the episode is malformed, holds a non-finite value,
                or its keys, dtypes or shapes differ from the expected ones.
        """
        episode = check_episode(episode)
        self._check_signature(episode)
        _check_finite(episode)
        path = _write_episode(self.directory, episode)
        with self._lock:
            self._insert(path, episode)
            self._total_steps += episode_steps(episode)
            self._evict()
        return path

    def sample(
        self, batch_size: int, length: int, rng: np.random.Generator | None = None
    ) -> Episode:
        """Samples a batch of windows, each from one episode.

        Args:
            batch_size: Number of windows.
            length: Entries per window.
            rng: Generator to draw with; defaults to :attr:`rng`.

        Returns:
            Dict of arrays ``[batch_size, length, ...]`` with the stored dtypes.

        Raises:
            ValueError: If no stored episode has ``length`` entries.
        """
        rng = self.rng if rng is None else rng
        with self._lock:
            episodes = [
                episode
                for episode in self._episodes.values()
                if len(episode["reward"]) >= length
            ]
            signature = self._signature
        if not episodes:
            raise ValueError(
                f"No episode in the replay has {length} entries ({length - 1} steps) "
                f"yet; it holds {len(self._episodes)} episodes. Collect more or "
                "sample shorter windows."
            )
        batch = {
            key: np.empty((batch_size, length, *shape), dtype)
            for key, (dtype, shape) in signature.items()
        }
        for row, episode_index in enumerate(rng.integers(0, len(episodes), batch_size)):
            episode = episodes[episode_index]
            entries = len(episode["reward"])
            if self.balance_ends:
                start = min(int(rng.integers(0, entries + 1)), entries - length)
            else:
                start = int(rng.integers(0, entries - length + 1))
            for key, array in episode.items():
                batch[key][row] = array[start : start + length]
        return batch

    def dataset(
        self, batch_size: int, length: int, seed: int | None = None, prefetch: int = 2
    ) -> Any:
        """A ``tf.data.Dataset`` of sampled batches, endlessly.

        Args:
            batch_size: Windows per batch.
            length: Entries per window.
            seed: Seed of this dataset's sampling generator.
            prefetch: Batches prepared ahead in a background thread.

        Returns:
            ``tf.data.Dataset`` of dicts of tensors ``[batch_size, length, ...]``
            with the stored dtypes (images stay uint8).

        Raises:
            ValueError: If the replay is empty (the element spec is taken from
                the stored episodes).
        """
        import tensorflow as tf

        if self._signature is None:
            raise ValueError("The replay is empty; add episodes before dataset().")
        rng = np.random.default_rng(seed)

        def generate_batches() -> Iterator[Episode]:
            while True:
                yield self.sample(batch_size, length, rng)

        output_signature = {
            key: tf.TensorSpec((batch_size, length, *shape), tf.as_dtype(dtype))
            for key, (dtype, shape) in self._signature.items()
        }
        dataset = tf.data.Dataset.from_generator(
            generate_batches, output_signature=output_signature
        )
        return dataset.prefetch(prefetch)

    def memory_usage(self) -> MemoryUsage:
        """Measures the RAM held by the stored arrays.

        Returns:
            Held bytes (each underlying memory block counted once) and raw
            bytes (the arrays' ``nbytes``).
        """
        with self._lock:
            arrays = [
                array
                for episode in self._episodes.values()
                for array in episode.values()
            ]
        raw_bytes = sum(array.nbytes for array in arrays)
        blocks = {}
        for array in arrays:
            owner = array
            while isinstance(owner, np.ndarray) and owner.base is not None:
                owner = owner.base
            size = (
                owner.nbytes
                if isinstance(owner, np.ndarray)
                else memoryview(owner).nbytes
            )
            blocks[id(owner)] = size
        return MemoryUsage(held_bytes=sum(blocks.values()), raw_bytes=raw_bytes)

    def _load_directory(self) -> None:
        loaded = []
        loaded_steps = 0
        capacity_reached = False
        for path in sorted(self.directory.iterdir(), reverse=True):
            if not path.is_file():
                continue
            steps = steps_from_file_name(path)
            if steps is None:
                self._skip(
                    path, "not an episode file (or left by an interrupted write)"
                )
                continue
            capacity_reached = capacity_reached or (
                bool(loaded) and not self._fits(loaded_steps + steps)
            )
            if capacity_reached and self.evict_from_disk:
                path.unlink(missing_ok=True)
                continue
            try:
                if capacity_reached:
                    _check_reward_array(path, steps)
                else:
                    episode = load_episode(path)
                    self._check_signature(episode)
                    _check_finite(episode)
            except Exception as error:  # noqa: BLE001 - any bad file is skipped.
                self._skip(path, _reason(error))
                continue
            self._total_steps += steps
            if not capacity_reached:
                loaded.append((path, episode))
                loaded_steps += steps
        for path, episode in reversed(loaded):
            self._insert(path, episode)

    def _skip(self, path: pathlib.Path, reason: str) -> None:
        self.skipped_files += 1
        logger.warning("Replay skips %s: %s", path, reason)

    def _fits(self, steps: int) -> bool:
        if self.capacity_frames is None:
            return True
        return steps * self.action_repeat <= self.capacity_frames

    def _insert(self, path: pathlib.Path, episode: Episode) -> None:
        self._episodes[path] = episode
        self._num_steps += episode_steps(episode)

    def _evict(self) -> None:
        while len(self._episodes) > 1 and not self._fits(self._num_steps):
            path = next(iter(self._episodes))
            steps = episode_steps(self._episodes.pop(path))
            self._num_steps -= steps
            if self.evict_from_disk:
                path.unlink(missing_ok=True)
                self._total_steps -= steps

    def _check_signature(self, episode: Episode) -> None:
        signature = {
            key: (value.dtype, value.shape[1:]) for key, value in episode.items()
        }
        if self._signature is None:
            self._signature = signature
            return
        mismatch = signature_mismatch(signature, self._signature)
        if mismatch:
            raise ValueError(f"Episode keys, dtypes or shapes differ: {mismatch}.")


def _check_finite(episode: Episode) -> None:
    problem = find_nonfinite(episode)
    if problem:
        raise ValueError(f"Episode holds a non-finite {problem}.")


def _check_reward_array(path: pathlib.Path, steps: int) -> None:
    if not zipfile.is_zipfile(path):
        raise ValueError("not a zip (.npz) archive: damaged or not an episode.")
    with np.load(path, allow_pickle=False) as archive:
        reward = archive["reward"]
    if reward.shape != (steps + 1,):
        raise ValueError(f"names {steps} steps but its reward has {reward.shape}.")
    if not np.isfinite(reward).all():
        raise ValueError("its reward holds non-finite values.")


def _reason(error: Exception) -> str:
    # ValueErrors are ours and say what is wrong; name the type of others.
    if isinstance(error, ValueError):
        return str(error)
    return f"{type(error).__name__}: {error}"
