"""A run's checkpoints: by name, strict, from the newest intact one, never NaN.

Every variable is saved under its name from
:func:`dreamer_tf.variable_tree.named_variables` (``agent/world_model/...``,
``progress/updates``), so any part of the agent can be restored alone, and a
checkpoint that lacks a variable (or holds one the agent does not have) is
refused with its name instead of restoring part of the weights.

``tf.train.CheckpointManager`` trusts its state file: when that file is
missing or garbled it starts over from fresh weights and later writes over the
old checkpoints, and a damaged checkpoint ends in a TensorFlow traceback.
:class:`RunCheckpoints` reads the ``ckpt-N`` files themselves instead, restores
the newest one that restores completely and holds only finite values, names
every one it skips, and refuses to start when none restores.
"""

from __future__ import annotations

import logging
import os
import pathlib
from collections.abc import Mapping

import numpy as np
import tensorflow as tf

from dreamer_tf.errors import RunError, first_line
from dreamer_tf.files import write_atomically
from dreamer_tf.run.rundir import checkpoint_numbers
from dreamer_tf.variable_tree import (
    Variable,
    check_stored,
    checkpoint_of,
    stored_names,
)

logger = logging.getLogger(__name__)

STATE_FILE_NAME = "checkpoint"
# Checkpoints of dreamer_tf 0.1 held the model's weights only as the
# optimizers' variable lists, under names like this.
POSITIONAL_MARKER = "_trainable_variables/"


def nonfinite_variables(variables) -> list[str]:
    """Names of the float variables that hold a NaN or an infinity.

    Args:
        variables: Iterable of ``tf.Variable`` or ``keras.Variable``.

    Returns:
        Their names, in the given order.
    """
    names = []
    for variable in variables:
        value = np.asarray(variable.numpy())
        if np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all():
            names.append(getattr(variable, "path", variable.name))
    return names


