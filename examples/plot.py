"""Plots the eval return of dreamer_tf runs, one curve per config, against the paper's.

The same program as the installed ``dreamer-tf plot`` (see
:mod:`dreamer_tf.plotting`); ``--help`` lists its options::

    python examples/plot.py runs/walker/seed0 runs/walker/seed1 --output walker.png
"""

import sys

from dreamer_tf import plotting

if __name__ == "__main__":
    sys.exit(plotting.main())
