"""Model-level tests of the fast training path (``fastnn.Sequential``).

The oracle is ``tests/reference_mlp.py``, a plain NumPy transcription of the
lecture's forward pass, back-propagation and update rules, run one example at
a time in float64. Every comparison starts the reference from the model's own
initial weights (``get_weights()``) and trains without shuffling.
"""

import re

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastnn import (SGD, Adagrad, Adam, Callback, Dense, Dropout, EarlyStopping, History,
                    InverseTimeDecay, Sequential, StepDecay, TrainingDivergedError)
from reference_mlp import ReferenceMLP, ReferenceOptimizer

# Agreement with the float64 reference after a few epochs of updates: float64
# models differ only by summation order, float32 ones by float32 rounding.
TOL = {"float64": dict(rtol=1e-10, atol=1e-12), "float32": dict(rtol=2e-4, atol=2e-5)}


def make_data(n, n_features, n_classes, seed):
    """Gaussian features (n, n_features) float64 and integer labels in [0, n_classes)."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, n_features)), rng.integers(0, n_classes, size=n)


def build(spec, loss="cross_entropy", dtype="float64", seed=0):
    """Sequential from [(n_in, n_out, activation[, bias]), ...]."""
    layers = [Dense(s[0], s[1], s[2], bias=s[3] if len(s) > 3 else True) for s in spec]
    return Sequential(layers, loss=loss, dtype=dtype, seed=seed)


class WeightRecorder(Callback):
    """Keeps a copy of the model's weights at the end of every epoch."""

    def __init__(self):
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


def assert_weights_equal(actual, expected):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        assert_array_equal(a, e)


# ------------------------------------------------- one epoch vs the reference ---

SIG_NET = [(5, 7, "sigmoid"), (7, 3, "softmax")]

