"""Greedy layer-wise pre-training (fastnn.pretraining, Sequential.pretrain).

The compiled autoencoder (csrc/_pretrain.pyx.tp) is checked against a plain
NumPy version of its equations (the module docstring's), three ways: central
differences of its loss in float64 for the tied and the untied decoder and
both reconstruction losses; its gradients against the NumPy reference; a few
epochs (shuffle, masking noise, update) against a NumPy loop drawing the same
shuffles and masks from ``fastnn.Rng``, for several optimizers. Then the
public method: reproducibility, what the noise changes, errors, and that the
output layer and the next fit's stream are left alone.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose

import fastnn
from fastnn import Dense, Dropout, Sequential
from fastnn.ops import NumpyOps
from fastnn.pretraining import Autoencoder

H = 1e-6


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


ACTIVATIONS = {
    "sigmoid": (sigmoid, lambda y: y * (1 - y)),
    "tanh": (np.tanh, lambda y: 1 - y * y),
    "relu": (lambda a: np.maximum(a, 0), lambda y: (y > 0).astype(y.dtype)),
}


def reference(params, X, activation, reconstruction, mask=None):
    """NumPy autoencoder: (mean loss, {name: gradient}) on the batch X."""
    W, b, c, V = params["W"], params.get("b"), params["c"], params.get("V")
    f, df = ACTIVATIONS[activation]
    Xin = X if mask is None else X * mask
    A = Xin @ W.T + (0 if b is None else b)
    Hh = f(A)
    Z = Hh @ (W if V is None else V.T) + c
    n = X.shape[0]
    if reconstruction == "cross_entropy":
        Xh = sigmoid(Z)
        loss = -np.sum(X * np.log(Xh) + (1 - X) * np.log(1 - Xh))
    else:
        Xh = Z
        loss = 0.5 * np.sum((Xh - X) ** 2)
    dZ = (Xh - X) / n
    grads = {"c": dZ.sum(axis=0)}
    dH = dZ @ (W.T if V is None else V)
    dA = df(Hh) * dH
    grads["W"] = dA.T @ Xin + (Hh.T @ dZ if V is None else 0)
    if V is not None:
        grads["V"] = dZ.T @ Hh
    if b is not None:
        grads["b"] = dA.sum(axis=0)
    return loss / n, grads


def layer_and_data(n_in=7, n_hid=4, n=9, activation="sigmoid", dtype="float64", seed=0,
                   unit=True, bias=True):
    rng = np.random.default_rng(seed)
    layer = Dense(n_in, n_hid, activation, bias=bias)
    layer.initialize(rng, np.dtype(dtype))
    if bias:
        layer.b[...] = rng.normal(scale=0.3, size=n_hid)
    X = rng.random((n, n_in)) if unit else rng.normal(size=(n, n_in))
    return layer, np.ascontiguousarray(X, dtype=dtype)


def autoencoder(layer, tied, reconstruction, seed=1):
    ae = Autoencoder(layer, tied, reconstruction)
    ae.c[...] = np.random.default_rng(seed).normal(scale=0.2, size=ae.c.shape)
    if ae.V is not None:
        ae.V += np.random.default_rng(seed + 1).normal(scale=0.1, size=ae.V.shape)
    return ae


CASES = [(tied, rec, act) for tied in (True, False)
         for rec, act in (("cross_entropy", "sigmoid"), ("squared_error", "tanh"),
                          ("squared_error", "relu"))]


@pytest.mark.parametrize("tied, reconstruction, activation", CASES)
def test_gradients_match_central_differences_and_numpy(tied, reconstruction, activation):
    layer, X = layer_and_data(activation=activation, unit=reconstruction == "cross_entropy")
    ae = autoencoder(layer, tied, reconstruction)
    net = ae.compiled(X.shape[0], fastnn.SGD(lr=0.1))
    loss = net.loss_gradients(X) / X.shape[0]
    params = {k: v for k, v in ae.parameters().items() if v is not None}
    ref_loss, ref_grads = reference(params, X, activation, reconstruction)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    assert loss == pytest.approx(net.loss_sum(X) / X.shape[0], rel=1e-12)
    assert set(net.grads) == set(ref_grads)
    for name, array in params.items():
        assert_allclose(net.grads[name], ref_grads[name], rtol=1e-10, atol=1e-12)
        numeric = np.empty_like(array)
        for i in np.ndindex(array.shape):
            saved = array[i]
            array[i] = saved + H
            up = net.loss_sum(X)
            array[i] = saved - H
            down = net.loss_sum(X)
            array[i] = saved
            numeric[i] = (up - down) / (2 * H * X.shape[0])
        assert_allclose(net.grads[name], numeric, rtol=1e-6, atol=1e-8, err_msg=name)


def test_gradients_without_bias_and_with_a_given_mask():
    layer, X = layer_and_data(bias=False)
    ae = autoencoder(layer, True, "cross_entropy")
    net = ae.compiled(X.shape[0], fastnn.SGD(), corruption=0.3, seed=5)
    loss = net.loss_gradients(X, corrupt=True) / X.shape[0]
    mask = (fastnn.Rng(5).uniform(X.size) >= 0.3).reshape(X.shape).astype(X.dtype)
    assert 0 < mask.mean() < 1
    ref_loss, ref_grads = reference({"W": layer.W, "c": ae.c}, X, "sigmoid", "cross_entropy",
                                    mask)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    assert set(net.grads) == {"W", "c"}
    for name in ("W", "c"):
        assert_allclose(net.grads[name], ref_grads[name], rtol=1e-10, atol=1e-12)


def numpy_epochs(ae, activation, X, epochs, batch_size, optimizer, corruption, seed):
    """The compiled epoch loop in NumPy: the same draws from fastnn.Rng(seed)
    (each epoch's shuffle of the previous order, then each batch's mask), the
    optimizer's NumPy step."""
    params = {k: v.copy() for k, v in ae.parameters().items() if v is not None}
    rng = fastnn.Rng(seed)
    ops = NumpyOps()
    n = X.shape[0]
    steps = -(-n // batch_size)
    losses = []
    order = np.arange(n, dtype=np.int64)
    for epoch in range(epochs):
        rng.shuffle(order)          # in place, from the last epoch's order
        total = 0.0
        for start in range(0, n, batch_size):
            xb = X[order[start:start + batch_size]]
            mask = None
            if corruption > 0:
                mask = (rng.uniform(xb.size) >= corruption).reshape(xb.shape).astype(X.dtype)
            loss, grads = reference(params, xb, activation, ae.reconstruction, mask)
            total += loss * xb.shape[0]
            optimizer.step([(params[k], grads[k], k in ("W", "V")) for k in params],
                           epoch=epoch, steps_per_epoch=steps, ops=ops)
        optimizer.epoch += 1
        losses.append(total / n)
    return params, losses


OPTIMIZERS = [
    lambda: fastnn.SGD(lr=0.5, weight_decay=0.01),
    lambda: fastnn.SGD(lr=0.2, momentum=0.9, nesterov=True, schedule="inverse_time"),
    lambda: fastnn.Adagrad(lr=0.1),
    lambda: fastnn.Adam(lr=0.01, weight_decay=0.001),
]


@pytest.mark.parametrize("make_optimizer", OPTIMIZERS, ids=["sgd", "nesterov-1/t", "adagrad",
                                                            "adam"])
@pytest.mark.parametrize("tied", [True, False], ids=["tied", "untied"])
def test_epochs_equal_a_numpy_loop(make_optimizer, tied):
    layer, X = layer_and_data(n=23, seed=3)
    ae = autoencoder(layer, tied, "cross_entropy")
    expected, expected_losses = numpy_epochs(ae, "sigmoid", X, 3, 5, make_optimizer(), 0.25,
                                             seed=11)
    from fastnn.pretraining import AutoencoderEpochs
    optimizer = make_optimizer()
    runner = AutoencoderEpochs(ae, X, 5, optimizer, 0.25, 11)
    losses = []
    for epoch in range(3):
        stats = runner.run_epoch(epoch)
        optimizer.epoch += 1
        losses.append(stats.loss_sum / stats.seen)
    assert optimizer.t == 3 * 5
    assert_allclose(losses, expected_losses, rtol=1e-11)
    for name, array in ae.parameters().items():
        if array is not None:
            assert_allclose(array, expected[name], rtol=1e-10, atol=1e-12, err_msg=name)


def deep(dtype="float32", seed=0, hidden=(12, 8), activation="sigmoid", dropout=None):
    sizes = [20, *hidden]
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers.append(Dense(a, b, activation))
        if dropout is not None:
            layers.append(Dropout(dropout))
    layers.append(Dense(sizes[-1], 3, "softmax"))
    return Sequential(layers, dtype=dtype, seed=seed)


@pytest.fixture
def blobs(rng):
    X = rng.random((120, 20)).astype(np.float32)
    y = (X[:, :3].argmax(axis=1)).astype(np.int64)
    return X, y


def test_pretrain_is_reproducible_and_leaves_the_output_layer_alone(blobs):
    X, _ = blobs
    weights = []
    for _ in range(2):
        model = deep()
        before = model.get_weights()
        losses = model.pretrain(X, epochs=3, batch_size=8, corruption=0.2, verbose=0)
        after = model.get_weights()
        weights.append(after)
        assert len(losses) == 2 and all(len(curve) == 3 for curve in losses)
        assert losses[0][-1] < losses[0][0]              # the first layer learns
        for w0, w1 in zip(before[:4], after[:4]):       # hidden layers changed
            assert not np.array_equal(w0, w1)
        for w0, w1 in zip(before[4:], after[4:]):       # the output layer did not
            assert np.array_equal(w0, w1)
    for a, b in zip(*weights):
        assert np.array_equal(a, b)
    other = deep(seed=1)
    other.set_weights(deep().get_weights())
    other.pretrain(X, epochs=3, batch_size=8, corruption=0.2, verbose=0)
    assert not np.array_equal(other.get_weights()[0], weights[0][0])


def test_corruption_changes_the_training_and_zero_is_the_plain_autoencoder(blobs):
    X, _ = blobs
    runs = {}
    for corruption in (0.0, 0.5):
        model = deep(dtype="float64")
        runs[corruption] = (model.pretrain(X, epochs=2, batch_size=8, corruption=corruption,
                                           verbose=0), model.get_weights())
    assert not np.array_equal(runs[0.0][1][0], runs[0.5][1][0])
    # a half-masked input is harder to reconstruct
    assert runs[0.5][0][0][-1] > runs[0.0][0][0][-1]


def test_pretrain_uses_a_stream_of_its_own_and_fit_follows(blobs):
    X, y = blobs
    a, b = deep(), deep()
    a.pretrain(X, epochs=1, batch_size=8, verbose=0)
    b.set_weights(a.get_weights())
    a.fit(X, y, epochs=2, batch_size=8, verbose=0)
    b.fit(X, y, epochs=2, batch_size=8, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        assert np.array_equal(wa, wb)


def test_losses_follow_the_inputs_range_and_the_layers_tied_or_not(blobs):
    X, _ = blobs
    model = deep(activation="tanh", dtype="float64")
    seen = []

    class Spy(fastnn.Callback):
        def on_train_begin(self, logs=None):
            seen.append((self.model.index, self.model.reconstruction, self.model.tied,
                         len(self.model.get_weights())))

    model.pretrain(X, epochs=1, verbose=0, tied=False, callbacks=[Spy()])
    # X is in [0, 1]: cross-entropy; tanh outputs are not: squared error
    assert seen == [(0, "cross_entropy", False, 4), (1, "squared_error", False, 4)]


def test_pretrain_reports_divergence_and_restores_the_layer(blobs):
    X, _ = blobs
    model = deep()
    before = model.get_weights()
    # inputs beyond [0, 1]: a linear decoder, whose bias c oscillates by a factor
    # 1 - lr = -999 per step until float32 overflows
    diverged = r"the loss became NaN or inf at epoch 0 \(0-based\), step 11 of 15"
    with pytest.raises(fastnn.TrainingDivergedError, match=diverged):
        model.pretrain(X * 10, epochs=2, batch_size=8, optimizer=fastnn.SGD(lr=1e3),
                       verbose=0)
    for w0, w1 in zip(before, model.get_weights()):
        assert np.array_equal(w0, w1)


def test_pretrain_shows_progress_like_fit(blobs, capsys):
    X, _ = blobs
    deep().pretrain(X, epochs=2, verbose=2)
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("pretrain layer 1/2: epoch 1/2 ") and "loss=" in err[0]
    assert err[-1].startswith("pretrain layer 2/2: epoch 2/2 ")
    assert len(err) == 4


def test_pretrain_with_dropout_layers_reads_inputs_as_at_inference(blobs):
    X, y = blobs
    model = deep(dropout=0.5)
    losses = model.pretrain(X, epochs=1, verbose=0)
    assert len(losses) == 2
    model.fit(X, y, epochs=1, verbose=0)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"epochs": 0}, ValueError, "epochs must be a positive integer, got 0"),
    ({"batch_size": -1}, ValueError, "batch_size must be a positive integer, got -1"),
    ({"corruption": 1.0}, ValueError, "corruption must be < 1, got 1.0"),
    ({"corruption": -0.1}, ValueError, "corruption must be >= 0, got -0.1"),
    ({"corruption": "0.1"}, ValueError, "corruption must be a finite real number, got '0.1'"),
    ({"tied": "yes"}, TypeError, "tied must be True or False, got 'yes'"),
    ({"verbose": 3}, ValueError, "verbose must be 0, 1 or 2, got 3"),
    ({"optimizer": "sgd"}, TypeError, "optimizer must be an Optimizer"),
    ({"optimizer": fastnn.LBFGS()}, TypeError, "full-batch solver LBFGS"),
])
def test_bad_arguments(blobs, kwargs, error, match):
    X, _ = blobs
    model = deep()
    before = model.get_weights()
    with pytest.raises(error, match=match):
        model.pretrain(X, **{"verbose": 0, **kwargs})
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_bad_data_and_models(blobs):
    X, _ = blobs
    with pytest.raises(ValueError, match="X has 19 features"):
        deep().pretrain(X[:, 1:], verbose=0)
    bad = X.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match=r"X contains NaN or inf: X\[3, 4\]"):
        deep().pretrain(bad, verbose=0)
    with pytest.raises(ValueError, match="has 1 Dense layer .* and no hidden one"):
        Sequential([Dense(20, 3, "softmax")], seed=0).pretrain(X, verbose=0)
    import scipy.sparse
    with pytest.raises(TypeError, match="pretrain takes a dense X"):
        deep().pretrain(scipy.sparse.csr_matrix(X), verbose=0)
