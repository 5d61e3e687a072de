"""Targets beyond class labels: regression (mse), soft labels (cross-entropy),
multi-label and soft targets (binary cross-entropy).

The loss kernels with dense targets and row weights are checked against their
NumPy references (fastnn/ops.py), the gradients of whole networks against
central differences, and the target checks against their error messages.
"""

import re

import numpy as np
import pytest

import fastnn
from fastnn import SGD, Dense, Sequential
from fastnn.ops import CompiledOps, NumpyOps
from fastnn.validation import check_targets

REFERENCE, COMPILED = NumpyOps(), CompiledOps()
KERNELS = {"cross_entropy": "softmax_cross_entropy",
           "binary_cross_entropy": "sigmoid_binary_cross_entropy", "mse": "squared_error"}
TOL = {"float32": 2e-5, "float64": 1e-12}


def dense_targets(loss, rng, rows, cols):
    if loss == "cross_entropy":
        return rng.dirichlet(np.ones(cols), rows)
    if loss == "binary_cross_entropy":
        t = rng.random((rows, cols))
        t[: rows // 2] = t[: rows // 2] > 0.5         # hard multi-label rows and soft rows
        return t
    return rng.normal(size=(rows, cols))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("loss", sorted(KERNELS))
def test_dense_target_kernels_match_their_reference(loss, weighted, dtype):
    rng = np.random.default_rng(3)
    rows, cols = 9, 4
    A = rng.normal(scale=3, size=(rows, cols)).astype(dtype)
    T = dense_targets(loss, rng, rows, cols).astype(dtype)
    w = rng.random(rows).astype(dtype) * 3 if weighted else None
    scale = 1 / (w.sum() if weighted else rows)
    A_ref, A_got = A.copy(), A.copy()
    loss_ref, delta_ref = getattr(REFERENCE, KERNELS[loss])(A_ref, None, scale, T, w)
    loss_got, delta_got = getattr(COMPILED, KERNELS[loss])(A_got, None, scale, T, w)
    assert loss_got == pytest.approx(loss_ref, rel=TOL[dtype])
    np.testing.assert_allclose(delta_got, delta_ref, rtol=TOL[dtype], atol=TOL[dtype])
    np.testing.assert_allclose(A_got, A_ref, rtol=TOL[dtype], atol=TOL[dtype])
    assert delta_got.dtype == dtype
    for ops in (REFERENCE, COMPILED):
        got = ops.count_correct(A_ref, None, T, w, loss)
        want = fastnn.ops.count_correct_reference(A_ref, None, T, w, loss)
        assert got == pytest.approx(want)


def test_dense_one_hot_targets_give_the_label_kernels_results():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(6, 3))
    labels = rng.integers(0, 3, 6)
    onehot = np.eye(3)[labels]
    for name in KERNELS.values():
        by_label = getattr(COMPILED, name)(A.copy(), labels, 0.25)
        by_rows = getattr(COMPILED, name)(A.copy(), None, 0.25, onehot)
        assert by_rows[0] == pytest.approx(by_label[0], rel=1e-14)
        np.testing.assert_allclose(by_rows[1], by_label[1], rtol=1e-14, atol=1e-16)


def test_soft_cross_entropy_by_hand():
    # One row, logits (0, 0): p = (1/2, 1/2); t = (1/4, 3/4): l = -sum t log p = log 2,
    # delta = p - t = (1/4, -1/4).
    A = np.zeros((1, 2))
    loss, delta = COMPILED.softmax_cross_entropy(A, None, 1.0, np.array([[0.25, 0.75]]))
    assert loss == pytest.approx(np.log(2), rel=1e-15)
    np.testing.assert_allclose(delta, [[0.25, -0.25]], rtol=1e-15)


# ------------------------------------------------------- whole networks ---
NETS = {
    "regression 1 output": ([(4, 5, "tanh"), (5, 1, "identity")], "mse", "real"),
    "regression 3 outputs": ([(4, 5, "relu"), (5, 3, "identity")], "mse", "real"),
    "soft labels": ([(4, 5, "sigmoid"), (5, 3, "softmax")], "cross_entropy", "distributions"),
    "multi-label": ([(4, 5, "tanh"), (5, 3, "sigmoid")], "binary_cross_entropy", "binary"),
    "soft 1 unit": ([(4, 5, "tanh"), (5, 1, "sigmoid")], "binary_cross_entropy", "binary"),
}


def make_net(case, dtype="float64", seed=0):
    sizes, loss, _ = NETS[case]
    return Sequential([Dense(a, b, act) for a, b, act in sizes], loss=loss, dtype=dtype,
                      seed=seed)


