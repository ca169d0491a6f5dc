"""The authors' Dreamer training step (danijar/dreamer), timed on a fixed batch.

Loads the unmodified ``dreamer.py``, ``models.py`` and ``tools.py`` of a
checkout of https://github.com/danijar/dreamer (``git archive HEAD | tar -x``)
into this process, builds their ``Dreamer`` agent with their default (paper)
config and times their ``Dreamer.train``: their ``tf.function``, run inside
their one-replica ``MirroredStrategy`` as their training loop runs it. Their
code was written for TensorFlow 2.2; nothing of it is copied or edited. What
TensorFlow 2.21, tf_keras and TFP 0.25 lack is bridged in memory by
:func:`load_authors` and :func:`build_agent`:

- ``TF_USE_LEGACY_KERAS=1`` before TensorFlow is imported: their models build
  ``tf.keras`` layers and rely on Keras 2 (``GRUCell.get_initial_state(None,
  batch, dtype)``, layers that are ``tf.Module``\\ s whose ``variables`` their
  optimizer collects), so ``tf.keras`` must be tf_keras.
- ``tensorflow.keras.mixed_precision.experimental``, removed in TF 2.11: a
  module in ``sys.modules`` with ``global_policy``, ``set_policy``, ``Policy``
  and ``LossScaleOptimizer(optimizer, "dynamic")``, which maps to tf_keras's
  ``LossScaleOptimizer(optimizer)``: dynamic, initial scale 2**15, doubled
  after 2000 finite steps, as TF 2.2's ``"dynamic"``. Their ``tools.Adam``
  wraps its optimizer in it whatever the precision, so their float32 step
  scales its losses too.
- ``tf.optimizers.Adam`` set to ``tf_keras.optimizers.legacy.Adam``: in
  TF 2.2 ``tf.optimizers.Adam`` was this ``OptimizerV2`` Adam (one fused
  kernel per variable); tf_keras's default is the newer Adam.
- ``tf.distribute.MirroredStrategy.experimental_run_v2`` set to its ``run``:
  TF 2.2 renamed it so, and later releases dropped the old name.
- ``gym`` stubbed while their modules are imported, if it is not installed:
  ``tools.py`` and ``wrappers.py`` import it for environment classes only.
  The stub raises ``AttributeError``: autograph reads ``__module__`` of every
  global of a function it converts, and must convert their ``static_scan``
  (its ``len`` of a tensor works only converted).
- ``count_steps`` and ``load_dataset`` of their ``dreamer`` module replaced, so
  that ``Dreamer.__init__`` runs as written without an episode directory: no
  steps yet, and a dataset that repeats the synthetic batch through their
  ``preprocess``. Their constructor runs one training step on it to create
  the variables, as it does on their data.

Their modules change the process as they are imported: ``dreamer.py`` sets
``TF_CPP_MIN_LOG_LEVEL=3`` and ``MUJOCO_GL=egl`` and appends its directory to
``sys.path``; ``tools.py`` replaces ``sample`` of TFP's
``MultivariateNormalDiag`` and ``Categorical`` for every caller. So this runs
in a process of its own (:mod:`compare_authors` starts one per setting), and
``TF_ENABLE_ONEDNN_OPTS`` and other speed-relevant variables are left as the
environment sets them.

    python benchmarks/authors_dreamer.py /tmp/dreamer_authors --batch_size 2 \\
        --length 10 --steps 1 --warmup 1
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import os
import pathlib
import resource
import statistics
import sys
import time
import types

import numpy as np

AUTHORS_FILES = ("dreamer.py", "models.py", "tools.py")
"""The files of a danijar/dreamer checkout that the timed step runs."""

MIN_LENGTH = 6
"""Their step builds an open-loop image summary (run only when images are
logged) from 5 context steps and at least one more, so it needs 6 steps."""


def check_checkout(checkout: str | os.PathLike) -> pathlib.Path:
    """The checkout's directory, if it holds the authors' Dreamer (V1) code.

    Reads file names and one file's text only; imports nothing.

    Args:
        checkout: A directory made by ``git archive HEAD | tar -x`` (or a
            clone) of https://github.com/danijar/dreamer.

    Returns:
        The directory, resolved.

    Raises:
        ValueError: If it is no such checkout.
    """
    root = pathlib.Path(checkout).expanduser().resolve()
    missing = [name for name in AUTHORS_FILES if not (root / name).is_file()]
    if missing:
        raise ValueError(
            f"{checkout} is no checkout of danijar/dreamer (no {', '.join(missing)}"
            "); make one with: git clone https://github.com/danijar/dreamer"
        )
    source = (root / "dreamer.py").read_text(errors="replace")
    if "class Dreamer(" not in source or "def define_config(" not in source:
        raise ValueError(
            f"{root / 'dreamer.py'} defines no Dreamer and define_config: "
            "is this danijar/dreamer (Dreamer V1), not DreamerV2 or V3?"
        )
    return root


def check_setting(checkout: str | os.PathLike, length: int) -> pathlib.Path:
    """:func:`check_checkout`, and that ``length`` is long enough for their step.

    Raises:
        ValueError: If it is no checkout, or ``length`` < :data:`MIN_LENGTH`.
    """
    root = check_checkout(checkout)
    if length < MIN_LENGTH:
        raise ValueError(f"--length must be at least {MIN_LENGTH} for their step.")
    return root


def synthetic_batch(batch_size: int, length: int, seed: int = 0) -> dict:
    """The batch ``train_step.py`` times ours on, draw for draw.

    Args:
        batch_size: Sequences.
        length: Steps per sequence.
        seed: Seed of numpy's default generator.

    Returns:
        ``image`` (uint8, 64x64x3), ``action`` (6-dim, uniform in [-1, 1]),
        ``reward`` (standard normal) and ``discount`` (ones), each
        ``[batch_size, length, ...]``.
    """
    rng = np.random.default_rng(seed)
    shape = (batch_size, length)
    return {
        "image": rng.integers(0, 255, (*shape, 64, 64, 3), np.uint8),
        "action": rng.uniform(-1, 1, (*shape, 6)).astype(np.float32),
        "reward": rng.normal(size=shape).astype(np.float32),
        "discount": np.ones(shape, np.float32),
    }


def as_stored(batch: dict, precision: int) -> dict:
    """``batch`` with float arrays in ``precision``, as their episodes store them.

    Their ``Collect`` wrapper saves every float of an episode as float16 under
    ``--precision 16``; their model then concatenates actions with float16
    states.
    """
    dtype = {16: np.float16, 32: np.float32}[precision]
    return {
        key: value.astype(dtype) if np.issubdtype(value.dtype, np.floating) else value
        for key, value in batch.items()
    }


def _stub_module(name: str, why: str) -> types.ModuleType:
    """A module whose every attribute access fails, saying why it is a stub.

    It fails with ``AttributeError``, which ``getattr(module, name, default)``
    expects: autograph looks up ``__module__`` of every global of a function
    it converts (their ``tools.py`` holds ``gym``).
    """
    module = types.ModuleType(name)

    def __getattr__(attribute):
        raise AttributeError(f"{name} is a stub ({why}); no {name}.{attribute}")

    module.__getattr__ = __getattr__
    return module


def load_authors(checkout: str | os.PathLike) -> types.ModuleType:
    """Imports their ``dreamer.py`` (with ``models`` and ``tools``), shimmed.

    Must run before anything imports TensorFlow: ``tf.keras`` is resolved
    once, when TensorFlow is imported.

    Args:
        checkout: As for :func:`check_checkout`.

    Returns:
        Their ``dreamer`` module.

    Raises:
        ValueError: If ``checkout`` is no checkout of their code.
        RuntimeError: If TensorFlow was imported without ``TF_USE_LEGACY_KERAS``,
            or another ``dreamer``, ``models`` or ``tools`` is imported.
    """
    root = check_checkout(checkout)
    if "tensorflow" in sys.modules and os.environ.get("TF_USE_LEGACY_KERAS") != "1":
        raise RuntimeError(
            "TensorFlow was imported before load_authors: their code needs "
            "TF_USE_LEGACY_KERAS=1 when TensorFlow is imported."
        )
    for name in ("dreamer", "models", "tools", "wrappers"):
        module = sys.modules.get(name)
        if module is not None and pathlib.Path(module.__file__).parent != root:
            raise RuntimeError(f"another module {name!r} is imported: {module}")
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import tensorflow as tf

    keras = tf.keras
    experimental = types.ModuleType("tensorflow.keras.mixed_precision.experimental")
    experimental.global_policy = keras.mixed_precision.global_policy
    experimental.set_policy = keras.mixed_precision.set_global_policy
    experimental.Policy = keras.mixed_precision.Policy
    experimental.LossScaleOptimizer = _loss_scale_optimizer
    sys.modules[experimental.__name__] = experimental
    importlib.import_module(
        "tensorflow.keras.mixed_precision"
    ).experimental = experimental
    tf.optimizers = types.SimpleNamespace(Adam=keras.optimizers.legacy.Adam)
    tf.distribute.MirroredStrategy.experimental_run_v2 = (
        tf.distribute.MirroredStrategy.run
    )
    stubs = {}
    try:
        import gym  # noqa: F401
    except ImportError:
        stubs["gym"] = _stub_module("gym", "imported for environment classes only")
    sys.modules.update(stubs)
    sys.path.insert(0, str(root))
    try:
        import dreamer
    finally:
        sys.path.remove(str(root))
        for name in stubs:
            sys.modules.pop(name, None)
    for module in (dreamer, dreamer.models, dreamer.tools):
        if pathlib.Path(module.__file__).parent != root:
            raise RuntimeError(f"imported {module.__file__}, not from {root}")
    return dreamer


def _loss_scale_optimizer(optimizer, loss_scale):
    """TF 2.2's ``LossScaleOptimizer(optimizer, loss_scale)``, for ``"dynamic"``."""
    import tensorflow as tf

    if loss_scale != "dynamic":
        raise NotImplementedError(f"loss_scale {loss_scale!r}: only 'dynamic'")
    return tf.keras.mixed_precision.LossScaleOptimizer(optimizer)


