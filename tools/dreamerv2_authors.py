"""The authors' side of the DreamerV2 one-step comparison (danijar/dreamerv2).

Runs the authors' unmodified ``dreamerv2/agent.py`` and ``dreamerv2/common``
from a checkout (``git -C <mirror> archive HEAD dreamerv2 | tar -x -C DIR``) in
this process, under TensorFlow 2.21, tf_keras 2.21 and TFP 0.25. Nothing of
theirs is copied or edited: the few incompatibilities are bridged by entries
in ``sys.modules`` and by attributes set at run time (see :func:`load_authors`).

Import order: this module sets ``TF_USE_LEGACY_KERAS=1`` when it is imported
(``tf.keras`` must be tf_keras, i.e. Keras 2: their ``GRUCell`` subclasses
``tf.keras.layers.AbstractRNNCell``). ``dreamer_tf`` imports ``keras`` (Keras 3)
directly and never touches ``tf.keras``, so both work in one process in either
order: import this module first, or import ``dreamer_tf`` first and then call
:func:`load_authors`, which repairs ``tensorflow.keras`` if TensorFlow was
imported without the variable. The one thing that cannot be mixed is code
that itself uses ``tf.keras`` and expects Keras 3 there.

Repeatability: importing this module before TensorFlow also sets
``TF_ENABLE_ONEDNN_OPTS=0`` (unless set): with oneDNN's kernels a step repeated
from the same weights differs in the last float32 bit at the preset sizes
(``tf.config.experimental.enable_op_determinism()`` does not cure it); without
them it is bitwise repeatable. Set it in the environment when TensorFlow is
imported first.

With oneDNN off, concurrent op scheduling still made repeats differ in the
last bit at the atari preset size in some runs; one inter-op thread
(``tf.config.threading.set_inter_op_parallelism_threads(1)``, before the first
op; the command line does this) made every repeat bitwise equal.

Randomness: inside :func:`fixed_draws`, every TFP draw of Normal,
OneHotCategorical and TruncatedNormal (and thus their OneHotDist,
TruncNormalDist, MultivariateNormalDiag, Independent wrappers) is a pure
function of its shape. The patch acts when a function is *traced*: the
authors' methods are ``tf.function``s that keep their traces, so the first call
of anything that samples must happen inside :func:`fixed_draws` (the harness
does all its work inside it; :func:`build_authors` creates the variables on a
batch shape that training never uses, so no stale trace is reused).

Usage::

    python tools/dreamerv2_authors.py /tmp/dreamerv2 --preset dmc_vision
    python tools/dreamerv2_authors.py /tmp/dreamerv2 --preset atari
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import pathlib
import sys
import types
import warnings

if os.environ.get("TF_USE_LEGACY_KERAS") not in ("1", "true", "True"):
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
# oneDNN's CPU kernels make repeated steps differ in the last float32 bit at
# the preset sizes; without them a step is bitwise repeatable. Read when
# TensorFlow is imported; an explicit setting in the environment wins.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402

FIXED_SEED = (20211, 7)
"""The stateless (philox) seed of every draw inside :func:`fixed_draws`."""

_TRUNC_UNIFORM_MARGIN = 1e-6
_LOADED = {}
_SHELLS = {}


class _Space:
    """A stand-in for a gym space: only ``.shape`` (and ``.n``) are read."""

    def __init__(self, shape, n=None, dtype=None):
        self.shape = tuple(shape)
        self.dtype = dtype
        if n is not None:
            self.n = n

    def __repr__(self):
        extra = f", n={self.n}" if hasattr(self, "n") else ""
        return f"_Space(shape={self.shape}{extra})"


# --------------------------------------------------------------------------
# Loading.


def _tf_keras_for_tensorflow():
    """Makes ``tf.keras`` and ``tensorflow.keras`` resolve to tf_keras.

    Returns:
        The tf_keras public API module (``tf_keras.api._v2.keras``).
    """
    import importlib

    import tensorflow as tf
    from tensorflow.python.util import lazy_loader

    tfk = importlib.import_module("tf_keras.api._v2.keras")
    current = tf.__dict__.get("keras")
    resolved = None
    if isinstance(current, lazy_loader.KerasLazyLoader):
        if current.__dict__.get("_tfll_initialized"):
            resolved = current.__dict__.get("_tfll_keras_version")
    if resolved not in (None, "tf_keras"):
        warnings.warn(
            "tf.keras had already been resolved to Keras 3 in this process; "
            "rebinding tf.keras (and tf.optimizers) to tf_keras for the "
            "authors' code. Code that uses tf.keras expecting Keras 3 breaks.",
            stacklevel=3,
        )
        tf.keras = tfk
        tf.optimizers = tfk.optimizers
    # ``from tensorflow.keras import layers`` resolves ``tensorflow.keras``
    # through tensorflow.__path__, whose order was fixed when TensorFlow was
    # imported; pin the module so the order of imports does not matter.
    if getattr(sys.modules.get("tensorflow.keras"), "__name__", "") != tfk.__name__:
        sys.modules["tensorflow.keras"] = tfk
    sys.modules["tensorflow.keras.layers"] = tfk.layers
    sys.modules["tensorflow.keras.mixed_precision"] = tfk.mixed_precision
    # Removed in TF 2.11+: their nets.py imports it, for global_policy().
    exp = types.ModuleType("tensorflow.keras.mixed_precision.experimental")
    exp.global_policy = tfk.mixed_precision.global_policy
    exp.set_policy = tfk.mixed_precision.set_global_policy
    exp.Policy = tfk.mixed_precision.Policy
    exp.LossScaleOptimizer = tfk.mixed_precision.LossScaleOptimizer
    sys.modules[exp.__name__] = exp
    tfk.mixed_precision.experimental = exp
    return tfk


def _stub_module(name, why):
    """Returns a placeholder module whose every attribute access fails."""
    mod = types.ModuleType(name)

    def __getattr__(attr):
        raise ImportError(f"{name} is a stub ({why}); {name}.{attr} is unavailable")

    mod.__getattr__ = __getattr__
    return mod


def load_authors(checkout: str, restore_random_patches: bool = True):
    """Imports the authors' ``agent`` module and ``common`` package.

    Shims, all in memory: ``tensorflow.keras`` pinned to tf_keras;
    ``tensorflow.keras.mixed_precision.experimental`` recreated with
    ``global_policy``; ``gym`` stubbed while ``common/envs.py`` is imported (it
    is only used inside environment classes); the mixed-precision global policy
    set to float32. Their ``common/dists.py`` replaces ``tf.random.normal`` and
    ``tf.random.categorical`` process-wide by versions that drop ``seed``;
    with ``restore_random_patches`` the originals are put back (their code
    never passes a seed, so this changes nothing for them). Their
    ``common/tfutils.py`` also adds ``mean``, ``astype``, ``reshape`` ... to
    ``tf.Tensor`` and ``tf.Variable`` and sets ``tf.tensor``; those are
    additive and stay.

    Args:
        checkout: Directory that contains ``dreamerv2/agent.py`` (or the
            ``dreamerv2`` directory itself).
        restore_random_patches: Undo their ``tf.random`` seed-dropping patch.

    Returns:
        ``(agent, common)``: the two imported modules.
    """
    root = pathlib.Path(checkout).expanduser().resolve()
    if (root / "dreamerv2" / "agent.py").exists():
        root = root / "dreamerv2"
    if not (root / "agent.py").exists() or not (root / "common").is_dir():
        raise FileNotFoundError(f"no dreamerv2/agent.py and common/ under {checkout}")
    key = str(root)
    if key in _LOADED:
        return _LOADED[key]
    if _LOADED:
        raise RuntimeError(f"another checkout is already loaded: {list(_LOADED)}")
    for name in ("agent", "common", "expl"):
        mod = sys.modules.get(name)
        if mod is not None and not str(getattr(mod, "__file__", "")).startswith(key):
            raise RuntimeError(f"a different top-level module {name!r} is imported")

    import tensorflow as tf

    tfk = _tf_keras_for_tensorflow()
    tfk.mixed_precision.set_global_policy("float32")
    orig_normal, orig_categorical = tf.random.normal, tf.random.categorical

    stubs = {}
    for name, why in (("gym", "environment wrappers only"),):
        try:
            __import__(name)
        except ImportError:
            stubs[name] = _stub_module(name, why)
    sys.modules.update(stubs)
    sys.path.insert(0, key)
    try:
        import agent  # their dreamerv2/agent.py (imports common and expl)
        import common
    finally:
        sys.path.remove(key)
        for name in stubs:
            sys.modules.pop(name, None)
    if restore_random_patches:
        tf.random.normal = orig_normal
        tf.random.categorical = orig_categorical
    _LOADED[key] = (agent, common)
    return agent, common


# --------------------------------------------------------------------------
# Config.


def _yaml_loader():
    """A PyYAML SafeLoader that reads floats like YAML 1.2 (``1e-4``).

    Their configs.yaml is read with ruamel.yaml (YAML 1.2), where ``3e-4`` is a
    float; PyYAML (YAML 1.1) would read it as the string ``'3e-4'``.
    """
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(
            r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
            |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
            |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
            |[-+]?\.(?:inf|Inf|INF)
            |\.(?:nan|NaN|NAN))$""",
            re.X,
        ),
        list("-+0123456789."),
    )
    return Loader