def make_targets(case, rng, n):
    sizes, loss, _ = NETS[case]
    k = sizes[-1][1]
    y = dense_targets(loss, rng, n, k)
    if case == "soft 1 unit":
        y = np.full(n, 0.3) + 0.4 * rng.random(n)
    return y[:, 0] if k == 1 and loss == "mse" else y


@pytest.mark.parametrize("case", sorted(NETS))
def test_gradients_of_dense_targets_match_central_differences(case):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(7, 4))
    y = make_targets(case, rng, 7)
    model = make_net(case)
    grads = model.gradients(X, y)
    h = 1e-6
    for layer, (gW, gb) in zip(model.dense_layers, grads):
        for param, grad in ((layer.W, gW), (layer.b, gb)):
            numeric = np.empty_like(param)
            for index in np.ndindex(param.shape):
                saved = param[index]
                param[index] = saved + h
                plus = model.evaluate(X, y)["loss"]
                param[index] = saved - h
                minus = model.evaluate(X, y)["loss"]
                param[index] = saved
                numeric[index] = (plus - minus) / (2 * h)
            np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("case", sorted(NETS))
def test_fit_on_dense_targets_reports_what_means_something(case):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 4)).astype(np.float32)
    y = make_targets(case, rng, 40)
    model = make_net(case, dtype="float32")
    history = model.fit(X, y, epochs=3, batch_size=8, optimizer=SGD(lr=0.1), verbose=0,
                        validation_data=(X, y))
    kind = NETS[case][2]
    assert model.target_kind == kind
    keys = {"loss", "val_loss"} | ({"accuracy", "val_accuracy"} if kind != "real" else set())
    assert set(history.history) == keys
    result = model.evaluate(X, y)
    assert set(result) == ({"loss", "accuracy"} if kind != "real" else {"loss"})
    out = model.predict_proba(X)
    if kind == "real":
        np.testing.assert_array_equal(model.predict(X), out[:, 0] if out.shape[1] == 1 else out)
        # The reported loss is the mean of 1/2 ||y - t||^2.
        t = y.reshape(len(y), -1)
        expected = np.mean(0.5 * np.sum((out.astype(np.float64) - t) ** 2, axis=1))
        assert result["loss"] == pytest.approx(expected, rel=1e-5)
    elif kind == "binary":
        t = y.reshape(len(y), -1)
        subset = np.mean(((out > 0.5) == (t > 0.5)).all(axis=1))
        assert result["accuracy"] == pytest.approx(subset)
        predicted = model.predict(X)
        expected = (out > 0.5).astype(np.int64)
        np.testing.assert_array_equal(predicted, expected[:, 0] if out.shape[1] == 1
                                      else expected)
    else:
        assert result["accuracy"] == pytest.approx(np.mean(out.argmax(1) == y.argmax(1)))
        np.testing.assert_array_equal(model.predict(X), out.argmax(1))


def test_regression_learns_a_linear_function():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ np.array([1.5, -2.0, 0.5]) + 0.25
    model = Sequential([Dense(3, 1, "identity")], loss="mse", dtype="float64", seed=0)
    model.fit(X, y, epochs=60, batch_size=10, optimizer=SGD(lr=0.05), verbose=0)
    np.testing.assert_allclose(model.layers[0].W[0], [1.5, -2.0, 0.5], atol=1e-6)
    np.testing.assert_allclose(model.predict(X), y, atol=1e-6)


def test_label_targets_keep_their_meaning():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4))
    labels = rng.integers(0, 3, 30)
    # mse on 3 outputs with integer labels: one-hot targets, an accuracy, class predictions.
    model = make_net("regression 3 outputs")
    history = model.fit(X, labels, epochs=1, verbose=0)
    assert model.target_kind == "labels" and "accuracy" in history.history
    assert model.predict(X).shape == (30,)
    # One-hot float rows are labels for every loss, and train like them.
    for case in ("soft labels", "multi-label", "regression 3 outputs"):
        a, b = make_net(case, seed=3), make_net(case, seed=3)
        a.fit(X, labels, epochs=2, verbose=0)
        b.fit(X, np.eye(3)[labels], epochs=2, verbose=0)
        assert b.target_kind == "labels"
        for u, v in zip(a.get_weights(), b.get_weights()):
            np.testing.assert_array_equal(u, v)
    # One output: 0/1 whole numbers stay labels (mse and bce), anything else is a target.
    assert check_targets(np.array([0, 1, 1.0]), 3, 1, "mse", np.float64)[0] == "labels"
    assert check_targets(np.array([0, 2, 1]), 3, 1, "mse", np.float64)[0] == "real"
    assert check_targets(np.array([0, 0.5, 1]), 3, 1, "binary_cross_entropy",
                         np.float64)[0] == "binary"
    assert check_targets([[0.2, 0.8]], 1, 2, "cross_entropy", np.float32)[0] == "distributions"