class RunCheckpoints:
    """Restores and saves the checkpoints of one run directory.

    Args:
        directory: The run's checkpoint directory.
        variables: Names to every variable a checkpoint holds (weights,
            optimizer slots, counters); each must be finite in every
            checkpoint and present in the one restored.
        max_to_keep: Most checkpoints kept on disk.
        partial: Whether ``variables`` may be part of what a checkpoint holds
            (e.g. the agent alone of a run's checkpoint); every one of them
            must still be there.
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        variables: Mapping[str, Variable],
        max_to_keep: int = 3,
        partial: bool = False,
    ):
        self.directory = pathlib.Path(directory)
        self.partial = partial
        self.named_variables = dict(variables)
        self.checkpoint = checkpoint_of(self.named_variables)
        self.variables = list(self.named_variables.values())
        self.max_to_keep = max_to_keep
        self.manager: tf.train.CheckpointManager | None = None

    def restore(self) -> str | None:
        """Restores the newest checkpoint that restores completely.

        Checkpoints newer than the one restored are skipped with a warning
        naming each and why, and are never written over: numbering continues
        after the newest file.

        Returns:
            The restored checkpoint's prefix, or None if there is none.

        Raises:
            RunError: If checkpoint files exist but none restores; nothing is
                written then.
        """
        restored = self.read(
            advice="They were left untouched; restore them from a backup, or "
            "move them away to train from fresh weights.",
            using="resuming from",
        )
        if restored is not None:
            self._repair_state_file(restored, checkpoint_numbers(self.directory)[0])
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, self.directory, self.max_to_keep
        )
        return None if restored is None else str(self._prefix(restored))

    def read(
        self, number: int | None = None, advice: str = "", using: str = "loading"
    ) -> int | None:
        """Restores the newest checkpoint that restores; writes nothing.

        Args:
            number: Restore ``ckpt-<number>`` only.
            advice: What the error for none restoring says to do.
            using: What the warning about skipped ones says is done instead
                (``resuming from`` ckpt-N).

        Returns:
            The restored checkpoint's number, or None if there is none.

        Raises:
            RunError: If checkpoint files exist (or ``number`` is given) but
                none restores, or one of another layout or agent is found.
        """
        numbers = checkpoint_numbers(self.directory)
        if number is not None:
            numbers = [number]
        skipped = []
        for candidate in numbers:
            self._check_names(candidate)
            try:
                self._restore(candidate)
            except Exception as error:  # noqa: BLE001 - any failure means damaged.
                reason = first_line(error, with_type=True)
                skipped.append(f"ckpt-{candidate} ({reason})")
                continue
            if skipped:
                logger.warning(
                    "Skipped damaged checkpoints %s; %s ckpt-%d.",
                    "; ".join(skipped),
                    using,
                    candidate,
                )
            return candidate
        if numbers:
            raise RunError(
                f"No checkpoint in {str(self.directory)!r} restores: "
                f"{'; '.join(skipped)}. {advice}".rstrip()
            )
        return None

    def save(self) -> str:
        """Saves a checkpoint after checking that every variable is finite.

        Returns:
            The prefix of the new checkpoint.

        Raises:
            RunError: If a variable is not finite; nothing is saved then.
        """
        nonfinite = nonfinite_variables(self.variables)
        if nonfinite:
            raise RunError(
                f"Refusing to checkpoint non-finite weights ({len(nonfinite)} "
                f"variables, e.g. {nonfinite[0]}); the checkpoints in "
                f"{str(self.directory)!r} were kept. Check the data and learning "
                "rates, then rerun to resume from the last checkpoint."
            )
        return self.manager.save()

    def _prefix(self, number: int) -> pathlib.Path:
        return self.directory / f"ckpt-{number}"

    def _check_names(self, number: int) -> None:
        """Refuses a readable checkpoint of another layout or architecture."""
        prefix = self._prefix(number)
        try:
            stored = stored_names(prefix)
        except Exception:  # noqa: BLE001 - unreadable: _restore names why.
            return
        if any(POSITIONAL_MARKER in name for name in stored):
            raise RunError(
                f"ckpt-{number} in {str(self.directory)!r} was written by a "
                "dreamer_tf before 0.2, which saved weights by their position in "
                "the optimizers; this version restores by name and cannot resume "
                "it. Train in a new logdir, or resume with dreamer_tf 0.1."
            )
        try:
            check_stored(self.named_variables, prefix, exact=not self.partial)
        except ValueError as error:
            raise RunError(
                f"ckpt-{number} in {str(self.directory)!r} does not fit this "
                f"agent: {error}. Run with the config and layers that wrote it "
                "(dreamer_tf.run.rundir records them), or use a new logdir."
            ) from None

    def _restore(self, number: int) -> None:
        prefix = self._prefix(number)
        if not prefix.with_name(f"{prefix.name}.index").exists():
            raise ValueError("its .index file is missing")
        status = self.checkpoint.restore(str(prefix))
        status.assert_existing_objects_matched()
        if self.partial:
            status.expect_partial()
        nonfinite = nonfinite_variables(self.variables)
        if nonfinite:
            raise ValueError(f"non-finite values in {nonfinite[0]}")

    def _repair_state_file(self, restored: int, newest: int) -> None:
        state = None
        try:
            state = tf.train.get_checkpoint_state(str(self.directory))
        except Exception as error:  # noqa: BLE001 - garbled text or binary.
            logger.warning(
                "The checkpoint state file in %s is unreadable (%s); rewriting it.",
                self.directory,
                first_line(error, with_type=True),
            )
        if state is None and not (self.directory / STATE_FILE_NAME).exists():
            logger.warning(
                "The checkpoint state file in %s is missing; rewriting it.",
                self.directory,
            )
        latest = state and pathlib.Path(state.model_checkpoint_path).name
        if latest != f"ckpt-{restored}":
            self._write_state_file(restored)
        # The next save gets a new number and never overwrites a damaged one.
        self.checkpoint.save_counter.assign(newest)

    def _write_state_file(self, restored: int) -> None:
        # The manager rotates the checkpoints this file lists, oldest first;
        # damaged newer ones stay out of it and on disk.
        kept = [
            number
            for number in sorted(checkpoint_numbers(self.directory))
            if number <= restored
        ][-self.max_to_keep :]
        lines = [f'model_checkpoint_path: "ckpt-{restored}"']
        lines += [f'all_model_checkpoint_paths: "ckpt-{number}"' for number in kept]
        write_atomically(self.directory / STATE_FILE_NAME, "\n".join(lines) + "\n")