# id -> (layers, loss, fastnn optimizer factory, reference optimizer factory,
#        n examples, batch size, epochs)
CASES = {
    "sgd": (SIG_NET, "cross_entropy", lambda: SGD(lr=0.5),
            lambda: ReferenceOptimizer("sgd", lr=0.5), 50, 10, 1),
    "sgd_weight_decay": (SIG_NET, "cross_entropy", lambda: SGD(lr=0.5, weight_decay=0.05),
                         lambda: ReferenceOptimizer("sgd", lr=0.5, weight_decay=0.05),
                         50, 10, 1),
    "momentum": (SIG_NET, "cross_entropy", lambda: SGD(lr=0.2, momentum=0.9),
                 lambda: ReferenceOptimizer("sgd", lr=0.2, momentum=0.9), 50, 10, 1),
    "momentum_weight_decay": (
        SIG_NET, "cross_entropy", lambda: SGD(lr=0.2, momentum=0.9, weight_decay=0.05),
        lambda: ReferenceOptimizer("sgd", lr=0.2, momentum=0.9, weight_decay=0.05), 50, 10, 1),
    "nesterov": (SIG_NET, "cross_entropy", lambda: SGD(lr=0.2, momentum=0.9, nesterov=True),
                 lambda: ReferenceOptimizer("sgd", lr=0.2, momentum=0.9, nesterov=True),
                 50, 10, 1),
    "adagrad": (SIG_NET, "cross_entropy", lambda: Adagrad(lr=0.1),
                lambda: ReferenceOptimizer("adagrad", lr=0.1, eps=1e-10), 50, 10, 1),
    "adagrad_weight_decay": (
        SIG_NET, "cross_entropy", lambda: Adagrad(lr=0.1, eps=1e-6, weight_decay=0.05),
        lambda: ReferenceOptimizer("adagrad", lr=0.1, eps=1e-6, weight_decay=0.05), 50, 10, 1),
    "adam": (SIG_NET, "cross_entropy", lambda: Adam(lr=0.01),
             lambda: ReferenceOptimizer("adam", lr=0.01, eps=1e-8, betas=(0.9, 0.999)),
             50, 10, 1),
    "adam_weight_decay_betas": (
        SIG_NET, "cross_entropy",
        lambda: Adam(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05),
        lambda: ReferenceOptimizer("adam", lr=0.02, betas=(0.8, 0.99), eps=1e-6,
                                   weight_decay=0.05), 50, 10, 2),
    "inverse_time": (SIG_NET, "cross_entropy", lambda: SGD(lr=0.5, schedule="inverse_time"),
                     lambda: ReferenceOptimizer("sgd", lr=0.5, schedule="inverse_time"),
                     50, 10, 2),
    "inverse_time_tau": (SIG_NET, "cross_entropy",
                         lambda: SGD(lr=0.5, schedule=InverseTimeDecay(tau=2.0)),
                         lambda: ReferenceOptimizer("sgd", lr=0.5, schedule=("inverse_time", 2.0)),
                         50, 10, 2),
    "inverse_time_momentum": (
        SIG_NET, "cross_entropy", lambda: SGD(lr=0.2, momentum=0.9, schedule="inverse_time"),
        lambda: ReferenceOptimizer("sgd", lr=0.2, momentum=0.9, schedule="inverse_time"),
        50, 10, 2),
    "step_decay": (SIG_NET, "cross_entropy",
                   lambda: SGD(lr=0.5, schedule=StepDecay(step_size=1, gamma=0.5)),
                   lambda: ReferenceOptimizer("sgd", lr=0.5, schedule=("step", 1, 0.5)),
                   50, 10, 3),
    "binary_cross_entropy": ([(5, 7, "sigmoid"), (7, 3, "sigmoid")], "binary_cross_entropy",
                             lambda: SGD(lr=0.5), lambda: ReferenceOptimizer("sgd", lr=0.5),
                             50, 10, 1),
    "binary_cross_entropy_one_output": (
        [(5, 7, "tanh"), (7, 1, "sigmoid")], "binary_cross_entropy", lambda: SGD(lr=0.5),
        lambda: ReferenceOptimizer("sgd", lr=0.5), 50, 10, 1),
    "mse_identity": ([(5, 7, "sigmoid"), (7, 3, "identity")], "mse", lambda: SGD(lr=0.2),
                     lambda: ReferenceOptimizer("sgd", lr=0.2), 50, 10, 1),
    "mse_sigmoid": ([(5, 7, "sigmoid"), (7, 3, "sigmoid")], "mse", lambda: SGD(lr=0.5),
                    lambda: ReferenceOptimizer("sgd", lr=0.5), 50, 10, 1),
    "mse_tanh": ([(5, 7, "relu"), (7, 3, "tanh")], "mse", lambda: SGD(lr=0.2),
                 lambda: ReferenceOptimizer("sgd", lr=0.2), 50, 10, 1),
    "mse_softmax": ([(5, 7, "tanh"), (7, 3, "softmax")], "mse", lambda: SGD(lr=0.5),
                    lambda: ReferenceOptimizer("sgd", lr=0.5), 50, 10, 1),
    "mse_one_output": ([(5, 7, "sigmoid"), (7, 1, "sigmoid")], "mse", lambda: SGD(lr=0.5),
                       lambda: ReferenceOptimizer("sgd", lr=0.5), 50, 10, 1),
    "hidden_sigmoid": (SIG_NET, "cross_entropy", lambda: SGD(lr=0.3, momentum=0.5),
                       lambda: ReferenceOptimizer("sgd", lr=0.3, momentum=0.5), 50, 10, 1),
    "hidden_tanh": ([(5, 7, "tanh"), (7, 3, "softmax")], "cross_entropy",
                    lambda: SGD(lr=0.3, momentum=0.5),
                    lambda: ReferenceOptimizer("sgd", lr=0.3, momentum=0.5), 50, 10, 1),
    "hidden_relu": ([(5, 7, "relu"), (7, 3, "softmax")], "cross_entropy",
                    lambda: SGD(lr=0.3, momentum=0.5),
                    lambda: ReferenceOptimizer("sgd", lr=0.3, momentum=0.5), 50, 10, 1),
    "hidden_identity": ([(5, 7, "identity"), (7, 3, "softmax")], "cross_entropy",
                        lambda: SGD(lr=0.3, momentum=0.5),
                        lambda: ReferenceOptimizer("sgd", lr=0.3, momentum=0.5), 50, 10, 1),
    "ragged_last_batch": (SIG_NET, "cross_entropy", lambda: SGD(lr=0.5, momentum=0.5),
                          lambda: ReferenceOptimizer("sgd", lr=0.5, momentum=0.5), 53, 10, 2),
    "batch_larger_than_n": (SIG_NET, "cross_entropy", lambda: SGD(lr=0.5),
                            lambda: ReferenceOptimizer("sgd", lr=0.5), 50, 64, 3),
    "online_batch_1": (SIG_NET, "cross_entropy", lambda: SGD(lr=0.1),
                       lambda: ReferenceOptimizer("sgd", lr=0.1), 20, 1, 1),
    "three_hidden_layers": (
        [(5, 8, "relu"), (8, 6, "tanh"), (6, 4, "sigmoid"), (4, 3, "softmax")],
        "cross_entropy", lambda: SGD(lr=0.3, momentum=0.5, weight_decay=0.01),
        lambda: ReferenceOptimizer("sgd", lr=0.3, momentum=0.5, weight_decay=0.01), 53, 8, 2),
    "no_bias_layer": ([(5, 7, "tanh", False), (7, 3, "softmax")], "cross_entropy",
                      lambda: SGD(lr=0.5, weight_decay=0.05),
                      lambda: ReferenceOptimizer("sgd", lr=0.5, weight_decay=0.05), 50, 10, 1),
    "softmax_regression": ([(5, 3, "softmax")], "cross_entropy", lambda: SGD(lr=0.5),
                           lambda: ReferenceOptimizer("sgd", lr=0.5), 50, 10, 1),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_fit_matches_reference(case, dtype):
    spec, loss, make_opt, make_ref_opt, n, batch_size, epochs = CASES[case]
    n_out = spec[-1][1]
    X, y = make_data(n, spec[0][0], 2 if n_out == 1 else n_out, seed=1)
    model = build(spec, loss=loss, dtype=dtype, seed=0)
    reference = ReferenceMLP.from_model(model)
    start = model.get_weights()
    assert_weights_equal(reference.get_weights(), [w.astype(np.float64) for w in start])

    history = model.fit(X, y, epochs=epochs, batch_size=batch_size, optimizer=make_opt(),
                        shuffle=False, verbose=0)
    ref_logs = reference.fit(X, y, epochs, batch_size, make_ref_opt())

    # The model really trained (guards against comparing two untouched copies).
    assert any(not np.array_equal(a, b) for a, b in zip(model.get_weights(), start))
    actual = model.get_weights()
    expected = reference.get_weights()
    assert [w.dtype for w in actual] == [np.dtype(dtype)] * len(expected)
    for a, e in zip(actual, expected):
        assert_allclose(a, e, **TOL[dtype])
    # The epoch logs are the mean loss and accuracy measured during training.
    assert_allclose(history.history["loss"], [lg[0] for lg in ref_logs],
                    rtol=1e-10 if dtype == "float64" else 1e-4)
    if dtype == "float64":
        assert history.history["accuracy"] == [lg[1] for lg in ref_logs]


# ------------------------------------------------------- worked out by hand ---

@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_hand_worked_2_2_2_sigmoid_softmax_one_sgd_step(dtype):
    # x = (1, 2), class c = 0, eta = 0.5.
    # W1 = [[2, -1], [-1, 0.5]], b1 = (0, 0):
    #   a1 = (2*1 - 1*2, -1*1 + 0.5*2) = (0, 0),  y1 = sigmoid(0) = (0.5, 0.5)
    # W2 = [[1, -1], [-1, 1]], b2 = (0, 0):
    #   a2 = (0.5 - 0.5, -0.5 + 0.5) = (0, 0),  y2 = softmax = (0.5, 0.5)
    # delta2 = y2 - onehot(0) = (-0.5, 0.5)
    # grad W2 = delta2 y1^T = [[-0.25, -0.25], [0.25, 0.25]],  grad b2 = (-0.5, 0.5)
    # W2^T delta2 = (1*-0.5 + -1*0.5, -1*-0.5 + 1*0.5) = (-1, 1)   (W2 before its update)
    # delta1 = sigmoid'(a1) o (W2^T delta2) = 0.25 * (-1, 1) = (-0.25, 0.25)
    # grad W1 = delta1 x^T = [[-0.25, -0.5], [0.25, 0.5]],  grad b1 = (-0.25, 0.25)
    # Updates, theta <- theta - 0.5 grad:
    #   W1 = [[2 + 0.125, -1 + 0.25], [-1 - 0.125, 0.5 - 0.25]]
    #      = [[2.125, -0.75], [-1.125, 0.25]]
    #   b1 = (0.125, -0.125)
    #   W2 = [[1 + 0.125, -1 + 0.125], [-1 - 0.125, 1 - 0.125]]
    #      = [[1.125, -0.875], [-1.125, 0.875]]
    #   b2 = (0.25, -0.25)
    # Every number is a short binary fraction, so the result is exact in both dtypes.
    model = build([(2, 2, "sigmoid"), (2, 2, "softmax")], dtype=dtype)
    model.set_weights([[[2, -1], [-1, 0.5]], [0, 0], [[1, -1], [-1, 1]], [0, 0]])
    history = model.fit([[1.0, 2.0]], [0], epochs=1, batch_size=1, optimizer=SGD(lr=0.5),
                        shuffle=False, verbose=0)
    W1, b1, W2, b2 = model.get_weights()
    assert_array_equal(W1, [[2.125, -0.75], [-1.125, 0.25]])
    assert_array_equal(b1, [0.125, -0.125])
    assert_array_equal(W2, [[1.125, -0.875], [-1.125, 0.875]])
    assert_array_equal(b2, [0.25, -0.25])
    # Loss before the update: -log 0.5 = log 2.
    assert history.history["loss"][0] == pytest.approx(np.log(2), rel=1e-6)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_hand_worked_logistic_regression_batch_mean(dtype):
    # Two examples in one batch, both of class 1: x1 = (1, 0), x2 = (0, 2).
    # W = (0, 0), b = 0: a = 0 for both, y = sigmoid(0) = 0.5.
    # delta = y - t = (0.5 - 1, 0.5 - 1) = (-0.5, -0.5)
    # batch MEAN gradient: grad W = ((-0.5)(1, 0) + (-0.5)(0, 2)) / 2 = (-0.25, -0.5)
    #                      grad b = (-0.5 + -0.5) / 2 = -0.5
    # eta = 1: W = (0.25, 0.5), b = 0.5.
    # Second step with weight decay lam = 0.5 on W (not b), same batch:
    #   a1 = 0.25 + 0.5 = 0.75, a2 = 2 * 0.5 + 0.5 = 1.5: not round, so the
    #   second step is checked against the formula instead:
    #   W <- W - (grad W + 0.5 W), b <- b - grad b.
    model = Sequential([Dense(2, 1, "sigmoid", init="zeros")], loss="binary_cross_entropy",
                       dtype=dtype, seed=0)
    X = np.array([[1.0, 0.0], [0.0, 2.0]])
    y = np.array([1, 1])
    model.fit(X, y, epochs=1, batch_size=2, optimizer=SGD(lr=1.0), shuffle=False, verbose=0)
    W, b = model.get_weights()
    assert_array_equal(W, [[0.25, 0.5]])
    assert_array_equal(b, [0.5])

    model.fit(X, y, epochs=1, batch_size=2, optimizer=SGD(lr=1.0, weight_decay=0.5),
              shuffle=False, verbose=0)
    s = 1 / (1 + np.exp(-np.array([0.75, 1.5])))       # sigmoid(a) for both examples
    grad_W = ((s[0] - 1) * X[0] + (s[1] - 1) * X[1]) / 2
    grad_b = ((s[0] - 1) + (s[1] - 1)) / 2
    W2, b2 = model.get_weights()
    rtol = 1e-12 if dtype == "float64" else 1e-6
    assert_allclose(W2[0], np.array([0.25, 0.5]) - (grad_W + 0.5 * np.array([0.25, 0.5])),
                    rtol=rtol)
    assert_allclose(b2, [0.5 - grad_b], rtol=rtol)


# ------------------------------------------------------------ implicit bias ---

@pytest.mark.parametrize("hidden", [False, True], ids=["softmax_regression", "one_hidden"])
def test_implicit_bias_equals_explicit_bias(hidden):
    X, y = make_data(60, 4, 3, seed=2)
    X1 = np.hstack([X, np.ones((60, 1))])        # the lecture's constant-1 input
    if hidden:
        explicit = Sequential([Dense(4, 6, "tanh"), Dense(6, 3, "softmax")],
                              dtype="float64", seed=0)
        implicit = Sequential([Dense(5, 6, "tanh", bias=False), Dense(6, 3, "softmax")],
                              dtype="float64", seed=0)
    else:
        explicit = Sequential([Dense(4, 3, "softmax")], dtype="float64", seed=0)
        implicit = Sequential([Dense(5, 3, "softmax", bias=False)], dtype="float64", seed=0)
    weights = explicit.get_weights()
    W, b = weights[0], np.linspace(-0.3, 0.3, weights[1].shape[0])   # a non-zero bias
    explicit.set_weights([W, b] + weights[2:])
    implicit.set_weights([np.hstack([W, b[:, None]])] + weights[2:])
    assert_allclose(implicit.predict_proba(X1), explicit.predict_proba(X), rtol=1e-12)

    # Same seed, so both shuffle the examples identically.
    for model, data in ((explicit, X), (implicit, X1)):
        model.fit(data, y, epochs=3, batch_size=7, optimizer=SGD(lr=0.3, momentum=0.5),
                  shuffle=True, verbose=0)
    w_exp, w_imp = explicit.get_weights(), implicit.get_weights()
    assert not np.allclose(w_exp[0], W)
    assert_allclose(w_imp[0][:, :-1], w_exp[0], rtol=1e-10, atol=1e-12)
    assert_allclose(w_imp[0][:, -1], w_exp[1], rtol=1e-10, atol=1e-12)
    for a, e in zip(w_imp[1:], w_exp[2:]):
        assert_allclose(a, e, rtol=1e-10, atol=1e-12)
    assert_allclose(implicit.predict_proba(X1), explicit.predict_proba(X), rtol=1e-10)


# ----------------------------------------------------------- reproducibility ---

def dropout_model(seed, dtype="float64"):
    return Sequential([Dropout(0.2), Dense(5, 9, "relu"), Dropout(0.5),
                       Dense(9, 3, "softmax")], dtype=dtype, seed=seed)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_same_seed_is_bitwise_reproducible(dtype):
    X, y = make_data(70, 5, 3, seed=3)
    runs = []
    for _ in range(2):
        model = dropout_model(seed=42, dtype=dtype)
        history = model.fit(X, y, epochs=3, batch_size=8, optimizer=SGD(lr=0.2, momentum=0.9),
                            shuffle=True, verbose=0)
        runs.append((model.get_weights(), history.history["loss"]))
    assert_weights_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]


