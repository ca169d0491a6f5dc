"""Measures how many environment frames per second data collection reaches.

Steps ``dreamer_tf.envs.make_vector_env`` workers with a uniformly random
policy and, if ``dreamer_tf.agent.Dreamer`` imports, with the agent's training
policy, for each number of workers, and prints frames per second (frames are
environment steps before action repeat; reset steps count no frames).

    python benchmarks/collect.py --task dmc_walker_walk --workers 1 2 --seconds 20

This driver process may import TensorFlow: the workers are separate processes
that never do, so MuJoCo renders there with EGL.
"""

import argparse
import time
from collections.abc import Callable

import numpy as np

from dreamer_tf.acting.driver import Driver, Policy, random_policy
from dreamer_tf.envs import make_vector_env


def parse_arguments() -> argparse.Namespace:
    """Parses the command line.

    Returns:
        The parsed arguments.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="dmc_walker_walk", help="Task name.")
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1, 2],
        help="Numbers of worker processes to measure.",
    )
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="Timed seconds per setting."
    )
    parser.add_argument(
        "--action-repeat", type=int, default=2, help="Frames per agent step."
    )
    parser.add_argument(
        "--policy",
        choices=["random", "agent", "both"],
        default="both",
        help="Which policies to measure; the agent only if it imports.",
    )
    parser.add_argument("--seed", type=int, default=0, help="Environment seed.")
    return parser.parse_args()


def measure(
    task: str,
    num_workers: int,
    action_repeat: int,
    seconds: float,
    seed: int,
    make_policy: Callable[[object, object], Policy],
    warmup_steps: int = 5,
) -> float:
    """Collects with a policy for a while and measures the throughput.

    Args:
        task: Task name.
        num_workers: Number of worker processes.
        action_repeat: Frames per agent step.
        seconds: Duration of the timed part.
        seed: Environment seed.
        make_policy: Builds the policy from the single observation and action
            spaces.
        warmup_steps: Untimed steps first (worker start-up, tracing).

    Returns:
        Frames per second over all workers.
    """
    with make_vector_env(
        task, num_workers, seed=seed, action_repeat=action_repeat
    ) as env:
        policy = make_policy(env.single_observation_space, env.single_action_space)
        driver = Driver(env)
        for _ in range(warmup_steps):
            driver.step(policy)
        frames = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            frames += driver.step(policy).frames
        elapsed = time.perf_counter() - start
    return frames / elapsed


def random_policy_factory(seed: int) -> Callable[[object, object], Policy]:
    """A factory of uniformly random policies.

    Args:
        seed: Seed of the action generator.

    Returns:
        A ``make_policy`` for :func:`measure`.
    """

    def make_policy(observation_space: object, action_space: object) -> Policy:
        return random_policy(action_space, np.random.default_rng(seed))

    return make_policy


def agent_policy() -> Callable[[object, object], Policy] | None:
    """A factory of Dreamer training policies, if the agent is available.

    Returns:
        A ``make_policy`` for :func:`measure`, or None (with a message) when
        ``dreamer_tf.agent.Dreamer`` does not import.
    """
    try:
        from dreamer_tf.acting.policy import agent_policy
        from dreamer_tf.agent import Dreamer
        from dreamer_tf.config import DreamerConfig
    except ImportError as error:
        print(f"Skipping the agent policy: {error}")
        return None

    def make_policy(observation_space: object, action_space: object) -> Policy:
        agent = Dreamer(DreamerConfig(), observation_space, action_space)
        return agent_policy(agent, training=True)

    return make_policy


def main() -> None:
    """Runs the measurements and prints a table."""
    arguments = parse_arguments()
    policies = []
    if arguments.policy in ("random", "both"):
        policies.append(("random", random_policy_factory(arguments.seed)))
    if arguments.policy in ("agent", "both"):
        make_agent_policy = agent_policy()
        if make_agent_policy is not None:
            policies.append(("agent", make_agent_policy))
    print(
        f"task {arguments.task}, action repeat {arguments.action_repeat}, "
        f"{arguments.seconds:g} s per setting"
    )
    print(f"{'policy':<8}{'workers':>8}{'frames/s':>12}{'frames/s/worker':>17}")
    for name, make_policy in policies:
        for num_workers in arguments.workers:
            frames_per_second = measure(
                arguments.task,
                num_workers,
                arguments.action_repeat,
                arguments.seconds,
                arguments.seed,
                make_policy,
            )
            print(
                f"{name:<8}{num_workers:>8}{frames_per_second:>12.1f}"
                f"{frames_per_second / num_workers:>17.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