def authors_config(common_or_checkout, preset: str, overrides: dict | None = None):
    """Their ``common.Config``: ``defaults`` + ``preset`` + ``overrides``.

    Mirrors their train.py (``Config(defaults).update(preset)``, then flags),
    with ``precision`` forced to 32.

    Args:
        common_or_checkout: Their ``common`` module, or a checkout path.
        preset: A section of their configs.yaml, e.g. ``dmc_vision``, ``atari``.
        overrides: Flat dotted keys (``rssm.deter``) or nested dicts.

    Returns:
        Their immutable ``common.Config``.
    """
    import yaml

    if isinstance(common_or_checkout, (str, os.PathLike)):
        _, common = load_authors(str(common_or_checkout))
    else:
        common = common_or_checkout
    path = pathlib.Path(common.__file__).parent.parent / "configs.yaml"
    configs = yaml.load(path.read_text(), Loader=_yaml_loader())
    config = common.Config(configs["defaults"])
    if preset not in (None, "", "defaults"):
        config = config.update(configs[preset])
    config = config.update(dict(overrides or {}))
    return config.update({"precision": 32})


# --------------------------------------------------------------------------
# Building.


class _LegacyOptimizers:
    """What ``tf.optimizers`` meant in TF 2.4 (OptimizerV2) for their Optimizer."""

    def __init__(self, tfk):
        self.Adam = tfk.optimizers.legacy.Adam
        self.Nadam = tfk.optimizers.legacy.Nadam
        self.Adamax = tfk.optimizers.legacy.Adamax
        self.SGD = tfk.optimizers.legacy.SGD


