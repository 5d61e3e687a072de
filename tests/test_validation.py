"""Bad input gets a clear error at the door, and nothing is lost.

Every public entry point (constructors, ``fit``, ``predict``,
``predict_proba``, ``evaluate``, ``model(X)``, ``gradients``,
``set_weights``, the W/b setters) must refuse bad input with a
``ValueError``/``TypeError`` whose message names the argument and echoes the
bad value, leave the model's weights untouched, and never crash the
interpreter. Good input in any array-like form must train exactly like the
equivalent C-contiguous array of the model's dtype.
"""

import math
import os
import re
import subprocess
import sys
import textwrap
import tracemalloc

import numpy as np

import fastnn
from children import CHILD_CWD, child_env
import pytest

import fastnn.data
from fastnn import (SGD, Adagrad, Adam, Callback, Dense, Dropout, EarlyStopping,
                    InverseTimeDecay, Sequential, StepDecay, TrainingDivergedError)
from fastnn._train import MAX_LAYERS
from fastnn.validation import check_X

N, N_IN, N_HIDDEN, N_OUT = 30, 4, 5, 3


def make_data(seed=0):
    """X (N, N_IN) float32 of small whole numbers (exact in every dtype), y (N,) int64."""
    gen = np.random.default_rng(seed)
    X = gen.integers(0, 5, size=(N, N_IN)).astype(np.float32)
    y = gen.integers(0, N_OUT, size=N)
    y[:N_OUT] = np.arange(N_OUT)          # every class present
    return X, y


def make_model(seed=0, dtype="float32"):
    return Sequential([Dense(N_IN, N_HIDDEN, "tanh"), Dense(N_HIDDEN, N_OUT, "softmax")],
                      seed=seed, dtype=dtype)


def fit(model, X, y, **kwargs):
    args = dict(epochs=2, batch_size=8, optimizer=SGD(lr=0.1), verbose=0)
    args.update(kwargs)
    return model.fit(X, y, **args)


def trained_weights(X, y, dtype="float32", **kwargs):
    model = make_model(seed=7, dtype=dtype)
    fit(model, X, y, **kwargs)
    return model.get_weights()


def assert_same_weights(a, b):
    assert len(a) == len(b)
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa, wb)


def raises(exc, pattern, func, *args, **kwargs):
    """``func(*args, **kwargs)`` raises ``exc`` with a message matching ``pattern``."""
    with pytest.raises(exc, match=pattern):
        func(*args, **kwargs)


# ------------------------------------------------------------- bad X ---
# Each case: (make the bad X from a good one, exception, message pattern with
# {name} standing for the argument's name).
def _with(X, index, value, dtype=None):
    out = X.astype(dtype or X.dtype)
    out[index] = value
    return out


BAD_X = {
    "3-D": (lambda X: X[:, :, None], ValueError,
            r"{name} must be 2-D \(n_samples, n_features\), got shape \(30, 4, 1\)"),
    "1-D": (lambda X: X[0], ValueError,
            r"{name} must be 2-D .*got shape \(4,\) \(for one example use X\.reshape\(1, -1\)\)"),
    "0-D": (lambda X: 3.0, ValueError, r"{name} must be 2-D .*got shape \(\)"),
    "wrong features": (lambda X: X[:, :3], ValueError,
                       r"{name} has 3 features \(shape \(30, 3\)\) but the first Dense layer "
                       r"expects n_in=4"),
    "too many features": (lambda X: np.hstack([X, X]), ValueError,
                          r"{name} has 8 features .*expects n_in=4"),
    "empty rows": (lambda X: X[:0], ValueError, r"{name} is empty: shape \(0, 4\)"),
    "empty list": (lambda X: [], ValueError, r"{name} must be 2-D .*got shape \(0,\)"),
    "nan": (lambda X: _with(X, (2, 1), np.nan), ValueError,
            r"{name} contains NaN or inf: {name}\[2, 1\] = nan"),
    "+inf": (lambda X: _with(X, (5, 3), np.inf), ValueError,
             r"{name} contains NaN or inf: {name}\[5, 3\] = inf"),
    "-inf float64": (lambda X: _with(X, (0, 0), -np.inf, np.float64), ValueError,
                     r"{name} contains NaN or inf: {name}\[0, 0\] = -inf"),
    "nan in list": (lambda X: [[1.0, 2.0, float("nan"), 0.0]], ValueError,
                    r"{name}\[0, 2\] = nan"),
    "overflows float32": (lambda X: _with(X, (3, 0), 1e300, np.float64), ValueError,
                          r"{name} contains a value too large for float32 \(it would become "
                          r"inf\): {name}\[3, 0\] = 1e\+300"),
    "strings": (lambda X: np.full(X.shape, "a"), TypeError,
                r"{name} must hold real numbers, got dtype <U1 \(e\.g\. 'a'\)"),
    "a string": (lambda X: "abc", TypeError,
                 r"{name} must hold real numbers, got dtype <U3 \(e\.g\. 'abc'\)"),
    "None": (lambda X: None, TypeError,
             r"{name} must hold real numbers, got dtype object \(e\.g\. None\)"),
    "object array": (lambda X: X.astype(object), TypeError,
                     r"{name} must hold real numbers, got dtype object \(e\.g\. \d"),
    "mixed list": (lambda X: [[1, 2, "x", 4]] * N, TypeError,
                   r"{name} must hold real numbers, got dtype <U"),
    "complex": (lambda X: X + 1j, TypeError,
                r"{name} must hold real numbers, got dtype complex64 \(e\.g\. \(\d.*\+1j\)\)"),
    "ragged": (lambda X: [[1, 2, 3, 4], [1, 2]], TypeError,
               r"{name} must be a 2-D array of real numbers; converting it failed: .*"
               r"inhomogeneous"),
    "datetime": (lambda X: np.full(X.shape, np.datetime64("2020-01-01")), TypeError,
                 r"{name} must hold real numbers, got dtype datetime64"),
}