def test_different_seeds_differ():
    X, y = make_data(70, 5, 3, seed=3)
    a, b = dropout_model(seed=1), dropout_model(seed=2)
    assert not np.array_equal(a.get_weights()[0], b.get_weights()[0])
    # Same starting weights, different seeds: the shuffles and masks differ.
    b.set_weights(a.get_weights())
    for model in (a, b):
        model.fit(X, y, epochs=1, batch_size=8, shuffle=True, verbose=0)
    assert all(not np.array_equal(p, q) for p, q in zip(a.get_weights(), b.get_weights()))


def test_float32_and_float64_start_from_the_same_weights():
    spec = [(5, 9, "sigmoid"), (9, 4, "tanh"), (4, 3, "softmax")]
    w32 = build(spec, dtype="float32", seed=7).get_weights()
    w64 = build(spec, dtype="float64", seed=7).get_weights()
    for a, b in zip(w32, w64):
        assert a.dtype == np.float32 and b.dtype == np.float64
        assert_array_equal(a, b.astype(np.float32))
        assert_allclose(a, b, rtol=2 ** -24, atol=0)


def test_seed_none_records_the_entropy_it_drew():
    a = build(SIG_NET, seed=None)
    b = build(SIG_NET, seed=a.seed)
    assert isinstance(a.seed, int)
    assert_weights_equal(a.get_weights(), b.get_weights())


