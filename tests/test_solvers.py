"""Full-batch solvers (fastnn/solvers.py): the objective and its gradient, the
optimum of softmax regression against scikit-learn, and the solvers inside the
training loop (History, callbacks, EarlyStopping, divergence, warnings)."""

import warnings

import numpy as np
import pytest
from scipy.optimize import OptimizeResult
from scipy.special import logsumexp
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

import fastnn
from fastnn.data import DataSet
from fastnn.solvers import FullBatchObjective

SOLVERS = [fastnn.LBFGS, fastnn.ConjugateGradient]
LAM = 1e-2


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return np.ascontiguousarray(X / 16.0), y.astype(np.int64)


def softmax_objective(W, b, X, y, lam):
    """J = mean_i (logsumexp(a_i) - a_i[y_i]) + lam/2 ||W||^2, a_i = W x_i + b (NumPy, float64)."""
    A = X @ np.asarray(W, np.float64).T + np.asarray(b, np.float64)
    data = np.mean(logsumexp(A, axis=1) - A[np.arange(len(y)), y])
    return data + lam / 2 * np.sum(np.asarray(W, np.float64) ** 2)


@pytest.fixture(scope="module")
def sklearn_optimum(digits):
    X, y = digits
    reference = LogisticRegression(C=1 / (LAM * len(y)), tol=1e-10, max_iter=10000).fit(X, y)
    return softmax_objective(reference.coef_, reference.intercept_, X, y, LAM)


def softmax_regression(dtype="float64", seed=0):
    return fastnn.Sequential([fastnn.Dense(64, 10, "softmax")], loss="cross_entropy",
                             dtype=dtype, seed=seed)


def fit_quietly(model, X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", fastnn.ConvergenceWarning)
        return model.fit(X, y, verbose=0, **kwargs)


@pytest.mark.parametrize("solver", SOLVERS, ids=lambda s: s.__name__)
def test_softmax_regression_reaches_the_logistic_regression_optimum(solver, digits,
                                                                     sklearn_optimum):
    X, y = digits
    model = softmax_regression()
    optimizer = solver(tol=1e-8, weight_decay=LAM)
    history = fit_quietly(model, X, y, epochs=100000, optimizer=optimizer)
    layer = model.layers[0]
    value = softmax_objective(layer.W, layer.b, X, y, LAM)
    assert abs(value - sklearn_optimum) <= 1e-7 * sklearn_optimum
    result = optimizer.result
    assert isinstance(result, OptimizeResult) and result.status == 0
    # One History entry per iteration; the loss is the data loss of the iterate.
    assert len(history.history["loss"]) == result.nit == optimizer.epoch == optimizer.t
    assert history.history["loss"][-1] == pytest.approx(
        softmax_objective(layer.W, layer.b, X, y, 0.0), rel=1e-12)
    assert history.history["accuracy"][-1] == pytest.approx(model.evaluate(X, y)["accuracy"])
    assert result.fun == pytest.approx(value, rel=1e-12)


def test_lbfgs_default_tolerance_is_close_to_the_optimum(digits, sklearn_optimum):
    X, y = digits
    model = softmax_regression()
    fit_quietly(model, X, y, epochs=100000, optimizer=fastnn.LBFGS(weight_decay=LAM))
    value = softmax_objective(model.layers[0].W, model.layers[0].b, X, y, LAM)
    assert abs(value - sklearn_optimum) <= 1e-6 * sklearn_optimum


@pytest.mark.parametrize("solver", SOLVERS, ids=lambda s: s.__name__)
def test_float32_works(solver, digits, sklearn_optimum):
    X, y = digits
    model = softmax_regression("float32")
    optimizer = solver(weight_decay=LAM)
    history = fit_quietly(model, X.astype(np.float32), y, epochs=100000, optimizer=optimizer)
    layer = model.layers[0]
    assert layer.W.dtype == np.float32 and layer.b.dtype == np.float32
    value = softmax_objective(layer.W, layer.b, X, y, LAM)
    assert abs(value - sklearn_optimum) <= 1e-5 * sklearn_optimum
    result = optimizer.result
    assert result.status in (0, 2)      # 2: float32 precision ends a line search
    # An iteration begun but not finished (status 2) is closed at scipy's point: one more entry.
    assert len(history.history["loss"]) == result.nit + (result.status == 2)


@pytest.mark.parametrize("loss,out,units", [("cross_entropy", "softmax", 3),
                                            ("binary_cross_entropy", "sigmoid", 1),
                                            ("mse", "tanh", 3)])
def test_gradient_matches_central_differences(loss, out, units, rng):
    X = rng.normal(size=(30, 5))
    y = rng.integers(0, max(units, 2), size=30)
    model = fastnn.Sequential([fastnn.Dense(5, 4, "tanh"), fastnn.Dense(4, units, out)],
                              loss=loss, dtype="float64", seed=1)
    lam = 0.3
    # Chunks of 7 rows: 30 = 4 * 7 + 2 exercises the accumulation and a short last chunk.
    objective = FullBatchObjective(model, DataSet(X, labels=y), weight_decay=lam, rows=7)
    theta = objective.pack()
    value, grad = objective(theta)
    h = 1e-6
    numeric = np.empty_like(theta)
    for j in range(theta.size):
        step = np.zeros_like(theta)
        step[j] = h
        numeric[j] = (objective(theta + step)[0] - objective(theta - step)[0]) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)
    # The value: the model's mean loss plus the penalty on the weight matrices only.
    objective.unpack(theta)
    penalty = sum(float(np.sum(layer.W ** 2)) for layer in model.dense_layers)
    assert value == pytest.approx(model.evaluate(X, y)["loss"] + lam / 2 * penalty, rel=1e-12)
    # The chunk size changes nothing but rounding; the data part is the batch-mean gradient.
    whole = FullBatchObjective(model, DataSet(X, labels=y), weight_decay=lam)
    np.testing.assert_allclose(whole(theta)[1], grad, rtol=1e-12, atol=1e-14)
    plain = FullBatchObjective(model, DataSet(X, labels=y))(theta)[1]
    expected = np.concatenate([g.ravel() for pair in model.gradients(X, y) for g in pair])
    np.testing.assert_allclose(plain, expected, rtol=1e-12, atol=1e-14)


