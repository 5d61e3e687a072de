"""The benchmark suite starts against a pip-installed fastnn (a regression test).

After ``pip install ".[bench]"`` without an in-place build, ``python
bench/run.py`` from the checkout must use the installed fastnn: the checkout's
fastnn/ is then source only, with no compiled modules. The suite's BLAS
detection once put the checkout on ``sys.path`` of its child interpreter and
crashed there on ``import fastnn._blas``.

The test copies bench/ and the sources of fastnn/ (no compiled modules) into a
fresh directory, the state of such a checkout, and runs the smallest bench run
there (``--skip train chunks predict threads sparse import memory --peers``: the
header, with the BLAS detection, and the results file, in about a second), with the fastnn this
test imports (installed in CI, in place in a development checkout) as the
installed one.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fastnn
from children import child_env

REPO = Path(__file__).resolve().parents[1]


def test_bench_runs_against_the_installed_fastnn_from_a_checkout_without_a_build(tmp_path):
    pytest.importorskip("threadpoolctl", reason="the BLAS detection needs threadpoolctl "
                                               "(pip install '.[bench]')")
    checkout = tmp_path / "checkout"
    shutil.copytree(REPO / "bench", checkout / "bench",
                    ignore=shutil.ignore_patterns("__pycache__", "results"))
    shutil.copytree(REPO / "fastnn", checkout / "fastnn",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.pyd", "*.c"))
    env = child_env()
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, "bench/run.py", "--skip", "train", "chunks", "predict", "threads",
         "sparse", "import", "memory", "--peers", "--out", str(out)],
        cwd=checkout, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(out.read_text())
    assert record["versions"]["fastnn"] == fastnn.__version__
    assert record["blas"] is not None and record["blas"]["user_api"] == "blas"
    assert "<- fastnn's BLAS" in proc.stdout
    assert record["data_source"].startswith("not loaded")
    assert record["missing"] == {} and "torch" not in record["versions"]


def test_concurrent_prediction_row_runs():
    """bench/concurrency.py's measurement on a tiny model (a smoke check: no
    time is asserted): every thread count predicts, and a failing predict in a
    thread is raised, not lost."""
    import numpy as np
    sys.path.insert(0, str(REPO / "bench"))
    try:
        from concurrency import THREAD_COUNTS, concurrent_rate
    finally:
        sys.path.remove(str(REPO / "bench"))
    model = fastnn.Sequential([fastnn.Dense(4, 3, "softmax")], seed=0)
    X = np.random.default_rng(0).random((64, 4)).astype(np.float32)
    assert THREAD_COUNTS == (1, 2, 4)
    for threads in THREAD_COUNTS:
        assert concurrent_rate(model.predict_proba, X, 8, threads, 3) > 0
    with pytest.raises(ValueError, match="features"):
        concurrent_rate(model.predict_proba, X[:, :2], 8, 2, 1)