def build_agent(dreamer: types.ModuleType, batch: dict, precision: int = 32):
    """Their ``Dreamer`` with their default config, for ``batch``'s shapes.

    Sets up as their ``main`` does (GPU memory growth, the mixed-precision
    policy), then runs their constructor, which trains one step on ``batch``
    to create every variable.

    Args:
        dreamer: Their module, from :func:`load_authors`.
        batch: From :func:`as_stored`; sets batch size and length.
        precision: 32 (float32) or 16 (their ``mixed_float16``; on a CPU
            their model loss is infinite once a batch holds 6 or more steps:
            TensorFlow's CPU kernels sum float16 in float16, and the mean of
            the image log-likelihoods, about -11800 each, overflows).

    Returns:
        ``(agent, config)``: their ``Dreamer`` and its config.
    """
    import tensorflow as tf

    config = dreamer.define_config()
    config.precision = precision
    config.batch_size, config.batch_length = batch["action"].shape[:2]
    for gpu in tf.config.experimental.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)
    if precision == 16:
        dreamer.prec.set_policy(dreamer.prec.Policy("mixed_float16"))
    dreamer.count_steps = lambda datadir, config: 0
    dreamer.load_dataset = lambda directory, config: (
        tf.data.Dataset.from_tensors(batch)
        .repeat()
        .map(functools.partial(dreamer.preprocess, config=config))
    )
    actions = types.SimpleNamespace(shape=batch["action"].shape[2:])
    agent = dreamer.Dreamer(config, None, actions, tf.summary.create_noop_writer())
    return agent, config


