"""fastnn.sklearn on the data users bring: regression targets, sample weights,
multi-label indicator y, sparse X; each against scikit-learn step for step."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor

from fastnn.sklearn import MLPClassifier, MLPRegressor


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:290] / 16.0, y[:290]


@pytest.fixture(scope="module")
def regression(digits):
    X, y = digits
    rng = np.random.default_rng(0)
    Y = np.column_stack([X @ rng.standard_normal(64) / 8, np.sin(X[:, 20] * 3) + y / 10])
    return X, Y


def max_diff(a, b):
    return max(float(np.abs(np.asarray(p) - np.asarray(q)).max()) for p, q in zip(a, b))


def common_start(ours, theirs, rng):
    """Both estimators at the same weights, away from the initial ones."""
    coefs = [c + 0.05 * rng.standard_normal(c.shape) for c in theirs.coefs_]
    for est in (ours, theirs):
        est.coefs_ = [c.copy() for c in coefs]


# 290 rows in batches of 40: the last batch has 10, so alpha / S changes.
PARAMS = dict(shuffle=False, batch_size=40, alpha=0.05, random_state=0)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("outputs", [1, 2])
def test_regressor_epoch_equals_sklearn(regression, solver, outputs):
    X, Y = regression
    y = Y[:, 0] if outputs == 1 else Y
    ours = MLPRegressor(hidden_layer_sizes=(12,), solver=solver, learning_rate_init=0.01, **PARAMS)
    theirs = SkRegressor(**ours.get_params())
    for est in (ours, theirs):
        est.partial_fit(X, y)
    common_start(ours, theirs, np.random.default_rng(1))
    for est in (ours, theirs):
        est.partial_fit(X, y)
    assert max_diff(ours.coefs_, theirs.coefs_) < 1e-13
    assert max_diff(ours.intercepts_, theirs.intercepts_) < 1e-13
    assert ours.out_activation_ == "identity" and ours.n_outputs_ == outputs
    assert ours.predict(X).shape == y.shape
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-11, atol=1e-12)


def test_regressor_lbfgs_equals_sklearn(regression):
    X, Y = regression
    ours = MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=20, alpha=0.1, random_state=0)
    theirs = SkRegressor(**ours.get_params())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, Y[:, 0])
        theirs.fit(X, Y[:, 0])
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-7)
    assert max_diff(ours.coefs_, theirs.coefs_) < 1e-6


def test_regressor_keeps_float32(regression):
    X, Y = regression
    est = MLPRegressor(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X.astype(np.float32), Y.astype(np.float32))
    assert est.coefs_[0].dtype == np.float32
    assert est.predict(X.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_sample_weighted_epoch_equals_sklearn(digits, solver):
    # sum_i w_i l_i / S + alpha / (2 S) ||W||^2 per batch, S = sum of its weights.
    X, y = digits
    w = np.random.default_rng(2).uniform(0.1, 3.0, len(X))
    ours = MLPClassifier((12,), solver=solver, learning_rate_init=0.05, **PARAMS)
    theirs = SkClassifier(**ours.get_params())
    for est in (ours, theirs):
        est.partial_fit(X, y, sample_weight=w, classes=np.arange(10))
    common_start(ours, theirs, np.random.default_rng(1))
    for est in (ours, theirs):
        est.partial_fit(X, y, sample_weight=w)
    assert max_diff(ours.coefs_, theirs.coefs_) < 1e-13


def test_sample_weighted_lbfgs_equals_sklearn(digits):
    X, y = digits
    w = np.random.default_rng(3).uniform(0.1, 3.0, len(X))
    ours = MLPClassifier((8,), solver="lbfgs", max_iter=15, alpha=0.2, random_state=0)
    theirs = SkClassifier(**ours.get_params())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y, sample_weight=w)
        theirs.fit(X, y, sample_weight=w)
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-7)
    assert max_diff(ours.coefs_, theirs.coefs_) < 1e-6


def test_multilabel_indicator_gets_sigmoid_outputs(digits):
    X, y = digits
    Y = np.column_stack([y % 2, y > 4, y == 3]).astype(int)
    ours = MLPClassifier((12,), solver="sgd", learning_rate_init=0.1, **PARAMS)
    theirs = SkClassifier(**ours.get_params())
    for est in (ours, theirs):
        est.partial_fit(X, Y, classes=np.arange(3))
    common_start(ours, theirs, np.random.default_rng(1))
    for est in (ours, theirs):
        est.partial_fit(X, Y)
    assert ours.out_activation_ == "logistic" and ours.n_outputs_ == 3
    assert max_diff(ours.coefs_, theirs.coefs_) < 1e-13
    proba = ours.predict_proba(X)
    assert proba.shape == (len(X), 3) and not np.allclose(proba.sum(axis=1), 1)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    # Early stopping splits a multi-label y without stratifying.
    est = MLPClassifier((12,), early_stopping=True, max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, Y)
    assert len(est.validation_scores_) == est.n_iter_


@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_csr_input_gives_the_dense_results(digits, regression, Est, solver):
    X, y = digits if Est is MLPClassifier else (regression[0], regression[1][:, 0])
    params = dict(hidden_layer_sizes=(10,), solver=solver, max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = Est(**params).fit(X, y)
        sparse = Est(**params).fit(sp.csr_matrix(X), y)
    assert max_diff(dense.coefs_, sparse.coefs_) < 1e-12
    out = "predict_proba" if Est is MLPClassifier else "predict"
    np.testing.assert_allclose(getattr(sparse, out)(sp.csr_matrix(X)),
                               getattr(dense, out)(X), rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------- Poisson ---

def test_poisson_kernel_with_dense_weighted_targets_matches_reference():
    from fastnn.ops import CompiledOps, NumpyOps
    rng = np.random.default_rng(4)
    a = rng.standard_normal((6, 3))
    T = rng.poisson(2.0, (6, 3)).astype(float)
    w = rng.uniform(0.5, 2.0, 6)
    ref_loss, ref_delta = NumpyOps().exp_poisson(a.copy(), None, 1 / 6, T, w)
    loss, delta = CompiledOps().exp_poisson(a.copy(), None, 1 / 6, T, w)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(delta, ref_delta, rtol=1e-12)
    # scikit-learn's poisson_loss: sum over outputs of the weighted mean deviance / 2
    y = np.exp(a)
    tlogt = np.where(T > 0, T * np.log(np.where(T > 0, T / y, 1)), 0)
    sk = np.sum(np.average(tlogt - T + y, weights=w, axis=0))
    assert ref_loss / w.sum() == pytest.approx(sk, rel=1e-12)


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_poisson_regressor_equals_sklearn(digits, solver):
    X, y = digits
    counts = y.astype(float)
    ours = MLPRegressor(loss="poisson", hidden_layer_sizes=(12,), solver=solver, max_iter=3,
                        learning_rate_init=0.01, **PARAMS)
    theirs = SkRegressor(**ours.get_params())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, counts)
        theirs.fit(X, counts)
    assert ours.out_activation_ == "exp"
    assert max_diff(ours.coefs_, theirs.coefs_) < 1e-12
    assert (ours.predict(X) > 0).all()
    if solver == "lbfgs":
        assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-10)


def test_poisson_refuses_negative_targets(digits):
    X, y = digits
    with pytest.raises(ValueError, match=r"y must hold targets >= 0 for loss='poisson'"):
        MLPRegressor(loss="poisson", max_iter=1).fit(X, y - 1.0)


def test_sparse_after_dense_keeps_the_adam_state_and_early_stopping(digits):
    # A first sparse fit makes the first layer feature-major (a new W): the
    # Adam moments move with it and coefs_ views the new array, also for the
    # early-stopping scores computed during the fit.
    X, y = digits
    Xs = sp.csr_matrix(X)
    pair = [MLPClassifier((10,), random_state=0) for _ in range(2)]
    for est, second in zip(pair, (X, Xs)):
        est.partial_fit(X, y, classes=np.unique(y))
        est.partial_fit(second, y)
    assert max_diff(pair[0].coefs_, pair[1].coefs_) < 1e-12
    params = dict(hidden_layer_sizes=(10,), early_stopping=True, max_iter=8, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense, sparse = MLPClassifier(**params).fit(X, y), MLPClassifier(**params).fit(Xs, y)
    assert max_diff(dense.coefs_, sparse.coefs_) < 1e-12
    assert dense.validation_scores_ == pytest.approx(sparse.validation_scores_, abs=1e-12)
    assert sparse.coefs_[0].base is sparse._model.layers[0].W
