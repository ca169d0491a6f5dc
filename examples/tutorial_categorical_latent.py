"""Tutorial: a world model with a categorical latent, and a KL term to match.

The paper's RSSM samples its stochastic state from a diagonal Gaussian.
``CategoricalRSSMCell`` keeps the paper's cell (its GRU, its dense layers,
filtering and imagination) and changes only what the state protocol of
:class:`dreamer_tf.layers.RSSMCell` lets a subclass change: which entries a
state has, how the prior's and posterior's outputs become a state, and which
distribution a state holds. The stochastic state is ``groups`` one-hot
vectors of ``classes`` entries each, as in DreamerV2 (Hafner et al., 2021).

``BalancedKL`` replaces the KL term with DreamerV2's KL balancing: the same
divergence twice, once training only the prior and once only the posterior,
weighted so that the prior moves faster towards the posterior than the
posterior towards the prior.

The script builds the agent with both, trains a few updates on random
images, rebuilds it from its recorded architecture (as a run directory does),
exports its policy and runs the export::

    python examples/tutorial_categorical_latent.py --steps 3

To train it with the training program, import ``categorical_agent`` from
this module in a script and pass it to :func:`dreamer_tf.run.cli.launch`.
"""

from __future__ import annotations

# dreamer_tf first: importing it hides TensorFlow's start-up log lines.
import dreamer_tf  # noqa: F401

# isort: split
import argparse
import tempfile

import gymnasium as gym
import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from dreamer_tf.acting.export import export_policy
from dreamer_tf.agent import Dreamer
from dreamer_tf.architecture import agent_from_architecture, describe_agent
from dreamer_tf.config import DreamerConfig
from dreamer_tf.layers import RSSMCell

tfd = tfp.distributions


@keras.saving.register_keras_serializable(package="tutorial")
class CategoricalRSSMCell(RSSMCell):
    """An RSSM whose stochastic state is ``groups`` one-hot vectors.

    The prior and posterior layers output one logit per class of every group
    (``stats_size = groups * classes``). A state is ``{logits, stoch,
    deter}``: ``stoch`` is a one-hot sample of every group, flattened, whose
    gradient is that of the class probabilities (straight-through), so the
    actor's gradient still flows through imagined states.

    Args:
        groups: Number of categorical variables.
        classes: Classes of each.
        deter_size: Size of the deterministic (GRU) state.
        hidden_size: Width of the dense layers.
        activation: Activation of the dense layers.
        **kwargs: Passed to :class:`~dreamer_tf.layers.RSSMCell`.
    """

    def __init__(
        self,
        groups: int = 32,
        classes: int = 32,
        deter_size: int = 200,
        hidden_size: int = 200,
        activation: str = "elu",
        **kwargs,
    ):
        super().__init__(
            stoch_size=groups * classes,
            deter_size=deter_size,
            hidden_size=hidden_size,
            activation=activation,
            **kwargs,
        )
        self.groups = groups
        self.classes = classes

    @property
    def state_shapes(self) -> dict[str, tuple[int, ...]]:
        """``logits`` and ``stoch`` of ``groups * classes``, and ``deter``."""
        return {
            "logits": (self.stoch_size,),
            "stoch": (self.stoch_size,),
            "deter": (self.deter_size,),
        }

    @property
    def stats_size(self) -> int:
        """One logit per class of every group."""
        return self.stoch_size

    def distribution(self, state: dict[str, tf.Tensor]) -> tfd.Distribution:
        """``groups`` independent one-hot categoricals over ``classes``."""
        flat = state["logits"]
        grouped_shape = [self.groups, self.classes]
        logits = tf.reshape(flat, tf.concat([tf.shape(flat)[:-1], grouped_shape], 0))
        categorical = tfd.OneHotCategorical(logits=logits, dtype=tf.float32)
        return tfd.Independent(categorical, reinterpreted_batch_ndims=1)

    def latent_state(self, stats: tf.Tensor, deter: tf.Tensor) -> dict[str, tf.Tensor]:
        """The state of the logits ``stats``, with a straight-through sample."""
        categoricals = self.distribution({"logits": stats}).distribution
        probabilities = categoricals.probs_parameter()
        # Sampled here, not with categoricals.sample(): TFP transposes int64
        # indices, for which oneDNN prints an error-level notice on stderr.
        flat_logits = tf.reshape(stats, [-1, self.classes])
        indices = tf.random.categorical(flat_logits, 1, dtype=tf.int32)[:, 0]
        one_hot = tf.reshape(tf.one_hot(indices, self.classes), tf.shape(probabilities))
        one_hot += probabilities - tf.stop_gradient(probabilities)
        return {
            "logits": stats,
            "stoch": tf.reshape(one_hot, tf.shape(stats)),
            "deter": deter,
        }

    def get_config(self) -> dict:
        config = super().get_config()
        # Fixed by groups and classes, or unused by a categorical latent.
        del config["stoch_size"], config["min_std"]
        return {**config, "groups": self.groups, "classes": self.classes}