@pytest.mark.parametrize("make_opt", [
    lambda: SGD(lr=0.2, momentum=0.9),
    lambda: SGD(lr=0.5, schedule="inverse_time"),
    lambda: Adam(lr=0.01),
    lambda: Adagrad(lr=0.1),
    lambda: SGD(lr=0.5, schedule=StepDecay(step_size=1, gamma=0.5)),
], ids=["momentum", "inverse_time", "adam", "adagrad", "step_decay"])
def test_second_fit_continues_with_the_optimizer_state(make_opt):
    # Each fit call draws a fresh shuffle/dropout stream from the model's seed,
    # so two fit(epochs=1) calls match one fit(epochs=2) only without shuffling.
    X, y = make_data(45, 5, 3, seed=4)
    twice, once = build(SIG_NET, seed=0), build(SIG_NET, seed=0)
    opt = make_opt()
    twice.fit(X, y, epochs=1, batch_size=10, optimizer=opt, shuffle=False, verbose=0)
    assert opt.t == 5
    twice.fit(X, y, epochs=1, batch_size=10, optimizer=opt, shuffle=False, verbose=0)
    assert opt.t == 10
    once.fit(X, y, epochs=2, batch_size=10, optimizer=make_opt(), shuffle=False, verbose=0)
    assert_weights_equal(twice.get_weights(), once.get_weights())

    # A fresh optimizer object restarts its state (momentum, moments, t): different run.
    restarted = build(SIG_NET, seed=0)
    restarted.fit(X, y, epochs=1, batch_size=10, optimizer=make_opt(), shuffle=False, verbose=0)
    restarted.fit(X, y, epochs=1, batch_size=10, optimizer=make_opt(), shuffle=False, verbose=0)
    assert not np.array_equal(restarted.get_weights()[0], once.get_weights()[0])


