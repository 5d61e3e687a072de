"""pytest setup for bench/: import the in-place build of fastnn from this checkout
and the suite's own modules (workloads, trainers, numpy_mlp)."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
IN_PLACE = any((HERE.parent / "fastnn").glob("_train*.so"))
for path in ((HERE.parent, HERE) if IN_PLACE else (HERE,)):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
