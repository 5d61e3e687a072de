"""Training on the graph: agreement with the fast path, layers as graph
functions, the ``Model`` base class and its ``fit``.

The central check (STYLE 6, "two paths, one set of kernels"): the same weights,
the same batches and the same optimizer give the same parameters whether the
update is computed by ``Sequential.fit`` (one compiled call per epoch) or by
the graph (``Dense``/``Dropout`` called on Tensors, ``grad``, ``optimizer.step``),
to float64 round-off. With dropout, the graph draws its masks from
``Rng(seed of the fit)`` in forward order, as ``CompiledNet`` does.
"""

import copy

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import fastnn
from fastnn import (SGD, Adagrad, Adam, Dense, Dropout, EarlyStopping, Model, Rng, Sequential,
                    Tensor, TrainingDivergedError, grad)


def fit_seed(model):
    """The seed the next ``model.fit`` will give its CompiledNet (the fit
    spawns a child of ``model._train_seq``; a copy spawns the same child)."""
    seq = copy.deepcopy(model._train_seq)
    return int(seq.spawn(1)[0].generate_state(1, np.uint64)[0])


def data(n, n_features, n_classes, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, n_features)), rng.integers(0, n_classes, size=n)


ARCHITECTURES = {
    "mlp": lambda: [Dense(6, 5, "tanh"), Dense(5, 4, "relu"), Dense(4, 3, "softmax")],
    "dropout": lambda: [Dropout(0.3), Dense(6, 5, "sigmoid"), Dropout(0.5),
                        Dense(5, 3, "softmax")],
    "dropout_test_scale": lambda: [Dense(6, 5, "relu"), Dropout(0.4, scale="test"),
                                   Dense(5, 3, "softmax")],
}

OPTIMIZERS = {
    "sgd": lambda wd: SGD(lr=0.1, weight_decay=wd),
    "momentum": lambda wd: SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=wd),
    "adagrad": lambda wd: Adagrad(lr=0.05, weight_decay=wd),
    "adam": lambda wd: Adam(lr=0.01, weight_decay=wd),
}


def graph_forward(layers, x, rng, last_logits):
    """The Sequential's layers called one by one on a Tensor (Dropout draws
    from the shared stream ``rng`` in forward order, like the fast path)."""
    h = x
    for i, layer in enumerate(layers):
        if isinstance(layer, Dropout):
            layer.rng = rng
            h = layer(h)
        else:
            h = layer(h, logits=last_logits and i == len(layers) - 1)
    return h


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_graph_steps_equal_fast_path_steps(arch, weight_decay, optimizer):
    X, y = data(10, 6, 3, seed=1)
    fast_layers = ARCHITECTURES[arch]()
    model = Sequential(fast_layers, loss="cross_entropy", dtype="float64", seed=7)
    rng = np.random.default_rng(2)
    for layer in model.dense_layers:                # non-zero biases: generic gradients
        layer.b = rng.normal(scale=0.3, size=layer.b.shape)
    start = model.get_weights()
    seed = fit_seed(model)
    # Three steps (batches 4, 4, 2) in order, over two epochs: 6 updates.
    model.fit(X, y, epochs=2, batch_size=4, optimizer=OPTIMIZERS[optimizer](weight_decay),
              shuffle=False, verbose=0)
    expected = model.get_weights()

    layers = ARCHITECTURES[arch]()
    twin = Sequential(layers, loss="cross_entropy", dtype="float64", seed=0)  # float64 arrays
    twin.set_weights(start)
    params = [p for layer in twin.dense_layers for p in layer.parameters()]
    opt = OPTIMIZERS[optimizer](weight_decay)
    stream = Rng(seed)
    for epoch in range(2):
        for begin in range(0, 10, 4):
            x = Tensor(X[begin:begin + 4])
            logits = graph_forward(layers, x, stream, last_logits=True)
            loss = fastnn.cross_entropy(logits, y[begin:begin + 4])
            fastnn.train_step(loss, params, opt, epoch=epoch, steps_per_epoch=3)
    for got, want in zip(twin.get_weights(), expected):
        assert_allclose(got, want, rtol=1e-11, atol=1e-13)