@contextlib.contextmanager
def _optimizer_flavour(flavour):
    import tensorflow as tf

    if flavour == "current":
        yield
        return
    if flavour != "legacy":
        raise ValueError(f"optimizer flavour {flavour!r}: 'legacy' or 'current'")
    tfk = sys.modules["tensorflow.keras"]
    saved = tf.__dict__.get("optimizers")
    tf.optimizers = _LegacyOptimizers(tfk)
    try:
        yield
    finally:
        tf.optimizers = saved


def dummy_batch(config, obs_shape, action_size, discrete, batch, length, seed=0):
    """A random batch in their replay format (numpy arrays ``[B, T, ...]``).

    Args:
        config: Their config (unused except for documentation symmetry).
        obs_shape: Image shape ``(H, W, C)``.
        action_size: Number of action dimensions (classes when discrete).
        discrete: One-hot actions (and one terminal step) if true.
        batch: B.
        length: T.
        seed: numpy seed.

    Returns:
        Dict with ``image`` uint8, ``action`` float32, ``reward`` float32,
        ``is_first``/``is_last``/``is_terminal`` bool.
    """
    del config
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (batch, length, *obs_shape), dtype=np.uint8)
    if discrete:
        action = np.eye(action_size, dtype=np.float32)[
            rng.integers(0, action_size, (batch, length))
        ]
    else:
        action = rng.uniform(-1, 1, (batch, length, action_size)).astype(np.float32)
    reward = rng.normal(0, 1, (batch, length)).astype(np.float32)
    is_first = np.zeros((batch, length), bool)
    is_first[:, 0] = True
    is_last = np.zeros((batch, length), bool)
    is_terminal = np.zeros((batch, length), bool)
    if discrete:
        is_terminal[batch - 1, length - 1] = True
        is_last[batch - 1, length - 1] = True
    return dict(
        image=image,
        action=action,
        reward=reward,
        is_first=is_first,
        is_last=is_last,
        is_terminal=is_terminal,
    )


