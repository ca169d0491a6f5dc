"""What an actor does: step its environments with its policy copy, within a budget.

An actor runs :func:`run_actor` in its own process (or Ray actor). It talks
to the learner only through two callables, so both backends share it:

- it receives ``("allow", frames)`` (it may step until its own frame count
  reaches ``frames``), ``("weights", version, arrays, frames)`` (the policy's
  numpy weights and the learner's frame count, which decays exploration) and
  ``("stop",)``;
- it sends ``("ready", pid)`` once and then ``("step", frames, episodes)``
  after every step of its environments: the frames just stepped and the
  episodes just finished.

Until the first weights arrive it acts uniformly at random (the prefill).
The environments step in TensorFlow-free worker processes
(:func:`dreamer_tf.envs.make_vector_env`), since this process imports
TensorFlow for the policy (on one thread) when the first weights arrive.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from dreamer_tf.acting.driver import Driver, random_policy
from dreamer_tf.envs import make_vector_env

Send = Callable[[tuple], None]
# receive(block) -> the next message, or None if none waits and not block.
Receive = Callable[[bool], tuple | None]


@dataclasses.dataclass(frozen=True)
class ActorSetup:
    """Everything an actor needs to start; plain data, so it pickles.

    Attributes:
        index: The actor's number, from 0.
        incarnation: How many times this actor was restarted before.
        task: The task name.
        config: ``DreamerConfig.to_dict()`` of the run.
        architecture: The learner's agent as
            :func:`dreamer_tf.architecture.describe_agent` wrote it.
        env_options: Keyword arguments of ``make_vector_env`` besides seed.
        seed: The actor's environment seed (worker ``j`` gets ``seed + j``).
    """

    index: int
    incarnation: int
    task: str
    config: dict[str, Any]
    architecture: dict[str, Any]
    env_options: dict[str, Any]
    seed: int


def run_actor(setup: ActorSetup, send: Send, receive: Receive) -> None:
    """Acts until told to stop (or until the learner goes away).

    Args:
        setup: The actor's setup.
        send: Sends a message to the learner.
        receive: Receives the learner's next message.
    """
    config = setup.config
    env = make_vector_env(
        setup.task,
        config["envs"],
        seed=setup.seed,
        role=f"actor {setup.index} training",
        **setup.env_options,
    )
    try:
        _act(setup, env, send, receive)
    finally:
        env.close()


def _one_tensorflow_thread() -> None:
    """Runs the policy on one thread: the learner needs the cores more.

    A policy step on a few environments gains nothing from TensorFlow's
    thread pools, and N actors with a pool per core each would crowd the
    learner off a small machine. Only possible before TensorFlow starts.
    """
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass  # TensorFlow already runs in this process (e.g. a reused worker).


def _act(setup: ActorSetup, env, send: Send, receive: Receive) -> None:
    driver = Driver(env)
    driver.reset()
    policy = random_policy(env.single_action_space, np.random.default_rng(setup.seed))
    copy = PolicyCopy(setup.config, setup.architecture)
    allowed = frames = 0
    send(("ready", os.getpid()))
    while True:
        message = receive(frames >= allowed)
        while message is not None:
            kind = message[0]
            if kind == "stop":
                return
            if kind == "allow":
                allowed = max(allowed, message[1])
            elif kind == "weights" and copy.load(*message[1:]):
                policy = copy
            message = receive(False)
        if frames >= allowed:
            continue
        result = driver.step(policy)
        frames += result.frames
        send(("step", result.frames, [episode for _, episode in result.episodes]))


class PolicyCopy:
    """An actor's copy of the learner's training policy, from numpy weights.

    The agent is rebuilt from the learner's architecture (and TensorFlow
    imported) on the first weights, after the environment workers have
    started without TensorFlow. Acting goes through
    :func:`dreamer_tf.acting.policy.agent_policy`, the learner's own code.

    Args:
        config: ``DreamerConfig.to_dict()`` of the run.
        architecture: The learner's agent, as
            :func:`dreamer_tf.architecture.describe_agent` wrote it.
    """

    def __init__(self, config: dict[str, Any], architecture: dict[str, Any]):
        self._config = config
        self._architecture = architecture
        self.agent = None
        self._act = None
        self.version = -1

    def load(self, version: int, weights: dict[str, np.ndarray], frames: int) -> bool:
        """Takes newer weights and the learner's frame count (for exploration).

        Returns:
            Whether the weights were newer than those held (else ignored).
        """
        if version <= self.version:
            return False
        if self.agent is None:
            _one_tensorflow_thread()
            from dreamer_tf.acting.policy import agent_policy
            from dreamer_tf.architecture import agent_from_architecture
            from dreamer_tf.config import DreamerConfig

            config = DreamerConfig.from_dict(self._config)
            self.agent = agent_from_architecture(config, self._architecture)
            self._act = agent_policy(self.agent, training=True)
        from dreamer_tf.acting.policy import set_policy_weights

        set_policy_weights(self.agent, weights)
        self.agent.frames.assign(frames)
        self.version = version
        return True

    def __call__(self, observation, state):
        """Acts as a :data:`dreamer_tf.acting.driver.Policy`."""
        return self._act(observation, state)