class Chain(Model):
    """A Sequential's layers as a graph model (the last Dense gives logits)."""

    def __init__(self, layers, seed):
        super().__init__(seed=seed, dtype="float64")
        self.chain = layers

    def forward(self, x):
        last = len(self.chain) - 1
        for i, layer in enumerate(self.chain):
            x = layer(x) if isinstance(layer, Dropout) else layer(x, logits=i == last)
        return x


@pytest.mark.parametrize("optimizer", ["sgd", "momentum"])
@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_model_fit_equals_sequential_fit_with_shuffling_and_dropout(arch, optimizer):
    """Same seed, same layers: Model.fit (graph) and Sequential.fit (compiled)
    draw the same order and the same masks, so two shuffled epochs end on the
    same weights, and a second fit continues alike."""
    X, y = data(23, 6, 3, seed=8)                     # 23 rows: a last batch of 3
    fast = Sequential(ARCHITECTURES[arch](), loss="cross_entropy", dtype="float64", seed=11)
    graph = Chain(ARCHITECTURES[arch](), seed=11)
    for a, b in zip(fast.get_weights(), graph.get_weights()):
        assert_array_equal(a, b)                      # the same initialisation
    opt_fast, opt_graph = OPTIMIZERS[optimizer](0.01), OPTIMIZERS[optimizer](0.01)
    for _ in range(2):
        h_fast = fast.fit(X, y, epochs=2, batch_size=4, optimizer=opt_fast, verbose=0)
        h_graph = graph.fit(X, y, epochs=2, batch_size=4, optimizer=opt_graph)
        for a, b in zip(fast.get_weights(), graph.get_weights()):
            assert_allclose(a, b, rtol=1e-11, atol=1e-13)
        assert_allclose(h_fast.history["loss"], h_graph.history["loss"], rtol=1e-11)
        assert h_fast.history["accuracy"] == h_graph.history["accuracy"]
    assert opt_fast.t == opt_graph.t == 24
    moved = Sequential(ARCHITECTURES[arch](), loss="cross_entropy", dtype="float64", seed=11)
    assert not np.allclose(moved.get_weights()[0], fast.get_weights()[0])


@pytest.mark.parametrize("loss, last", [("binary_cross_entropy", "sigmoid"), ("mse", "tanh"),
                                        ("mse", "softmax")])
def test_graph_step_equals_fast_path_for_the_other_losses(loss, last):
    X, y = data(8, 5, 3, seed=3)
    layers = [Dense(5, 4, "relu"), Dropout(0.25), Dense(4, 3, last)]
    model = Sequential(layers, loss=loss, dtype="float64", seed=4)
    start, seed = model.get_weights(), fit_seed(model)
    model.fit(X, y, epochs=1, batch_size=8, optimizer=SGD(lr=0.3, weight_decay=0.01),
              shuffle=False, verbose=0)
    expected = model.get_weights()

    model.set_weights(start)
    params = [p for layer in model.dense_layers for p in layer.parameters()]
    fused = loss != "mse"              # the cross-entropies take logits
    out = graph_forward(layers, Tensor(X), Rng(seed), last_logits=fused)
    fn = fastnn.binary_cross_entropy if fused else fastnn.mse
    fastnn.train_step(fn(out, y), params, SGD(lr=0.3, weight_decay=0.01))
    for got, want in zip(model.get_weights(), expected):
        assert_allclose(got, want, rtol=1e-11, atol=1e-13)


def test_graph_gradients_equal_sequential_gradients_float32():
    X, y = data(16, 7, 4, seed=5)
    model = Sequential([Dense(7, 6, "sigmoid"), Dense(6, 4, "softmax")], dtype="float32",
                       seed=1)
    expected = model.gradients(X, y)
    params = [p for layer in model.dense_layers for p in layer.parameters()]
    x = Tensor(X.astype(np.float32))
    logits = model.dense_layers[1](model.dense_layers[0](x), logits=True)
    got = grad(fastnn.cross_entropy(logits, y), params)
    want = [a for pair in expected for a in pair]
    for g, w in zip(got, want):
        assert g.dtype == np.float32
        assert_allclose(g, w, rtol=2e-5, atol=1e-6)


