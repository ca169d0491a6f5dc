"""One DreamerV2 training step of ours against the authors' code, side by side.

Builds the authors' agent (``danijar/dreamerv2``, run unmodified from a
checkout through :mod:`dreamerv2_authors`) and ours from the matching preset
(``dreamerv2_dmc`` or ``dreamerv2_atari``), copies the authors' initial
weights into ours, feeds both the same batch under the same random draws
(:func:`dreamerv2_authors.fixed_draws`), runs one full training step each,
and compares: the world model's loss terms (image, reward, discount, the KL
term and the KL value), the actor's and critic's losses, the three gradient
norms, the critic and target-critic values the targets used, every updated
weight of every module, and the target critic after its copy. It prints the
largest relative difference of each and exits 1 if one exceeds the
tolerance. Outside CI: it needs the authors' code.

    git -C MIRROR archive HEAD dreamerv2 | tar -x -C /tmp/dreamerv2
    python tools/compare_dreamerv2.py /tmp/dreamerv2 --preset dmc --size tiny
    python tools/compare_dreamerv2.py /tmp/dreamerv2 --preset atari --size preset

Both run with oneDNN off and one inter-op thread (set on import by
``dreamerv2_authors``), so that each side repeats itself bit for bit.
"""

from __future__ import annotations

import argparse
import logging
import sys

# Imported first: it sets TF_USE_LEGACY_KERAS and TF_ENABLE_ONEDNN_OPTS for
# the authors' Keras 2 code before TensorFlow is imported.
import dreamerv2_authors as authors  # isort: skip

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import flags  # noqa: E402

PRESETS = {
    "dmc": ("dreamerv2_dmc", "dmc_vision"),
    "atari": ("dreamerv2_atari", "atari"),
}
# Sizes small enough for seconds per step, the same on both sides.
OURS_TINY = [
    "--deter_size=32",
    "--rssm_hidden=32",
    "--stoch_size=4",
    "--rssm_classes=4",
    "--cnn_depth=4",
    "--num_units=16",
    "--reward_layers=2",
    "--pcont_layers=2",
    "--actor_layers=2",
    "--value_layers=2",
    "--horizon=5",
]
# Our metric -> (the authors' metric, factor that makes theirs ours).
METRICS = {
    "image_loss": ("image_loss", 1.0),
    "reward_loss": ("reward_loss", 1.0),
    "pcont_loss": ("discount_loss", "pcont_scale"),
    "kl": ("model_kl", 1.0),
    "kl_loss": ("kl_loss", "kl_scale"),
    "model_loss": ("model_loss", 1.0),
    "prior_entropy": ("prior_ent", 1.0),
    "posterior_entropy": ("post_ent", 1.0),
    "model_grad_norm": ("model_grad_norm", 1.0),
    "actor_loss": ("actor_loss", 1.0),
    "actor_entropy": ("actor_ent", 1.0),
    "actor_grad_norm": ("actor_grad_norm", 1.0),
    "value_loss": ("critic_loss", 1.0),
    "value_grad_norm": ("critic_grad_norm", 1.0),
    "critic": ("critic", 1.0),
    "critic_slow": ("critic_slow", 1.0),
    "imagined_return": ("critic_target", 1.0),
}
# Prefixes of our variable names -> the authors'.
MODULES = {
    "world_model/encoder/convolutions/": "wm/encoder/conv",
    "world_model/rssm/prior_input/": "wm/rssm/img_in/",
    "world_model/rssm/gru/projection/": "wm/rssm/gru/layer/",
    "world_model/rssm/gru/norm/": "wm/rssm/gru/norm/",
    "world_model/rssm/prior_hidden/": "wm/rssm/img_out_0/",
    "world_model/rssm/prior_stats/": "wm/rssm/img_dist_0/",
    "world_model/rssm/posterior_hidden/": "wm/rssm/obs_out/",
    "world_model/rssm/posterior_stats/": "wm/rssm/obs_dist/",
    "world_model/decoder/projection/": "wm/heads/decoder/convin/",
    "world_model/decoder/transposed_convolutions/": "wm/heads/decoder/conv",
    "world_model/reward_head/": "wm/heads/reward/",
    "world_model/continue_head/": "wm/heads/discount/",
    "actor_critic/actor/": "ac/actor/",
    "actor_critic/value/": "ac/critic/",
    "actor_critic/target_value/": "ac/target_critic/",
}
HEAD_LAYERS = {
    "hidden_layers/": "dense",
    "output_layer/": "out/out/",
    "mean_layer/": "out/out/",
    "std_layer/": "out/std/",
}


