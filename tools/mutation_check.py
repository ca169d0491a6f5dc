"""Mutation check: does the test suite notice when the paper's math changes?

Each mutation is one small semantic edit of the package (a swapped argument,
a dropped term, a lost guard). The script copies the working tree to a
temporary directory once, then for each mutation applies the edit there, runs
the tests that can see it, and restores the file. A mutation is *caught* when
a test fails: by an assertion (a test that checks the value) or by an error
(the edit made something crash, which is weaker evidence). A mutation that
survives its targeted tests is run once more against the whole default suite
before it is reported as a survivor.

Usage::

    python tools/mutation_check.py            # every mutation (about 20 min)
    python tools/mutation_check.py --list     # names only
    python tools/mutation_check.py --only kl_swapped image_offset

The survivors of the last full run, and why each is acceptable, are written
in BUILD_NOTES.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]

MATH_TESTS = (
    "tests/test_golden_update.py",
    "tests/layers/test_rssm_math.py",
    "tests/learning/test_world_model_math.py",
    "tests/learning/test_behavior_math.py",
    "tests/acting/test_policy_math.py",
)
V2_TESTS = ("tests/learning/test_dreamerv2_math.py", "tests/test_golden_update_v2.py")
UPDATE_TESTS = ("tests/test_update_guards.py", "tests/test_agent.py")
STATE_TESTS = ("tests/run/test_checkpoint_state.py",)
CONFIG_TESTS = ("tests/test_config_rules.py", "tests/test_config.py")
VALUE_TESTS = ("tests/learning/test_returns.py", "tests/learning/test_behavior_math.py")
DISTRIBUTION_TESTS = ("tests/test_distributions.py", "tests/acting/test_policy_math.py")
ENV_TESTS = ("tests/envs/test_envs.py",)
PHASE_TESTS = ("tests/layers/test_phase_convolution.py", "tests/test_golden_update.py")
GRU_TESTS = (
    "tests/layers/test_gru.py",
    "tests/layers/test_rssm_math.py",
    "tests/test_golden_update.py",
)
REPLAY_TESTS = ("tests/test_replay.py", "tests/program/test_run_integrity.py")
RUN_TESTS = (
    "tests/run/test_checkpoints.py",
    "tests/program/test_run_integrity.py",
    "tests/program/test_training.py",
)
# The default suite minus the end-to-end runs, docs and learning tests; a
# survivor of its targeted tests is retried against these.
UNIT_SUITE = (
    *MATH_TESTS,
    *V2_TESTS,
    *UPDATE_TESTS,
    *STATE_TESTS,
    *CONFIG_TESTS,
    "tests/learning/test_returns.py",
    "tests/test_distributions.py",
    "tests/layers/test_layers.py",
    "tests/layers/test_gru.py",
    "tests/layers/test_phase_convolution.py",
    "tests/acting/test_export.py",
    "tests/test_replay.py",
    "tests/run/test_checkpoints.py",
)


@dataclasses.dataclass(frozen=True)
class Mutation:
    """One semantic edit: ``old`` (occurring once in ``path``) becomes ``new``."""

    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]
    description: str


MUTATIONS = (
    Mutation(
        "posterior_previous_deter",
        "dreamer_tf/layers/rssm.py",
        'inputs = tf.concat([prior["deter"], tf.cast(embed, prior["deter"].dtype)], '
        "-1)",
        'inputs = tf.concat([state["deter"], tf.cast(embed, prior["deter"].dtype)], '
        "-1)",
        MATH_TESTS,
        "posterior built from the previous deterministic state",
    ),
    Mutation(
        "prior_ignores_action",
        "dreamer_tf/layers/rssm.py",
        'inputs = tf.concat([state["stoch"], tf.cast(action, state["stoch"].dtype)], '
        "-1)",
        'inputs = tf.concat([state["stoch"], 0.0 * tf.cast(action, tf.float32)], -1)',
        MATH_TESTS,
        "transition prior does not see the action",
    ),
    Mutation(
        "rssm_std_floor",
        "dreamer_tf/layers/rssm.py",
        "std = tf.nn.softplus(raw_std) + self.min_std",
        "std = tf.nn.softplus(raw_std)",
        MATH_TESTS,
        "RSSM std without its min_std floor",
    ),
    Mutation(
        "features_order",
        "dreamer_tf/layers/rssm.py",
        'return tf.concat([state["stoch"], state["deter"]], -1)',
        'return tf.concat([state["deter"], state["stoch"]], -1)',
        MATH_TESTS,
        "features are deter then stoch",
    ),
    Mutation(
        "kl_swapped",
        "dreamer_tf/learning/losses.py",
        "rssm.distribution(posterior).kl_divergence(rssm.distribution(prior))",
        "rssm.distribution(prior).kl_divergence(rssm.distribution(posterior))",
        MATH_TESTS,
        "KL(prior || posterior) instead of KL(posterior || prior)",
    ),
    Mutation(
        "free_nats_per_step",
        "dreamer_tf/learning/losses.py",
        "loss = self.scale * tf.maximum(divergence, self.free_nats)",
        "loss = self.scale * tf.reduce_mean(tf.maximum("
        "rssm.distribution(posterior).kl_divergence("
        "rssm.distribution(prior)), self.free_nats))",
        MATH_TESTS,
        "free nats applied per step instead of to the batch mean",
    ),
    Mutation(
        "kl_scale_ignored",
        "dreamer_tf/learning/losses.py",
        "loss = self.scale * tf.maximum(",
        "loss = tf.maximum(",
        MATH_TESTS,
        "kl_scale ignored",
    ),
    Mutation(
        "image_offset",
        "dreamer_tf/learning/world_model.py",
        "return tf.cast(image, tf.float32) / 255.0 - 0.5",
        "return tf.cast(image, tf.float32) / 255.0",
        MATH_TESTS,
        "image preprocessing without its - 0.5 offset",
    ),
    Mutation(
        "tanh_rewards_ignored",
        "dreamer_tf/learning/world_model.py",
        "target = tf.tanh(target)",
        "target = target",
        MATH_TESTS,
        "tanh_rewards does not squash the reward targets",
    ),
    Mutation(
        "pcont_target_undiscounted",
        "dreamer_tf/learning/world_model.py",
        'target = tf.cast(data["discount"], tf.float32) * config.discount',
        'target = tf.cast(data["discount"], tf.float32)',
        MATH_TESTS,
        "continuation targets not multiplied by gamma",
    ),
    Mutation(
        "pcont_scale_ignored",
        "dreamer_tf/learning/world_model.py",
        'log_likelihoods["pcont"] = config.pcont_scale * pcont',
        'log_likelihoods["pcont"] = pcont',
        MATH_TESTS,
        "pcont_scale ignored",
    ),
    Mutation(
        "decoder_std",
        "dreamer_tf/layers/decoders.py",
        "return tfd.Independent(tfd.Normal(mean, 1.0), 3)",
        "return tfd.Independent(tfd.Normal(mean, 2.0), 3)",
        MATH_TESTS,
        "image likelihood with std 2 instead of 1",
    ),
    Mutation(
        "phase_kernel_not_flipped",
        "dreamer_tf/layers/phase_convolution.py",
        "kernel = tf.reverse(tf.transpose(kernel, [0, 2, 5, 1, 3, 4]), [0, 1])",
        "kernel = tf.transpose(kernel, [0, 2, 5, 1, 3, 4])",
        PHASE_TESTS,
        "the decoder's phase kernels used without the flip",
    ),
    Mutation(
        "phases_interleaved_wrong",
        "dreamer_tf/layers/phase_convolution.py",
        "kernel = tf.reverse(tf.transpose(kernel, [0, 2, 5, 1, 3, 4]), [0, 1])",
        "kernel = tf.reverse(tf.transpose(kernel, [0, 2, 5, 3, 1, 4]), [0, 1])",
        PHASE_TESTS,
        "the decoder's phases swapped between rows and columns",
    ),
    Mutation(
        "single_pixel_taps_transposed",
        "dreamer_tf/layers/phase_convolution.py",
        "matrix = tf.reshape(tf.transpose(kernel, [3, 0, 1, 2]), [channels, -1])",
        "matrix = tf.reshape(tf.transpose(kernel, [3, 1, 0, 2]), [channels, -1])",
        PHASE_TESTS,
        "the decoder's first layer with its kernel's rows and columns swapped",
    ),
    Mutation(
        "input_phases_swapped",
        "dreamer_tf/layers/phase_convolution.py",
        "tf.transpose(kernel, [0, 2, 1, 3, 4, 5]),",
        "tf.transpose(kernel, [0, 2, 3, 1, 4, 5]),",
        PHASE_TESTS,
        "the encoder's first layer meets the input's phases with the wrong taps",
    ),
    Mutation(
        "gru_input_gates_swapped",
        "dreamer_tf/layers/gru.py",
        "input_z, input_r, input_h = tf.split(",
        "input_r, input_z, input_h = tf.split(",
        GRU_TESTS,
        "the GRU's update and reset gates read each other's input projection",
    ),
    Mutation(
        "gru_reset_outside_candidate",
        "dreamer_tf/layers/gru.py",
        "candidate = self.activation(input_h + reset * recurrent_h)",
        "candidate = reset * self.activation(input_h + recurrent_h)",
        GRU_TESTS,
        "the GRU's reset gate scales the candidate instead of its recurrent part",
    ),
    Mutation(
        "imagine_keeps_last_start",
        "dreamer_tf/learning/actor_critic.py",
        "if self.config.pcont:\n            start = {",
        "if False:\n            start = {",
        MATH_TESTS,
        "with a continuation head, the last posterior state also starts a rollout",
    ),
    Mutation(
        "imagine_short_horizon",
        "dreamer_tf/learning/actor_critic.py",
        "step, tf.range(self.config.horizon), start, parallel_iterations=1",
        "step, tf.range(self.config.horizon - 1), start, parallel_iterations=1",
        MATH_TESTS,
        "imagination one step shorter than the horizon",
    ),
    Mutation(
        "imagined_actions_without_gradient",
        "dreamer_tf/learning/actor_critic.py",
        "action = self.actor(features).sample()",
        "action = tf.stop_gradient(self.actor(features).sample())",
        MATH_TESTS,
        "no gradient from imagined states back into the actions",
    ),
    Mutation(
        "actor_sees_features_with_gradient",
        "dreamer_tf/learning/actor_critic.py",
        "features = tf.stop_gradient(rssm.features(state))",
        "features = rssm.features(state)",
        MATH_TESTS,
        "the actor's input inside imagination is not stop-gradiented",
    ),
    Mutation(
        "weights_not_cumulative",
        "dreamer_tf/learning/actor_critic.py",
        "weights = tf.math.cumprod(\n"
        "            tf.concat([tf.ones_like(pcont[:1]), pcont[:-2]], 0), 0\n"
        "        )",
        "weights = tf.concat([tf.ones_like(pcont[:1]), pcont[:-2]], 0)",
        MATH_TESTS,
        "weights are the discounts, not their cumulative product",
    ),
    Mutation(
        "value_loss_shifted",
        "dreamer_tf/learning/actor_critic.py",
        "log_prob = value.log_prob(targets)[:-1]",
        "log_prob = value.log_prob(tf.roll(targets, 1, 0))[1:]",
        MATH_TESTS,
        "value loss regresses the value of the next state",
    ),
    Mutation(
        "lambda_mixing",
        "dreamer_tf/learning/returns.py",
        "inputs = reward + pcont * next_value * (1 - lambda_)",
        "inputs = reward + pcont * next_value * lambda_",
        VALUE_TESTS,
        "lambda-return mixes with lambda instead of 1 - lambda",
    ),
    Mutation(
        "lambda_alignment",
        "dreamer_tf/learning/returns.py",
        "next_value = tf.concat([value[1:], bootstrap[None]], 0)",
        "next_value = value",
        VALUE_TESTS,
        "lambda-return bootstraps from v_t instead of v_{t+1}",
    ),
    Mutation(
        "tanh_normal_mean_scale",
        "dreamer_tf/layers/actors.py",
        "mean = self.mean_scale * tf.tanh(mean / self.mean_scale)",
        "mean = mean",
        DISTRIBUTION_TESTS,
        "tanh-Normal without its mean_scale squashing",
    ),
    Mutation(
        "tanh_normal_std_floor",
        "dreamer_tf/layers/actors.py",
        "std = tf.nn.softplus(raw_std + raw_init_std) + self.min_std",
        "std = tf.nn.softplus(raw_std + raw_init_std)",
        DISTRIBUTION_TESTS,
        "tanh-Normal std without its floor",
    ),
    Mutation(
        "tanh_normal_init_std",
        "dreamer_tf/layers/actors.py",
        "std = tf.nn.softplus(raw_std + raw_init_std) + self.min_std",
        "std = tf.nn.softplus(raw_std) + self.min_std",
        DISTRIBUTION_TESTS,
        "tanh-Normal std not shifted to start at init_std",
    ),
    Mutation(
        "sample_mode_least_likely",
        "dreamer_tf/distributions.py",
        "best = tf.one_hot(tf.argmax(log_probs, 0), self.num_samples, axis=0)",
        "best = tf.one_hot(tf.argmin(log_probs, 0), self.num_samples, axis=0)",
        DISTRIBUTION_TESTS,
        "tanh-Normal mode picks the least likely sample",
    ),
    Mutation(
        "one_hot_no_straight_through",
        "dreamer_tf/distributions.py",
        "return hard + probs - tf.stop_gradient(probs)",
        "return hard",
        DISTRIBUTION_TESTS,
        "one-hot samples without straight-through gradients",
    ),
    Mutation(
        "eval_exploration",
        "dreamer_tf/agent.py",
        "return tf.where(training, amount, config.eval_noise)",
        "return amount",
        DISTRIBUTION_TESTS,
        "exploration noise added when evaluating",
    ),
    Mutation(
        "exploration_floor",
        "dreamer_tf/agent.py",
        "amount = tf.maximum(amount, config.expl_min)",
        "amount = amount",
        DISTRIBUTION_TESTS,
        "decayed exploration ignores expl_min",
    ),
    Mutation(
        "train_action_swapped",
        "dreamer_tf/agent.py",
        'sample_in_training = self.config.train_action == "sample"',
        'sample_in_training = self.config.train_action == "mode"',
        DISTRIBUTION_TESTS,
        "train_action sample and mode swapped",
    ),
    Mutation(
        "no_reset_on_first",
        "dreamer_tf/acting/policy.py",
        "lambda value: tf.where(starts, tf.zeros_like(value), value),",
        "lambda value: value,",
        DISTRIBUTION_TESTS,
        "the policy state is not reset at an episode's first step",
    ),
    Mutation(
        "actor_not_clipped",
        "dreamer_tf/agent.py",
        "gradients, norm = tf.clip_by_global_norm(gradients, self.config.grad_clip)",
        "gradients, norm = tf.clip_by_global_norm(gradients, self.config.grad_clip "
        "if len(variables) != len(self.actor_variables) else 1e30)",
        UPDATE_TESTS,
        "the actor's gradients are not clipped",
    ),
    Mutation(
        "non_finite_applied",
        "dreamer_tf/agent.py",
        "tf.cond(finite, apply_all, lambda: None)",
        "apply_all()",
        UPDATE_TESTS,
        "updates with non-finite gradients are applied",
    ),
    Mutation(
        "optimizer_slots_not_named",
        "dreamer_tf/variable_tree.py",
        "optimizers.append((name, item))",
        "pass",
        STATE_TESTS,
        "the optimizers' moments are left out of the checkpoint",
    ),
    Mutation(
        "tf_variables_not_named",
        "dreamer_tf/variable_tree.py",
        "return isinstance(value, (keras.Variable, tf.Variable))",
        "return isinstance(value, keras.Variable)",
        STATE_TESTS,
        "the frame counter and the run's counters are left out of the checkpoint",
    ),
    Mutation(
        "replay_window_overruns",
        "dreamer_tf/replay.py",
        "start = int(rng.integers(0, entries - length + 1))",
        "start = int(rng.integers(0, entries - length + 2))",
        REPLAY_TESTS,
        "a sampled window may run past its episode's end",
    ),
    Mutation(
        "replay_stores_nonfinite",
        "dreamer_tf/replay.py",
        "    problem = find_nonfinite(episode)\n    if problem:\n        raise",
        "    problem = None\n    if problem:\n        raise",
        REPLAY_TESTS,
        "the replay accepts episodes with non-finite values",
    ),
    Mutation(
        "episode_files_private",
        "dreamer_tf/replay.py",
        "EPISODE_FILE_MODE = 0o644",
        "EPISODE_FILE_MODE = 0o600",
        REPLAY_TESTS,
        "episode files written 0600",
    ),
    Mutation(
        "checkpoint_no_fallback",
        "dreamer_tf/run/checkpoints.py",
        "for candidate in numbers:",
        "for candidate in numbers[:1]:",
        RUN_TESTS,
        "a damaged newest checkpoint is not skipped for an older intact one",
    ),
    Mutation(
        "checkpoint_restores_nonfinite",
        "dreamer_tf/run/checkpoints.py",
        'raise ValueError(f"non-finite values in {nonfinite[0]}")',
        "pass",
        RUN_TESTS,
        "a checkpoint with non-finite weights is restored",
    ),
    Mutation(
        "checkpoint_saves_nonfinite",
        "dreamer_tf/run/checkpoints.py",
        "        nonfinite = nonfinite_variables(self.variables)\n"
        "        if nonfinite:\n            raise RunError(",
        "        nonfinite = []\n        if nonfinite:\n            raise RunError(",
        RUN_TESTS,
        "a checkpoint is written with non-finite weights",
    ),
    Mutation(
        "no_logdir_lock",
        "dreamer_tf/run/rundir.py",
        "fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)",
        "os.fsync(descriptor)",
        RUN_TESTS,
        "two runs may share a logdir",
    ),
    Mutation(
        "pretraining_not_a_phase",
        "dreamer_tf/run/schedule.py",
        "self.progress.last_train.assign(self._frames)",
        "self.progress.last_train.assign(0)",
        (*RUN_TESTS, "tests/run/test_schedule.py"),
        "pretraining does not set the last training frame (a full phase follows)",
    ),
    Mutation(
        "loop_stores_nonfinite",
        "dreamer_tf/run/loop.py",
        "problem = find_nonfinite(episode)",
        "problem = None",
        RUN_TESTS,
        "the loop stores episodes with non-finite values",
    ),
    Mutation(
        "action_repeat_last_reward",
        "dreamer_tf/envs/wrappers.py",
        "total_reward += float(reward)",
        "total_reward = float(reward)",
        ENV_TESTS,
        "action repeat keeps the last reward instead of the sum",
    ),
    Mutation(
        "zero_batch_size",
        "dreamer_tf/config.py",
        '"batch_size batch_length action_repeat',
        '"batch_length action_repeat',
        CONFIG_TESTS,
        "a zero batch size accepted by the config",
    ),
    Mutation(
        "lambda_range",
        "dreamer_tf/config.py",
        'for name in ("lambda_", "discount", "kl_balance", "actor_grad_mix"):',
        'for name in ("discount", "kl_balance", "actor_grad_mix"):',
        CONFIG_TESTS,
        "lambda outside [0, 1] accepted",
    ),
    Mutation(
        "kl_balance_swapped",
        "dreamer_tf/learning/losses.py",
        "left_weight = self.balance if self.forward else 1.0 - self.balance",
        "left_weight = 1.0 - self.balance if self.forward else self.balance",
        V2_TESTS,
        "KL balancing trains the posterior with the prior's share",
    ),
    Mutation(
        "kl_balance_no_stop_gradient",
        "dreamer_tf/learning/losses.py",
        "left_kl = dist(left).kl_divergence(dist(tf.nest.map_structure(stop, right)))",
        "left_kl = dist(left).kl_divergence(dist(right))",
        V2_TESTS,
        "KL balancing's first side also trains the other distribution",
    ),
    Mutation(
        "kl_free_average_ignored",
        "dreamer_tf/learning/losses.py",
        "        if self.free_average:\n",
        "        if True:\n",
        V2_TESTS,
        "free nats always on the mean KL",
    ),
    Mutation(
        "gru_update_bias_dropped",
        "dreamer_tf/layers/gru.py",
        "update = tf.sigmoid(update + self.update_bias)",
        "update = tf.sigmoid(update)",
        V2_TESTS,
        "DreamerV2's GRU without its update bias",
    ),
    Mutation(
        "gru_reset_dropped",
        "dreamer_tf/layers/gru.py",
        "candidate = activation(tf.sigmoid(reset) * candidate)",
        "candidate = activation(candidate)",
        V2_TESTS,
        "DreamerV2's GRU without its reset gate",
    ),
    Mutation(
        "gru_gate_order",
        "dreamer_tf/layers/gru.py",
        "reset, candidate, update = tf.split(parts, 3, -1)",
        "update, candidate, reset = tf.split(parts, 3, -1)",
        V2_TESTS,
        "DreamerV2's GRU reads its gates in another order",
    ),
    Mutation(
        "one_hot_not_straight_through",
        "dreamer_tf/distributions.py",
        "return hard + probs - tf.stop_gradient(probs)",
        "return hard",
        (*V2_TESTS, *DISTRIBUTION_TESTS),
        "one-hot samples pass no gradient",
    ),
    Mutation(
        "trunc_std_formula",
        "dreamer_tf/layers/actors.py",
        "std = 2 * tf.sigmoid((raw_std + self.init_std) / 2) + self.min_std",
        "std = tf.sigmoid(raw_std + self.init_std) + self.min_std",
        V2_TESTS,
        "truncated-normal actor's std of another formula",
    ),
    Mutation(
        "trunc_clip_not_straight_through",
        "dreamer_tf/distributions.py",
        "return draw - tf.stop_gradient(draw) + tf.stop_gradient(clipped)",
        "return clipped",
        V2_TESTS,
        "clipped truncated-normal samples lose the gradient at the bounds",
    ),
    Mutation(
        "v2_returns_online_critic",
        "dreamer_tf/learning/actor_critic_v2.py",
        "slow_value = self.target_value(features).mode()",
        "slow_value = self.value(features).mode()",
        V2_TESTS,
        "DreamerV2's targets from the online critic",
    ),
    Mutation(
        "v2_weights_unshifted",
        "dreamer_tf/learning/actor_critic_v2.py",
        "tf.math.cumprod(tf.concat([tf.ones_like(discount[:1]), discount[:-1]], 0))",
        "tf.math.cumprod(discount)",
        V2_TESTS,
        "DreamerV2's weights not shifted by one step",
    ),
    Mutation(
        "v2_reinforce_no_baseline",
        "dreamer_tf/learning/actor_critic_v2.py",
        "advantage = tf.stop_gradient(returns[1:] - slow_value[:-2])",
        "advantage = tf.stop_gradient(returns[1:])",
        V2_TESTS,
        "REINFORCE without its baseline",
    ),
    Mutation(
        "v2_entropy_sign",
        "dreamer_tf/learning/actor_critic_v2.py",
        "objective += config.actor_entropy * entropy",
        "objective -= config.actor_entropy * entropy",
        V2_TESTS,
        "entropy penalised instead of rewarded",
    ),
    Mutation(
        "v2_critic_unweighted",
        "dreamer_tf/learning/actor_critic_v2.py",
        "value.log_prob(tf.stop_gradient(returns)) * weights[:-1]",
        "value.log_prob(tf.stop_gradient(returns))",
        V2_TESTS,
        "critic loss without the discount weights",
    ),
    Mutation(
        "v2_first_discount_predicted",
        "dreamer_tf/learning/actor_critic_v2.py",
        "return tf.concat([first[None], predicted[1:]], 0)",
        "return predicted",
        V2_TESTS,
        "the start state's discount predicted, not the batch's",
    ),
    Mutation(
        "v2_target_schedule",
        "dreamer_tf/learning/actor_critic_v2.py",
        "tf.math.floormod(value_updates - 1, self.config.slow_target_every), 0",
        "tf.math.floormod(value_updates, self.config.slow_target_every), 0",
        V2_TESTS,
        "target critic copied one update late",
    ),
    Mutation(
        "weight_decay_halved",
        "dreamer_tf/agent.py",
        "variable.assign(variable * (1.0 - decay))",
        "variable.assign(variable * (1.0 - 0.5 * decay))",
        V2_TESTS,
        "weight decay of half the configured rate",
    ),
    Mutation(
        "window_start_not_reset",
        "dreamer_tf/learning/world_model.py",
        "        if not self.resets_window_start:\n",
        "        if True:\n",
        V2_TESTS,
        "DreamerV2 windows filtered from their real first action",
    ),
    Mutation(
        "prioritize_ends_off",
        "dreamer_tf/replay.py",
        "start = min(int(rng.integers(0, entries + 1)), entries - length)",
        "start = int(rng.integers(0, entries - length + 1))",
        REPLAY_TESTS,
        "prioritize_ends samples uniformly",
    ),
)


def copy_tree(destination: pathlib.Path) -> None:
    """Copies the files git knows (tracked and untracked, not ignored)."""
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listing.split("\0")):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def run_tests(tree: pathlib.Path, tests, timeout: float) -> tuple[str, str]:
    """Runs pytest on ``tests`` in ``tree``; returns (outcome, first failure)."""
    # Wide lines, so pytest's summary keeps each failure's reason.
    environment = {**os.environ, "PYTHONPATH": str(tree), "COLUMNS": "1000"}
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-x",
        "-q",
        "-rf",
        "-p",
        "no:cacheprovider",
    ]
    try:
        result = subprocess.run(
            [*command, *tests],
            cwd=tree,
            env=environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "caught (timeout)", ""
    if result.returncode == 0:
        return "survived", ""
    # A failed subtest is reported as "SUBFAILED(<its parameters>) <test>".
    failures = re.findall(
        r"^(?:SUB)?FAILED(?:\(.*?\))? (.+?)(?: - (.*))?$", result.stdout, re.MULTILINE
    )
    if not failures:
        return "caught (error)", result.stdout.strip().splitlines()[-1][:120]
    test, reason = failures[0]
    # pytest.raises that did not raise reports "Failed: DID NOT RAISE".
    asserted = reason.startswith(("AssertionError", "assert", "Failed:"))
    kind = "assertion" if asserted else "error"
    return f"caught ({kind})", f"{test} {reason[:80]}"


def check(mutation: Mutation, tree: pathlib.Path, timeout: float) -> tuple[str, str]:
    """Applies ``mutation`` in ``tree``, runs its tests, restores the file."""
    path = tree / mutation.path
    original = path.read_text()
    occurrences = original.count(mutation.old)
    if occurrences != 1:
        return "stale", f"the edit's text occurs {occurrences} times in {mutation.path}"
    path.write_text(original.replace(mutation.old, mutation.new))
    try:
        outcome, detail = run_tests(tree, mutation.tests, timeout)
        if outcome == "survived":
            others = [test for test in UNIT_SUITE if test not in mutation.tests]
            outcome, detail = run_tests(tree, others, timeout)
    finally:
        path.write_text(original)
    return outcome, detail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="List the mutations.")
    parser.add_argument("--only", nargs="+", help="Run only these mutations.")
    parser.add_argument(
        "--timeout", type=float, default=900, help="Seconds per test run."
    )
    args = parser.parse_args()
    names = {mutation.name for mutation in MUTATIONS}
    unknown = sorted(set(args.only or ()) - names)
    if unknown:
        sys.exit(f"error: unknown mutations {unknown}; see --list.")
    selected = [m for m in MUTATIONS if not args.only or m.name in args.only]
    if args.list:
        for mutation in selected:
            print(f"{mutation.name:36} {mutation.description}")
        return
    with tempfile.TemporaryDirectory(prefix="mutation_check_") as directory:
        tree = pathlib.Path(directory)
        copy_tree(tree)
        baseline = sorted({test for m in selected for test in m.tests})
        outcome, detail = run_tests(tree, baseline, args.timeout)
        if outcome != "survived":
            sys.exit(f"error: the unmutated tests fail ({detail}); fix them first.")
        print(f"{len(selected)} mutations on a copy in {tree}", flush=True)
        results = []
        for index, mutation in enumerate(selected, 1):
            start = time.time()
            outcome, detail = check(mutation, tree, args.timeout)
            results.append((mutation, outcome))
            print(
                f"[{index}/{len(selected)}] {mutation.name:36} {outcome:20} "
                f"{time.time() - start:5.0f}s  {detail}",
                flush=True,
            )
    caught = [m for m, outcome in results if outcome.startswith("caught")]
    by_assertion = [m for m, outcome in results if outcome == "caught (assertion)"]
    survivors = [m for m, outcome in results if outcome == "survived"]
    stale = [m for m, outcome in results if outcome == "stale"]
    print(
        f"\nscore: {len(caught)}/{len(results)} caught "
        f"({100 * len(caught) / len(results):.0f}%), "
        f"{len(by_assertion)} by an assertion"
    )
    for mutation in survivors:
        print(f"survived: {mutation.name}: {mutation.description}")
    for mutation in stale:
        print(f"stale (update the script): {mutation.name}")
    if stale:
        sys.exit(2)


if __name__ == "__main__":
    main()