# ------------------------------------------------------------- layers ---

def test_dense_on_a_tensor_matches_dense_on_an_array():
    layer = Dense(5, 3, "tanh")
    X = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    assert_allclose(layer(Tensor(X)).data, layer(X), rtol=1e-6)
    assert_allclose(layer(Tensor(X), logits=True).data, X @ layer.W.T + layer.b, rtol=1e-5)
    assert isinstance(layer(X), np.ndarray)
    with pytest.raises(ValueError, match=r"X must have shape \(n, 5\), got \(4, 3\)"):
        layer(Tensor(X[:, :3]))
    with pytest.raises(TypeError, match="float64 and float32"):
        layer(Tensor(X.astype(np.float64)))
    with pytest.raises(ValueError, match="logits=True needs a Tensor"):
        layer(X, logits=True)


def test_dense_parameters_share_memory_with_W_and_b():
    layer = Dense(3, 2)
    W, b = layer.parameters()
    assert W is layer.W_param and b is layer.b_param
    assert W.data is layer.W and b.data is layer.b and W.requires_grad
    layer.W = np.ones((2, 3))                       # in-place copy: still shared
    assert_array_equal(W.data, np.ones((2, 3)))
    W.data[0, 0] = 5.0
    assert layer.W[0, 0] == 5.0
    layer.initialize(np.random.default_rng(0), np.float64)   # new arrays: new Tensors
    assert layer.W_param.data is layer.W and layer.W_param.dtype == np.float64
    assert Dense(3, 2, bias=False).parameters()[0].shape == (2, 3)
    assert len(Dense(3, 2, bias=False).parameters()) == 1
    assert Dense(3, 2, bias=False).b_param is None


def test_dropout_layer_on_tensors():
    drop = Dropout(0.5)
    x = Tensor(np.ones((20, 30)))
    out = drop(x).data
    assert drop.rng is not None                     # drawn lazily from OS entropy
    assert set(np.unique(out)) == {0.0, 2.0}
    drop.training = False
    assert drop(x) is x
    lecture = Dropout(0.5, scale="test")
    lecture.training = False
    assert_allclose(lecture(x).data, 0.5 * np.ones((20, 30)))
    assert_allclose(lecture(np.ones(3)), 0.5 * np.ones(3))    # arrays: test time, as before


# -------------------------------------------------------------- models ---

class Residual(Model):
    def __init__(self, seed=None, dtype="float64", p=0.0):
        super().__init__(seed=seed, dtype=dtype)
        self.inp = Dense(4, 8, "tanh")
        self.block = Dense(8, 8, "relu")
        self.drop = Dropout(p)
        self.out = Dense(8, 3)

    def forward(self, x):
        h = self.inp(x)
        h = h + self.block(self.drop(h))
        return self.out(h)


class TwoBranches(Model):
    """Two inputs, one layer shared by both branches, joined by concatenation."""

    def __init__(self, seed=None):
        super().__init__(seed=seed, dtype="float64")
        self.shared = Dense(3, 4, "tanh")
        self.head = Dense(8, 2)

    def forward(self, a, b):
        return self.head(fastnn.concatenate([self.shared(a), self.shared(b)], axis=1))


class WithAuxiliaryLoss(Model):
    """Returns the logits and a penalty on the hidden layer."""

    def __init__(self, seed=None):
        super().__init__(seed=seed, dtype="float64")
        self.hidden = Dense(4, 6, "sigmoid")
        self.out = Dense(6, 3)
        self.scale = Tensor(np.ones(6), requires_grad=True)

    def forward(self, x):
        h = self.hidden(x) * self.scale
        return self.out(h), (h * h).mean()


