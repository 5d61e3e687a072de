"""The graph examples in examples/ run on MNIST and learn.

Each example's ``main`` is called with a smaller budget than its default (the
default runs are reported in the README). The data come from
``$FASTNN_DATA/mnist`` (default ``../shared/data/mnist`` beside the repository,
as in the examples); a test fails, rather than skips, when they are missing.
"""

import importlib.util
import os
import subprocess
import sys

from children import child_env
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
         "t10k-labels-idx1-ubyte")


def mnist_dir():
    """The examples' MNIST directory, or pytest.fail with what is missing."""
    env = os.environ.get("FASTNN_DATA")
    directory = (Path(env) if env else ROOT / ".." / "shared" / "data") / "mnist"
    missing = [name for name in FILES
               if not (directory / name).exists() and not (directory / f"{name}.gz").exists()]
    if missing:
        pytest.fail(f"MNIST files missing from {directory}: {', '.join(missing)} "
                    f"(set FASTNN_DATA to the directory holding mnist/; "
                    f"FASTNN_DATA={env!r})", pytrace=False)
    return directory


def load_example(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}",
                                                  ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tensorflow_example_softmax_regression():
    accuracy = load_example("tensorflow_softmax").main(steps=150, path=mnist_dir(),
                                                       verbose=False)
    assert accuracy > 0.85


def test_theano_example_relu_mlp_one_example_at_a_time():
    accuracy = load_example("theano_mlp").main(epochs=1, n_train=5000, path=mnist_dir(),
                                               verbose=False)
    assert accuracy > 0.85


def test_residual_example_trains_end_to_end():
    accuracy = load_example("residual_mlp").main(epochs=2, hidden=32, blocks=2, n_train=5000,
                                                 path=mnist_dir(), verbose=False)
    assert accuracy > 0.85


# The child imports the fastnn this process imported (installed or built in place).


def test_example_runs_as_a_script_and_prints_its_accuracy():
    data = mnist_dir().parent
    env = dict(os.environ, FASTNN_DATA=str(data),
               PYTHONPATH=child_env()["PYTHONPATH"])
    result = subprocess.run([sys.executable, "examples/tensorflow_softmax.py", "--steps", "30"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip().splitlines()[-1]
    assert line.startswith("test accuracy: ")
    assert float(line.split(": ")[1]) > 0.6
