"""fastnn.sklearn against scikit-learn's MLPClassifier/MLPRegressor: the same
steps from the same weights, and the behaviours users rely on (issue 9, part B)."""

import io
import pickle
import re
import warnings

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkClassifier

from fastnn.sklearn import MLPClassifier, MLPRegressor


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16.0, y[:300]


def max_diff(a, b):
    return max(float(np.abs(np.asarray(p) - np.asarray(q)).max()) for p, q in zip(a, b))


def both(**params):
    """Our estimator and scikit-learn's with the same parameters."""
    ours = MLPClassifier(**params)
    return ours, SkClassifier(**ours.get_params())


# ------------------------------------------------------- same steps ---

@pytest.mark.parametrize("params", [
    dict(solver="sgd", momentum=0.0),
    dict(solver="sgd", momentum=0.9, nesterovs_momentum=False),
    dict(solver="sgd", momentum=0.9, nesterovs_momentum=True),
    dict(solver="adam"),
], ids=["sgd", "momentum", "nesterov", "adam"])
def test_one_partial_fit_epoch_equals_sklearn_from_the_same_coefs(digits, params):
    X, y = digits
    ours, theirs = both(hidden_layer_sizes=(20,), random_state=0, shuffle=False, batch_size=50,
                        alpha=0.01, learning_rate_init=0.05, **params)
    ours.partial_fit(X, y, classes=np.arange(10))
    theirs.partial_fit(X, y, classes=np.arange(10))
    # The same random_state gives scikit-learn's initial weights; move both
    # to other common weights, then compare one more epoch (6 steps).
    rng = np.random.default_rng(1)
    coefs = [c + 0.1 * rng.standard_normal(c.shape) for c in theirs.coefs_]
    for est in (ours, theirs):
        est.coefs_ = [c.copy() for c in coefs]
    ours.partial_fit(X, y)
    theirs.partial_fit(X, y)
    assert max_diff(ours.coefs_, theirs.coefs_) < 1e-13
    assert max_diff(ours.intercepts_, theirs.intercepts_) < 1e-13
    assert ours.t_ == theirs.t_ == 2 * len(X)


@pytest.mark.parametrize("learning_rate", ["invscaling", "adaptive"])
def test_changing_learning_rates_follow_sklearn_with_momentum(digits, learning_rate):
    # The velocity keeps the steps of the old rate, as scikit-learn's does
    # (SGD(step_velocity=True)); a tol of 10 makes "adaptive" divide every epoch.
    X, y = digits
    ours, theirs = both(hidden_layer_sizes=(20,), solver="sgd", learning_rate=learning_rate,
                        random_state=0, shuffle=False, batch_size=60, learning_rate_init=0.2,
                        tol=10.0, n_iter_no_change=1, max_iter=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y)
        theirs.fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_
    assert max_diff(ours.coefs_, theirs.coefs_) < 1e-12
    assert np.allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-3)


def test_the_same_random_state_starts_from_sklearns_weights(digits):
    X, y = digits
    ours, theirs = both(hidden_layer_sizes=(7, 5), activation="logistic", random_state=3,
                        max_iter=1, solver="sgd", learning_rate_init=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y)
        theirs.fit(X, y)
    assert [c.shape for c in ours.coefs_] == [(64, 7), (7, 5), (5, 10)]
    assert max_diff(ours.coefs_, theirs.coefs_) < 1e-9
    assert (ours.n_layers_, ours.n_outputs_, ours.out_activation_) == (4, 10, "softmax")


def test_the_objective_is_sklearns_loss_plus_alpha_over_2n(digits):
    # One batch per epoch: loss_ is exactly scikit-learn's J (data loss at the
    # epoch's start weights plus alpha / (2 n) ||W||^2).
    X, y = digits
    ours, theirs = both(hidden_layer_sizes=(15,), solver="sgd", random_state=0,
                        batch_size=len(X), alpha=0.5, learning_rate_init=0.1)
    for est in (ours, theirs):
        est.partial_fit(X, y, classes=np.arange(10))
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-12)


def test_lbfgs_reaches_sklearns_iterates(digits):
    X, y = digits
    ours, theirs = both(hidden_layer_sizes=(10,), solver="lbfgs", random_state=0,
                        max_iter=15, alpha=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y)
        theirs.fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ == 15
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-7)
    assert max_diff(ours.coefs_, theirs.coefs_) < 1e-6


def test_lbfgs_warns_sklearns_convergence_warning(digits):
    X, y = digits
    with pytest.warns(ConvergenceWarning, match=r"lbfgs failed to converge after 3 iteration"):
        MLPClassifier((5,), solver="lbfgs", max_iter=3, random_state=0).fit(X, y)