@keras.saving.register_keras_serializable(package="tutorial")
class BalancedKL:
    """DreamerV2's KL balancing, with free nats on each half.

    ``scale * (balance * max(KL(sg(posterior) || prior), free_nats) + (1 -
    balance) * max(KL(posterior || sg(prior)), free_nats))``, each KL a mean
    over batch and time and ``sg`` the stop-gradient. Both halves have the
    same value; the first trains only the prior, the second only the
    posterior.

    Args:
        scale: Weight of the term.
        balance: Share of the prior's half.
        free_nats: The floor of each half.
    """

    def __init__(
        self, scale: float = 1.0, balance: float = 0.8, free_nats: float = 1.0
    ):
        self.scale = scale
        self.balance = balance
        self.free_nats = free_nats

    def __call__(self, rssm, posterior, prior) -> tuple[tf.Tensor, dict]:
        def mean_kl(posterior, prior):
            divergence = rssm.distribution(posterior).kl_divergence(
                rssm.distribution(prior)
            )
            return tf.reduce_mean(divergence)

        frozen_posterior = tf.nest.map_structure(tf.stop_gradient, posterior)
        frozen_prior = tf.nest.map_structure(tf.stop_gradient, prior)
        prior_half = mean_kl(frozen_posterior, prior)
        posterior_half = mean_kl(posterior, frozen_prior)
        loss = self.scale * (
            self.balance * tf.maximum(prior_half, self.free_nats)
            + (1 - self.balance) * tf.maximum(posterior_half, self.free_nats)
        )
        return loss, {"kl": prior_half}

    def get_config(self) -> dict:
        return {
            "scale": self.scale,
            "balance": self.balance,
            "free_nats": self.free_nats,
        }

    @classmethod
    def from_config(cls, config: dict) -> BalancedKL:
        return cls(**config)


def categorical_agent(config, observation_space, action_space, strategy=None):
    """Dreamer with 4 categoricals of 4 classes and KL balancing.

    The signature of an agent factory of :func:`dreamer_tf.run.cli.launch`.
    The cell is made by a function, so that the agent makes it under its own
    dtype policy (``--precision=16``) and distribution strategy.
    """
    return Dreamer(
        config,
        observation_space,
        action_space,
        strategy=strategy,
        rssm=lambda: CategoricalRSSMCell(
            groups=4,
            classes=4,
            deter_size=config.deter_size,
            hidden_size=config.rssm_hidden,
            activation=config.dense_activation,
        ),
        kl_loss=BalancedKL(scale=config.kl_scale),
    )


def random_batch(config: DreamerConfig, action_size: int, seed: int) -> dict:
    """Random image sequences in the replay's layout."""
    rng = np.random.default_rng(seed)
    shape = (config.batch_size, config.batch_length)
    return {
        "image": rng.integers(0, 256, (*shape, 64, 64, 3), np.uint8),
        "action": rng.uniform(-1, 1, (*shape, action_size)).astype(np.float32),
        "reward": rng.normal(size=shape).astype(np.float32),
        "discount": np.ones(shape, np.float32),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=3, help="Updates to run.")
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    config = DreamerConfig(
        cnn_depth=4,
        deter_size=16,
        rssm_hidden=16,
        num_units=16,
        horizon=4,
        batch_size=2,
        batch_length=6,
    )
    observation_space = gym.spaces.Dict(
        {"image": gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)}
    )
    action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    agent = categorical_agent(config, observation_space, action_space)
    rssm = agent.world_model.rssm
    print(f"state entries: {rssm.state_shapes}, features: {rssm.feature_size}")

    batch = random_batch(config, action_space.shape[0], seed=0)
    for update in range(args.steps):
        metrics = agent.train(batch)
        print(
            f"update {update}: model_loss={float(metrics['model_loss']):.2f}, "
            f"kl={float(metrics['kl']):.3f}, "
            f"posterior_entropy={float(metrics['posterior_entropy']):.3f}"
        )

    # What a run directory records (architecture.json) rebuilds this agent.
    rebuilt = agent_from_architecture(config, describe_agent(agent))
    assert isinstance(rebuilt.world_model.rssm, CategoricalRSSMCell)
    assert isinstance(rebuilt.world_model.kl_loss, BalancedKL)
    assert rebuilt.variables_by_name().keys() == agent.variables_by_name().keys()
    print(f"rebuilt from its architecture: {len(agent.variables_by_name())} variables")

    with tempfile.TemporaryDirectory() as directory:
        export_policy(agent, directory, observation_space)
        policy = tf.saved_model.load(directory)
        step = policy.signatures["serving_default"]
        state = policy.initial_state(tf.constant(2, tf.int32))
        print(f"exported policy's state: {sorted(state)}")
        rng = np.random.default_rng(1)
        for t in range(3):
            image = rng.integers(0, 256, (2, 64, 64, 3), np.uint8)
            is_first = np.full(2, t == 0)
            outputs = step(
                image=tf.constant(image), is_first=tf.constant(is_first), **state
            )
            action = outputs.pop("action")
            state = outputs
            print(f"step {t}: actions {action.numpy().round(3).tolist()}")


if __name__ == "__main__":
    main()