def test_model_sees_new_arrays_when_another_model_reinitialises_shared_layers():
    X, _ = make_data(20, 5, 3, seed=2)
    layers = [Dense(5, 4, "sigmoid"), Dense(4, 3, "softmax")]
    first = Sequential(layers, seed=0)
    before = first.predict_proba(X)
    Sequential(layers, seed=1)          # re-initialises the same layers into new arrays
    after = first.predict_proba(X)
    assert not np.array_equal(before, after)
    W1, b1, W2, b2 = first.get_weights()
    hidden = 1 / (1 + np.exp(-(X @ W1.T.astype(np.float64) + b1)))
    logits = hidden @ W2.T + b2
    expected = np.exp(logits - logits.max(1, keepdims=True))
    assert_allclose(after, expected / expected.sum(1, keepdims=True), rtol=1e-5, atol=1e-6)


def test_second_fit_continues_like_the_reference():
    X, y = make_data(45, 5, 3, seed=4)
    model = build(SIG_NET, seed=0)
    reference = ReferenceMLP.from_model(model)
    opt, ref_opt = SGD(lr=0.2, momentum=0.9), ReferenceOptimizer("sgd", lr=0.2, momentum=0.9)
    for _ in range(2):
        model.fit(X, y, epochs=1, batch_size=10, optimizer=opt, shuffle=False, verbose=0)
        reference.train_epoch(X, y, 10, ref_opt)
    for a, e in zip(model.get_weights(), reference.get_weights()):
        assert_allclose(a, e, **TOL["float64"])


# ------------------------------------------------------------------ inference ---

