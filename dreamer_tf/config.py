"""Every hyperparameter of Dreamer in one frozen, validated dataclass.

Defaults are those of the paper (arXiv 1912.01603v3) and its authors' TF2
release; where the two differ, the default follows the release and the paper's
variant is a field. Each field carries its help text in ``metadata['help']``, so
command-line flags and the configuration reference are generated from here and
nothing is declared twice.

This module does not import TensorFlow.
"""

from __future__ import annotations

import dataclasses
from typing import Any

ACTIVATIONS = ("elu", "relu", "swish", "tanh", "leaky_relu", "gelu")
AGENTS = ("dreamer", "dreamerv2")
ACTOR_DISTS = ("auto", "tanh_normal", "trunc_normal", "onehot")
ACTOR_GRADS = ("auto", "dynamics", "reinforce", "both")
REPRESENTATIONS = ("reconstruction", "contrastive", "reward")
VALUE_ESTIMATORS = ("lambda", "nstep", "reward_sum")
EXPLORATIONS = ("additive_gaussian", "completely_random", "epsilon_greedy", "none")
TRAIN_ACTIONS = ("sample", "mode")
OBSERVATIONS = ("pixels", "proprio")
PRECISIONS = ("32", "16", "auto")


def _field(default: Any, help_text: str) -> Any:
    return dataclasses.field(default=default, metadata={"help": help_text})