class _WithoutSubclassNotice(logging.Filter):
    """Drops TFP's notice about the authors' ``TruncNormalDist``, once per draw."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Distribution subclass" not in record.getMessage()


def authors_name(ours: str) -> str | None:
    """The authors' name of one of our variables (None: not a network weight)."""
    for prefix, theirs in MODULES.items():
        if not ours.startswith(prefix):
            continue
        rest = ours[len(prefix) :]
        for layer, their_layer in HEAD_LAYERS.items():
            if rest.startswith(layer):
                rest = their_layer + rest[len(layer) :]
                break
        # Lists count from 0 with a slash in ours, without one in theirs.
        if rest[:1].isdigit() and theirs.endswith(("conv", "dense")):
            index, _, leaf = rest.partition("/")
            return f"{theirs}{index}/{leaf}"
        if rest.startswith("dense") and "/" in rest:
            index, _, leaf = rest[len("dense") :].partition("/")
            return f"{theirs}dense{index}/{leaf}"
        return theirs + rest
    return None


def our_config(preset: str, tiny: bool, batch: int, length: int):
    """Our config: the preset, the tiny sizes, the comparison's batch."""
    from dreamer_tf.config import config_from_flags, define_flags
    from dreamer_tf.presets import expand_arguments

    flag_values = flags.FlagValues()
    define_flags(flag_values)
    arguments = [f"--preset={preset}", *(OURS_TINY if tiny else [])]
    arguments += [f"--batch_size={batch}", f"--batch_length={length}"]
    flag_values(["compare", *expand_arguments(arguments).flags])
    return config_from_flags(flag_values)


def our_batch(data: dict) -> dict:
    """The authors' batch in our replay's keys."""
    discount = 1.0 - data["is_terminal"].astype(np.float32)
    return {
        "image": data["image"],
        "action": data["action"],
        "reward": data["reward"],
        "discount": discount,
    }


def relative_difference(ours: np.ndarray, theirs: np.ndarray) -> float:
    """``max |ours - theirs| / max(max |theirs|, tiny)``."""
    scale = max(float(np.max(np.abs(theirs))), 1e-12)
    return float(np.max(np.abs(ours - theirs))) / scale


def compare(checkout: str, preset: str, size: str, batch: int, length: int, seed: int):
    """Builds both agents, runs one step each, returns ``{quantity: difference}``."""
    from dreamer_tf.architecture import agent_class
    from dreamer_tf.distributions import OneHotDist

    ours_preset, their_preset = PRESETS[preset]
    tiny = size == "tiny"
    _, common = authors.load_authors(checkout)
    their_config = authors.authors_config(
        common, their_preset, authors.TINY if tiny else {}
    )
    config = our_config(ours_preset, tiny, batch, length)
    discrete = preset == "atari"
    channels = 1 if config.grayscale else 3
    obs_shape = (64, 64, channels)
    actions = 4 if discrete else 6
    data = authors.dummy_batch(
        their_config, obs_shape, actions, discrete, batch, length, seed=seed
    )
    import gymnasium as gym

    observation_space = gym.spaces.Dict(
        {"image": gym.spaces.Box(0, 255, obs_shape, np.uint8)}
    )
    low = 0.0 if discrete else -1.0
    action_space = gym.spaces.Box(low, 1.0, (actions,), np.float32)
    with authors.fixed_draws(extra_classes=(OneHotDist,)):
        tf.random.set_seed(seed)
        world_model, actor_critic, _, create = authors.build_authors(
            their_config, obs_shape, actions, discrete
        )
        create()
        theirs = authors.authors_variables(world_model, actor_critic)
        agent = agent_class(config)(config, observation_space, action_space)
        ours = {
            name: variable
            for name, variable in agent.variables_by_name().items()
            if authors_name(name) is not None
        }
        unmatched = sorted(set(theirs) - {authors_name(name) for name in ours})
        unmatched = [n for n in unmatched if n.split("/")[-1] not in ("mag", "updates")]
        unmatched = [n for n in unmatched if n != "tfstep"]
        if unmatched:
            raise SystemExit(f"authors' variables without a match: {unmatched}")
        for name, variable in ours.items():
            variable.assign(theirs[authors_name(name)].numpy())
        before = {name: variable.numpy().copy() for name, variable in ours.items()}
        their_metrics = authors.authors_train_step(world_model, actor_critic, data)
        our_metrics = {
            key: float(value) for key, value in agent.train(our_batch(data)).items()
        }
    differences = {}
    for key, (their_key, factor) in METRICS.items():
        if key not in our_metrics and their_key not in their_metrics:
            continue
        factor = getattr(config, factor) if isinstance(factor, str) else factor
        differences[f"metric {key}"] = (
            our_metrics[key],
            their_metrics[their_key] * factor,
        )
    our_slots = agent.variables_by_name()
    their_slots = authors.authors_optimizer_variables(world_model, actor_critic)
    updates = {}
    for name, variable in ours.items():
        their_name = authors_name(name)
        their_after = theirs[their_name].numpy()
        change_ours = variable.numpy() - before[name]
        change_theirs = their_after - before[name]
        gradients = None
        part = optimizer_part(name)
        if part is not None:
            # After one step, Adam's first moment is 0.1 times the clipped
            # gradient: the gradients compared without Adam's normalisation.
            gradients = (
                our_slots[f"{part[0]}_optimizer/{name}/momentum"].numpy(),
                their_slots[f"opt/{part[1]}/m/{their_name}"].numpy(),
            )
        updates[name] = (gradients, change_ours, change_theirs)
    return differences, updates, our_metrics["update_skipped"]


