"""Per-example weights and the per-example weight decay.

The loss of a batch is sum_i w_i l_i / sum_i w_i, its gradient likewise, for
every optimizer and for the full-batch solvers; ``weight_decay_per="example"``
divides the decay by the batch's weight total (scikit-learn's MLP objective).
"""

import numpy as np
import pytest

from fastnn import (SGD, Adagrad, Adam, ConjugateGradient, Dense, LBFGS, Sequential,
                    TrainingDivergedError)
from fastnn.data import DataSet
from fastnn.solvers import FullBatchObjective

N, D, K = 24, 5, 3


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D))
    y = rng.integers(0, K, N)
    w = rng.integers(0, 4, N)
    w[0] = 2
    return X, y, w


def make_model(dtype="float64", seed=3, loss="cross_entropy"):
    out = "softmax" if loss == "cross_entropy" else "identity"
    return Sequential([Dense(D, 6, "tanh"), Dense(6, K, out)], loss=loss, dtype=dtype,
                      seed=seed)


OPTIMIZERS = {
    "sgd": lambda: SGD(lr=0.3, weight_decay=0.01),
    "momentum": lambda: SGD(lr=0.2, momentum=0.8, nesterov=True, weight_decay=0.01),
    "adagrad": lambda: Adagrad(lr=0.1),
    "adam": lambda: Adam(lr=0.02, weight_decay=0.01),
    "adam per example": lambda: Adam(lr=0.02, weight_decay=0.3, weight_decay_per="example"),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_weights_of_one_equal_no_weights_bitwise(name, dtype):
    X, y, _ = make_data()
    runs = []
    for weights in (None, np.ones(N)):
        model = make_model(dtype)
        history = model.fit(X, y, epochs=3, batch_size=5, optimizer=OPTIMIZERS[name](),
                            verbose=0, sample_weight=weights, validation_data=(X, y))
        runs.append((model.get_weights(), history.history,
                     model.evaluate(X, y, sample_weight=weights)))
    (w_a, h_a, e_a), (w_b, h_b, e_b) = runs
    for a, b in zip(w_a, w_b):
        np.testing.assert_array_equal(a, b)
    assert h_a == h_b and e_a == e_b


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_integer_weights_equal_repeated_rows(name):
    # One step over the whole set, in order: the weighted mean equals the
    # mean over the repeated rows (rounding aside).
    X, y, w = make_data()
    X_rep, y_rep = np.repeat(X, w, axis=0), np.repeat(y, w)
    a, b = make_model(), make_model()
    ha = a.fit(X, y, epochs=1, batch_size=N, shuffle=False, optimizer=OPTIMIZERS[name](),
               verbose=0, sample_weight=w)
    hb = b.fit(X_rep, y_rep, epochs=1, batch_size=len(y_rep), shuffle=False,
               optimizer=OPTIMIZERS[name](), verbose=0)
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-13, atol=1e-15)
    assert ha.history["loss"][0] == pytest.approx(hb.history["loss"][0], rel=1e-14)
    assert ha.history["accuracy"][0] == pytest.approx(hb.history["accuracy"][0], rel=1e-14)


@pytest.mark.filterwarnings("ignore::fastnn.solvers.ConvergenceWarning")
@pytest.mark.parametrize("solver", [lambda: LBFGS(max_iter=30, weight_decay=0.01),
                                    lambda: ConjugateGradient(max_iter=30, weight_decay=0.01),
                                    lambda: LBFGS(max_iter=30, weight_decay=0.2,
                                                  weight_decay_per="example")])