@dataclasses.dataclass(frozen=True)
class DreamerConfig:
    """Hyperparameters of the Dreamer agent and its training schedule.

    Steps are counted in environment frames (agent steps times
    ``action_repeat``). Construction validates every field and raises a
    ``ValueError`` that names the offending field.
    """

    agent: str = _field(
        "dreamer",
        "Training scheme: dreamer (the paper's) or dreamerv2 (Hafner et al., 2021: "
        "model updated before imagination, slow target critic, actor-gradient "
        "estimators and entropy bonus, windows starting from the zero state).",
    )
    # World model.
    cnn_depth: int = _field(32, "Channel multiplier of the conv encoder/decoder.")
    cnn_activation: str = _field("relu", "Activation of the conv layers.")
    dense_activation: str = _field("elu", "Activation of every MLP and the RSSM.")
    deter_size: int = _field(200, "Size of the deterministic GRU state.")
    stoch_size: int = _field(30, "Size of the stochastic Gaussian state.")
    rssm_hidden: int = _field(200, "Hidden units of the RSSM's dense layers.")
    rssm_classes: int = _field(
        0,
        "0: a Gaussian stochastic state of stoch_size numbers. N > 0: stoch_size "
        "categorical variables of N classes each, straight-through samples and "
        "DreamerV2's layer-normalised GRU.",
    )
    rssm_min_std: float = _field(0.1, "Minimum std of prior and posterior.")
    num_units: int = _field(400, "Hidden units of the reward, value, actor MLPs.")
    reward_layers: int = _field(2, "Hidden layers of the reward head.")
    pcont: bool = _field(False, "Learn a continuation (discount) head.")
    pcont_layers: int = _field(3, "Hidden layers of the continuation head.")
    pcont_scale: float = _field(10.0, "Weight of the continuation log-likelihood.")
    representation: str = _field(
        "reconstruction",
        "Representation objective: reconstruction, contrastive or reward (Fig. 8).",
    )
    observation: str = _field(
        "pixels", "Model inputs: 'pixels' (64x64 image) or 'proprio' (vectors)."
    )
    free_nats: float = _field(3.0, "The KL term is not penalised below this.")
    kl_scale: float = _field(1.0, "Weight of the KL term.")
    kl_balance: float = _field(
        0.5,
        "0.5: the paper's KL term. Otherwise DreamerV2's KL balancing: this "
        "weight goes to the KL that trains the prior, the rest to the one that "
        "regularises the posterior.",
    )
    kl_free_average: bool = _field(
        True, "KL balancing: free nats on the mean KL (else on each element)."
    )
    kl_forward: bool = _field(
        False, "KL balancing: KL(prior || posterior) instead of the reverse."
    )
    tanh_rewards: bool = _field(False, "Squash reward targets with tanh (Atari).")
    # Behaviour.
    horizon: int = _field(15, "Imagination horizon H.")
    discount: float = _field(0.99, "Discount gamma of imagined returns.")
    lambda_: float = _field(0.95, "Lambda of the V_lambda return.")
    value_estimator: str = _field(
        "lambda", "Value target: lambda (V_lambda), nstep (V_N^k), reward_sum (V_R)."
    )
    nstep: int = _field(5, "k of the V_N^k estimator.")
    value_layers: int = _field(3, "Hidden layers of the value head.")
    actor_layers: int = _field(4, "Hidden layers of the actor.")
    actor_dist: str = _field(
        "auto", "Actor distribution: tanh_normal, onehot, or auto (by action space)."
    )
    actor_init_std: float = _field(
        5.0, "Initial std of the tanh-Normal actor (the paper's code)."
    )
    actor_min_std: float = _field(
        1e-4, "Minimum std of the tanh-Normal or truncated-normal actor."
    )
    actor_mean_scale: float = _field(
        5.0, "Pre-tanh mean is scale*tanh(mean/scale) (the paper's code)."
    )
    actor_grad: str = _field(
        "auto",
        "dreamerv2: the actor's gradient: dynamics (backpropagation through the "
        "model), reinforce (with the target critic as baseline), both (mixed by "
        "actor_grad_mix), or auto (reinforce for discrete actions, else dynamics).",
    )
    actor_grad_mix: float = _field(
        0.1, "dreamerv2, actor_grad=both: weight of the dynamics gradient."
    )
    actor_entropy: float = _field(
        2e-3, "dreamerv2: weight of the actor's entropy bonus."
    )
    slow_target_every: int = _field(
        100, "dreamerv2: value updates between copies of the critic to its target."
    )
    # Optimisation.
    model_lr: float = _field(6e-4, "Adam learning rate of the world model.")
    value_lr: float = _field(8e-5, "Adam learning rate of the value head.")
    actor_lr: float = _field(8e-5, "Adam learning rate of the actor.")
    adam_epsilon: float = _field(1e-7, "Adam epsilon of all three optimizers.")
    grad_clip: float = _field(100.0, "Global-norm gradient clipping of each update.")
    weight_decay: float = _field(
        0.0,
        "Each update first scales every trained weight by (1 - weight_decay) "
        "(DreamerV2's decay, not scaled by the learning rate).",
    )
    batch_size: int = _field(50, "Sequences per training batch.")
    batch_length: int = _field(50, "Time steps per training sequence.")
    precision: str = _field(
        "32",
        "32: float32. 16: 16-bit compute, float32 variables and losses: bfloat16 "
        "on GPUs from compute capability 8.0 and on CPUs with native bfloat16, "
        "float16 with dynamic loss scaling on older GPUs; refused on other CPUs. "
        "auto: 16 where the hardware computes it natively (any GPU, a CPU with "
        "native bfloat16), 32 elsewhere.",
    )
    jit_compile: bool = _field(False, "Compile train and policy steps with XLA.")
    # Acting.
    train_action: str = _field(
        "sample",
        "Training action before noise: sample (default: the paper's code) or "
        "mode (the paper's text).",
    )
    exploration: str = _field(
        "additive_gaussian",
        "Exploration: additive_gaussian, completely_random, epsilon_greedy, none.",
    )
    expl_amount: float = _field(0.3, "Noise std (gaussian) or epsilon.")
    expl_decay: float = _field(0.0, "Half-life of expl_amount in frames (0: none).")
    expl_min: float = _field(0.0, "Floor of the decayed expl_amount.")
    eval_noise: float = _field(0.0, "Exploration amount when evaluating.")
    # Environment and schedule (frames).
    action_repeat: int = _field(2, "Frames per agent step.")
    time_limit: int = _field(1000, "Episode length limit in frames.")
    image_size: int = _field(
        64,
        "Side of the square image observations in pixels; the default encoder "
        "and decoder fit 64 only (pass your own layers for other sizes).",
    )
    grayscale: bool = _field(
        False, "Images of one luminance channel instead of RGB (DreamerV2 on Atari)."
    )
    life_done: bool = _field(
        False, "Atari: a lost life ends the training episode (the paper's code)."
    )
    envs: int = _field(1, "Parallel training environments (worker processes).")
    prefill: int = _field(5000, "Frames of random actions before training.")
    pretrain: int = _field(
        100, "Updates right after prefill (the paper's code; not in its text)."
    )
    train_every: int = _field(1000, "Frames between training phases.")
    train_steps: int = _field(100, "Updates per training phase.")
    eval_every: int = _field(10000, "Frames between evaluations.")
    eval_episodes: int = _field(1, "Episodes per evaluation (mode action).")
    log_every: int = _field(1000, "Frames between log events.")
    checkpoint_every_minutes: float = _field(
        5.0,
        "Minutes between checkpoints besides those of the log events, so a "
        "killed run loses at most this much work (0: at log events only).",
    )
    steps: int = _field(5_000_000, "Total training frames.")
    replay_capacity: int = _field(0, "Replay capacity in frames (0: unlimited).")
    prioritize_ends: bool = _field(
        False,
        "Sample window starts up to an episode's end and clip them to the last "
        "valid start, so windows that end an episode are drawn more often.",
    )
    seed: int = _field(0, "Seed of networks, sampling, exploration and envs.")

    def __post_init__(self):
        # Configs saved before "auto" existed hold the precision as a number.
        object.__setattr__(self, "precision", str(self.precision))
        # Positive fields first, so -3 and 0 get the same message.
        _require_positive(
            self,
            "cnn_depth deter_size stoch_size rssm_hidden num_units horizon "
            "batch_size batch_length action_repeat time_limit image_size envs nstep "
            "model_lr value_lr actor_lr adam_epsilon grad_clip eval_episodes "
            "actor_init_std actor_mean_scale slow_target_every",
        )
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.type in ("int", "float") and value < 0:
                raise ValueError(f"{field.name} must be >= 0, got {value!r}.")
        _require_choice(self, "cnn_activation", ACTIVATIONS)
        _require_choice(self, "dense_activation", ACTIVATIONS)
        _require_choice(self, "agent", AGENTS)
        _require_choice(self, "actor_dist", ACTOR_DISTS)
        _require_choice(self, "actor_grad", ACTOR_GRADS)
        _require_choice(self, "representation", REPRESENTATIONS)
        _require_choice(self, "value_estimator", VALUE_ESTIMATORS)
        _require_choice(self, "exploration", EXPLORATIONS)
        _require_choice(self, "train_action", TRAIN_ACTIONS)
        _require_choice(self, "observation", OBSERVATIONS)
        _require_choice(self, "precision", PRECISIONS)
        for name in ("lambda_", "discount", "kl_balance", "actor_grad_mix"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(
                    f"{name} must lie in [0, 1], got {getattr(self, name)}."
                )
        if self.kl_balance == 0.5 and (self.kl_forward or not self.kl_free_average):
            raise ValueError(
                "kl_forward and kl_free_average=False shape KL balancing; set "
                "kl_balance to other than 0.5 (the paper's KL term) to use them."
            )
        if self.weight_decay >= 1:
            raise ValueError(f"weight_decay must be < 1, got {self.weight_decay}.")
        if self.batch_length < 2:
            raise ValueError(f"batch_length must be >= 2, got {self.batch_length}.")
        if self.observation == "proprio" and self.representation == "contrastive":
            raise ValueError("representation='contrastive' needs observation='pixels'.")

    def replace(self, **changes: Any) -> DreamerConfig:
        """Returns a validated copy with some fields changed.

        Args:
            **changes: Field names and their new values.

        Returns:
            The new config.

        Raises:
            ValueError: If a name is not a field or a value is invalid.
        """
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ValueError(f"Unknown config fields: {', '.join(unknown)}.")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Returns the fields as a plain dict (JSON-serialisable)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> DreamerConfig:
        """Builds a config from a dict such as :meth:`to_dict` returns.

        Raises:
            ValueError: If a key is not a field or a value is invalid.
        """
        return cls().replace(**values)


def _require_positive(config: DreamerConfig, names: str) -> None:
    for name in names.split():
        value = getattr(config, name)
        if value <= 0:
            raise ValueError(f"{name} must be > 0, got {value!r}.")


def _require_choice(config: DreamerConfig, name: str, choices: tuple) -> None:
    value = getattr(config, name)
    if value not in choices:
        options = ", ".join(str(choice) for choice in choices)
        raise ValueError(f"{name} must be one of {options}; got {value!r}.")


def define_flags(flag_values=None) -> None:
    """Defines one absl flag per config field, with its default and help.

    Args:
        flag_values: The ``absl.flags.FlagValues`` to define them in; the
            global ``absl.flags.FLAGS`` when ``None``.
    """
    from absl import flags

    flag_values = flags.FLAGS if flag_values is None else flag_values
    definers = {
        "bool": flags.DEFINE_bool,
        "int": flags.DEFINE_integer,
        "float": flags.DEFINE_float,
        "str": flags.DEFINE_string,
    }
    for field in dataclasses.fields(DreamerConfig):
        definers[field.type](
            field.name, field.default, field.metadata["help"], flag_values=flag_values
        )


def config_from_flags(
    flag_values=None, base: dict[str, Any] | None = None
) -> DreamerConfig:
    """Builds the config from parsed flags defined by :func:`define_flags`.

    Args:
        flag_values: The parsed ``absl.flags.FlagValues``; the global
            ``absl.flags.FLAGS`` when ``None``.
        base: Values (e.g. a run's saved config) for the fields whose flag was
            not given on the command line or in a flagfile; flag defaults when
            ``None``. Keys that are not fields are ignored.

    Returns:
        The :class:`DreamerConfig`.

    Raises:
        ValueError: If a value is invalid (the message names the flag).
    """
    from absl import flags

    flag_values = flags.FLAGS if flag_values is None else flag_values
    values = {}
    for field in dataclasses.fields(DreamerConfig):
        flag = flag_values[field.name]
        given = flag.present or base is None or field.name not in base
        values[field.name] = flag.value if given else base[field.name]
    return DreamerConfig(**values)
