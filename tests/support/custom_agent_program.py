"""The training program with an agent of :mod:`custom_agents` (``--agent=NAME``).

A user's script in small: the layers live in a module it imports (so that
``--eval_only``, export and ``load_agent`` find them in other processes), and
the factory goes to :func:`dreamer_tf.run.cli.launch`.
"""

import sys

from dreamer_tf.run import cli
from support.custom_agents import FACTORIES

if __name__ == "__main__":
    name = next(arg.split("=", 1)[1] for arg in sys.argv if arg.startswith("--agent="))
    sys.argv = [arg for arg in sys.argv if not arg.startswith("--agent=")]
    cli.launch(agent_factory=FACTORIES[name])