@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("spec,loss", [
    ([(6, 8, "tanh"), (8, 4, "softmax")], "cross_entropy"),
    ([(6, 8, "relu"), (8, 4, "sigmoid")], "binary_cross_entropy"),
    ([(6, 8, "sigmoid"), (8, 1, "sigmoid")], "binary_cross_entropy"),
    ([(6, 8, "sigmoid"), (8, 4, "identity")], "mse"),
], ids=["softmax", "sigmoid_outputs", "one_sigmoid", "mse_identity"])
def test_predict_evaluate_call_agree_with_reference(spec, loss, dtype):
    n_out = spec[-1][1]
    # 300 rows: more than one inference chunk (256 rows).
    X, y = make_data(300, 6, 2 if n_out == 1 else n_out, seed=5)
    model = build(spec, loss=loss, dtype=dtype, seed=0)
    model.fit(X[:100], y[:100], epochs=2, batch_size=10, optimizer=SGD(lr=0.5), verbose=0)
    reference = ReferenceMLP.from_model(model)
    tol = dict(rtol=1e-12, atol=1e-14) if dtype == "float64" else dict(rtol=1e-5, atol=1e-6)

    proba = model.predict_proba(X)
    assert proba.shape == (300, n_out) and proba.dtype == np.dtype(dtype)
    assert_allclose(proba, reference.predict_proba(X), **tol)
    assert_array_equal(model(X), proba)
    assert_array_equal(model.predict_proba(X), proba)         # no state kept between calls
    predicted = model.predict(X)
    assert predicted.dtype == np.int64 and predicted.shape == (300,)
    expected = (proba[:, 0] > 0.5).astype(np.int64) if n_out == 1 else proba.argmax(axis=1)
    assert_array_equal(predicted, expected)
    if dtype == "float64":
        assert_array_equal(predicted, reference.predict(X))
    if loss == "cross_entropy":
        assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)

    scores = model.evaluate(X, y)
    assert set(scores) == {"loss", "accuracy"}
    assert scores["accuracy"] == np.mean(predicted == y)
    assert scores["loss"] == pytest.approx(reference.mean_loss(X, y),
                                           rel=1e-12 if dtype == "float64" else 1e-5)
    # The first rows on their own give the same outputs (chunking does not matter).
    assert_allclose(model.predict_proba(X[:3]), proba[:3], rtol=1e-6 if dtype == "float32"
                    else 1e-14)


def test_evaluate_accepts_one_hot_labels():
    X, y = make_data(40, 5, 3, seed=6)
    model = build(SIG_NET, seed=0)
    onehot = np.eye(3, dtype=np.int64)[y]
    assert model.evaluate(X, onehot) == model.evaluate(X, y)


# ------------------------------------------------------- history and callbacks ---

def test_history_keys_and_values():
    X, y = make_data(60, 5, 3, seed=7)
    Xv, yv = make_data(30, 5, 3, seed=8)
    model = build(SIG_NET, seed=0)
    history = model.fit(X, y, epochs=3, batch_size=10, validation_data=(Xv, yv), verbose=0)
    assert isinstance(history, History) and model.history is history
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.epoch == [0, 1, 2]
    assert all(len(v) == 3 for v in history.history.values())
    assert all(0 <= a <= 1 for a in history.history["accuracy"] + history.history["val_accuracy"])
    final = model.evaluate(Xv, yv)
    assert history.history["val_loss"][-1] == final["loss"]
    assert history.history["val_accuracy"][-1] == final["accuracy"]

    history = model.fit(X, y, epochs=2, batch_size=10, verbose=0)
    assert set(history.history) == {"loss", "accuracy"}
    assert history.epoch == [0, 1]


class ScriptedMetric(Callback):
    """Replaces logs[key] by script[epoch] before the callbacks after it see it."""

    def __init__(self, key, script):
        self.key, self.script = key, script

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.script[epoch]


@pytest.mark.parametrize("script,patience,min_delta,stopped,best", [
    # best at epoch 1; no improvement at 2, 3, 4: with patience 2 stop after epoch 4
    ([1.0, 0.9, 0.95, 0.92, 0.91, 0.5, 0.4, 0.3], 2, 0.0, 4, 1),
    # patience 0: the first epoch without improvement stops training
    ([1.0, 0.9, 0.8, 0.85, 0.5, 0.4, 0.3, 0.2], 0, 0.0, 3, 2),
    # min_delta 0.05: 0.97 and 0.96 are not improvements on 1.0, 0.949 is; then
    # 0.92, 0.9, 0.91 are not improvements on 0.949 (all would be with min_delta 0)
    ([1.0, 0.97, 0.96, 0.949, 0.92, 0.9, 0.91, 0.1], 2, 0.05, 6, 3),
    # keeps improving: never stops
    ([8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0], 1, 0.0, None, 7),
])
def test_early_stopping_patience_and_min_delta(script, patience, min_delta, stopped, best):
    X, y = make_data(40, 5, 3, seed=9)
    model = build(SIG_NET, seed=0)
    recorder = WeightRecorder()
    stopper = EarlyStopping(monitor="loss", patience=patience, min_delta=min_delta,
                            restore_best_weights=True)
    history = model.fit(X, y, epochs=len(script), batch_size=10, verbose=0,
                        callbacks=[ScriptedMetric("loss", script), stopper, recorder])
    expected_epochs = len(script) if stopped is None else stopped + 1
    assert history.epoch == list(range(expected_epochs))
    assert stopper.stopped_epoch == stopped
    assert stopper.best_epoch == best
    assert stopper.best == script[best]
    # restore_best_weights puts back the weights recorded at the end of the best epoch.
    assert_weights_equal(model.get_weights(), recorder.weights[best])
    if best != expected_epochs - 1:
        assert not np.array_equal(recorder.weights[best][0], recorder.weights[-1][0])


