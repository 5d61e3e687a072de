"""Progress inside an epoch: the loop's chunks of steps, on_train_batch_end,
the in-epoch progress line, and the chunking's invariance (any split of an
epoch gives bitwise the same training)."""

import io

import numpy as np
import pytest
import scipy.sparse as scipy_sparse
from numpy.testing import assert_array_equal

import fastnn
from fastnn import SGD, Adam, Callback, Dense, Dropout, EarlyStopping, Model, Sequential
from fastnn.training import ChunkClock


def data(n=53, n_features=6, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, n_features)), rng.integers(0, n_classes, size=n)


def sequential(dtype="float64"):
    return Sequential([Dense(6, 9, "tanh"), Dropout(0.25), Dense(9, 3, "softmax")],
                      dtype=dtype, seed=3)


class GraphNet(Model):
    def __init__(self):
        super().__init__(seed=3, dtype="float64")
        self.hidden = Dense(6, 9, "tanh")
        self.drop = Dropout(0.25)
        self.out = Dense(9, 3)

    def forward(self, x):
        return self.out(self.drop(self.hidden(x)))


class BatchRecorder(Callback):
    def __init__(self):
        self.events = []

    def on_train_batch_end(self, step, logs=None):
        self.events.append((self.loop.epoch, step, dict(logs)))


# ------------------------------------------------------------- the clock ---

def test_chunk_clock_starts_at_one_step_and_grows_at_most_eightfold():
    clock = ChunkClock(0.2)
    assert clock.size == 1
    clock.record(1, 1e-6)          # one step in a microsecond: 200000 wanted
    assert clock.size == 8
    clock.record(8, 8e-6)
    assert clock.size == 64
    clock.record(64, 0.4)          # slower than wanted: shrinks at once
    assert clock.size == 32
    clock.record(32, 10.0)
    assert clock.size == 1         # never below one step
    clock.record(1, 0.0)           # a clock that did not move: grows
    assert clock.size == 8


def test_chunk_clock_none_is_one_chunk_per_epoch():
    clock = ChunkClock(None)
    clock.record(5, 100.0)
    assert clock.size >= 2 ** 62


# -------------------------------------------------------- invariance ---

@pytest.mark.parametrize("make, optimizer", [
    (sequential, lambda: SGD(lr=0.3, momentum=0.9)),
    (sequential, lambda: Adam(lr=0.02)),
    (GraphNet, lambda: Adam(lr=0.02)),
], ids=["sequential-momentum", "sequential-adam", "graph-adam"])
def test_any_chunking_gives_bitwise_the_same_training(chunks, make, optimizer):
    X, y = data()
    results = []
    for size in (1, 3, 10 ** 9):
        chunks(size)
        model = make()
        history = model.fit(X, y, epochs=3, batch_size=5, optimizer=optimizer(), verbose=0)
        results.append((model.get_weights(), history.history))
    for weights, history in results[1:]:
        for a, b in zip(weights, results[0][0]):
            assert_array_equal(a, b)
        assert history == results[0][1]


def test_chunking_is_invisible_with_sample_weights_and_sparse_inputs(chunks):
    X, y = data()
    X[np.abs(X) < 0.8] = 0.0
    weights = np.random.default_rng(1).uniform(0, 2, size=X.shape[0])
    results = []
    for size in (1, 3, 10 ** 9):
        chunks(size)
        model = sequential()
        history = model.fit(scipy_sparse.csr_matrix(X), y, epochs=2, batch_size=4,
                            optimizer=Adam(lr=0.02), verbose=0, sample_weight=weights)
        results.append((model.get_weights(), history.history))
    for weights_, history in results[1:]:
        for a, b in zip(weights_, results[0][0]):
            assert_array_equal(a, b)
        assert history == results[0][1]


def test_pretrain_chunking_is_invisible_and_reports_batch_ends(chunks):
    X, _ = data()                  # 53 rows: 11 steps of 5 per epoch
    X = 1 / (1 + np.exp(-X))       # in [0, 1]: the cross-entropy reconstruction
    results = []
    for size in (1, 3, 10 ** 9):
        chunks(size)
        model = Sequential([Dense(6, 5, "sigmoid"), Dense(5, 4, "tanh"),
                            Dense(4, 3, "softmax")], dtype="float64", seed=3)
        recorder = BatchRecorder()
        losses = model.pretrain(X, epochs=2, batch_size=5, optimizer=Adam(lr=0.02),
                                corruption=0.3, verbose=0, callbacks=[recorder])
        results.append((model.get_weights(), losses, recorder.events))
    for weights, losses, _ in results[1:]:
        for a, b in zip(weights, results[0][0]):
            assert_array_equal(a, b)
        assert losses == results[0][1]
    # 2 layers x 2 epochs, each cut into chunks of 1, 3 (4 chunks) or 11 steps.
    assert [len(events) for _, _, events in results] == [44, 16, 4]
    assert [step for _, step, _ in results[1][2][:4]] == [2, 5, 8, 10]
    # The last chunk's running loss is the epoch's.
    assert results[2][2][0][2]["loss"] == results[0][1][0][0]