def test_soft_labels_equal_their_expectation_over_hard_labels():
    # The cross-entropy is linear in t: soft targets t = (1/2, 1/2, 0) give the
    # gradient of the mean of the hard labels' gradients.
    rng = np.random.default_rng(5)
    X = rng.normal(size=(1, 4))
    model = make_net("soft labels")
    soft = model.gradients(X, [[0.5, 0.5, 0.0]])
    g0, g1 = model.gradients(X, [0]), model.gradients(X, [1])
    for (sW, sb), (aW, ab), (bW, bb) in zip(soft, g0, g1):
        np.testing.assert_allclose(sW, (aW + bW) / 2, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(sb, (ab + bb) / 2, rtol=1e-13, atol=1e-15)


# ----------------------------------------------------------- bad targets ---
def _set(array, index, value):
    array = np.array(array, dtype=np.float64)
    array[index] = value
    return array


BAD = {
    "mse nan": ("regression 3 outputs", lambda y: _set(y, (2, 1), np.nan),
                r"y contains NaN or inf: y\[2, 1\] = nan"),
    "mse inf 1 output": ("regression 1 output", lambda y: _set(y, 4, np.inf),
                         r"y contains NaN or inf: y\[4, 0\] = inf"),
    "mse float32 overflow": ("regression 3 outputs", lambda y: _set(y, (0, 0), 1e300),
                             r"y contains a value too large for float32: y\[0, 0\] = 1e\+300"),
    "mse width": ("regression 3 outputs", lambda y: np.zeros((len(y), 4)),
                  r"y has target rows of width 4 \(shape \(12, 4\)\) but the network has 3 "
                  r"outputs"),
    "mse length": ("regression 3 outputs", lambda y: y[:-2],
                   r"X and y have different lengths: 12 and 10"),
    "bce above 1": ("multi-label", lambda y: _set(y, (3, 2), 1.5),
                    r"y must hold targets in \[0, 1\] for loss='binary_cross_entropy', got "
                    r"y\[3, 2\] = 1\.5"),
    "bce negative 1 unit": ("soft 1 unit", lambda y: _set(y, 5, -0.25),
                            r"y must hold targets in \[0, 1\] .*got y\[5, 0\] = -0\.25"),
    "bce nan": ("multi-label", lambda y: _set(y, (0, 0), np.nan),
                r"y contains NaN or inf: y\[0, 0\] = nan"),
    "ce row sum": ("soft labels", lambda y: _set(y, (6, 0), y[6, 0] + 0.01),
                   r"y must hold one-hot rows or probability distributions \(entries in "
                   r"\[0, 1\] summing to 1 within 3\.5e-04\) for loss='cross_entropy'; row 6 "
                   r"is \[0\.15.* \(sum 1\.01\)"),
    "ce negative": ("soft labels", lambda y: _set(_set(y, (1, 0), -0.5), (1, 1), 1.5 - y[1, 2]),
                    r"y must hold one-hot rows or probability distributions .*row 1 is "
                    r"\[-0\.5, "),
    "ce width": ("soft labels", lambda y: np.full((len(y), 2), 0.5),
                 r"y has one-hot rows of width 2 \(shape \(12, 2\)\) but the network has 3 "
                 r"outputs"),
}


@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize("entry", ["fit", "evaluate", "gradients"])
def test_bad_targets_are_refused_with_the_value(case, entry):
    net, spoil, pattern = BAD[case]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 4))
    y = spoil(make_targets(net, rng, 12))
    model = make_net(net, dtype="float32")
    before = model.get_weights()
    call = {"fit": lambda: model.fit(X, y, verbose=0),
            "evaluate": lambda: model.evaluate(X, y),
            "gradients": lambda: model.gradients(X, y)}[entry]
    with pytest.raises(ValueError, match=pattern):
        call()
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_the_row_sum_tolerance_follows_the_dtype():
    row = np.array([[0.5, 0.5 + 1e-5, 0.0]])
    assert check_targets(row, 1, 3, "cross_entropy", np.float32)[0] == "distributions"
    with pytest.raises(ValueError, match=re.escape("within 1.5e-08")):
        check_targets(row, 1, 3, "cross_entropy", np.float64)


class OneLayer(fastnn.Model):
    def __init__(self):
        super().__init__(seed=0)
        self.out = Dense(4, 3)

    def forward(self, x):
        return self.out(x)


def test_the_graph_path_refuses_dense_targets_clearly():
    rng = np.random.default_rng(0)
    model = OneLayer()
    with pytest.raises(ValueError, match=r"y must be integer class labels of shape \(5,\).*"
                                         r"the graph path's named losses take class labels"):
        model.fit(rng.normal(size=(5, 4)), rng.dirichlet(np.ones(3), 5), verbose=0)