def blobs(n=300, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    centers = np.array([[2.0, 0, 0, 0], [0, 2.0, 0, 0], [0, 0, 2.0, 0]])
    return centers[y] + rng.normal(scale=0.6, size=(n, 4)), y


def test_model_collects_parameters_once_and_follows_its_seed():
    m1, m2 = Residual(seed=3), Residual(seed=3)
    params = m1.parameters()
    assert len(params) == 6
    assert [p.shape for p in params] == [(8, 4), (8,), (8, 8), (8,), (3, 8), (3,)]
    assert all(p.dtype == np.float64 for p in params)
    for a, b in zip(m1.get_weights(), m2.get_weights()):
        assert_array_equal(a, b)
    assert not np.array_equal(Residual(seed=4).get_weights()[0], m1.get_weights()[0])
    assert len(TwoBranches(seed=0).parameters()) == 4          # the shared layer counts once
    assert len(WithAuxiliaryLoss(seed=0).parameters()) == 5    # plus the Tensor attribute
    assert [type(layer) for layer in m1.layers()] == [Dense, Dense, Dropout, Dense]


def test_model_needs_super_init_and_forward():
    class Forgot(Model):
        def __init__(self):
            self.layer = Dense(2, 2)

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\) first"):
        Forgot()
    with pytest.raises(NotImplementedError, match="must define forward"):
        Model(seed=0)(Tensor(np.ones(2)))
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        Model(seed=-1)


def test_train_and_eval_modes_switch_dropout():
    model = Residual(seed=0, p=0.5)
    x = Tensor(np.ones((5, 4)))
    assert model.training and model.drop.training and model.drop.rng is model.rng
    a, b = model(x).data, model(x).data
    assert not np.allclose(a, b)                    # two different masks
    model.eval()
    assert not model.training and not model.drop.training
    assert_array_equal(model(x).data, model(x).data)
    model.train()
    assert model.drop.training


def test_model_fit_learns_and_is_reproducible():
    X, y = blobs()
    histories = []
    for _ in range(2):
        model = Residual(seed=5, p=0.1)
        h = model.fit(X, y, epochs=5, batch_size=16, optimizer=SGD(lr=0.1, momentum=0.9),
                      validation_data=(X[:50], y[:50]))
        histories.append((h.history, model.get_weights()))
    (h1, w1), (h2, w2) = histories
    assert h1 == h2
    for a, b in zip(w1, w2):
        assert_array_equal(a, b)
    assert h1["loss"][-1] < 0.5 * h1["loss"][0]
    assert h1["accuracy"][-1] > 0.9 and h1["val_accuracy"][-1] > 0.9
    assert model.evaluate(X, y)["accuracy"] > 0.9
    assert model.training                           # evaluate restored the mode
    assert model.predict(X[:7]).shape == (7, 3)


def test_model_fit_equals_a_manual_loop_of_train_steps():
    X, y = blobs(40)
    a, b = Residual(seed=1), Residual(seed=1)
    opt_a, opt_b = SGD(lr=0.2, weight_decay=0.01), SGD(lr=0.2, weight_decay=0.01)
    a.fit(X, y, epochs=2, batch_size=16, optimizer=opt_a, shuffle=False)
    params = b.parameters()
    for epoch in range(2):
        for start in range(0, 40, 16):
            loss = fastnn.cross_entropy(b(Tensor(X[start:start + 16])), y[start:start + 16])
            fastnn.train_step(loss, params, opt_b, epoch=epoch, steps_per_epoch=3)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        assert_allclose(wa, wb, rtol=1e-13, atol=1e-15)
    assert opt_a.t == opt_b.t == 6 and opt_a.epoch == 2


def test_weight_decay_reaches_weight_matrices_only():
    """With a zero gradient the update is W <- (1 - lr lam) W for matrices and
    nothing for vectors."""
    W = Tensor(np.ones((2, 3)), requires_grad=True)
    b = Tensor(np.ones(2), requires_grad=True)
    loss = (W * 0.0).sum() + (b * 0.0).sum()
    fastnn.train_step(loss, [W, b], SGD(lr=0.1, weight_decay=0.5))
    assert_allclose(W.data, 0.95 * np.ones((2, 3)))
    assert_allclose(b.data, np.ones(2))