def test_early_stopping_without_restore_keeps_last_weights():
    X, y = make_data(40, 5, 3, seed=9)
    model = build(SIG_NET, seed=0)
    recorder = WeightRecorder()
    stopper = EarlyStopping(monitor="val_loss", patience=1)
    model.fit(X, y, epochs=6, batch_size=10, verbose=0, validation_data=(X, y),
              callbacks=[ScriptedMetric("val_loss", [3, 2, 2.5, 2.6, 1, 0]), stopper, recorder])
    assert stopper.stopped_epoch == 3
    assert len(recorder.weights) == 4
    assert_weights_equal(model.get_weights(), recorder.weights[-1])


def test_early_stopping_max_mode_on_accuracy():
    X, y = make_data(40, 5, 3, seed=9)
    model = build(SIG_NET, seed=0)
    stopper = EarlyStopping(monitor="val_accuracy", patience=1)
    assert stopper.mode == "max"
    model.fit(X, y, epochs=6, batch_size=10, verbose=0, validation_data=(X, y),
              callbacks=[ScriptedMetric("val_accuracy", [0.5, 0.7, 0.6, 0.65, 0.9, 1.0]),
                         stopper])
    assert stopper.best_epoch == 1 and stopper.stopped_epoch == 3


def test_early_stopping_on_real_validation_loss():
    # A net trained far too long on 30 noisy examples: val_loss eventually rises.
    X, y = make_data(30, 5, 3, seed=10)
    Xv, yv = make_data(200, 5, 3, seed=11)
    model = build([(5, 30, "tanh"), (30, 3, "softmax")], seed=0)
    recorder = WeightRecorder()
    stopper = EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    history = model.fit(X, y, epochs=300, batch_size=5, optimizer=SGD(lr=0.5), verbose=0,
                        validation_data=(Xv, yv), callbacks=[stopper, recorder])
    val = history.history["val_loss"]
    assert stopper.stopped_epoch is not None and len(val) < 300
    assert stopper.best_epoch == int(np.argmin(val))
    # Stops patience + 1 epochs after the last improvement.
    assert stopper.stopped_epoch == stopper.best_epoch + 3 + 1 == len(val) - 1
    assert_weights_equal(model.get_weights(), recorder.weights[stopper.best_epoch])
    assert model.evaluate(Xv, yv)["loss"] == min(val)


def test_early_stopping_unknown_monitor_names_the_keys():
    X, y = make_data(40, 5, 3, seed=9)
    model = build(SIG_NET, seed=0)
    with pytest.raises(ValueError, match="val_loss.*pass validation_data"):
        model.fit(X, y, epochs=2, verbose=0, callbacks=[EarlyStopping()])


def test_callback_can_stop_training_and_sees_every_hook():
    events = []

    class StopAfterThree(Callback):
        def on_train_begin(self, logs=None):
            events.append("train_begin")

        def on_epoch_begin(self, epoch, logs=None):
            events.append(("begin", epoch))

        def on_epoch_end(self, epoch, logs=None):
            events.append(("end", epoch, sorted(logs)))
            if epoch == 2:
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            events.append("train_end")

    X, y = make_data(40, 5, 3, seed=9)
    model = build(SIG_NET, seed=0)
    callback = StopAfterThree()
    history = model.fit(X, y, epochs=10, batch_size=10, verbose=0, callbacks=[callback])
    assert callback.model is model
    assert history.epoch == [0, 1, 2]
    keys = ["accuracy", "loss"]
    assert events == ["train_begin", ("begin", 0), ("end", 0, keys), ("begin", 1),
                      ("end", 1, keys), ("begin", 2), ("end", 2, keys), "train_end"]
    # The flag is reset by the next fit.
    assert len(model.fit(X, y, epochs=2, verbose=0).epoch) == 2


def test_callbacks_must_be_callback_instances():
    X, y = make_data(20, 5, 3, seed=9)
    with pytest.raises(TypeError, match=r"callbacks\[0\]"):
        build(SIG_NET).fit(X, y, verbose=0, callbacks=[lambda *a: None])


# ----------------------------------------------------------------- divergence ---

