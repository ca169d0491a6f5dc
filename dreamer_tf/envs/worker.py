"""Worker process of :class:`dreamer_tf.envs.vector.SubprocessVectorEnv`.

Started as ``python -m dreamer_tf.envs.worker <fd>`` with one end of a socket
pair; it never imports TensorFlow, so MuJoCo can render with EGL. Protocol:
the parent sends ``("make", (task, make_env_kwargs))``, then any number of
``("reset", reset_kwargs)`` and ``("step", action)``, then ``("close", None)``.
Every request gets one reply, ``("ok", result)`` or ``("error", traceback)``.
Steps auto-reset in gymnasium's next-step mode: the step after an episode's
last one ignores its action and returns the first observation of a new
episode with reward 0.
"""

import multiprocessing.connection
import signal
import sys
import traceback
from typing import Any

from dreamer_tf.envs.make import make_env


def serve(connection: multiprocessing.connection.Connection) -> None:
    """Answers the parent's requests until it says close or goes away.

    Args:
        connection: The worker's end of the connection to the parent.
    """
    try:
        command, payload = connection.recv()
    except EOFError:
        return
    if command != "make":
        connection.send(("error", f"Expected 'make' first, got {command!r}."))
        return
    task, make_env_kwargs = payload
    try:
        env = make_env(task, **make_env_kwargs)
    except Exception:  # noqa: BLE001 - reported to the parent, which raises.
        connection.send(("error", traceback.format_exc()))
        return
    connection.send(("ok", (env.observation_space, env.action_space)))
    needs_reset = False
    try:
        while True:
            try:
                command, payload = connection.recv()
            except EOFError:
                return
            if command == "close":
                connection.send(("ok", None))
                return
            try:
                if command == "reset":
                    result = env.reset(**payload)
                    needs_reset = False
                elif command == "step":
                    result = _step_or_reset(env, payload, needs_reset)
                    needs_reset = result[2] or result[3]
                else:
                    raise ValueError(f"Unknown worker command {command!r}.")
            except Exception:  # noqa: BLE001 - reported to the parent, which raises.
                connection.send(("error", traceback.format_exc()))
                continue
            connection.send(("ok", result))
    finally:
        env.close()


def _step_or_reset(
    env: Any, action: Any, needs_reset: bool
) -> tuple[Any, float, bool, bool, dict[str, Any]]:
    if needs_reset:
        observation, info = env.reset()
        return observation, 0.0, False, False, info
    return env.step(action)


def main(argv: list[str]) -> None:
    """Entry point: serves requests on the file descriptor given in ``argv[1]``.

    Args:
        argv: ``sys.argv``.
    """
    # Ctrl-C reaches the whole process group, and schedulers may send SIGTERM
    # to every process of a job; the parent decides when workers stop (it
    # closes them after its final checkpoint, or they see the connection close).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    connection = multiprocessing.connection.Connection(int(argv[1]))
    try:
        serve(connection)
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        connection.close()


if __name__ == "__main__":
    main(sys.argv)