class Recorder(fastnn.Callback):
    """Records the hooks in order; sets stop_training after epoch ``stop_at``."""

    def __init__(self, stop_at=None):
        self.events, self.stop_at = [], stop_at

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(("begin", epoch))

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(("end", epoch))
        if epoch == self.stop_at:
            self.model.stop_training = True


def alternating(events, count):
    return events == [(kind, e) for e in range(count) for kind in ("begin", "end")]


@pytest.mark.parametrize("solver", SOLVERS, ids=lambda s: s.__name__)
def test_epochs_cap_the_iterations_and_callbacks_see_every_hook(solver, digits):
    X, y = digits
    recorder = Recorder()
    optimizer = solver(weight_decay=LAM)
    history = fit_quietly(softmax_regression(), X, y, epochs=5, optimizer=optimizer,
                          validation_data=(X[:200], y[:200]), callbacks=[recorder])
    assert alternating(recorder.events, 5)
    assert optimizer.result.nit == 5
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 5 for v in history.history.values())
    losses = history.history["loss"]
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("solver", SOLVERS, ids=lambda s: s.__name__)
def test_stop_training_and_early_stopping_stop_the_solver(solver, digits):
    X, y = digits
    recorder = Recorder(stop_at=2)
    history = fit_quietly(softmax_regression(), X, y, epochs=100, optimizer=solver(),
                          callbacks=[recorder])
    assert alternating(recorder.events, 3) and len(history.history["loss"]) == 3
    # No improvement counts (min_delta huge): the first epoch sets the best,
    # patience=1 more is waited, the next stops; the first epoch's weights come back.
    model = softmax_regression()
    stopper = fastnn.EarlyStopping("loss", patience=1, min_delta=1e9,
                                   restore_best_weights=True)
    first = Recorder()

    class Keep(fastnn.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                self.weights = self.model.get_weights()

    keep = Keep()
    history = fit_quietly(model, X, y, epochs=100, optimizer=solver(),
                          callbacks=[first, keep, stopper])
    assert len(history.history["loss"]) == 3 and alternating(first.events, 3)
    assert stopper.stopped_epoch == 2 and stopper.best_epoch == 0
    for a, b in zip(model.get_weights(), keep.weights):
        np.testing.assert_array_equal(a, b)


def test_convergence_warning_at_the_solvers_limits(digits):
    X, y = digits
    for optimizer in (fastnn.LBFGS(max_iter=3), fastnn.ConjugateGradient(max_iter=3)):
        with pytest.warns(fastnn.ConvergenceWarning, match="max_iter=3"):
            history = softmax_regression().fit(X, y, epochs=100, optimizer=optimizer,
                                               verbose=0)
        assert len(history.history["loss"]) == 3 and optimizer.result.status == 1
    optimizer = fastnn.LBFGS(max_fun=4)
    with pytest.warns(fastnn.ConvergenceWarning, match="max_fun=4"):
        softmax_regression().fit(X, y, epochs=100, optimizer=optimizer, verbose=0)
    assert optimizer.result.nfev > 4
    assert issubclass(fastnn.ConvergenceWarning, UserWarning)


@pytest.mark.parametrize("make,match", [
    (lambda: fastnn.LBFGS(max_iter=0), r"max_iter must be a positive integer, got 0"),
    (lambda: fastnn.LBFGS(max_iter=2.5), r"max_iter must be a positive integer, got 2.5"),
    (lambda: fastnn.LBFGS(max_fun=-1), r"max_fun must be a positive integer, got -1"),
    (lambda: fastnn.LBFGS(history=True), r"history must be a positive integer, got True"),
    (lambda: fastnn.LBFGS(tol=0), r"tol must be > 0, got 0"),
    (lambda: fastnn.ConjugateGradient(tol=float("nan")),
     r"tol must be a finite real number, got nan"),
    (lambda: fastnn.ConjugateGradient(tol="1e-5"), r"tol must be a finite real number"),
    (lambda: fastnn.ConjugateGradient(weight_decay=-0.1),
     r"weight_decay must be >= 0, got -0.1"),
    (lambda: fastnn.ConjugateGradient(max_iter=None), r"max_iter must be a positive integer"),
])
def test_bad_arguments_name_the_argument_and_the_value(make, match):
    with pytest.raises((TypeError, ValueError), match=match):
        make()


def test_dropout_is_refused_with_the_layer_named(digits):
    X, y = digits
    model = fastnn.Sequential([fastnn.Dropout(0.2), fastnn.Dense(64, 10, "softmax")], seed=0)
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"layers\[0\] is Dropout\(.*p=0.2"):
        model.fit(X, y, optimizer=fastnn.LBFGS(), verbose=0)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    model = fastnn.Sequential([fastnn.Dropout(0.0), fastnn.Dense(64, 10, "softmax")], seed=0)
    fit_quietly(model, X, y, epochs=2, optimizer=fastnn.LBFGS())


