"""The lecture's MNIST experiment, end to end on the fast path.

784-30-10 (sigmoid hidden layer, softmax output, log-loss), one epoch of SGD
with mini-batches of 10 and eta = 0.1, seed 0, trained on the first 50,000
training images; the lecture reports ~96.5% for this network after full
training, and one epoch must already exceed 90% on the 10,000 test images.

The data come from ``$FASTNN_DATA/mnist`` (the four original IDX .gz files);
the test fails, rather than skips, when they are missing.
"""

import os
from pathlib import Path

import numpy as np
import pytest

from fastnn import SGD, Dense, Sequential
from fastnn.datasets import load_mnist

FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def load_lecture_mnist():
    """MNIST from $FASTNN_DATA/mnist; pytest.fail (a test failure, not an
    error or a skip) with a clear message when it is not there."""
    root = os.environ.get("FASTNN_DATA")
    if not root:
        pytest.fail("FASTNN_DATA is not set: point it at the directory holding mnist/ "
                    "(e.g. FASTNN_DATA=/work/shared/data)", pytrace=False)
    directory = Path(root).expanduser() / "mnist"
    missing = [name for name in FILES
               if not ((directory / name).is_file() or (directory / name[:-3]).is_file())]
    if missing:
        pytest.fail(f"MNIST files missing from {directory}: {', '.join(missing)} "
                    f"(FASTNN_DATA={root!r})", pytrace=False)
    # download=False: the test uses exactly these files, never the network.
    return load_mnist(path=directory, split="train_val_test", download=False)


def test_lecture_784_30_10_one_epoch_beats_90_percent():
    (X_train, y_train), _, (X_test, y_test) = load_lecture_mnist()
    assert X_train.shape == (50000, 784) and X_test.shape == (10000, 784)
    model = Sequential([Dense(784, 30, "sigmoid"), Dense(30, 10, "softmax")],
                       loss="cross_entropy", seed=0)
    chance = model.evaluate(X_test, y_test)["accuracy"]
    history = model.fit(X_train, y_train, epochs=1, batch_size=10, optimizer=SGD(lr=0.1),
                        verbose=0)
    scores = model.evaluate(X_test, y_test)
    assert chance < 0.3
    assert scores["accuracy"] > 0.90, f"test accuracy after one epoch: {scores['accuracy']:.4f}"
    assert np.isfinite(history.history["loss"][0]) and scores["loss"] < np.log(10) / 2
    assert scores["accuracy"] == np.mean(model.predict(X_test) == y_test)