def test_integer_weights_equal_repeated_rows_for_the_solvers(solver):
    X, y, w = make_data()
    X_rep, y_rep = np.repeat(X, w, axis=0), np.repeat(y, w)
    a, b = make_model(), make_model()
    # The objective and its gradient at the same point agree to rounding ...
    opt = solver()
    one = FullBatchObjective(a, DataSet(X, labels=y, weights=w.astype(float)),
                             opt.weight_decay, decay_per_example=opt.decay_per_example)
    two = FullBatchObjective(b, DataSet(X_rep, labels=y_rep), opt.weight_decay,
                             decay_per_example=opt.decay_per_example)
    theta = one.pack()
    (f1, g1), (f2, g2) = one(theta), two(theta)
    assert f1 == pytest.approx(f2, rel=1e-14)
    np.testing.assert_allclose(g1, g2, rtol=1e-12, atol=1e-15)
    # ... and so do the fits.
    ha = a.fit(X, y, epochs=30, optimizer=solver(), verbose=0, sample_weight=w)
    hb = b.fit(X_rep, y_rep, epochs=30, optimizer=solver(), verbose=0)
    assert len(ha.history["loss"]) == len(hb.history["loss"])
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_weighted_gradients_match_central_differences(loss):
    rng = np.random.default_rng(4)
    X, y, _ = make_data(1)
    w = rng.random(N) * 2
    w[3] = 0
    targets = y if loss == "cross_entropy" else rng.normal(size=(N, K))
    model = make_model(loss=loss)
    grads = model.gradients(X, targets, sample_weight=w)
    h = 1e-6
    for layer, (gW, gb) in zip(model.dense_layers, grads):
        for param, grad in ((layer.W, gW), (layer.b, gb)):
            numeric = np.empty_like(param)
            for index in np.ndindex(param.shape):
                saved = param[index]
                param[index] = saved + h
                plus = model.evaluate(X, targets, sample_weight=w)["loss"]
                param[index] = saved - h
                minus = model.evaluate(X, targets, sample_weight=w)["loss"]
                param[index] = saved
                numeric[index] = (plus - minus) / (2 * h)
            np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_evaluate_and_history_report_weighted_means():
    X, y, w = make_data()
    model = make_model()
    per_row = [model.evaluate(X[i:i + 1], y[i:i + 1]) for i in range(N)]
    result = model.evaluate(X, y, sample_weight=w)
    loss = sum(wi * r["loss"] for wi, r in zip(w, per_row)) / w.sum()
    accuracy = sum(wi * r["accuracy"] for wi, r in zip(w, per_row)) / w.sum()
    assert result["loss"] == pytest.approx(loss, rel=1e-13)
    assert result["accuracy"] == pytest.approx(accuracy, rel=1e-13)
    # The epoch's loss is measured before each step: one step, the loss above.
    history = model.fit(X, y, epochs=1, batch_size=N, shuffle=False, verbose=0,
                        sample_weight=w)
    assert history.history["loss"][0] == pytest.approx(loss, rel=1e-13)