# Each entry point taking X: (call with model, X, y; the argument's name).
X_ENTRY_POINTS = {
    "fit": (lambda m, X, y: fit(m, X, y), "X"),
    "predict": (lambda m, X, y: m.predict(X), "X"),
    "predict_proba": (lambda m, X, y: m.predict_proba(X), "X"),
    "evaluate": (lambda m, X, y: m.evaluate(X, y), "X"),
    "__call__": (lambda m, X, y: m(X), "X"),
    "gradients": (lambda m, X, y: m.gradients(X, y), "X"),
    "validation_data": (lambda m, X, y: fit(m, *make_data(), validation_data=(X, y)),
                        "X_val"),
}


@pytest.mark.parametrize("entry", sorted(X_ENTRY_POINTS))
@pytest.mark.parametrize("case", sorted(BAD_X))
def test_bad_X_is_refused_and_changes_nothing(case, entry):
    make_bad, exc, pattern = BAD_X[case]
    call, name = X_ENTRY_POINTS[entry]
    X, y = make_data()
    model = make_model()
    before = model.get_weights()
    raises(exc, pattern.format(name=re.escape(name)), call, model, make_bad(X), y)
    assert_same_weights(before, model.get_weights())
    assert model.history is None


def test_huge_values_are_fine_in_a_float64_model():
    X, y = make_data()
    X64 = _with(X, (3, 0), 1e300, np.float64)
    out = make_model(dtype="float64").predict_proba(X64)
    assert out.shape == (N, N_OUT) and np.isfinite(out).all()


# ------------------------------------------------------------- bad y ---
def _onehot(y, width=N_OUT):
    return np.eye(width)[y]


BAD_Y = {
    "too large": (lambda y: _with(y, 5, 3), ValueError,
                  r"{name}\[5\] = 3 is out of range: labels must be in \[0, 2\] for a network "
                  r"with 3 outputs"),
    "negative": (lambda y: _with(y, 7, -1), ValueError, r"{name}\[7\] = -1 is out of range"),
    "2.5": (lambda y: _with(y, 4, 2.5, np.float64), ValueError,
            r"{name} must hold integer class labels, got {name}\[4\] = 2\.5"),
    "nan": (lambda y: _with(y, 6, np.nan, np.float64), ValueError,
            r"{name} must hold integer class labels, got {name}\[6\] = nan"),
    "inf": (lambda y: _with(y, 0, np.inf, np.float64), ValueError,
            r"{name} must hold integer class labels, got {name}\[0\] = inf"),
    "whole float out of range": (lambda y: _with(y, 2, 7.0, np.float64), ValueError,
                                 r"{name}\[2\] = 7\.0 is out of range"),
    "too short": (lambda y: y[:-1], ValueError,
                  r"{xname} and {name} have different lengths: 30 and 29"),
    "too long": (lambda y: np.concatenate([y, y]), ValueError,
                 r"{xname} and {name} have different lengths: 30 and 60"),
    "one-hot too wide": (lambda y: _onehot(y, 4), ValueError,
                         r"{name} has one-hot rows of width 4 \(shape \(30, 4\)\) but the "
                         r"network has 3 outputs"),
    "one-hot two ones": (lambda y: _with(_onehot(y), (0, slice(None)), [1, 1, 0]), ValueError,
                         r"{name} must hold one-hot rows .*row 0 is \[1\.0, 1\.0, 0\.0\]"),
    "one-hot all zero": (lambda y: _with(_onehot(y), (3, slice(None)), 0), ValueError,
                         r"{name} must hold one-hot rows .*row 3 is \[0\.0, 0\.0, 0\.0\]"),
    # Soft rows are probability distributions (fine); this one sums to 0.9.
    "soft row off 1": (lambda y: _with(_onehot(y), (1, slice(None)), [0.5, 0.4, 0]),
                       ValueError, r"{name} must hold one-hot rows or probability "
                                   r"distributions .*row 1 is \[0\.5, 0\.4"),
    "3-D": (lambda y: _onehot(y)[:, :, None], ValueError,
            r"{name} must be 1-D labels \(n,\) or one-hot rows \(n, 3\), got shape "
            r"\(30, 3, 1\)"),
    "scalar": (lambda y: 1, ValueError, r"{name} must be 1-D labels .*got shape \(\)"),
    "strings": (lambda y: y.astype(str), TypeError,
                r"{name} must hold integer class labels, got dtype <U\d+ \(e\.g\. '\d'\)"),
    "None": (lambda y: None, TypeError,
             r"{name} must hold integer class labels, got dtype object \(e\.g\. None\)"),
    "complex": (lambda y: y + 0j, TypeError,
                r"{name} must hold integer class labels, got dtype complex128"),
    "ragged": (lambda y: [[0, 1], [1]], TypeError,
               r"{name} must be an array of integer labels; converting it failed"),
}

Y_ENTRY_POINTS = {
    "fit": (lambda m, X, y: fit(m, X, y), "y", "X"),
    "evaluate": (lambda m, X, y: m.evaluate(X, y), "y", "X"),
    "gradients": (lambda m, X, y: m.gradients(X, y), "y", "X"),
    "validation_data": (lambda m, X, y: fit(m, X, make_data()[1], validation_data=(X, y)),
                        "y_val", "X_val"),
}


@pytest.mark.parametrize("entry", sorted(Y_ENTRY_POINTS))
@pytest.mark.parametrize("case", sorted(BAD_Y))
def test_bad_y_is_refused_and_changes_nothing(case, entry):
    make_bad, exc, pattern = BAD_Y[case]
    call, name, xname = Y_ENTRY_POINTS[entry]
    X, y = make_data()
    model = make_model()
    before = model.get_weights()
    raises(exc, pattern.format(name=re.escape(name), xname=re.escape(xname)),
           call, model, X, make_bad(y))
    assert_same_weights(before, model.get_weights())


def test_binary_labels_with_a_single_sigmoid_unit():
    X, y = make_data()
    model = Sequential([Dense(N_IN, 1, "sigmoid")], loss="binary_cross_entropy", seed=0)
    raises(ValueError, r"y\[0\] = 2 is out of range: labels must be in \[0, 1\] for a "
                       r"network with 1 output\b", model.evaluate, X, _with(y % 2, 0, 2))
    # A column of 0/1 labels (n, 1) is the same as (n,).
    a = model.evaluate(X, (y % 2)[:, None])
    b = model.evaluate(X, y % 2)
    assert a == b