# --------------------------------------------------- on_train_batch_end ---

@pytest.mark.parametrize("make", [sequential, GraphNet], ids=["sequential", "graph"])
def test_batch_end_comes_at_chunk_boundaries_with_running_logs(chunks, make):
    X, y = data(n=53)            # 11 steps of 5 (the last of 3)
    chunks(4)
    recorder = BatchRecorder()
    history = make().fit(X, y, epochs=2, batch_size=5, optimizer=SGD(lr=0.1), verbose=0,
                         callbacks=[recorder])
    assert [(e, s) for e, s, _ in recorder.events] == [(0, 3), (0, 7), (0, 10),
                                                       (1, 3), (1, 7), (1, 10)]
    for epoch in (0, 1):
        last = [logs for e, s, logs in recorder.events if e == epoch][-1]
        # The last chunk's running logs are the epoch's logs.
        assert last["loss"] == history.history["loss"][epoch]
        assert last["accuracy"] == history.history["accuracy"][epoch]


def test_default_clock_gives_small_chunks_first():
    X, y = data(n=400)
    recorder = BatchRecorder()
    sequential().fit(X, y, epochs=1, batch_size=2, verbose=0, callbacks=[recorder])
    steps = [s for _, s, _ in recorder.events]
    assert steps[0] == 0 and steps[-1] == 199      # one step first, the epoch's last step
    assert steps == sorted(steps)


def test_full_batch_solver_reports_each_iteration_as_a_step():
    X, y = data(n=60)
    model = Sequential([Dense(6, 3, "softmax")], dtype="float64", seed=0)
    recorder = BatchRecorder()
    history = model.fit(X, y, epochs=4, optimizer=fastnn.LBFGS(), verbose=0,
                        callbacks=[recorder])
    assert [(e, s) for e, s, _ in recorder.events] == [(e, 0) for e in history.epoch]
    assert [logs["loss"] for _, _, logs in recorder.events] == history.history["loss"]


# ------------------------------------------------------------ the display ---

class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_verbose_1_on_a_terminal_shows_step_rate_loss_and_eta(chunks, monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    chunks(3)
    X, y = data(n=53)
    sequential().fit(X, y, epochs=2, batch_size=5, verbose=1, validation_data=(X, y))
    text = terminal.getvalue()
    lines = text.split("\n")
    assert len([line for line in lines if line]) == 2        # one line per epoch
    first = lines[0].split("\r")
    assert any("epoch 1/2" in part and "/11 steps" in part and "ex/s" in part
               and "loss=" in part and "ETA" in part for part in first)
    assert "11/11 steps" in first[-1] and "val_loss=" in first[-1]
    assert "epoch 2/2" in lines[1]


def test_verbose_1_off_a_terminal_prints_nothing(monkeypatch):
    pipe = io.StringIO()
    monkeypatch.setattr("sys.stderr", pipe)
    X, y = data()
    sequential().fit(X, y, epochs=2, batch_size=5, verbose=1)
    assert pipe.getvalue() == ""


def test_verbose_1_with_a_solver_shows_one_bar_over_the_iterations(monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    X, y = data(n=60)
    model = Sequential([Dense(6, 3, "softmax")], dtype="float64", seed=0)
    history = model.fit(X, y, epochs=5, optimizer=fastnn.LBFGS(), verbose=1)
    text = terminal.getvalue()
    assert text.count("\n") == 1 and "epochs" in text
    assert f"{len(history.epoch)}/5 epochs" in text


def test_early_stopping_still_sees_whole_epochs(chunks):
    chunks(2)
    X, y = data()
    stop = EarlyStopping("loss", patience=0, min_delta=10.0)
    history = sequential().fit(X, y, epochs=5, batch_size=5, verbose=0, callbacks=[stop])
    assert history.epoch == [0, 1] and stop.stopped_epoch == 1