def build_authors(
    config,
    obs_shape=(64, 64, 3),
    action_size: int = 6,
    discrete: bool = False,
    optimizer: str = "legacy",
    checkout: str | None = None,
):
    """Builds their ``WorldModel`` and ``ActorCritic`` through their ``Agent``.

    Their ``Agent.__init__`` runs unmodified (it creates ``tfstep`` as
    ``tf.Variable(0, tf.int64)``, which is an *int32* variable whose
    ``trainable`` argument is ``tf.int64``; that is how it was in TF 2.4 too).
    The mixed-precision policy is float32.

    Args:
        config: Their ``common.Config`` (see :func:`authors_config`).
        obs_shape: Image shape.
        action_size: Action dimensions (or classes, if ``discrete``).
        discrete: Discrete actions: the act space gets ``.n``, so their
            ``auto`` settings pick the onehot actor and reinforce gradients.
        optimizer: ``"legacy"`` makes their ``tf.optimizers.Adam`` the
            OptimizerV2 Adam of TF 2.4 (``tf_keras.optimizers.legacy.Adam``);
            ``"current"`` keeps tf_keras 2.21's new Adam.
        checkout: Their checkout, if :func:`load_authors` was not called yet.

    Returns:
        ``(world_model, actor_critic, tfstep, create_variables)``;
        ``create_variables(data=None)`` runs one forward pass of the world
        model, actor, critic and target critic (no update) so that every
        lazily created layer exists; by default on a 1x2 dummy batch, a shape
        training does not use, so no trace with the wrong sampler is reused.
    """
    import tensorflow as tf

    if not _LOADED:
        if checkout is None:
            raise RuntimeError("call load_authors(checkout) first")
        load_authors(checkout)
    agent_mod, _ = next(iter(_LOADED.values()))
    sys.modules["tensorflow.keras"].mixed_precision.set_global_policy("float32")
    obs_space = {
        "image": _Space(obs_shape, dtype=np.uint8),
        "reward": _Space((), dtype=np.float32),
        "is_first": _Space((), dtype=bool),
        "is_last": _Space((), dtype=bool),
        "is_terminal": _Space((), dtype=bool),
    }
    act = _Space((action_size,), n=action_size if discrete else None)
    with _optimizer_flavour(optimizer):
        ag = agent_mod.Agent(config, obs_space, {"action": act}, 0)
    wm, ac = ag.wm, ag._task_behavior
    _SHELLS[(id(wm), id(ac))] = (ag, wm, ac)

    def create_variables(data=None):
        if data is None:
            data = dummy_batch(config, obs_shape, action_size, discrete, 1, 2)
        data = {k: tf.convert_to_tensor(v) for k, v in data.items()}
        _, _, outs, _ = wm.loss(data)
        feat = outs["feat"]
        ac.actor(feat)
        ac.critic(feat)
        ac._target_critic(feat)

    return wm, ac, ag.tfstep, create_variables


# --------------------------------------------------------------------------
# Training.


def _shell(agent_mod, wm, ac):
    key = (id(wm), id(ac))
    if key not in _SHELLS:
        ag = agent_mod.Agent.__new__(agent_mod.Agent)
        ag.config = wm.config
        ag.wm = wm
        ag._task_behavior = ac
        ag._expl_behavior = ac
        ag.tfstep = wm.tfstep
        ag.step = 0
        _SHELLS[key] = (ag, wm, ac)
    return _SHELLS[key][0]


def authors_train_step(world_model, actor_critic, data, jit: bool = True):
    """One training step: their ``Agent.train`` (``expl_behavior: greedy``).

    Runs their own ``Agent.train`` (a ``tf.function``): ``wm.train(data)``,
    then ``actor_critic.train(wm, post, data['is_terminal'], reward_fn)`` with
    ``reward_fn = lambda seq: wm.heads['reward'](seq['feat']).mode()``.

    Args:
        world_model: Their WorldModel.
        actor_critic: Their ActorCritic.
        data: Dict of ``[B, T, ...]`` arrays (see :func:`dummy_batch`).
        jit: Traced (their default, ``jit: True``); False runs it eagerly via
            ``tf.config.run_functions_eagerly``.

    Returns:
        Dict of all metrics as Python floats.
    """
    import tensorflow as tf

    agent_mod, _ = next(iter(_LOADED.values()))
    ag = _shell(agent_mod, world_model, actor_critic)
    data = {k: tf.convert_to_tensor(v) for k, v in data.items()}
    before = tf.config.functions_run_eagerly()
    tf.config.run_functions_eagerly(not jit)
    try:
        _, metrics = ag.train(data)
    finally:
        tf.config.run_functions_eagerly(before)
    return {k: float(np.asarray(v)) for k, v in sorted(metrics.items())}