def optimizer_part(name: str) -> tuple[str, str] | None:
    """Our optimizer's and the authors' for one of our variables (None: none)."""
    for prefix, part in (
        ("world_model/", ("model", "model")),
        ("actor_critic/actor/", ("actor", "actor")),
        ("actor_critic/value/", ("value", "critic")),
    ):
        if name.startswith(prefix):
            return part
    return None


def report(differences, updates, tolerance: float, update_tolerance: float) -> bool:
    """Prints every comparison; returns whether all are within the tolerances.

    Metrics and gradients must agree within ``tolerance``. Each weight's
    change within ``update_tolerance``: Adam's first step divides every
    gradient element by its own magnitude, so an element whose gradient is
    near zero (a cancellation, where round-off is large relative to it) gets
    a step of the learning rate's size in either implementation.
    """
    good = True
    print(f"{'quantity':<58} {'ours':>14} {'authors':>14} {'rel. diff':>10}")
    for key, (ours, theirs) in differences.items():
        difference = relative_difference(np.array(ours), np.array(theirs))
        flag = "" if difference <= tolerance else "  <-- differs"
        good &= difference <= tolerance
        print(f"{key:<58} {ours:14.7g} {theirs:14.7g} {difference:10.2e}{flag}")
    worst = {"gradient": 0.0, "update": 0.0}
    for name, (gradients, ours_change, theirs_change) in updates.items():
        checks = {"update": (ours_change, theirs_change, update_tolerance)}
        if gradients is not None:
            checks["gradient"] = (*gradients, tolerance)
        for what, (ours, theirs, limit) in checks.items():
            difference = relative_difference(ours, theirs)
            worst[what] = max(worst[what], difference)
            good &= difference <= limit
            if difference > limit or "target_value" in name:
                flag = "" if difference <= limit else "  <-- differs"
                print(f"{what} {name:<51} {'':29} {difference:10.2e}{flag}")
    print(
        f"{len(updates)} weights: largest relative difference of a gradient "
        f"{worst['gradient']:.2e} (tolerance {tolerance:g}), of an update "
        f"{worst['update']:.2e} (tolerance {update_tolerance:g})"
    )
    return good


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkout", help="the authors' checkout (with dreamerv2/)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="dmc")
    parser.add_argument("--size", choices=("tiny", "preset"), default="tiny")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--length", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tolerance", type=float, default=1e-3)
    parser.add_argument("--update_tolerance", type=float, default=2e-2)
    args = parser.parse_args(argv)
    logging.getLogger().addFilter(_WithoutSubclassNotice())
    tf.config.threading.set_inter_op_parallelism_threads(1)
    differences, updates, skipped = compare(
        args.checkout, args.preset, args.size, args.batch, args.length, args.seed
    )
    print(
        f"DreamerV2 {args.preset} ({args.size}), batch {args.batch}x{args.length}, "
        f"one step; update_skipped={skipped:g}"
    )
    good = report(differences, updates, args.tolerance, args.update_tolerance)
    print("equal to the tolerance" if good else "NOT equal")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