def run_setting(
    checkout: str | os.PathLike,
    batch_size: int,
    length: int,
    steps: int,
    warmup: int,
    precision: int = 32,
) -> dict:
    """Times their training step in this process.

    Each update is ``agent.train(batch)`` under their strategy's scope, as in
    their ``Dreamer.__call__``, on the preprocessed batch, then reading the
    model loss it logged (which waits for the update to finish).

    Args:
        checkout: As for :func:`check_checkout`.
        batch_size: Sequences per batch.
        length: Steps per sequence; at least :data:`MIN_LENGTH`.
        steps: Timed updates.
        warmup: Untimed updates before them (after the constructor's one).
        precision: As for :func:`build_agent`.

    Returns:
        ``build_s`` (the constructor, its tracing and first update),
        ``first_update_s``, ``median_update_s`` of the timed updates,
        ``model_loss``, ``value_loss`` and ``actor_loss`` of every update,
        ``changed_variables`` of ``variables`` (trained weights that differ
        after the updates from after the constructor; 4 of 55 keep still
        while the KL is below their free nats: the prior's last two layers
        get no gradient then), ``parameters`` and ``peak_rss_gib``.
    """
    dreamer = load_authors(checkout)
    import tensorflow as tf

    batch = as_stored(synthetic_batch(batch_size, length), precision)
    start = time.perf_counter()
    agent, config = build_agent(dreamer, batch, precision)
    build_seconds = time.perf_counter() - start
    data = dreamer.preprocess(
        {key: tf.constant(value) for key, value in batch.items()}, config
    )
    trained = [
        variable
        for optimizer in (agent._model_opt, agent._value_opt, agent._actor_opt)
        for variable in optimizer._variables
    ]
    before = [variable.numpy() for variable in trained]
    losses = {name: [] for name in ("model_loss", "value_loss", "actor_loss")}
    durations = []
    with agent._strategy.scope():
        for _ in range(warmup + steps):
            for name in losses:
                agent._metrics[name].reset_state()
            start = time.perf_counter()
            agent.train(data)
            model_loss = float(agent._metrics["model_loss"].result())
            durations.append(time.perf_counter() - start)
            losses["model_loss"].append(model_loss)
            for name in ("value_loss", "actor_loss"):
                losses[name].append(float(agent._metrics[name].result()))
    changed = sum(
        not np.array_equal(old, variable.numpy())
        for old, variable in zip(before, trained)
    )
    return {
        "build_s": build_seconds,
        "first_update_s": durations[0],
        "median_update_s": statistics.median(durations[warmup:]),
        **losses,
        "changed_variables": changed,
        "variables": len(trained),
        "parameters": int(sum(np.prod(variable.shape) for variable in trained)),
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


def main() -> None:
    """Times one setting and prints its figures as one JSON line, last."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkout", help="A checkout of danijar/dreamer.")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--length", type=int, default=50)
    parser.add_argument("--steps", type=int, default=4, help="Timed updates.")
    parser.add_argument("--warmup", type=int, default=2, help="Untimed updates.")
    parser.add_argument("--precision", type=int, choices=[32, 16], default=32)
    args = parser.parse_args()
    try:
        check_setting(args.checkout, args.length)
    except ValueError as error:
        parser.error(str(error))
    if args.batch_size < 1 or args.steps < 1 or args.warmup < 0:
        parser.error("--batch_size and --steps must be positive, --warmup >= 0.")
    figures = run_setting(
        args.checkout,
        args.batch_size,
        args.length,
        args.steps,
        args.warmup,
        args.precision,
    )
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