# --------------------------------------------------------------------------
# Variables.


def _leaf(variable):
    return variable.name.split("/")[-1].split(":")[0]


def _walk(obj, prefix, out, common, tfk):
    import tensorflow as tf

    if obj is None:
        return
    if isinstance(obj, tf.Variable):
        out[prefix] = obj
    elif isinstance(obj, common.GRUCell):
        _walk(obj._layer, f"{prefix}/layer", out, common, tfk)
        if obj._norm:
            _walk(obj._norm, f"{prefix}/norm", out, common, tfk)
    elif isinstance(obj, tfk.layers.Layer):
        for v in obj.weights:
            out[f"{prefix}/{_leaf(v)}"] = v
    elif isinstance(obj, common.NormLayer):
        _walk(obj._layer, prefix, out, common, tfk)
    elif isinstance(obj, common.Module):
        for name, child in getattr(obj, "_modules", {}).items():
            _walk(child, f"{prefix}/{name}", out, common, tfk)
        if isinstance(obj, common.EnsembleRSSM):
            _walk(obj._cell, f"{prefix}/gru", out, common, tfk)
    else:
        raise TypeError(f"{prefix}: cannot name the variables of {type(obj)}")


def authors_variables(world_model, actor_critic, check: bool = True):
    """Their model variables by stable, readable names.

    Names come from the ``Module.get`` registry (``_modules``), walked
    recursively, plus the attributes that hold modules directly:
    ``wm/encoder/conv0/kernel``, ``wm/rssm/img_in/kernel``,
    ``wm/rssm/gru/layer/kernel``, ``wm/rssm/gru/norm/gamma``,
    ``wm/heads/decoder/convin/kernel``, ``wm/heads/reward/out/out/kernel``,
    ``ac/actor/dense0/kernel``, ``ac/actor/out/std/kernel``,
    ``ac/critic/...``, ``ac/target_critic/...``; then the non-trainable state
    ``ac/rewnorm/mag``, ``ac/updates`` and ``tfstep``.

    Args:
        world_model: Their WorldModel.
        actor_critic: Their ActorCritic.
        check: Assert that every variable of both objects (but the optimizers')
            is named exactly once.

    Returns:
        ``collections.OrderedDict`` name -> ``tf.Variable``.
    """
    _, common = next(iter(_LOADED.values()))
    tfk = sys.modules["tensorflow.keras"]
    wm, ac = world_model, actor_critic
    out = collections.OrderedDict()
    _walk(wm.encoder, "wm/encoder", out, common, tfk)
    _walk(wm.rssm, "wm/rssm", out, common, tfk)
    for name, head in wm.heads.items():
        _walk(head, f"wm/heads/{name}", out, common, tfk)
    _walk(ac.actor, "ac/actor", out, common, tfk)
    _walk(ac.critic, "ac/critic", out, common, tfk)
    if ac._target_critic is not ac.critic:
        _walk(ac._target_critic, "ac/target_critic", out, common, tfk)
    out["ac/rewnorm/mag"] = ac.rewnorm.mag
    if hasattr(ac, "_updates"):
        out["ac/updates"] = ac._updates
    out["tfstep"] = wm.tfstep
    if check:
        opt_ids = {id(v) for v in authors_optimizer_variables(wm, ac).values()}
        mine = [id(v) for v in out.values()]
        assert len(mine) == len(set(mine)), "a variable got two names"
        theirs = {
            id(v): v.name
            for v in (*wm.variables, *ac.variables)
            if id(v) not in opt_ids
        }
        missing = [n for i, n in theirs.items() if i not in set(mine)]
        assert not missing, f"variables without a name: {missing}"
    return out