@pytest.mark.parametrize("solver", SOLVERS, ids=lambda s: s.__name__)
def test_non_finite_objective_raises_and_restores_the_weights(solver, rng):
    X = rng.normal(size=(20, 3))
    y = rng.integers(0, 2, size=20)
    model = fastnn.Sequential([fastnn.Dense(3, 2, "identity")], loss="mse", dtype="float64",
                              seed=0)
    model.layers[0].W[...] = 1e200           # (1e200 x)^2 overflows: J = inf at the start
    before = model.get_weights()
    recorder = Recorder()
    optimizer = solver()
    with pytest.raises(fastnn.TrainingDivergedError, match=r"iteration 0 .* restored"):
        model.fit(X, y, epochs=10, optimizer=optimizer, verbose=0, callbacks=[recorder])
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    assert optimizer.epoch == 0 and optimizer.t == 0 and optimizer.result is None
    assert recorder.events == [("begin", 0)]


@pytest.mark.parametrize("solver", SOLVERS, ids=lambda s: s.__name__)
def test_two_runs_are_bitwise_equal(solver, digits):
    X, y = digits
    runs = []
    for _ in range(2):
        model = fastnn.Sequential([fastnn.Dense(64, 16, "tanh"), fastnn.Dense(16, 10, "softmax")],
                                  dtype="float64", seed=3)
        history = fit_quietly(model, X, y, epochs=30, optimizer=solver(weight_decay=1e-3))
        runs.append((model.get_weights(), history.history["loss"]))
    for a, b in zip(runs[0][0], runs[1][0]):
        np.testing.assert_array_equal(a, b)
    assert runs[0][1] == runs[1][1]


def test_graph_models_and_the_compiled_loop_refuse_a_solver():
    optimizer = fastnn.LBFGS()
    with pytest.raises(TypeError, match="full-batch solver"):
        optimizer.step([])
    with pytest.raises(TypeError, match="full-batch solver"):
        optimizer.config()
    assert repr(optimizer) == "LBFGS(max_iter=15000, max_fun=15000, tol=1e-05, history=10, " \
                              "weight_decay=0.0)"