# ---------------------------------------------- other fit() arguments ---
BAD_FIT_ARGS = [
    ("epochs", 0, ValueError, r"epochs must be a positive integer, got 0"),
    ("epochs", -3, ValueError, r"epochs must be a positive integer, got -3"),
    ("epochs", 2.5, TypeError, r"epochs must be a positive integer, got 2\.5"),
    ("epochs", 2.0, TypeError, r"epochs must be a positive integer, got 2\.0"),
    ("epochs", True, TypeError, r"epochs must be a positive integer, got True"),
    ("epochs", "3", TypeError, r"epochs must be a positive integer, got '3'"),
    ("epochs", None, TypeError, r"epochs must be a positive integer, got None"),
    ("batch_size", 0, ValueError, r"batch_size must be a positive integer, got 0"),
    ("batch_size", -1, ValueError, r"batch_size must be a positive integer, got -1"),
    ("batch_size", 8.0, TypeError, r"batch_size must be a positive integer, got 8\.0"),
    ("batch_size", np.float64(8), TypeError, r"batch_size must be a positive integer, got 8\.0"),
    ("batch_size", False, TypeError, r"batch_size must be a positive integer, got False"),
    ("shuffle", 1, TypeError, r"shuffle must be True or False, got 1"),
    ("shuffle", "yes", TypeError, r"shuffle must be True or False, got 'yes'"),
    ("shuffle", None, TypeError, r"shuffle must be True or False, got None"),
    ("verbose", 3, ValueError, r"verbose must be 0, 1 or 2, got 3"),
    ("verbose", -1, ValueError, r"verbose must be 0, 1 or 2, got -1"),
    ("verbose", True, ValueError, r"verbose must be 0, 1 or 2, got True"),
    ("verbose", 1.0, ValueError, r"verbose must be 0, 1 or 2, got 1\.0"),
    ("verbose", "1", ValueError, r"verbose must be 0, 1 or 2, got '1'"),
    ("verbose", None, ValueError, r"verbose must be 0, 1 or 2, got None"),
    ("verbose", np.array([1, 2]), ValueError, r"verbose must be 0, 1 or 2, got array"),
    ("optimizer", "sgd", TypeError, r"optimizer must be an Optimizer .*got 'sgd'"),
    ("optimizer", SGD, TypeError,
     r"optimizer must be an Optimizer .*got <class 'fastnn\.optimizers\.SGD'>"),
    ("optimizer", 0.1, TypeError, r"optimizer must be an Optimizer .*got 0\.1"),
    ("callbacks", [print], TypeError,
     r"callbacks\[0\] must be a Callback, got <built-in function print>"),
    ("callbacks", [Callback(), "stop"], TypeError, r"callbacks\[1\] must be a Callback, got 'stop'"),
    ("callbacks", EarlyStopping("loss"), TypeError,
     r"callbacks must be a list of Callback objects, got a single EarlyStopping "
     r"\(wrap it in a list\)"),
    ("callbacks", "abc", TypeError, r"callbacks must be a list of Callback objects, got 'abc'"),
    ("callbacks", 5, TypeError, r"callbacks must be a list of Callback objects, got 5"),
    ("validation_data", "val", ValueError,
     r"validation_data must be a pair \(X_val, y_val\), got str"),
    ("validation_data", np.zeros((N, N_IN)), ValueError,
     r"validation_data must be a pair \(X_val, y_val\), got ndarray"),
    ("validation_data", (np.zeros((N, N_IN)),), ValueError,
     r"validation_data must be a pair \(X_val, y_val\), got tuple"),
]


@pytest.mark.parametrize("arg, value, exc, pattern", BAD_FIT_ARGS,
                         ids=[f"{a}={v!r}"[:40] for a, v, _, _ in BAD_FIT_ARGS])
def test_bad_fit_argument_is_refused_and_changes_nothing(arg, value, exc, pattern):
    X, y = make_data()
    model = make_model()
    optimizer = SGD(lr=0.1, momentum=0.9)
    before = model.get_weights()
    kwargs = {"optimizer": optimizer, arg: value}
    raises(exc, pattern, fit, model, X, y, **kwargs)
    assert_same_weights(before, model.get_weights())
    assert optimizer.t == 0 and model.history is None


def test_validation_data_with_the_wrong_feature_count_names_X_val():
    X, y = make_data()
    model = make_model()
    raises(ValueError, r"X_val has 3 features \(shape \(30, 3\)\) but the first Dense layer "
                       r"expects n_in=4", fit, model, X, y, validation_data=(X[:, :3], y))