# ---------------------------------------------- partial_fit and warm starts ---

def test_partial_fit_does_not_exist_for_lbfgs():
    for est in (MLPClassifier(solver="lbfgs"), MLPRegressor(solver="lbfgs")):
        assert not hasattr(est, "partial_fit")
        with pytest.raises(AttributeError, match="has no attribute 'partial_fit'"):
            est.partial_fit
    assert hasattr(MLPClassifier(solver="sgd"), "partial_fit")


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_100_partial_fits_equal_fit_with_max_iter_100(digits, solver):
    X, y = digits
    params = dict(hidden_layer_sizes=(10,), solver=solver, random_state=0, shuffle=False,
                  batch_size=64, max_iter=100, tol=0, learning_rate_init=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        whole = MLPClassifier(**params).fit(X, y)
    steps = MLPClassifier(**params)
    for _ in range(100):
        steps.partial_fit(X, y, classes=np.arange(10))
    assert whole.n_iter_ == 100 and steps.n_iter_ == 1
    assert steps.t_ == whole.t_ == 100 * len(X)
    assert max_diff(whole.coefs_, steps.coefs_) < 1e-12
    np.testing.assert_allclose(steps.loss_curve_, whole.loss_curve_, rtol=1e-12)


def test_warm_start_counts_n_iter_per_call_and_accumulates_the_rest(digits):
    X, y = digits
    est = MLPClassifier((10,), solver="sgd", warm_start=True, max_iter=3, tol=0,
                        random_state=0, early_stopping=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
        est.fit(X, y)
    n_train = len(X) - int(np.ceil(0.1 * len(X)))
    assert est.n_iter_ == 3
    assert est.t_ == 6 * n_train
    assert len(est.loss_curve_) == len(est.validation_scores_) == 6


# ------------------------------------------------------------- stopping ---

def test_stopping_rule_after_n_iter_no_change_plus_one_epochs(digits):
    # With tol = 10 no epoch after the first counts as an improvement: the
    # rule stops once n_iter_no_change + 1 of them have passed, as sklearn's.
    X, y = digits
    ours, theirs = both(hidden_layer_sizes=(10,), solver="sgd", tol=10.0, n_iter_no_change=3,
                        random_state=0)
    ours.fit(X, y)
    theirs.fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ == 5
    assert ours.best_loss_ == min(ours.loss_curve_)


def test_n_iter_no_change_inf_runs_max_iter(digits):
    X, y = digits
    est = MLPClassifier((10,), solver="sgd", tol=10.0, n_iter_no_change=np.inf, max_iter=7)
    with pytest.warns(ConvergenceWarning, match=r"Stochastic Optimizer: Maximum iterations "
                                                r"\(7\) reached"):
        est.fit(X, y)
    assert est.n_iter_ == 7


def test_early_stopping_follows_sklearn_and_restores_the_best_weights(digits):
    # The same random_state draws scikit-learn's weights, then its stratified
    # split; without shuffling the whole run is scikit-learn's.
    X, y = digits
    ours, theirs = both(hidden_layer_sizes=(10,), solver="sgd", early_stopping=True,
                        shuffle=False, random_state=0, learning_rate_init=0.3,
                        n_iter_no_change=2, max_iter=60, batch_size=27)
    ours.fit(X, y)
    theirs.fit(X, y)
    assert ours.best_loss_ is None and theirs.best_loss_ is None
    assert ours.n_iter_ == theirs.n_iter_ < 60
    np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_)
    assert ours.best_validation_score_ == max(ours.validation_scores_)
    assert max_diff(ours.coefs_, theirs.coefs_) < 1e-11     # the best epoch's weights


# ---------------------------------------------------------------- labels ---

@pytest.mark.parametrize("labels", [
    np.array(["cat", "dog", "emu"]), np.array([-5, 7, 100]), np.array([0.0, 2.0, 5.0]),
    np.array(["no", "yes", "maybe"], dtype=object),
], ids=["str", "int", "float", "object"])
def test_any_label_dtype(digits, labels):
    X, y = digits
    y = labels[y % 3]
    est = MLPClassifier((10,), solver="lbfgs", max_iter=50, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    assert list(est.classes_) == list(np.unique(y))
    pred = est.predict(X)
    assert pred.dtype == est.classes_.dtype and set(pred) <= set(labels)
    assert est.score(X, y) > 0.8


def test_binary_labels_use_one_sigmoid_unit(digits):
    X, y = digits
    y = np.where(y < 5, "low", "high")
    est = MLPClassifier((10,), solver="lbfgs", max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    assert (est.n_outputs_, est.out_activation_) == (1, "logistic")
    proba = est.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(est.classes_[proba.argmax(axis=1)], est.predict(X))
    with np.errstate(divide="ignore"):       # saturated units give p = 1 exactly
        np.testing.assert_allclose(est.predict_log_proba(X), np.log(proba))


def test_classes_at_the_first_partial_fit(digits):
    X, y = digits
    est = MLPClassifier((10,), solver="sgd")
    with pytest.raises(ValueError, match="classes must be passed on the first call to "
                                         "partial_fit."):
        est.partial_fit(X, y)
    first = y < 5
    est.partial_fit(X[first], y[first], classes=np.arange(10))
    assert list(est.classes_) == list(range(10)) and est.n_outputs_ == 10
    est.partial_fit(X[~first], y[~first])
    with pytest.raises(ValueError, match=r"`y` has classes not in `self.classes_`"):
        est.partial_fit(X, y + 10)


# ---------------------------------------------------- data, state, output ---

def test_float32_stays_float32(digits):
    X, y = digits
    est = MLPClassifier((10,), solver="sgd", max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X.astype(np.float32), y)
    assert all(c.dtype == np.float32 for c in est.coefs_ + est.intercepts_)
    assert est.predict_proba(X.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("dump", ["pickle", "joblib"])
def test_pickle_round_trip_then_partial_fit_carries_on(digits, dump):
    X, y = digits
    est = MLPClassifier((10,), solver="sgd", momentum=0.9, shuffle=False, random_state=0)
    est.partial_fit(X, y, classes=np.arange(10))
    if dump == "pickle":
        copy = pickle.loads(pickle.dumps(est))
    else:
        buffer = io.BytesIO()
        joblib.dump(est, buffer)
        buffer.seek(0)
        copy = joblib.load(buffer)
    np.testing.assert_array_equal(copy.predict_proba(X), est.predict_proba(X))
    est.partial_fit(X, y)
    copy.partial_fit(X, y)           # the momentum carries over too
    assert max_diff(copy.coefs_, est.coefs_) == 0
    assert copy.t_ == est.t_ and copy.loss_curve_ == est.loss_curve_


def test_clone_gives_an_unfitted_copy_with_the_same_parameters(digits):
    X, y = digits
    est = MLPClassifier((7,), solver="sgd", alpha=0.3, max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    twin = clone(est)
    assert twin.get_params() == est.get_params()
    assert not hasattr(twin, "coefs_")


def test_verbose_prints_sklearns_iteration_lines(digits, capsys):
    X, y = digits
    ours, theirs = both(hidden_layer_sizes=(10,), solver="sgd", max_iter=3, verbose=True,
                        shuffle=False, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y)
        ours_out = capsys.readouterr().out
        theirs.fit(X, y)
        theirs_out = capsys.readouterr().out
    pattern = r"Iteration (\d+), loss = (\d+\.\d{8})"
    assert [m[0] for m in re.findall(pattern, ours_out)] == ["1", "2", "3"]
    assert ours_out.splitlines() == [f"Iteration {i}, loss = {loss:.8f}"
                                     for i, loss in enumerate(ours.loss_curve_, 1)]
    assert len(theirs_out.splitlines()) == 3


# ---------------------------------------------------------------- errors ---

def test_sklearns_error_wording(digits):
    X, y = digits
    est = MLPClassifier((5,), solver="sgd", warm_start=True, max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
        with pytest.raises(ValueError, match=r"warm_start can only be used where `y` has the "
                                             r"same classes as in the previous call to fit"):
            est.fit(X, y % 3)
    with pytest.raises(ValueError, match=r"The validation set is too small. Increase "
                                         r"'validation_fraction' or the size of your dataset."):
        MLPClassifier(early_stopping=True, validation_fraction=0.01).fit(X[:40], y[:40] * 0)
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
        MLPClassifier(solver="sgd", early_stopping=True).partial_fit(X, y, classes=np.arange(10))
    with pytest.raises(ValueError, match="Solver produced non-finite parameter weights. The "
                                         "input data may contain large values"):
        MLPClassifier((5,), solver="sgd", learning_rate_init=1e10, momentum=0.0, max_iter=5,
                      random_state=0).fit((X * 1e36).astype(np.float32), y)
    with pytest.raises(ValueError, match=r"The 'alpha' parameter of MLPClassifier must be a "
                                         r"float in the range \[0.0, inf\)"):
        MLPClassifier(alpha=-1).fit(X, y)