def authors_optimizer_variables(world_model, actor_critic):
    """Optimizer state by name: ``opt/<model|actor|critic>/<slot>/<var name>``.

    Slots exist after the first update (the legacy Adam creates them lazily);
    ``opt/<name>/iterations`` is the step count used for bias correction.

    Args:
        world_model: Their WorldModel.
        actor_critic: Their ActorCritic.

    Returns:
        ``collections.OrderedDict`` name -> ``tf.Variable``.
    """
    wm, ac = world_model, actor_critic
    _, common = next(iter(_LOADED.values()))
    tfk = sys.modules["tensorflow.keras"]
    out = collections.OrderedDict()
    named = collections.OrderedDict()
    _walk(wm.encoder, "wm/encoder", named, common, tfk)
    _walk(wm.rssm, "wm/rssm", named, common, tfk)
    for name, head in wm.heads.items():
        _walk(head, f"wm/heads/{name}", named, common, tfk)
    _walk(ac.actor, "ac/actor", named, common, tfk)
    _walk(ac.critic, "ac/critic", named, common, tfk)
    for opt in (wm.model_opt, ac.actor_opt, ac.critic_opt):
        inner = opt._opt
        label = opt._name
        slot_names = inner.get_slot_names() if hasattr(inner, "get_slot_names") else []
        for vname, var in named.items():
            for slot in slot_names:
                try:
                    s = inner.get_slot(var, slot)
                except (KeyError, ValueError):
                    continue
                out[f"opt/{label}/{slot}/{vname}"] = s
        if hasattr(inner, "get_slot_names") and inner._iterations is not None:
            out[f"opt/{label}/iterations"] = inner.iterations
    return out


def _all_state(world_model, actor_critic):
    state = dict(authors_variables(world_model, actor_critic, check=False))
    state.update(authors_optimizer_variables(world_model, actor_critic))
    return state


def snapshot(world_model, actor_critic):
    """Copies of all variables (model, optimizer, counters) by name."""
    return {
        k: v.numpy().copy() for k, v in _all_state(world_model, actor_critic).items()
    }


def restore(world_model, actor_critic, values):
    """Assigns a :func:`snapshot`; state created after it is zeroed.

    Zero is the initial value of everything created lazily during a step
    (Adam's ``m``, ``v`` and ``iterations``).
    """
    for k, v in _all_state(world_model, actor_critic).items():
        v.assign(
            values[k] if k in values else np.zeros(v.shape, v.dtype.as_numpy_dtype)
        )


# --------------------------------------------------------------------------
# Fixed random draws.


def _normal_sample_n(self, n, seed=None):
    import tensorflow as tf
    from tensorflow_probability.python.internal import prefer_static as ps

    del seed
    loc = tf.convert_to_tensor(self.loc)
    scale = tf.convert_to_tensor(self.scale)
    shape = ps.concat([[n], self._batch_shape_tensor(loc=loc, scale=scale)], 0)
    noise = tf.random.stateless_normal(
        shape, seed=FIXED_SEED, dtype=self.dtype, alg="philox"
    )
    return loc + scale * noise


def _onehot_sample_n(self, n, seed=None):
    import tensorflow as tf
    from tensorflow_probability.python.internal import prefer_static as ps

    del seed
    logits = self._logits_parameter_no_checks()
    shape = ps.concat([[n], ps.shape(logits)], 0)
    tiny = np.finfo(logits.dtype.as_numpy_dtype).tiny
    u = tf.random.stateless_uniform(
        shape,
        seed=FIXED_SEED,
        minval=tiny,
        maxval=1.0,
        dtype=logits.dtype,
        alg="philox",
    )
    gumbel = -tf.math.log(-tf.math.log(u))
    index = tf.argmax(logits + gumbel, axis=-1)
    return tf.one_hot(index, ps.shape(logits)[-1], dtype=self.dtype)


def _trunc_normal_sample_n(self, n, seed=None):
    import tensorflow as tf
    from tensorflow_probability.python.internal import prefer_static as ps

    del seed
    loc, scale, low, high = self._loc_scale_low_high()
    batch = self._batch_shape_tensor(loc=loc, scale=scale, low=low, high=high)
    shape = ps.concat([[n], batch], 0)
    u = tf.random.stateless_uniform(
        shape,
        seed=FIXED_SEED,
        minval=_TRUNC_UNIFORM_MARGIN,
        maxval=1.0 - _TRUNC_UNIFORM_MARGIN,
        dtype=tf.float64,
        alg="philox",
    )
    loc, scale, low, high = (tf.cast(t, tf.float64) for t in (loc, scale, low, high))

    def ndtr(z):  # the standard normal CDF
        return 0.5 * tf.math.erfc(-z / np.sqrt(2.0))

    cdf_low = ndtr((low - loc) / scale)
    cdf_high = ndtr((high - loc) / scale)
    x = loc + scale * tf.math.ndtri(cdf_low + u * (cdf_high - cdf_low))
    return tf.cast(x, self.dtype)