# ------------------------------------------------------- constructors ---
BAD_CONSTRUCTORS = {
    "Dense(0, 3)": (lambda: Dense(0, 3), ValueError, r"n_in must be a positive integer, got 0"),
    "Dense(3, 0)": (lambda: Dense(3, 0), ValueError, r"n_out must be a positive integer, got 0"),
    "Dense(-2, 3)": (lambda: Dense(-2, 3), ValueError, r"n_in must be a positive integer, got -2"),
    "Dense(3.5, 2)": (lambda: Dense(3.5, 2), TypeError,
                      r"n_in must be a positive integer, got 3\.5"),
    "Dense(3, 2.0)": (lambda: Dense(3, 2.0), TypeError,
                      r"n_out must be a positive integer, got 2\.0"),
    "Dense(True, 2)": (lambda: Dense(True, 2), TypeError,
                       r"n_in must be a positive integer, got True"),
    "Dense('3', 2)": (lambda: Dense("3", 2), TypeError, r"n_in must be a positive integer, got '3'"),
    "Dense(None, 2)": (lambda: Dense(None, 2), TypeError,
                       r"n_in must be a positive integer, got None"),
    "softplus": (lambda: Dense(3, 2, "softplus"), ValueError,
                 r"activation must be one of \[.*'relu'.*\] or None, got 'softplus'"),
    "activation=1": (lambda: Dense(3, 2, 1), ValueError, r"activation must be one of .*got 1"),
    "Sigmoid": (lambda: Dense(3, 2, "Sigmoid"), ValueError,
                r"activation must be one of .*got 'Sigmoid'"),
    "xavier": (lambda: Dense(3, 2, init="xavier"), ValueError,
               r"init must be one of \[.*'glorot_uniform'.*\], got 'xavier'"),
    "init=None": (lambda: Dense(3, 2, init=None), ValueError, r"init must be one of .*got None"),
    "bias='yes'": (lambda: Dense(3, 2, bias="yes"), TypeError,
                   r"bias must be True or False, got 'yes'"),
    "Dropout(1)": (lambda: Dropout(1), ValueError,
                   r"Dropout p must be a probability in \[0, 1\), got 1$"),
    "Dropout(1.5)": (lambda: Dropout(1.5), ValueError, r"Dropout p must be .*got 1\.5"),
    "Dropout(-0.1)": (lambda: Dropout(-0.1), ValueError, r"Dropout p must be .*got -0\.1"),
    "Dropout(nan)": (lambda: Dropout(math.nan), ValueError, r"Dropout p must be .*got nan"),
    "Dropout(inf)": (lambda: Dropout(math.inf), ValueError, r"Dropout p must be .*got inf"),
    "Dropout('0.5')": (lambda: Dropout("0.5"), ValueError, r"Dropout p must be .*got '0\.5'"),
    "Dropout(None)": (lambda: Dropout(None), ValueError, r"Dropout p must be .*got None"),
    "Dropout(True)": (lambda: Dropout(True), ValueError, r"Dropout p must be .*got True"),
    "Dropout scale": (lambda: Dropout(0.5, scale="both"), ValueError,
                      r"Dropout scale must be 'train' or 'test', got 'both'"),
    "SGD(lr=0)": (lambda: SGD(lr=0), ValueError, r"lr must be > 0, got 0"),
    "SGD(lr=-1)": (lambda: SGD(lr=-1), ValueError, r"lr must be > 0, got -1"),
    "SGD(lr=nan)": (lambda: SGD(lr=math.nan), ValueError,
                    r"lr must be a finite real number, got nan"),
    "SGD(lr='0.1')": (lambda: SGD(lr="0.1"), ValueError,
                      r"lr must be a finite real number, got '0\.1'"),
    "SGD(momentum=1)": (lambda: SGD(momentum=1), ValueError, r"momentum must be < 1, got 1"),
    "SGD(momentum=-0.5)": (lambda: SGD(momentum=-0.5), ValueError,
                           r"momentum must be >= 0, got -0\.5"),
    "SGD(nesterov='yes')": (lambda: SGD(momentum=0.9, nesterov="yes"), ValueError,
                            r"nesterov must be True or False, got 'yes'"),
    "SGD(nesterov, momentum=0)": (lambda: SGD(nesterov=True), ValueError,
                                  r"nesterov=True needs momentum > 0, got momentum=0"),
    "SGD(weight_decay=-1)": (lambda: SGD(weight_decay=-1), ValueError,
                             r"weight_decay must be >= 0, got -1"),
    "SGD(schedule='cosine')": (lambda: SGD(schedule="cosine"), ValueError,
                               r"schedule must be None, .*got 'cosine'"),
    "Adagrad(eps=0)": (lambda: Adagrad(eps=0), ValueError, r"eps must be > 0, got 0"),
    "Adagrad(lr=inf)": (lambda: Adagrad(lr=math.inf), ValueError,
                        r"lr must be a finite real number, got inf"),
    "Adam(betas=0.9)": (lambda: Adam(betas=0.9), ValueError,
                        r"betas must be a pair \(beta1, beta2\), got 0\.9"),
    "Adam(betas[1]=1)": (lambda: Adam(betas=(0.9, 1.0)), ValueError,
                         r"betas\[1\] must be < 1, got 1\.0"),
    "Adam(betas[0]=-0.1)": (lambda: Adam(betas=(-0.1, 0.9)), ValueError,
                            r"betas\[0\] must be >= 0, got -0\.1"),
    "Adam(eps=-1)": (lambda: Adam(eps=-1), ValueError, r"eps must be > 0, got -1"),
    "StepDecay(step_size=0)": (lambda: StepDecay(step_size=0), ValueError,
                               r"step_size must be a positive integer, got 0"),
    "StepDecay(gamma=1.5)": (lambda: StepDecay(gamma=1.5), ValueError,
                             r"gamma must be <= 1, got 1\.5"),
    "InverseTimeDecay(tau=0)": (lambda: InverseTimeDecay(tau=0), ValueError,
                                r"tau must be > 0, got 0"),
    "EarlyStopping(patience=-1)": (lambda: EarlyStopping(patience=-1), ValueError,
                                   r"patience must be an integer >= 0, got -1"),
    "EarlyStopping(patience=1.5)": (lambda: EarlyStopping(patience=1.5), ValueError,
                                    r"patience must be an integer >= 0, got 1\.5"),
    "EarlyStopping(patience=True)": (lambda: EarlyStopping(patience=True), ValueError,
                                     r"patience must be an integer >= 0, got True"),
    "EarlyStopping(monitor=3)": (lambda: EarlyStopping(monitor=3), TypeError,
                                 r"monitor must be a string, got 3"),
    "EarlyStopping(min_delta=-0.1)": (lambda: EarlyStopping(min_delta=-0.1), ValueError,
                                      r"min_delta must be a finite number >= 0, got -0\.1"),
    "EarlyStopping(min_delta=nan)": (lambda: EarlyStopping(min_delta=math.nan), ValueError,
                                     r"min_delta must be a finite number >= 0, got nan"),
    "EarlyStopping(mode='up')": (lambda: EarlyStopping(mode="up"), ValueError,
                                 r"mode must be 'auto', 'min' or 'max', got 'up'"),
    "EarlyStopping(restore_best_weights='yes')": (
        lambda: EarlyStopping(restore_best_weights="yes"), TypeError,
        r"restore_best_weights must be True or False, got 'yes'"),
}


def _seq(layers, **kwargs):
    return lambda: Sequential(layers(), **kwargs)


