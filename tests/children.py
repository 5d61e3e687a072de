"""How a test starts a child Python that must import the fastnn under test.

The fastnn under test is the one this process imported: an installed copy (CI
installs the checkout with pip) or the checkout built in place. A child gets
that copy's directory first on PYTHONPATH (``child_env``), and a ``-c`` child
runs outside the checkout (``CHILD_CWD``): Python puts the working directory
first on sys.path, and the checkout's unbuilt sources would shadow an
installed fastnn.
"""

import os
import tempfile
from pathlib import Path

import fastnn

#: The directory that holds the fastnn package under test.
FASTNN_HOME = str(Path(fastnn.__file__).resolve().parents[1])

#: A working directory for ``python -c`` children (never the checkout).
CHILD_CWD = tempfile.gettempdir()


def child_env(**extra):
    """os.environ plus ``extra``, with FASTNN_HOME first on PYTHONPATH."""
    env = dict(os.environ, **extra)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (FASTNN_HOME, env.get("PYTHONPATH", ""))
                                        if p)
    return env
