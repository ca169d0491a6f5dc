"""Where one update's time goes: each stage timed alone on the update's shapes.

Every stage is its own ``tf.function`` with the work the update does for it,
forward and backward: the encoder, the RSSM filtering the sequences, the
decoder, the reward head, imagination with the actor's gradient through the
dynamics, the value model, and the three Adam steps. Then the whole update,
and the host's share: the time between two updates in a training phase
(sampling the next batch from a replay of 20 episodes of 500 steps and
handing it to TensorFlow).

    python benchmarks/update_profile.py --batch_size 16
    python benchmarks/update_profile.py --batch_size 50 --repeats 3
    python benchmarks/update_profile.py --plot profile.svg  # and a bar chart

Paper-size model, 64x64x3 pixels, 6-dim actions, float32. Stages do not sum
exactly to the update: the update overlaps some of them, and each stage
alone pays its own launch overhead.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import gymnasium as gym
import numpy as np
import tensorflow as tf
from timing import median_seconds

from dreamer_tf.agent import Dreamer
from dreamer_tf.config import DreamerConfig
from dreamer_tf.replay import Replay

ACTIONS = 6


def gradient_norm(tape, loss, variables) -> tf.Tensor:
    return tf.linalg.global_norm(tape.gradient(loss, variables))


def make_stages(agent: Dreamer, batch: dict) -> dict:
    """One ``(function, args)`` per stage of the update."""
    world_model, actor_critic = agent.world_model, agent.actor_critic
    rssm = world_model.rssm
    embed = world_model.embed(batch)
    posterior, _ = world_model(batch)
    features = rssm.features(posterior)
    observation = world_model.observation(batch)
    imagined = rssm.features(actor_critic.imagine(world_model, posterior))

    @tf.function
    def encoder(data):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(world_model.embed(data))
        return gradient_norm(tape, loss, world_model.encoder.trainable_variables)

    @tf.function
    def rssm_filter(embed, action):
        with tf.GradientTape() as tape:
            tape.watch(embed)
            posterior, prior = rssm.observe(embed, action)
            loss = tf.reduce_mean(
                rssm.distribution(posterior).kl_divergence(rssm.distribution(prior))
            ) + tf.reduce_sum(rssm.features(posterior))
        return gradient_norm(tape, loss, [embed, *rssm.trainable_variables])

    @tf.function
    def decoder(features, observation):
        with tf.GradientTape() as tape:
            tape.watch(features)
            loss = -tf.reduce_mean(world_model.decoder(features).log_prob(observation))
        return gradient_norm(tape, loss, [features, *world_model.decoder.variables])

    @tf.function
    def reward(features, target):
        with tf.GradientTape() as tape:
            tape.watch(features)
            loss = -tf.reduce_mean(world_model.reward_head(features).log_prob(target))
        head = world_model.reward_head.trainable_variables
        return gradient_norm(tape, loss, [features, *head])

    @tf.function
    def imagination(posterior):
        with tf.GradientTape() as tape:
            states = actor_critic.imagine(world_model, posterior)
            imagined = rssm.features(states)
            returns, weights = actor_critic.value_targets(world_model, imagined)
            loss = actor_critic.actor_loss(returns, weights)
        return gradient_norm(tape, loss, agent.actor_variables)

    @tf.function
    def value(imagined):
        with tf.GradientTape() as tape:
            distribution = actor_critic.value(imagined)
            loss = -tf.reduce_mean(distribution.log_prob(tf.zeros(imagined.shape[:2])))
        return gradient_norm(tape, loss, agent.value_variables)

    parts = (
        (agent.model_optimizer, agent.model_variables),
        (agent.actor_optimizer, agent.actor_variables),
        (agent.value_optimizer, agent.value_variables),
    )
    zero_gradients = [[tf.zeros_like(v) for v in variables] for _, variables in parts]

    @tf.function
    def optimizers():
        for (optimizer, variables), gradients in zip(parts, zero_gradients):
            optimizer.apply(gradients, variables)
        return agent.model_optimizer.iterations

    reward_target = tf.zeros(features.shape[:2])
    return {
        "encoder": (encoder, (batch,)),
        "RSSM observe": (rssm_filter, (embed, batch["action"])),
        "decoder": (decoder, (features, observation)),
        "reward head": (reward, (features, reward_target)),
        "imagination + actor backward": (imagination, (posterior,)),
        "value model": (value, (imagined,)),
        "three Adam steps": (optimizers, ()),
    }


def fake_replay(directory, episodes: int = 20, steps: int = 500) -> Replay:
    """A replay of random pixel episodes, as the training loop samples from."""
    replay = Replay(directory, action_repeat=2, seed=0)
    rng = np.random.default_rng(0)
    for _ in range(episodes):
        replay.add(
            {
                "image": rng.integers(0, 256, (steps + 1, 64, 64, 3), np.uint8),
                "action": rng.uniform(-1, 1, (steps + 1, ACTIONS)).astype(np.float32),
                "reward": rng.normal(size=steps + 1).astype(np.float32),
                "discount": np.ones(steps + 1, np.float32),
                "is_first": np.eye(1, steps + 1, dtype=bool)[0],
                "is_last": np.eye(1, steps + 1, steps, dtype=bool)[0],
                "is_terminal": np.zeros(steps + 1, bool),
            }
        )
    return replay


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--length", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--plot", help="Also draw the stages as a bar chart to this file (.svg, .png)."
    )
    args = parser.parse_args()
    config = DreamerConfig(batch_size=args.batch_size, batch_length=args.length)
    observation_space = gym.spaces.Dict(
        {"image": gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)}
    )
    agent = Dreamer(
        config, observation_space, gym.spaces.Box(-1, 1, (ACTIONS,), np.float32)
    )
    with tempfile.TemporaryDirectory() as directory:
        profile(agent, fake_replay(directory), args)


def profile(agent: Dreamer, replay: Replay, args) -> None:
    """Prints the update's time, each stage's and the host's; plots them if asked."""
    rng = np.random.default_rng(0)

    def sample():
        return replay.sample(args.batch_size, args.length, rng)

    batch = {key: tf.convert_to_tensor(value) for key, value in sample().items()}
    update = median_seconds(agent.train, batch, repeats=args.repeats)
    start = time.perf_counter()
    for _ in range(args.repeats):
        {key: tf.convert_to_tensor(value) for key, value in sample().items()}
    host = (time.perf_counter() - start) / args.repeats
    print(f"update {args.batch_size}x{args.length}: {update:.2f} s")
    print(f"{'stage':32} {'seconds':>8} {'share':>7}")
    stages = {}
    for name, (function, stage_args) in make_stages(agent, batch).items():
        stages[name] = median_seconds(function, *stage_args, repeats=args.repeats)
        print(
            f"{name:32} {stages[name]:8.3f} {100 * stages[name] / update:6.1f}%",
            flush=True,
        )
    stages["host: sample the next batch"] = host
    print(f"{'host: sample the next batch':32} {host:8.3f} {100 * host / update:6.1f}%")
    if args.plot:
        plot(stages, update, f"{args.batch_size}x{args.length}", args.plot)
        print(f"wrote {args.plot}")


def plot(stages: dict, update: float, batch: str, path: str) -> None:
    """Draws each stage's seconds as a bar, with the whole update's time as a line."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "none"  # Text stays text in an SVG.
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 3.2))
    names = list(stages)[::-1]
    seconds = [stages[name] for name in names]
    bars = axes.barh(names, seconds, color="#3a6ea5")
    shares = [100 * s / update for s in seconds]
    axes.bar_label(
        bars, [f"{x:.1f}%" if x < 10 else f"{x:.0f}%" for x in shares], padding=3
    )
    axes.axvline(update, color="#b7791f", linestyle="--")
    axes.text(
        update,
        len(names) - 0.6,
        f"whole update {update:.2f} s ",
        color="#b7791f",
        ha="right",
    )
    axes.set_xlabel(f"seconds, each stage alone (forward and backward), batch {batch}")
    axes.set_xlim(0, update * 1.25)
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


if __name__ == "__main__":
    main()