BAD_SEQUENTIALS = {
    "a single layer": (_seq(lambda: Dense(4, 3, "softmax")), TypeError,
                       r"layers must be a list of Dense/Dropout layers, got Dense\(4, 3"),
    "not a list": (_seq(lambda: 3), TypeError, r"layers must be a list .*got 3"),
    "empty": (_seq(lambda: []), ValueError,
              r"layers must contain at least one Dense layer, got \[\]"),
    "no Dense": (_seq(lambda: [Dropout(0.5)]), ValueError,
                 r"layers must contain at least one Dense layer, got \[Dropout\(0\.5"),
    "a string layer": (_seq(lambda: [Dense(4, 5), "relu", Dense(5, 3, "softmax")]), TypeError,
                       r"layers\[1\] must be a Dense or Dropout layer, got 'relu'"),
    "Dropout last": (_seq(lambda: [Dense(4, 3, "softmax"), Dropout(0.5)]), ValueError,
                     r"the last layer must be Dense, got Dropout\(0\.5"),
    "two Dropouts": (_seq(lambda: [Dense(4, 5), Dropout(0.2), Dropout(0.3),
                                   Dense(5, 3, "softmax")]), ValueError,
                     r"layers\[1\] and layers\[2\] are consecutive Dropout layers"),
    "sizes do not chain": (_seq(lambda: [Dense(4, 5, "relu"), Dense(6, 3, "softmax")]),
                           ValueError,
                           r"layer sizes do not chain: Dense\(4, 5, activation='relu'.*\) "
                           r"outputs 5 units but the next Dense Dense\(6, 3, "
                           r"activation='softmax'.*\) expects n_in=6"),
    "sizes do not chain later": (_seq(lambda: [Dense(4, 5), Dense(5, 7), Dropout(0.1),
                                               Dense(6, 3, "softmax")]), ValueError,
                                 r"Dense\(5, 7, .*outputs 7 units .*Dense\(6, 3, .*n_in=6"),
    "shared Dense": (lambda: (lambda d: Sequential([d, d]))(Dense(3, 3, "softmax")),
                     ValueError, r"the same Dense layer appears twice in layers"),
    "too deep": (_seq(lambda: [Dense(2, 2) for _ in range(MAX_LAYERS)]
                      + [Dense(2, 2, "softmax")]), ValueError,
                 rf"at most {MAX_LAYERS} Dense layers are supported, got {MAX_LAYERS + 1}"),
    "cross_entropy with sigmoid": (_seq(lambda: [Dense(4, 3, "sigmoid")]), ValueError,
                                   r"loss='cross_entropy' needs the last Dense layer to have "
                                   r"activation='softmax', got activation='sigmoid'"),
    "cross_entropy with no activation": (_seq(lambda: [Dense(4, 3)]), ValueError,
                                         r"activation='softmax', got activation='identity'"),
    "cross_entropy with 1 unit": (_seq(lambda: [Dense(4, 1, "softmax")]), ValueError,
                                  r"loss='cross_entropy' needs at least 2 output units"),
    "binary_cross_entropy with softmax": (
        _seq(lambda: [Dense(4, 3, "softmax")], loss="binary_cross_entropy"), ValueError,
        r"loss='binary_cross_entropy' needs .*activation='sigmoid', got activation='softmax'"),
    "unknown loss": (_seq(lambda: [Dense(4, 3, "softmax")], loss="hinge"), ValueError,
                     r"loss must be one of \['binary_cross_entropy', 'cross_entropy', 'mse', 'poisson'\], "
                     r"got 'hinge'"),
    "loss=None": (_seq(lambda: [Dense(4, 3, "softmax")], loss=None), ValueError,
                  r"loss must be one of .*got None"),
    "float16": (_seq(lambda: [Dense(4, 3, "softmax")], dtype="float16"), ValueError,
                r"dtype must be 'float32' or 'float64', got 'float16'"),
    "int32": (_seq(lambda: [Dense(4, 3, "softmax")], dtype="int32"), ValueError,
              r"dtype must be 'float32' or 'float64', got 'int32'"),
    "np.int32": (_seq(lambda: [Dense(4, 3, "softmax")], dtype=np.int32), ValueError,
                 r"dtype must be 'float32' or 'float64', got <class 'numpy\.int32'>"),
    "dtype nonsense": (_seq(lambda: [Dense(4, 3, "softmax")], dtype="flaot32"), ValueError,
                       r"dtype must be 'float32' or 'float64', got 'flaot32'"),
    "dtype None": (_seq(lambda: [Dense(4, 3, "softmax")], dtype=None), ValueError,
                   r"dtype must be 'float32' or 'float64', got None"),
    "seed -1": (_seq(lambda: [Dense(4, 3, "softmax")], seed=-1), ValueError,
                r"seed must be a non-negative integer or None, got -1"),
    "seed 1.0": (_seq(lambda: [Dense(4, 3, "softmax")], seed=1.0), ValueError,
                 r"seed must be a non-negative integer or None, got 1\.0"),
    "seed '0'": (_seq(lambda: [Dense(4, 3, "softmax")], seed="0"), ValueError,
                 r"seed must be a non-negative integer or None, got '0'"),
    "seed True": (_seq(lambda: [Dense(4, 3, "softmax")], seed=True), ValueError,
                  r"seed must be a non-negative integer or None, got True"),
}


@pytest.mark.parametrize("case", sorted({**BAD_CONSTRUCTORS, **BAD_SEQUENTIALS}))
def test_bad_constructor_argument_is_refused(case):
    make, exc, pattern = {**BAD_CONSTRUCTORS, **BAD_SEQUENTIALS}[case]
    raises(exc, pattern, make)


@pytest.mark.parametrize("make", [
    lambda: Dense(np.int64(4), np.int32(3), "softmax"),
    lambda: Dropout(np.float32(0.25)),
    lambda: Dropout(0),
    lambda: SGD(lr=np.float32(0.1), momentum=np.float64(0.5)),
    lambda: EarlyStopping(patience=np.int64(2), min_delta=np.float32(0.01)),
    lambda: Sequential([Dense(4, 3, "softmax")], seed=np.uint32(5), dtype=np.float64),
], ids=["Dense(np ints)", "Dropout(np.float32)", "Dropout(0)", "SGD(np floats)",
        "EarlyStopping(np numbers)", "Sequential(np seed, np dtype)"])