def _divergence_message(exc):
    match = re.search(r"epoch (\d+) \(0-based\), step (\d+) of (\d+)", str(exc))
    assert match, f"the message does not name the epoch and step: {exc}"
    return tuple(int(g) for g in match.groups())


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_divergence_raises_and_restores_last_finite_epoch(dtype):
    # Linear least squares with eta = 3, far above 2 / (largest curvature):
    # the weights grow geometrically until the loss overflows, after several
    # finite epochs.
    X, y = make_data(40, 3, 2, seed=0)
    model = Sequential([Dense(3, 1, "identity")], loss="mse", dtype=dtype, seed=0)
    recorder = WeightRecorder()
    with pytest.raises(TrainingDivergedError) as info:
        model.fit(X, y, epochs=1000, batch_size=8, optimizer=SGD(lr=3.0), shuffle=False,
                  verbose=0, callbacks=[recorder])
    assert isinstance(info.value, FloatingPointError)
    epoch, step, steps = _divergence_message(info.value)
    assert steps == 5 and 0 <= step < steps
    assert epoch == len(recorder.weights) and epoch > 0
    assert_weights_equal(model.get_weights(), recorder.weights[-1])
    assert all(np.isfinite(w).all() for w in model.get_weights())

    if dtype == "float64":
        # The reference, restarted from the last finite epoch, meets its first
        # non-finite batch loss at the same step.
        reference = ReferenceMLP.from_model(model)
        opt = ReferenceOptimizer("sgd", lr=3.0)
        with np.errstate(over="ignore", invalid="ignore"):
            for k in range(steps):
                xb, yb = X[8 * k:8 * k + 8], y[8 * k:8 * k + 8]
                grads, loss, _ = reference.gradients(xb, yb)
                if not np.isfinite(loss):
                    break
                for l, (gW, gb) in enumerate(grads):
                    reference.W[l] = opt.update(("W", l), reference.W[l], gW, True, 3.0)
                    reference.b[l] = opt.update(("b", l), reference.b[l], gb, False, 3.0)
        assert k == step


def test_divergence_in_the_first_epoch_restores_the_initial_weights():
    X, y = make_data(40, 3, 3, seed=0)
    model = build([(3, 5, "relu"), (5, 3, "softmax")], seed=0)
    start = model.get_weights()
    with pytest.raises(TrainingDivergedError) as info:
        model.fit(X, y, epochs=3, batch_size=8, optimizer=SGD(lr=1e300), shuffle=False,
                  verbose=0)
    epoch, step, _ = _divergence_message(info.value)
    assert epoch == 0 and step > 0
    assert_weights_equal(model.get_weights(), start)


@pytest.mark.parametrize("make_optimizer", [lambda: SGD(lr=0.05, momentum=0.9),
                                            lambda: Adam(lr=0.01)], ids=["momentum", "adam"])
def test_divergence_rolls_the_optimizer_state_back_too(make_optimizer):
    """After TrainingDivergedError the momentum / Adam moments and the counts
    are those of the last finite epoch, so a retry with a smaller rate starts
    clean (with the diverged momentum it would blow up again at once)."""
    X, y = make_data(40, 3, 3, seed=0)
    model = build([(3, 5, "relu"), (5, 3, "softmax")], seed=0)
    optimizer = make_optimizer()
    model.fit(X, y, epochs=2, batch_size=8, optimizer=optimizer, verbose=0)
    arrays, t, epoch = optimizer.snapshot()
    assert t == 10 and epoch == 2
    assert any(np.any(state != 0) for states in arrays.values() for state in states)
    optimizer.lr = 1e300
    with pytest.raises(TrainingDivergedError, match="optimizer state"):
        model.fit(X, y, epochs=3, batch_size=8, optimizer=optimizer, verbose=0)
    after, t_after, epoch_after = optimizer.snapshot()
    assert (t_after, epoch_after) == (t, epoch)
    assert after.keys() == arrays.keys()
    for key in arrays:
        for got, want in zip(after[key], arrays[key]):
            assert_array_equal(got, want)


# -------------------------------------------------- regression on toy problems ---

def test_logistic_regression_separable():
    rng = np.random.default_rng(12)
    X = rng.uniform(-1, 1, size=(600, 2))
    margin = X @ np.array([1.0, -2.0]) + 0.3
    X, margin = X[np.abs(margin) > 0.1], margin[np.abs(margin) > 0.1]
    y = (margin > 0).astype(np.int64)
    assert 0.2 < y.mean() < 0.8
    model = Sequential([Dense(2, 1, "sigmoid")], loss="binary_cross_entropy", seed=0)
    model.fit(X[:400], y[:400], epochs=30, batch_size=10, optimizer=SGD(lr=1.0), verbose=0)
    assert model.evaluate(X[:400], y[:400])["accuracy"] > 0.95
    assert model.evaluate(X[400:], y[400:])["accuracy"] > 0.95
    assert set(np.unique(model.predict(X))) <= {0, 1}
    # The learned boundary points the same way as the true one.
    W, _ = model.get_weights()
    assert W[0, 0] > 0 > W[0, 1]


def test_softmax_regression_separable():
    rng = np.random.default_rng(13)
    centers = np.array([[3.0, 0.0], [-3.0, 1.0], [0.0, -3.0]])
    y = rng.integers(0, 3, size=600)
    X = centers[y] + rng.normal(scale=0.6, size=(600, 2))
    model = Sequential([Dense(2, 3, "softmax")], seed=0)
    model.fit(X[:400], y[:400], epochs=20, batch_size=10, optimizer=SGD(lr=0.5), verbose=0)
    assert model.evaluate(X[:400], y[:400])["accuracy"] > 0.95
    assert model.evaluate(X[400:], y[400:])["accuracy"] > 0.95