def test_two_branch_model_with_a_shared_layer_trains():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(200, 3)), rng.normal(size=(200, 3))
    y = (A.sum(axis=1) > B.sum(axis=1)).astype(np.int64)
    model = TwoBranches(seed=2)
    history = model.fit((A, B), y, epochs=20, batch_size=20, optimizer=SGD(lr=0.3))
    assert history.history["accuracy"][-1] > 0.9
    assert model.evaluate((A, B), y)["accuracy"] > 0.9


def test_custom_loss_on_a_hidden_layer():
    X, y = blobs(120)
    model = WithAuxiliaryLoss(seed=0)

    def loss(outputs, labels):
        logits, penalty = outputs
        return fastnn.cross_entropy(logits, labels) + 0.1 * penalty

    history = model.fit(X, y, loss=loss, epochs=15, batch_size=12, optimizer=SGD(lr=0.3))
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert "accuracy" not in history.history       # a tuple output has no accuracy
    assert model.scale.data.shape == (6,) and not np.allclose(model.scale.data, 1.0)
    logits, _ = model(Tensor(X))
    assert np.mean(logits.data.argmax(axis=1) == y) > 0.85


def test_model_fit_with_early_stopping_and_divergence():
    X, y = blobs(60)
    model = Residual(seed=0)
    stop = EarlyStopping(monitor="loss", patience=1, min_delta=0.01, restore_best_weights=True)
    model.fit(X, y, epochs=50, batch_size=60, optimizer=SGD(lr=1e-9), callbacks=[stop])
    assert stop.stopped_epoch == 2 and len(model.history.epoch) == 3
    wild = Residual(seed=0)
    before = wild.get_weights()
    with pytest.raises(TrainingDivergedError, match="loss became"):
        wild.fit(X, y, epochs=2, batch_size=20, optimizer=SGD(lr=1e300))
    for a, b in zip(wild.get_weights(), before):
        assert_array_equal(a, b)


def test_graph_divergence_rolls_the_optimizer_state_back_too():
    X, y = blobs(60)
    model = Residual(seed=0)
    optimizer = SGD(lr=0.05, momentum=0.9)
    model.fit(X, y, epochs=1, batch_size=20, optimizer=optimizer)
    arrays, t, epoch = optimizer.snapshot()
    optimizer.lr = 1e300
    with pytest.raises(TrainingDivergedError, match="optimizer state"):
        model.fit(X, y, epochs=2, batch_size=20, optimizer=optimizer)
    after, t_after, epoch_after = optimizer.snapshot()
    assert (t_after, epoch_after) == (t, epoch) == (3, 1)
    assert after.keys() == arrays.keys() and arrays
    for key in arrays:
        for got, want in zip(after[key], arrays[key]):
            assert_array_equal(got, want)


def test_model_fit_rejects_bad_input():
    model = Residual(seed=0)
    X, y = blobs(20)
    with pytest.raises(ValueError, match="different lengths: 20 and 19"):
        model.fit(X, y[:19])
    with pytest.raises(ValueError, match=r"contains NaN or inf at index \(3, 1\)"):
        bad = X.copy()
        bad[3, 1] = np.nan
        model.fit(bad, y)
    with pytest.raises(ValueError, match="loss must be one of"):
        model.fit(X, y, loss="hinge")
    with pytest.raises(ValueError, match="integer class labels"):
        model.fit(X, y.astype(float))
    with pytest.raises(TypeError, match="optimizer must be an Optimizer"):
        model.fit(X, y, optimizer="sgd")
    with pytest.raises(TypeError, match="the full-batch solvers train a Sequential"):
        model.fit(X, y, optimizer=fastnn.LBFGS())
    with pytest.raises(ValueError, match="different numbers of rows"):
        TwoBranches(seed=0).fit((X[:, :3], X[:10, :3]), y)
    with pytest.raises(ValueError, match=r"labels\[\d+\] = \d is out of range \[0, 2\]"):
        model.fit(X, y + 1)