def test_numpy_scalars_are_accepted_where_numbers_are(make):
    make()


def test_early_stopping_on_a_missing_key_fails_at_the_end_of_the_first_epoch():
    X, y = make_data()
    model = make_model()
    raises(ValueError, r"EarlyStopping monitors 'val_loss' but the epoch logs hold "
                       r"\['accuracy', 'loss'\]; pass validation_data",
           fit, model, X, y, epochs=5, callbacks=[EarlyStopping("val_loss")])
    assert model.history.epoch == [0]
    # With validation data the same callback works.
    fit(model, X, y, epochs=2, validation_data=(X, y), callbacks=[EarlyStopping("val_loss")])


# ------------------------------------------------ weights set by the user ---
def test_set_weights_is_checked_and_all_or_nothing():
    model = make_model()
    good = model.get_weights()
    new = [w + 1 for w in good]
    raises(TypeError, r"weights must be a list of arrays \[W1, b1, W2, b2, \.\.\.\], got int",
           model.set_weights, 5)
    raises(TypeError, r"weights must be a list of arrays .*got ndarray",
           model.set_weights, good[0])
    raises(ValueError, r"weights must hold 4 arrays, got 3", model.set_weights, new[:3])
    cases = [
        (3, np.zeros((9, 9)), ValueError, r"weights\[3\] must have shape \(3,\), got \(9, 9\)"),
        (2, new[2].T, ValueError, r"weights\[2\] must have shape \(3, 5\), got \(5, 3\)"),
        (3, np.array([0, np.nan, 0]), ValueError,
         r"weights\[3\] contains NaN or inf \(in float32\): weights\[3\]\[1\] = nan"),
        (2, _with(new[2], (1, 4), -np.inf), ValueError, r"weights\[2\]\[1, 4\] = -inf"),
        (2, _with(new[2], (0, 0), 1e300, np.float64), ValueError,
         r"weights\[2\] contains NaN or inf \(in float32\): weights\[2\]\[0, 0\] = 1e\+300"),
        (1, np.array(["a", "b", "c", "d", "e"]), TypeError,
         r"weights\[1\] must hold real numbers, got dtype <U1 \(e\.g\. 'a'\)"),
        (3, new[3] + 1j, TypeError, r"weights\[3\] must hold real numbers, got dtype complex"),
        (0, None, TypeError, r"weights\[0\] must hold real numbers, got dtype object"),
    ]
    for index, value, exc, pattern in cases:
        bad = list(new)
        bad[index] = value
        raises(exc, pattern, model.set_weights, bad)
        # The arrays before the bad one were not copied in either.
        assert_same_weights(good, model.get_weights())
    model.set_weights(new)
    assert_same_weights(new, model.get_weights())


def test_dense_W_and_b_setters_are_checked():
    layer = Dense(3, 2)
    W, b = layer.W.copy(), layer.b.copy()
    raises(ValueError, r"W must have shape \(2, 3\), got \(3, 2\)", setattr, layer, "W", W.T)
    raises(ValueError, r"W contains NaN or inf \(in float32\): W\[1, 2\] = nan",
           setattr, layer, "W", _with(W, (1, 2), np.nan))
    raises(ValueError, r"W contains NaN or inf \(in float32\): W\[0, 1\] = -1e\+200",
           setattr, layer, "W", _with(W, (0, 1), -1e200, np.float64))
    raises(TypeError, r"W must hold real numbers, got dtype <U1 \(e\.g\. 'a'\)",
           setattr, layer, "W", np.full((2, 3), "a"))
    raises(TypeError, r"W must hold real numbers, got dtype complex", setattr, layer, "W",
           W + 1j)
    raises(ValueError, r"b must have shape \(2,\), got \(3,\)", setattr, layer, "b", [1, 2, 3])
    raises(ValueError, r"b contains NaN or inf \(in float32\): b\[0\] = inf",
           setattr, layer, "b", [np.inf, 0])
    np.testing.assert_array_equal(layer.W, W)
    np.testing.assert_array_equal(layer.b, b)
    raises(ValueError, r"this Dense layer has bias=False: it has no b to set",
           setattr, Dense(3, 2, bias=False), "b", [0, 0])
    # Good values of any real dtype are copied in place, in the layer's dtype.
    array = layer.W
    layer.W = [[1, 2, 3], [4, 5, 6]]
    assert layer.W is array and layer.W.dtype == np.float32
    np.testing.assert_array_equal(layer.W, [[1, 2, 3], [4, 5, 6]])
    layer.b = np.array([True, False])
    np.testing.assert_array_equal(layer.b, [1, 0])


# ------------------------------------------- good input in every form ---
def _readonly(X):
    X = X.copy()
    X.flags.writeable = False
    return X


def _strided(X):
    big = np.zeros((2 * X.shape[0], 3 * X.shape[1]), dtype=X.dtype)
    big[::2, 1::3] = X
    view = big[::2, 1::3]
    assert not view.flags.c_contiguous and not view.flags.f_contiguous
    return view


X_FORMS = {
    "list of lists": lambda X: X.tolist(),
    "tuple of tuples": lambda X: tuple(map(tuple, X.tolist())),
    "int64": lambda X: X.astype(np.int64),
    "int8": lambda X: X.astype(np.int8),
    "uint16": lambda X: X.astype(np.uint16),
    "float16": lambda X: X.astype(np.float16),
    "float64 C": lambda X: X.astype(np.float64),
    "float64 Fortran": lambda X: np.asfortranarray(X.astype(np.float64)),
    "float32 Fortran": lambda X: np.asfortranarray(X),
    "float32 read-only": _readonly,
    "float64 read-only Fortran": lambda X: _readonly(np.asfortranarray(X.astype(np.float64))),
    "float32 non-contiguous slice": _strided,
    "float64 non-contiguous slice": lambda X: _strided(X.astype(np.float64)),
    "matrix": lambda X: np.asmatrix(X),
}


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
@pytest.mark.parametrize("model_dtype", ["float32", "float64"])
@pytest.mark.parametrize("form", sorted(X_FORMS))
def test_any_array_like_X_trains_like_the_C_contiguous_array(form, model_dtype):
    X, y = make_data()
    reference_X = np.ascontiguousarray(X, dtype=model_dtype)
    expected = trained_weights(reference_X, y, dtype=model_dtype)
    X_form = X_FORMS[form](X)
    assert_same_weights(expected, trained_weights(X_form, y, dtype=model_dtype))
    model = make_model(seed=3, dtype=model_dtype)
    np.testing.assert_array_equal(model.predict_proba(X_form), model.predict_proba(reference_X))
    assert model.evaluate(X_form, y) == model.evaluate(reference_X, y)
    if isinstance(X_form, np.ndarray) and not X_form.flags.writeable:
        assert not X_form.flags.writeable        # the user's array was not touched