def test_a_batch_of_zero_weight_is_skipped():
    X, y, _ = make_data()
    w = np.r_[np.zeros(N // 2), np.ones(N // 2)]
    optimizer = Adam(lr=0.05)
    a, b = make_model(), make_model()
    history = a.fit(X, y, epochs=2, batch_size=N // 2, shuffle=False, optimizer=optimizer,
                    verbose=0, sample_weight=w)
    b.fit(X[N // 2:], y[N // 2:], epochs=2, batch_size=N // 2, shuffle=False,
          optimizer=Adam(lr=0.05), verbose=0)
    assert optimizer.t == 2                        # one update per epoch
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(u, v)
    assert all(np.isfinite(history.history["loss"]))


BAD = {
    "2-D": (lambda w: w[:, None], r"sample_weight must be 1-D, shape \(24,\), got shape "
                                  r"\(24, 1\)"),
    "length": (lambda w: w[:-1], r"X and sample_weight have different lengths: 24 and 23"),
    "nan": (lambda w: _with(w, 4, np.nan), r"sample_weight must be finite \(in float32\), "
                                           r"got sample_weight\[4\] = nan"),
    "overflow": (lambda w: _with(w, 2, 1e300), r"sample_weight must be finite \(in "
                                               r"float32\), got sample_weight\[2\] = 1e\+300"),
    "negative": (lambda w: _with(w, 7, -1.0), r"sample_weight must be >= 0, got "
                                              r"sample_weight\[7\] = -1\.0"),
    "all zero": (lambda w: np.zeros_like(w), r"sample_weight must not be all zero"),
}


def _with(w, i, value):
    w = w.astype(np.float64)
    w[i] = value
    return w


@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize("entry", ["fit", "evaluate", "gradients"])
def test_bad_weights_are_refused(case, entry):
    X, y, w = make_data()
    model = make_model("float32")
    before = model.get_weights()
    bad = BAD[case][0](w)
    call = {"fit": lambda: model.fit(X, y, verbose=0, sample_weight=bad),
            "evaluate": lambda: model.evaluate(X, y, sample_weight=bad),
            "gradients": lambda: model.gradients(X, y, sample_weight=bad)}[entry]
    with pytest.raises(ValueError, match=BAD[case][1]):
        call()
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------- per-example weight decay ---
def numpy_softmax_step(W, b, X, y, w, lr, alpha):
    """One scikit-learn step of softmax regression, in NumPy: the gradient of
    sum_i w_i l_i / S + alpha / (2 S) ||W||^2, S = sum_i w_i."""
    S = w.sum()
    a = X @ W.T + b
    p = np.exp(a - a.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    delta = (p - np.eye(W.shape[0])[y]) * (w / S)[:, None]
    gW = delta.T @ X + alpha / S * W
    gb = delta.sum(axis=0)
    return gW, gb


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("rule", ["sgd", "momentum", "adam"])
def test_per_example_decay_step_matches_numpy(rule, weighted):
    X, y, w = make_data(2)
    weights = w.astype(float) if weighted else None
    alpha, lr = 0.7, 0.1
    make = {"sgd": lambda: SGD(lr=lr, weight_decay=alpha, weight_decay_per="example"),
            "momentum": lambda: SGD(lr=lr, momentum=0.9, weight_decay=alpha,
                                    weight_decay_per="example"),
            "adam": lambda: Adam(lr=lr, weight_decay=alpha, weight_decay_per="example")}[rule]
    model = Sequential([Dense(D, K, "softmax")], dtype="float64", seed=0)
    W0, b0 = model.layers[0].W.copy(), model.layers[0].b.copy()
    model.fit(X, y, epochs=1, batch_size=N, shuffle=False, optimizer=make(), verbose=0,
              sample_weight=weights)
    gW, gb = numpy_softmax_step(W0, b0, X, y, np.ones(N) if weights is None else weights,
                                lr, alpha)
    if rule == "adam":
        # The first Adam step: m / bc1 = g and sqrt(v / bc2) = |g|, a move of lr g / (|g| + eps).
        eps = 1e-8
        step_W, step_b = lr * gW / (np.abs(gW) + eps), lr * gb / (np.abs(gb) + eps)
    else:                                    # momentum's first velocity is g itself
        step_W, step_b = lr * gW, lr * gb
    np.testing.assert_allclose(model.layers[0].W, W0 - step_W, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(model.layers[0].b, b0 - step_b, rtol=1e-12, atol=1e-14)


def test_per_example_decay_follows_the_batch_size():
    # Two batches of 8 and one of 4 rows (20 rows): the decays are alpha/8, alpha/8, alpha/4.
    X, y, _ = make_data(3)
    X, y = X[:20], y[:20]
    alpha, lr = 0.5, 0.05
    model = Sequential([Dense(D, K, "softmax")], dtype="float64", seed=0)
    W, b = model.layers[0].W.copy(), model.layers[0].b.copy()
    model.fit(X, y, epochs=1, batch_size=8, shuffle=False, verbose=0,
              optimizer=SGD(lr=lr, weight_decay=alpha, weight_decay_per="example"))
    for start in (0, 8, 16):
        rows = slice(start, min(start + 8, 20))
        gW, gb = numpy_softmax_step(W, b, X[rows], y[rows], np.ones(len(y[rows])), lr, alpha)
        W, b = W - lr * gW, b - lr * gb
    np.testing.assert_allclose(model.layers[0].W, W, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(model.layers[0].b, b, rtol=1e-12, atol=1e-14)


def test_per_example_decay_in_the_solvers_objective():
    X, y, w = make_data()
    model = make_model()
    alpha = 0.4
    data = DataSet(X, labels=y, weights=w.astype(float))
    per_example = FullBatchObjective(model, data, alpha, decay_per_example=True)
    theta = per_example.pack()
    value, grad = per_example(theta)
    plain_value, plain_grad = FullBatchObjective(model, data)(theta)
    S = w.sum()
    penalty = sum(float(np.sum(layer.W ** 2)) for layer in model.dense_layers)
    assert value == pytest.approx(plain_value + alpha / (2 * S) * penalty, rel=1e-13)
    for piece, layer in zip(per_example.weight_slices, model.dense_layers):
        np.testing.assert_allclose(grad[piece] - plain_grad[piece],
                                   alpha / S * layer.W.ravel(), rtol=1e-12, atol=1e-15)


def test_weight_decay_per_is_checked_and_the_graph_path_refuses_per_example():
    with pytest.raises(ValueError, match=r"weight_decay_per must be one of \('step', "
                                         r"'example'\), got 'batch'"):
        SGD(weight_decay_per="batch")
    with pytest.raises(ValueError, match=r"weight_decay_per must be one of"):
        LBFGS(weight_decay_per=None)
    assert repr(Adam(weight_decay_per="example")).endswith("weight_decay_per='example')")
    value, grad = np.ones((2, 2)), np.ones((2, 2))
    with pytest.raises(ValueError, match=r"SGD\(weight_decay_per='example'\) divides the "
                                         r"decay by each batch's size"):
        SGD(weight_decay=0.1, weight_decay_per="example").step([(value, grad, True)])


def test_a_diverging_weighted_fit_still_raises_and_restores():
    X, y, w = make_data()
    model = make_model("float32", loss="mse")
    before = model.get_weights()
    with pytest.raises(TrainingDivergedError):
        model.fit(X, y, epochs=3, batch_size=4, optimizer=SGD(lr=1e20), verbose=0,
                  sample_weight=w)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
