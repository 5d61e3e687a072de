"""bench/sklearn_dropin.py runs end to end at toy size and prints its table
(one row per setting, both accuracies); no time is asserted."""

import subprocess
import sys
from pathlib import Path

from children import child_env

REPO = Path(__file__).resolve().parents[1]


def test_sklearn_dropin_bench_prints_every_setting_at_toy_size():
    proc = subprocess.run(
        [sys.executable, "bench/sklearn_dropin.py", "--n", "200", "--n-test", "100",
         "--n-lbfgs", "100", "--n-bow", "200", "--seeds", "1", "--epochs-scale", "0.01"],
        cwd=REPO, env=child_env(), capture_output=True, text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("fastnn.sklearn vs scikit-learn, float32, 200 MNIST")
    rows = lines[3:]
    titles = ["(30,) logistic, sgd, batch 10", "(100,) relu, sgd, batch 10",
              "scikit-learn's defaults", "lbfgs on digits", "lbfgs on an MNIST subset",
              "defaults on a sparse bag of words"]
    assert len(rows) == len(titles)
    for row, title in zip(rows, titles):
        assert row.startswith(title) and row.count("±") == 2 and "x " in row