def test_bool_X_trains_like_zeros_and_ones():
    X, y = make_data()
    mask = X > 2
    assert_same_weights(trained_weights(mask.astype(np.float32), y), trained_weights(mask, y))


def test_read_only_labels_are_accepted():
    X, y = make_data()
    y_ro = y.astype(np.int64)
    y_ro.flags.writeable = False
    assert_same_weights(trained_weights(X, y), trained_weights(X, y_ro))


Y_FORMS = {
    "int32": lambda y: y.astype(np.int32),
    "uint8": lambda y: y.astype(np.uint8),
    "list": lambda y: y.tolist(),
    "whole floats": lambda y: y.astype(np.float64),
    "whole float32": lambda y: y.astype(np.float32),
    "one-hot float": lambda y: _onehot(y),
    "one-hot int": lambda y: _onehot(y).astype(np.int64),
    "one-hot bool": lambda y: _onehot(y).astype(bool),
    "one-hot list": lambda y: _onehot(y).tolist(),
    "one-hot Fortran": lambda y: np.asfortranarray(_onehot(y)),
    "non-contiguous": lambda y: np.repeat(y, 2)[::2],
}


@pytest.mark.parametrize("form", sorted(Y_FORMS))
def test_any_label_form_trains_like_integer_labels(form):
    X, y = make_data()
    y_form = Y_FORMS[form](y)
    assert_same_weights(trained_weights(X, y), trained_weights(X, y_form))
    model = make_model()
    assert model.evaluate(X, y_form) == model.evaluate(X, y)
    assert_same_weights(model.gradients(X, y_form)[0], model.gradients(X, y)[0])


def test_whole_float_label_is_accepted_and_half_is_refused():
    X, y = make_data()
    model = make_model()
    y_float = y.astype(np.float64)
    y_float[0] = 2.0
    model.evaluate(X, y_float)
    y_float[0] = 2.5
    raises(ValueError, r"y must hold integer class labels, got y\[0\] = 2\.5",
           model.evaluate, X, y_float)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_check_X_does_not_copy_an_array_already_in_shape(dtype):
    X = np.ascontiguousarray(make_data()[0], dtype=dtype)
    assert check_X(X, N_IN, np.dtype(dtype)) is X
    other = "float64" if dtype == "float32" else "float32"
    converted = check_X(X, N_IN, np.dtype(other))
    assert converted.dtype == other and converted.flags.c_contiguous
    assert not np.shares_memory(converted, X)
    fortran = check_X(np.asfortranarray(X), N_IN, np.dtype(dtype))
    assert fortran.flags.c_contiguous and fortran.dtype == dtype
    # The compiled loop only reads X: a read-only array is used as is, not copied.
    ro = _readonly(X)
    assert check_X(ro, N_IN, np.dtype(dtype)) is ro


def test_fit_neither_copies_a_ready_data_set_nor_converts_per_epoch(monkeypatch):
    gen = np.random.default_rng(1)
    X = gen.random((8000, 250), dtype=np.float32)            # 8 MB
    y = gen.integers(0, 10, size=8000)
    model = Sequential([Dense(250, 10, "softmax")], seed=0)
    fit(model, X[:50], y[:50], epochs=1)                       # warm up lazy imports
    tracemalloc.start()
    try:
        # The batch-sized buffers of the compiled loop take ~0.3 MB here.
        fit(model, X, y, epochs=3, batch_size=100)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < X.nbytes / 4, f"fit allocated {peak} bytes for a {X.nbytes}-byte X"

    calls = []

    def counting_check_X(*args, **kwargs):
        calls.append(kwargs.get("name", "X"))
        return check_X(*args, **kwargs)

    monkeypatch.setattr(fastnn.data, "check_X", counting_check_X)
    X64 = np.asfortranarray(X[:200], dtype=np.float64)
    fit(model, X64, y[:200], epochs=4, validation_data=(X64, y[:200]))
    assert calls == ["X", "X_val"]


# ------------------------------------------------- divergence keeps weights ---
def test_a_nan_loss_stops_fit_and_keeps_the_weights_it_started_with():
    X, y = make_data()
    model = Sequential([Dense(N_IN, 8, "relu"), Dense(8, N_OUT)], loss="mse", seed=0)
    fit(model, X, y, epochs=1)
    before = model.get_weights()
    raises(TrainingDivergedError,
           r"the loss became NaN or inf at epoch 0 \(0-based\), step \d+ of 4; the weights "
           r"and the optimizer state from the end of the last finite epoch were restored\. "
           r".*lr=1e\+20",
           fit, model, X, y, epochs=3, optimizer=SGD(lr=1e20))
    assert_same_weights(before, model.get_weights())
    # The model is still usable.
    fit(model, X, y, epochs=1)
    assert all(np.isfinite(w).all() for w in model.get_weights())


class _RaiseRateAfter(Callback):
    """Saves the weights at the end of epoch ``epoch`` and sets a huge rate."""

    def __init__(self, optimizer, epoch):
        self.optimizer, self.epoch, self.saved = optimizer, epoch, None

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            self.saved = self.model.get_weights()
            self.optimizer.lr = 1e30


def test_divergence_in_a_later_epoch_keeps_the_last_finite_epoch():
    X, y = make_data()
    model = Sequential([Dense(N_IN, 8, "relu"), Dense(8, N_OUT)], loss="mse", seed=0)
    optimizer = SGD(lr=0.05)
    callback = _RaiseRateAfter(optimizer, epoch=1)
    raises(TrainingDivergedError, r"at epoch 2 \(0-based\), step \d+ of 4",
           fit, model, X, y, epochs=6, optimizer=optimizer, callbacks=[callback])
    assert_same_weights(callback.saved, model.get_weights())
    assert model.history.epoch == [0, 1]


