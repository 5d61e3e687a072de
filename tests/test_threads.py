"""Sharing a model between threads: what is safe and what refuses.

- ``Sequential.predict``/``predict_proba``/``evaluate``: any number of threads
  at once, each on its own compiled inference net, with exactly the serial
  results.
- ``fit`` excludes every other thread: a prediction or a second fit from
  another thread raises RuntimeError naming the conflict (the fitting thread
  itself may predict, for callbacks and validation).
- Grad mode is per thread: one thread's ``no_grad()`` does not switch off
  recording in another.
"""

import pickle
import threading

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import fastnn
from fastnn import SGD, Callback, Dense, Model, Sequential, Tensor


def fitted_model(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(600, 20)).astype(np.float32)
    y = rng.integers(0, 4, size=600)
    model = Sequential([Dense(20, 64, "relu"), Dense(64, 4, "softmax")], seed=seed)
    model.fit(X, y, epochs=1, batch_size=32, verbose=0)
    return model, X, y


def run_threads(targets):
    errors = []

    def wrap(fn):
        def run():
            try:
                fn()
            except BaseException as exc:        # reported to the test below
                errors.append(exc)
        return run

    threads = [threading.Thread(target=wrap(fn)) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return errors


def test_concurrent_predictions_equal_the_serial_ones():
    model, X, y = fitted_model()
    # Batches of 1 row and of several chunks, so threads use the buffers at once.
    slices = [slice(i, i + 1) for i in range(0, 40, 3)] + [slice(0, 600), slice(7, 530)]
    expected = [model.predict_proba(X[s]) for s in slices]
    loss = model.evaluate(X, y)
    mismatches = []

    def worker(offset):
        def run():
            for repeat in range(30):
                k = (offset + repeat) % len(slices)
                out = model.predict_proba(X[slices[k]])
                if not np.array_equal(out, expected[k]):
                    mismatches.append((offset, k))
                if repeat % 10 == 0 and model.evaluate(X, y) != loss:
                    mismatches.append((offset, "evaluate"))
        return run

    assert run_threads([worker(i) for i in range(4)]) == []
    assert mismatches == []


def test_fit_excludes_other_threads():
    model, X, y = fitted_model(1)
    seen = {}

    class FromAnotherThread(Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen["own_thread"] = model.predict(X[:3]).shape       # the fitting thread may
            seen["errors"] = run_threads([lambda: model.predict(X[:3]),
                                          lambda: model.fit(X, y, verbose=0)])

    model.fit(X, y, epochs=1, verbose=0, callbacks=[FromAnotherThread()])
    assert seen["own_thread"] == (3,)
    messages = sorted(str(e) for e in seen["errors"])
    assert all(isinstance(e, RuntimeError) for e in seen["errors"]) and len(messages) == 2
    assert "fit called on Sequential while another thread is fitting it" in messages[0]
    assert "predict/evaluate called on Sequential while another thread is fitting it" \
        in messages[1]
    model.fit(X, y, epochs=1, verbose=0)                     # free again afterwards
    assert model.predict(X[:2]).shape == (2,)


class Gated(Model):
    """A graph model whose forward waits for a gate in eval mode."""

    def __init__(self):
        super().__init__(seed=0, dtype="float64")
        self.layer = Dense(3, 2)
        self.entered, self.gate = threading.Event(), threading.Event()

    def forward(self, x):
        if not self.training:
            self.entered.set()
            self.gate.wait(timeout=30)
        return self.layer(x)


def test_fit_refuses_while_another_thread_predicts():
    model = Gated()
    X, y = np.ones((4, 3)), np.array([0, 1, 0, 1])
    reader = threading.Thread(target=model.predict, args=(X,))
    reader.start()
    assert model.entered.wait(timeout=30)
    stream, weights = model.rng, model.get_weights()
    try:
        with pytest.raises(RuntimeError, match=r"while 1 prediction\(s\) on it are running"):
            model.fit(X, y, optimizer=SGD(lr=0.1))
        # The refused fit changed nothing: mask stream, mode (eval, set by the
        # prediction) and weights are the reader's.
        assert model.rng is stream and not model.training
        for a, b in zip(model.get_weights(), weights):
            assert_array_equal(a, b)
    finally:
        model.gate.set()
        reader.join(timeout=30)
    model.fit(X, y, optimizer=SGD(lr=0.1))                      # the prediction ended


def test_grad_mode_is_per_thread():
    inside, done = threading.Event(), threading.Event()

    def hold_no_grad():
        with fastnn.no_grad():
            inside.set()
            done.wait(timeout=30)

    holder = threading.Thread(target=hold_no_grad)
    holder.start()
    assert inside.wait(timeout=30)
    try:
        assert fastnn.is_grad_enabled()
        w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
        (w * w).sum().backward()
        assert_array_equal(w.grad, [2.0, 4.0])
    finally:
        done.set()
        holder.join(timeout=30)


def test_a_model_pickles_after_predicting():
    model, X, _ = fitted_model(2)
    before = model.predict_proba(X[:9])
    clone = pickle.loads(pickle.dumps(model))
    assert_array_equal(clone.predict_proba(X[:9]), before)


def test_independent_graphs_in_threads_are_exact():
    """Each thread builds and differentiates its own graph (the graph ops run
    the compiled kernels): gradients equal the serial ones bit for bit, and
    model(X) from several threads equals predict_proba."""
    def gradients(seed):
        rng = np.random.default_rng(seed)
        W = Tensor(rng.normal(size=(8, 5)), requires_grad=True)
        b = Tensor(rng.normal(size=8), requires_grad=True)
        X = rng.normal(size=(64, 5))
        labels = rng.integers(0, 8, 64)
        cost = fastnn.cross_entropy(fastnn.tanh(fastnn.linear(X, W, b)) @ W, labels[:64] % 5)
        return fastnn.grad(cost, [W, b])

    expected = {seed: gradients(seed) for seed in range(4)}
    model, X, _ = fitted_model(3)
    proba = model.predict_proba(X)
    mismatches = []

    def worker(seed):
        def run():
            for _ in range(20):
                got = gradients(seed)
                if not all(np.array_equal(a, e) for a, e in zip(got, expected[seed])):
                    mismatches.append(seed)
                if not np.array_equal(model(X), proba):
                    mismatches.append(("model(X)", seed))
        return run

    assert run_threads([worker(s) for s in range(4)]) == []
    assert mismatches == []
