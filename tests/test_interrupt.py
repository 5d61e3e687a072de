"""Ctrl-C during fit (and pretrain): KeyboardInterrupt at the next step boundary, the model
at the weights of the last completed step, the history so far.

The subprocess tests send a real SIGINT to a child that is training; the
time bound on its reaction is only a guard against a hang (the chunk time
itself belongs to bench/).
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import fastnn

from children import child_env  # noqa: E402
from fastnn import SGD, Callback, Dense, Sequential

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys
import numpy as np
import fastnn
from fastnn import Dense, Dropout, Model, Sequential, SGD

rng = np.random.default_rng(0)
X = rng.normal(size=(40000, 64)).astype("float32")
y = rng.integers(0, 10, size=40000)


class Net(Model):
    def __init__(self):
        super().__init__(seed=0)
        self.a = Dense(64, 64, "relu")
        self.b = Dense(64, 10)

    def forward(self, x):
        return self.b(self.a(x))


class Watch(fastnn.Callback):
    # Keeps the weights of every chunk boundary; says "ready" once training runs.
    def on_train_batch_end(self, step, logs=None):
        self.weights = self.model.get_weights()
        self.position = [self.loop.epoch, step]
        if not getattr(self, "told", False):
            self.told = True
            print("ready", flush=True)


for kind in sys.argv[1:]:
    watch = Watch()
    # Every epoch lasts seconds (here 4-7 s), also on a machine twice as fast.
    if kind == "sequential":        # an epoch of 40000 steps
        model = Sequential([Dense(64, 512, "relu"), Dropout(0.1), Dense(512, 512, "relu"),
                            Dense(512, 10, "softmax")], seed=0)
        fit = lambda: model.fit(X, y, epochs=1000, batch_size=1, optimizer=SGD(lr=0.01),
                                verbose=0, callbacks=[watch])
    elif kind == "graph":           # 20000 graph steps per epoch
        model = Net()
        fit = lambda: model.fit(X, y, epochs=1000, batch_size=2, optimizer=SGD(lr=0.01),
                                verbose=0, callbacks=[watch])
    elif kind == "pretrain":        # the autoencoder of a 64-2048 layer, 40000 steps
        model = Sequential([Dense(64, 2048, "relu"), Dense(2048, 10, "softmax")], seed=0)
        fit = lambda: model.pretrain(X, epochs=1000, batch_size=1, optimizer=SGD(lr=1e-4),
                                     verbose=0, callbacks=[watch])
    else:                           # L-BFGS memorising random labels: many iterations
        model = Sequential([Dense(64, 64, "tanh"), Dense(64, 10, "softmax")],
                           dtype="float64", seed=0)
        solver = fastnn.LBFGS(tol=1e-30, max_iter=10 ** 6, max_fun=10 ** 6)
        fit = lambda: model.fit(X.astype("float64"), y, epochs=10 ** 6, optimizer=solver,
                                verbose=0, callbacks=[watch])
    try:
        fit()
        result = {"interrupted": False}
    except KeyboardInterrupt:
        # watch.model: the model fitted, or the layer's Autoencoder in pretrain.
        trained = watch.model
        same = all(np.array_equal(a, b) for a, b in zip(trained.get_weights(), watch.weights))
        result = {"interrupted": True, "same_as_last_step": same,
                  "history": len(trained.history.epoch), "position": watch.position}
    print(json.dumps(result), flush=True)
"""

KINDS = ["sequential", "graph", "pretrain", "solver"]


def test_sigint_ends_fit_promptly_at_the_last_completed_step(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = child_env(FASTNN_NUM_THREADS="1")
    child = subprocess.Popen([sys.executable, str(script), *KINDS], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    results = {}
    try:
        for kind in KINDS:
            line = child.stdout.readline().strip()
            assert line == "ready", (kind, line, child.stderr.read() if not line else "")
            time.sleep(0.3)                       # well inside the training
            sent = time.perf_counter()
            child.send_signal(signal.SIGINT)
            results[kind] = json.loads(child.stdout.readline())
            results[kind]["latency"] = time.perf_counter() - sent
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    for kind, result in results.items():
        assert result["interrupted"], kind
        assert result["same_as_last_step"], kind
        # A hang guard only; the chunk time (0.2 s) is measured in bench/.
        assert result["latency"] < 10, (kind, result)
    # Inside the first epoch: the compiled and graph loops return within it.
    for kind in ("sequential", "graph", "pretrain"):
        assert results[kind]["history"] == 0, (kind, results[kind])
        assert results[kind]["position"][0] == 0 and results[kind]["position"][1] > 0
    assert results["solver"]["history"] >= 1
    assert child.returncode == 0, err


# ------------------------------------------------------ in the process ---

class InterruptAt(Callback):
    """Sends this process SIGINT at a given chunk boundary, then records."""

    def __init__(self, at):
        self.at = at
        self.calls = 0
        self.weights = None

    def on_train_batch_end(self, step, logs=None):
        self.calls += 1
        self.weights = self.model.get_weights()
        if self.calls == self.at:
            os.kill(os.getpid(), signal.SIGINT)
            # The handler only raised a flag: the callbacks still run.
            self.after = True


def test_sigint_is_deferred_to_the_step_boundary_and_the_handler_restored():
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(300, 5)), rng.integers(0, 3, size=300)
    model = Sequential([Dense(5, 4, "tanh"), Dense(4, 3, "softmax")], dtype="float64", seed=0)
    callback = InterruptAt(at=4)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, y, epochs=50, batch_size=1, optimizer=SGD(lr=0.1), verbose=0,
                  callbacks=[callback])
    assert callback.after and callback.calls == 4
    for a, b in zip(model.get_weights(), callback.weights):
        assert_array_equal(a, b)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert model.history is not None
    # The model is free again: a new fit runs.
    model.fit(X, y, epochs=1, verbose=0)


def test_outside_the_main_thread_sigint_keeps_its_meaning():
    import threading

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 5)), rng.integers(0, 3, size=40)
    model = Sequential([Dense(5, 3, "softmax")], dtype="float64", seed=0)
    seen = {}

    def work():
        model.fit(X, y, epochs=2, verbose=0)
        seen["handler"] = signal.getsignal(signal.SIGINT)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(30)
    assert seen["handler"] is signal.default_int_handler
    assert len(model.history.epoch) == 2
    assert fastnn.Sequential is Sequential