def test_weights_that_overflow_while_the_loss_stays_finite_are_not_kept():
    # One batch per epoch: the only update of epoch 0 overflows the weights
    # after the (finite) loss was computed.
    X, y = make_data()
    model = Sequential([Dense(N_IN, N_OUT)], loss="mse", seed=0)
    before = model.get_weights()
    raises(TrainingDivergedError, r"the weights became NaN or inf during epoch 0 \(0-based\)",
           fit, model, X * 1e6, y, epochs=3, batch_size=N, optimizer=SGD(lr=1e30))
    assert_same_weights(before, model.get_weights())


# ------------------------------------------------------ extreme but valid ---
def _one_example_huge_batch():
    X, y = make_data()
    model = make_model()
    history = model.fit(X[:1], y[:1], epochs=2, batch_size=1000, verbose=0)
    assert len(history.history["loss"]) == 2
    assert all(np.isfinite(history.history["loss"]))
    assert model.predict(X[:1]).shape == (1,)


def _one_example_in_order():
    X, y = make_data()
    model = make_model()
    model.fit(X[:1], y[:1], epochs=1, batch_size=1, shuffle=False, verbose=0)
    assert all(np.isfinite(w).all() for w in model.get_weights())


def _batch_size_beyond_int32():
    X, y = make_data()
    make_model().fit(X, y, epochs=1, batch_size=2 ** 62, verbose=0)


def _last_batch_of_one_row():
    X, y = make_data()
    history = make_model().fit(X, y, epochs=1, batch_size=N - 1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def _single_input_unit():
    X, y = make_data()
    model = Sequential([Dense(1, 3, "softmax")], seed=0)
    model.fit(X[:, :1], y, epochs=2, batch_size=4, verbose=0)
    assert model.predict_proba([[2.0]]).shape == (1, 3)


def _one_by_one_logistic():
    X, y = make_data()
    model = Sequential([Dense(1, 1, "sigmoid")], loss="binary_cross_entropy", seed=0)
    model.fit(X[:, :1], y % 2, epochs=2, verbose=0)
    assert set(model.predict(X[:, :1]).tolist()) <= {0, 1}


def _predict_single_row():
    X, _ = make_data()
    model = make_model()
    p = model.predict_proba(X[3:4])
    assert p.shape == (1, N_OUT)
    np.testing.assert_allclose(p.sum(), 1, rtol=1e-6)
    # One row goes through gemv, a batch through gemm: the BLAS may round the
    # two differently in the last bit (it does with OpenBLAS's AVX-512 kernels).
    np.testing.assert_allclose(p, model.predict_proba(X)[3:4], rtol=5e-7, atol=0)
    assert model(X[3:4].tolist()).shape == (1, N_OUT)


def _gradients_and_evaluate_on_one_row():
    X, y = make_data()
    model = make_model()
    (dW1, db1), (dW2, db2) = model.gradients(X[:1], y[:1])
    assert dW1.shape == (N_HIDDEN, N_IN) and db2.shape == (N_OUT,)
    result = model.evaluate(X[:1], y[:1])
    assert result["accuracy"] in (0.0, 1.0) and np.isfinite(result["loss"])


def _predict_more_rows_than_a_block():
    X, _ = make_data()
    big = np.tile(X, (20, 1))[:513]        # two full inference blocks and one row
    model = make_model()
    p = model.predict_proba(big)
    np.testing.assert_array_equal(p[-1], model.predict_proba(big[-1:])[0])


def _dropout_first_and_zero():
    X, y = make_data()
    model = Sequential([Dropout(0.5), Dense(N_IN, 3, "relu"), Dropout(0.0),
                        Dense(3, N_OUT, "softmax")], seed=0)
    model.fit(X, y, epochs=2, batch_size=7, verbose=0)
    assert model.predict(X).shape == (N,)


def _one_class_only():
    X, _ = make_data()
    model = make_model()
    model.fit(X, np.zeros(N, dtype=int), epochs=2, verbose=0)
    assert model.evaluate(X, np.zeros(N, dtype=int))["accuracy"] >= 0


def _zeros_and_large_finite_X():
    model = make_model()
    model.fit(np.zeros((5, N_IN)), [0, 1, 2, 0, 1], epochs=1, verbose=0)
    big = np.full((5, N_IN), 1e30, dtype=np.float32)
    try:
        model.fit(big, [0, 1, 2, 0, 1], epochs=2, verbose=0)
    except TrainingDivergedError:
        pass
    assert all(np.isfinite(w).all() for w in model.get_weights())


EDGE_CASES = {f.__name__.lstrip("_"): f for f in [
    _one_example_huge_batch, _one_example_in_order, _batch_size_beyond_int32,
    _last_batch_of_one_row, _single_input_unit, _one_by_one_logistic, _predict_single_row,
    _gradients_and_evaluate_on_one_row, _predict_more_rows_than_a_block,
    _dropout_first_and_zero, _one_class_only, _zeros_and_large_finite_X,
]}


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_extreme_but_valid_input_works(case):
    EDGE_CASES[case]()


def test_no_case_crashes_the_interpreter():
    """Run the extreme cases and a sample of the refused ones in a child
    interpreter, so that a segfault fails this test instead of killing the run."""
    script = textwrap.dedent("""
        import faulthandler, sys
        faulthandler.enable()
        sys.path.insert(0, sys.argv[1])
        import test_validation as t
        for case in t.EDGE_CASES.values():
            case()
        for make_bad, exc, _ in t.BAD_X.values():
            X, y = t.make_data()
            for call, _ in t.X_ENTRY_POINTS.values():
                try:
                    call(t.make_model(), make_bad(X), y)
                except exc:
                    pass
        print("survived")
    """)
    # The child imports the fastnn this process imported (installed or built in place).
    result = subprocess.run([sys.executable, "-c", script, os.path.dirname(__file__)],
                            capture_output=True, text=True, env=child_env(), timeout=120,
                            cwd=CHILD_CWD)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("survived")