def _sampler_for(cls):
    from tensorflow_probability import distributions as tfd

    for base, fn in (
        (tfd.TruncatedNormal, _trunc_normal_sample_n),
        (tfd.OneHotCategorical, _onehot_sample_n),
        (tfd.Normal, _normal_sample_n),
    ):
        if issubclass(cls, base):
            return fn
    raise TypeError(f"{cls} is no Normal, OneHotCategorical or TruncatedNormal")


@contextlib.contextmanager
def fixed_draws(extra_classes=()):
    """Makes every TFP draw a pure function of its shape (class-level patch).

    Patches ``_sample_n`` of ``tfd.Normal`` (``loc + scale * noise``),
    ``tfd.OneHotCategorical`` (Gumbel-max from the logits, one-hot in the
    distribution's dtype) and ``tfd.TruncatedNormal`` (inverse CDF of a fixed
    uniform in (1e-6, 1 - 1e-6), computed in float64; reparameterised: its
    gradient w.r.t. loc and scale equals TFP's implicit one), and of each class
    in ``extra_classes`` that overrides ``_sample_n`` itself. Noise is
    ``tf.random.stateless_{normal,uniform}(shape, seed=FIXED_SEED,
    alg="philox")``. Applies to any code (theirs and ours) that *traces* or
    runs eagerly inside the block. Their ensemble index
    ``tf.random.uniform((), 0, ensemble, tf.int32)`` is always 0 for
    ``ensemble: 1`` (all presets), so it is left alone.

    Args:
        extra_classes: More distribution classes to patch.

    Yields:
        None.
    """
    from tensorflow_probability import distributions as tfd

    targets = [
        (tfd.Normal, _normal_sample_n),
        (tfd.OneHotCategorical, _onehot_sample_n),
        (tfd.TruncatedNormal, _trunc_normal_sample_n),
    ]
    for cls in extra_classes:
        if "_sample_n" in cls.__dict__ and cls not in [t for t, _ in targets]:
            targets.append((cls, _sampler_for(cls)))
    saved = [(cls, cls.__dict__["_sample_n"]) for cls, _ in targets]
    for cls, fn in targets:
        cls._sample_n = fn
    try:
        yield
    finally:
        for cls, fn in saved:
            cls._sample_n = fn


def check_trunc_normal_gradient(eps=1e-6):
    """Compares the patched TruncatedNormal sample's gradient with differences.

    Returns:
        Max abs difference between autodiff and central finite differences of
        ``sum(w * sample)`` w.r.t. loc and scale (float64).
    """
    import tensorflow as tf
    from tensorflow_probability import distributions as tfd

    loc0 = np.array([-0.9, -0.3, 0.0, 0.5, 0.95])
    scale0 = np.array([0.1, 0.3, 1.0, 2.0, 0.15])
    w = np.array([1.0, -2.0, 0.5, 3.0, 1.5])

    def f(loc, scale):
        return tf.reduce_sum(w * tfd.TruncatedNormal(loc, scale, -1.0, 1.0).sample())

    with fixed_draws():
        loc, scale = tf.Variable(loc0), tf.Variable(scale0)
        with tf.GradientTape() as tape:
            y = f(loc, scale)
        g_loc, g_scale = tape.gradient(y, [loc, scale])
        worst = 0.0
        for i in range(len(loc0)):
            for arr, grad, which in ((loc0, g_loc, 0), (scale0, g_scale, 1)):
                hi, lo = arr.copy(), arr.copy()
                hi[i] += eps
                lo[i] -= eps
                args_hi = (hi, scale0) if which == 0 else (loc0, hi)
                args_lo = (lo, scale0) if which == 0 else (loc0, lo)
                fd = (f(*args_hi) - f(*args_lo)).numpy() / (2 * eps)
                worst = max(worst, abs(fd - grad.numpy()[i]))
        sample = tfd.TruncatedNormal(loc0, scale0, -1.0, 1.0).sample(1000)
        assert bool(tf.reduce_all((sample > -1) & (sample < 1)))
    return worst


