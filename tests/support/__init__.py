"""What the tests share: tiny configs, fixed weights and noise, test envs, programs.

Test modules import from here as ``support.<module>``: ``tests/`` is on the
path (pytest puts the root conftest's folder there), and the training
programs that the end-to-end tests start get it on ``PYTHONPATH`` (see
:mod:`support.run_program`).
"""

import pathlib

#: The ``tests/`` folder.
TESTS = pathlib.Path(__file__).resolve().parents[1]
#: The repository's root.
REPOSITORY = TESTS.parent