# --------------------------------------------------------------------------
# Command line.


TINY = {
    "rssm.deter": 32,
    "rssm.hidden": 32,
    "rssm.stoch": 4,
    "rssm.discrete": 4,
    "encoder.cnn_depth": 4,
    "decoder.cnn_depth": 4,
    "reward_head.units": 16,
    "reward_head.layers": 2,
    "discount_head.units": 16,
    "discount_head.layers": 2,
    "actor.units": 16,
    "actor.layers": 2,
    "critic.units": 16,
    "critic.layers": 2,
    "imag_horizon": 5,
}


def _run(checkout, preset, size, batch, length, actions, show_vars, jit, seed=0):
    agent_mod, common = load_authors(checkout)
    discrete = preset == "atari"
    config = authors_config(common, preset, TINY if size == "tiny" else {})
    print(f"\n=== {preset} / {size}: batch {batch}x{length}, jit={jit} ===")
    import tensorflow as tf

    with fixed_draws():
        tf.random.set_seed(seed)  # only the initial weights depend on it
        wm, ac, _, create = build_authors(config, (64, 64, 3), actions, discrete)
        create()
        names = authors_variables(wm, ac)
        data = dummy_batch(config, (64, 64, 3), actions, discrete, batch, length)
        start = snapshot(wm, ac)
        first = authors_train_step(wm, ac, data, jit=jit)
        after_first = snapshot(wm, ac)
        restore(wm, ac, start)
        second = authors_train_step(wm, ac, data, jit=jit)
        after_second = snapshot(wm, ac)
    width = max(len(k) for k in first)
    for k, v in first.items():
        print(f"  {k:<{width}}  {v: .9g}")
    same = first == second
    same_vars = all(
        np.array_equal(after_first[k], after_second[k]) for k in after_first
    )
    changed = sum(
        not np.array_equal(start[k], after_first[k]) for k in start if k in after_first
    )
    print(
        f"  repeat from the same weights: metrics identical={same}, "
        f"variables identical={same_vars}; {changed}/{len(start)} changed"
    )
    unchanged = [k for k in start if np.array_equal(start[k], after_first[k])]
    print(f"  unchanged by the step: {unchanged}")
    if not same:
        for k in first:
            if first[k] != second[k]:
                print(f"    differs: {k} {first[k]!r} {second[k]!r}")
    count = sum(int(np.prod(v.shape)) for v in names.values())
    print(f"  {len(names)} variables, {count} numbers")
    if show_vars:
        for k, v in names.items():
            print(f"    {k:<40} {tuple(v.shape)} {v.dtype.name}")
        opt = authors_optimizer_variables(wm, ac)
        print(f"  {len(opt)} optimizer variables, e.g. {list(opt)[:2]}")
    return first, same and same_vars


def main(argv=None):
    """Command line: run one step of their agent (tiny and preset size)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkout")
    parser.add_argument("--preset", default="dmc_vision")
    parser.add_argument("--sizes", default="tiny,preset")
    parser.add_argument("--batch", type=int, default=3)
    parser.add_argument("--length", type=int, default=6)
    parser.add_argument("--actions", type=int, default=None)
    parser.add_argument("--eager", action="store_true")
    parser.add_argument("--seed", type=int, default=0, help="initial weights")
    parser.add_argument("--inter_op", type=int, default=1, help="0: TF default")
    parser.add_argument("--check_gradient", action="store_true")
    args = parser.parse_args(argv)
    import tensorflow as tf

    if args.inter_op:
        # Ops that run concurrently made repeats differ in the last bit at the
        # atari preset size, even without oneDNN; one inter-op thread did not.
        tf.config.threading.set_inter_op_parallelism_threads(args.inter_op)
    load_authors(args.checkout)
    print(
        f"TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS')}, "
        f"inter-op threads {tf.config.threading.get_inter_op_parallelism_threads()}"
    )
    if args.check_gradient:
        print(
            f"trunc-normal sample gradient vs finite differences: "
            f"max abs error {check_trunc_normal_gradient():.3g}"
        )
    actions = args.actions or (4 if args.preset == "atari" else 6)
    ok = True
    for size in args.sizes.split(","):
        _, good = _run(
            args.checkout,
            args.preset,
            size,
            args.batch,
            args.length,
            actions,
            show_vars=True,
            jit=not args.eager,
            seed=args.seed,
        )
        ok &= good
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
