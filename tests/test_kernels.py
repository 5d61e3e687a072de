"""The compiled kernels against their NumPy specification, and the references
themselves against calculus.

- ``CompiledOps`` (the machine code the fast path runs) is compared with
  ``NumpyOps`` (the reference) on every kernel, in float32 and float64,
  including saturating inputs (+-100, +-1000) that must give no NaN or inf.
- The references are checked independently: activation pairs and loss
  gradients by central differences in float64, losses against their
  definitions, softmax rows against summing to one.
- The PRNG (``fastnn._kernels.Rng``): reproducibility, range, moments, the
  dropout rate and the uniformity of the shuffle, with statistical bounds of
  five standard errors (or a chi-square quantile at 1e-6).
"""

import numpy as np
import pytest
from scipy.special import expit
from scipy.stats import chi2

from fastnn._kernels import ACTIVATION_CODES, LOSS_CODES, OPTIMIZER_CODES, Rng
from fastnn._train import CompiledNet, DataSet
from fastnn import Tensor
from fastnn.activations import ACTIVATIONS, get_activation
from fastnn.losses import LOSSES
from fastnn.ops import (CompiledOps, NumpyOps, sigmoid_binary_cross_entropy_reference,
                        softmax_cross_entropy_reference, squared_error_reference, targets)
from fastnn.optimizers import SGD

REFERENCE, COMPILED = NumpyOps(), CompiledOps()
ACTIVATION_NAMES = ["identity", "sigmoid", "tanh", "relu", "softmax", "exp"]
ELEMENTWISE = [name for name in ACTIVATION_NAMES if name != "softmax"]
# exp overflows on the extreme rows of ``logits``: it has its own test on its range.
BOUNDED = [name for name in ACTIVATION_NAMES if name != "exp"]


def logits(dtype, seed=0, rows=7, cols=5):
    """Pre-activations of order one plus rows of extreme values."""
    gen = np.random.default_rng(seed)
    a = 3 * gen.standard_normal((rows, max(cols, 5)))
    a[0] = [100.0, -100.0, 1000.0, -1000.0, 0.0]
    a[1] = -1000.0                                   # a softmax row of equal logits
    a[2] = [0.0, 1e-3, -1e-3, 50.0, -50.0]
    a[3] = [-1000.0, 1000.0, 999.0, -100.0, 100.0]
    return a[:, :cols].astype(dtype)


def test_activation_table_is_complete_and_codes_match_the_kernels():
    assert sorted(ACTIVATIONS) == sorted(ACTIVATION_NAMES)
    assert sorted(ACTIVATION_CODES) == sorted(ACTIVATION_NAMES)
    assert {name: ACTIVATIONS[name].code for name in ACTIVATION_NAMES} == ACTIVATION_CODES
    assert get_activation(None) is ACTIVATIONS["identity"]
    with pytest.raises(ValueError, match="'swish'"):
        get_activation("swish")


def test_compiled_ops_override_every_reference_op_and_inherit_its_docs():
    import inspect
    names = [name for name, fn in vars(NumpyOps).items()
             if callable(fn) and not name.startswith("_")]
    assert "gemm" in names and "adam_update" in names
    for name in names:
        assert vars(CompiledOps).get(name) is not None, name
        assert inspect.getdoc(getattr(CompiledOps, name)) == inspect.getdoc(getattr(NumpyOps, name))
    assert isinstance(COMPILED, NumpyOps)


# --------------------------------------------------------------- bias_add ---

@pytest.mark.parametrize("shape", [(6, 5), (1, 1), (0, 3), (3, 0)])
def test_bias_add(dtype, tol, shape):
    gen = np.random.default_rng(1)
    Y = gen.standard_normal(shape).astype(dtype)
    b = gen.standard_normal(shape[1]).astype(dtype)
    want = REFERENCE.bias_add(Y.copy(), b)
    got = Y.copy()
    assert COMPILED.bias_add(got, b) is got
    np.testing.assert_allclose(got, want, **tol)
    np.testing.assert_allclose(want, Y.astype(np.float64) + b, **tol)


def _twin_calls():
    """(twin, args, error type, message) for arrays the C-API twins must refuse."""
    from fastnn import _kernels
    f32, f64 = np.ones((4, 3), np.float32), np.ones((4, 3))
    read_only = np.ones((4, 3), np.float32)
    read_only.flags.writeable = False
    relu = ACTIVATION_CODES["relu"]
    return [
        (_kernels.bias_add, (f32.copy(), np.ones(4, np.float32)), ValueError,
         r"b has 4 values but Y has 3 columns"),
        (_kernels.bias_add, (f32.copy(), np.ones(3)), TypeError,
         r"b has dtype float64, but the first array has dtype float32"),
        (_kernels.bias_add, (read_only, np.ones(3, np.float32)), ValueError,
         r"Y is read-only"),
        (_kernels.add_column_sums, (f64, np.empty(4)), ValueError,
         r"out has 4 values but D has 3 columns"),
        (_kernels.activation_forward, (f32.T, relu), ValueError, r"Y must be C-contiguous"),
        (_kernels.activation_forward, (f32.astype(np.int32), relu), TypeError,
         r"Y must be a float32 or float64 array, got dtype int32"),
        (_kernels.activation_forward, ([1.0, 2.0], relu), TypeError,
         r"Y must be a numpy array, got list"),
        (_kernels.activation_backward, (f32, np.ones((3, 4), np.float32), relu), ValueError,
         r"G has 4 columns but Y has 3"),
        (_kernels.activation_backward, (f32, np.ones(5, np.float32), relu), ValueError,
         r"G has 5 elements but Y has 12"),
        (_kernels.sgd_update, (f32.copy(), np.ones(11, np.float32), None, 0.1), ValueError,
         r"G has 11 elements but W has 12"),
        (_kernels.sgd_update, (f32.copy(), f32, None, 0.1, 0.9), ValueError,
         r"momentum=0.9 needs a velocity V the size of W"),
        (_kernels.adam_update, (f32.copy(), f32, f32.copy(), np.ones(3, np.float32), 0.1, 0.9,
                                0.999, 1e-8, 1), ValueError, r"V has 3 elements but W has 12"),
    ]


@pytest.mark.parametrize("case", range(len(_twin_calls())))
def test_the_c_api_twins_name_the_bad_argument(case):
    twin, args, error, message = _twin_calls()[case]
    before = [a.copy() for a in args if isinstance(a, np.ndarray)]
    with pytest.raises(error, match=message):
        twin(*args)
    for a, b in zip([a for a in args if isinstance(a, np.ndarray)], before):
        np.testing.assert_array_equal(a, b)      # nothing was written


def test_the_c_api_twins_take_any_number_of_dimensions(dtype):
    # The elementwise twins read the last axis as the columns: a 3-D array and
    # its 2-D reshape give the same bits, softmax along the last axis included.
    from fastnn import _kernels
    x = np.random.default_rng(3).standard_normal((2, 3, 5)).astype(dtype)
    for name in ("sigmoid", "softmax"):
        flat, cube = x.reshape(6, 5).copy(), x.copy()
        _kernels.activation_forward(flat, ACTIVATION_CODES[name])
        _kernels.activation_forward(cube, ACTIVATION_CODES[name])
        np.testing.assert_array_equal(cube.reshape(6, 5), flat)
    b = np.arange(5, dtype=dtype)
    cube = x.copy()
    _kernels.bias_add(cube, b)
    np.testing.assert_array_equal(cube, x + b)


# -------------------------------------------------------------- forward ---

@pytest.mark.parametrize("name", BOUNDED)
def test_activation_forward_matches_reference(dtype, tol, name):
    a = logits(dtype)
    want = REFERENCE.activation_forward(a.copy(), name)
    got = a.copy()
    assert COMPILED.activation_forward(got, name) is got
    assert got.dtype == dtype
    assert np.all(np.isfinite(got)) and np.all(np.isfinite(want))
    np.testing.assert_allclose(got, want, **tol)


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_saturating_activations_saturate(ops_impl, dtype, name):
    a = np.array([[1000.0, 100.0, -100.0, -1000.0]], dtype=dtype)
    y = ops_impl.activation_forward(a, name)
    low = 0.0 if name == "sigmoid" else -1.0
    np.testing.assert_array_equal(y[0, [0, 1, 3]], [1.0, 1.0, low])
    if name == "sigmoid":
        # e^{-100} ~ 3.7e-44 is representable (a float32 subnormal): no cancellation to 0.
        assert 0 < y[0, 2] < 1e-40
    else:
        assert y[0, 2] == -1.0


def test_relu_forward_is_exact(ops_impl, dtype):
    a = np.array([[-1000.0, -1e-30, 0.0, 1e-30, 2.5, 1000.0]], dtype=dtype)
    y = ops_impl.activation_forward(a.copy(), "relu")
    np.testing.assert_array_equal(y, np.maximum(a, 0))


def test_softmax_rows_sum_to_one_and_saturate(ops_impl, dtype, tol):
    a = logits(dtype)
    p = ops_impl.activation_forward(a.copy(), "softmax")
    assert np.all(np.isfinite(p)) and np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=1, dtype=np.float64), 1.0, rtol=0, atol=5 * tol["rtol"])
    np.testing.assert_allclose(p[0], [0, 0, 1, 0, 0], atol=tol["atol"])   # 1000 wins
    np.testing.assert_allclose(p[1], 0.2, rtol=tol["rtol"])               # all equal
    e = np.exp(-1.0)                                                      # 1000 vs 999
    np.testing.assert_allclose(p[3], [0, 1 / (1 + e), e / (1 + e), 0, 0], rtol=10 * tol["rtol"],
                               atol=tol["atol"])


def test_softmax_is_shift_invariant(ops_impl, dtype, tol):
    a = logits(dtype, seed=3)[4:]
    p = ops_impl.activation_forward(a.copy(), "softmax")
    q = ops_impl.activation_forward((a + dtype.type(40)).copy(), "softmax")
    np.testing.assert_allclose(p, q, rtol=50 * tol["rtol"], atol=tol["atol"])


# ------------------------------------------------------------- backward ---

@pytest.mark.parametrize("name", BOUNDED)
def test_activation_backward_matches_reference(dtype, tol, name):
    a = logits(dtype, seed=5)
    a[5, :2] = 0.0                                     # relu's kink: derivative 0 at y = 0
    Y = REFERENCE.activation_forward(a.copy(), name)
    G = np.random.default_rng(6).standard_normal(Y.shape).astype(dtype)
    want = REFERENCE.activation_backward(Y, G.copy(), name)
    got = G.copy()
    Y_before = Y.copy()
    assert COMPILED.activation_backward(Y, got, name) is got
    np.testing.assert_array_equal(Y, Y_before)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, **tol)


def test_exp_activation_matches_reference_on_its_range(dtype, tol):
    # The Poisson loss's output (scikit-learn's MLPRegressor loss="poisson").
    a = (3 * np.random.default_rng(7).standard_normal((7, 5))).astype(dtype)
    want = REFERENCE.activation_forward(a.copy(), "exp")
    got = COMPILED.activation_forward(a.copy(), "exp")
    np.testing.assert_allclose(got, np.exp(a.astype(np.float64)), **tol)
    np.testing.assert_allclose(got, want, **tol)
    G = np.random.default_rng(8).standard_normal(a.shape).astype(dtype)
    np.testing.assert_allclose(COMPILED.activation_backward(want, G.copy(), "exp"), want * G,
                               **tol)


def test_relu_backward_zeroes_gradient_where_output_is_zero(ops_impl, dtype):
    Y = np.array([[0.0, 0.5, 0.0, 3.0]], dtype=dtype)
    G = np.array([[1.0, 2.0, -3.0, 4.0]], dtype=dtype)
    np.testing.assert_array_equal(ops_impl.activation_backward(Y, G, "relu"),
                                  [[0.0, 2.0, 0.0, 4.0]])


def test_softmax_backward_is_orthogonal_to_ones(ops_impl, dtype, tol):
    # The softmax Jacobian maps onto {d : sum d = 0}, since sum p = 1 always.
    Y = ops_impl.activation_forward(logits(dtype, seed=8)[4:].copy(), "softmax")
    G = np.random.default_rng(9).standard_normal(Y.shape).astype(dtype)
    D = ops_impl.activation_backward(Y, G, "softmax")
    np.testing.assert_allclose(D.sum(axis=1, dtype=np.float64), 0, atol=10 * tol["atol"])


# ---------------------------------------- activation pairs vs calculus ---

def numerical_derivative(f, a, h=1e-6):
    """Central difference (f(a + h) - f(a - h)) / 2h elementwise, float64."""
    return (f(a + h) - f(a - h)) / (2 * h)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_activation_derivative_from_output_matches_central_differences(name):
    gen = np.random.default_rng(11)
    a = gen.uniform(-4, 4, size=(6, 5))
    a[np.abs(a) < 0.05] = 0.5                          # away from relu's kink
    act = get_activation(name)
    analytic = act.derivative(act.forward(a))
    np.testing.assert_allclose(analytic, numerical_derivative(act.forward, a),
                               rtol=1e-7, atol=1e-9)
    G = gen.standard_normal(a.shape)
    np.testing.assert_allclose(act.backward(act.forward(a), G),
                               numerical_derivative(act.forward, a) * G, rtol=1e-7, atol=1e-9)


def test_softmax_backward_matches_central_differences():
    # delta = J^T g, i.e. the gradient of <g, softmax(a)> with respect to a.
    gen = np.random.default_rng(12)
    a = gen.standard_normal((4, 6)) * 2
    g = gen.standard_normal((4, 6))
    act = get_activation("softmax")
    numeric = np.zeros_like(a)
    h = 1e-6
    for j in range(a.shape[1]):
        step = np.zeros_like(a)
        step[:, j] = h
        numeric[:, j] = (np.sum(g * act.forward(a + step), axis=1)
                         - np.sum(g * act.forward(a - step), axis=1)) / (2 * h)
    np.testing.assert_allclose(act.backward(act.forward(a), g), numeric, rtol=1e-7, atol=1e-9)


# ----------------------------------------------------------------- losses ---

def loss_gradient_by_central_differences(loss_of, x, scale, h=1e-6):
    """d(scale * loss_of(x)) / dx by central differences, entry by entry."""
    grad = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        plus, minus = x.copy(), x.copy()
        plus[idx] += h
        minus[idx] -= h
        grad[idx] = scale * (loss_of(plus) - loss_of(minus)) / (2 * h)
    return grad


@pytest.mark.parametrize("case", ["softmax_ce", "sigmoid_bce_multi", "sigmoid_bce_single",
                                  "mse_multi", "mse_single"])
def test_loss_reference_gradient_matches_central_differences(case):
    gen = np.random.default_rng(13)
    rows, scale = 5, 1 / 5
    cols = 1 if case.endswith("single") else 4
    x = gen.standard_normal((rows, cols)) * 2
    labels = gen.integers(0, 2 if cols == 1 else cols, size=rows)
    reference = {"softmax_ce": softmax_cross_entropy_reference,
                 "sigmoid_bce_multi": sigmoid_binary_cross_entropy_reference,
                 "sigmoid_bce_single": sigmoid_binary_cross_entropy_reference,
                 "mse_multi": squared_error_reference,
                 "mse_single": squared_error_reference}[case]
    loss, grad = reference(x, labels, scale)
    assert isinstance(loss, float) and grad.shape == x.shape
    numeric = loss_gradient_by_central_differences(
        lambda z: reference(z, labels, scale)[0], x, scale)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_loss_references_match_their_definitions():
    # Definitions on probabilities, valid for moderate logits.
    gen = np.random.default_rng(14)
    a = gen.standard_normal((6, 4))
    labels = gen.integers(0, 4, size=6)
    p = np.exp(a) / np.exp(a).sum(axis=1, keepdims=True)
    loss, _ = softmax_cross_entropy_reference(a, labels, 1.0)
    np.testing.assert_allclose(loss, -np.sum(np.log(p[np.arange(6), labels])), rtol=1e-12)

    s = 1 / (1 + np.exp(-a))
    t = targets(labels, 4, np.float64)
    loss, _ = sigmoid_binary_cross_entropy_reference(a, labels, 1.0)
    np.testing.assert_allclose(loss, -np.sum(t * np.log(s) + (1 - t) * np.log(1 - s)),
                               rtol=1e-12)
    bits = labels % 2
    loss, _ = sigmoid_binary_cross_entropy_reference(a[:, :1], bits, 1.0)
    np.testing.assert_allclose(
        loss, -np.sum(bits * np.log(s[:, 0]) + (1 - bits) * np.log(1 - s[:, 0])), rtol=1e-12)

    loss, _ = squared_error_reference(s, labels, 1.0)
    np.testing.assert_allclose(loss, 0.5 * np.sum((s - t) ** 2), rtol=1e-12)


def classification_batch(dtype, cols=5):
    a = logits(dtype, seed=21, cols=cols)
    labels = np.arange(a.shape[0], dtype=np.int64) % cols
    labels[3] = 0                      # its logit is -1000, others up to 1000
    a[5] = [-1000.0, 2.0, 0.5, -1.0, 3.0][:cols]
    labels[5] = 0                      # the correct class has logit -1000
    return a, labels


def test_softmax_cross_entropy_matches_reference(dtype, tol):
    a, labels = classification_batch(dtype)
    scale = 1 / a.shape[0]
    A_ref, A_got = a.copy(), a.copy()
    loss_ref, delta_ref = REFERENCE.softmax_cross_entropy(A_ref, labels, scale)
    loss_got, delta_got = COMPILED.softmax_cross_entropy(A_got, labels, scale)
    assert isinstance(loss_got, float) and np.isfinite(loss_got)
    np.testing.assert_allclose(loss_got, loss_ref, rtol=tol["rtol"])
    assert delta_got.dtype == dtype and A_got.dtype == dtype
    np.testing.assert_allclose(delta_got, delta_ref, **tol)
    np.testing.assert_allclose(A_got, A_ref, **tol)          # A now holds the probabilities


def test_softmax_cross_entropy_properties(ops_impl, dtype, tol):
    a, labels = classification_batch(dtype)
    scale = 0.25
    A = a.copy()
    loss, delta = ops_impl.softmax_cross_entropy(A, labels, scale)
    a64 = a.astype(np.float64)
    # Independent: -log p_c = log sum_k e^{a_k - a_c}, summed over rows.
    per_row = np.logaddexp.reduce(a64 - a64[np.arange(len(labels)), labels][:, None], axis=1)
    assert np.isfinite(loss)
    np.testing.assert_allclose(loss, per_row.sum(), rtol=tol["rtol"])
    assert per_row[5] > 1000            # the -1000 logit row costs about 1000 + lse(rest)
    np.testing.assert_allclose(per_row[5], 1000 + np.logaddexp.reduce([2.0, 0.5, -1.0, 3.0]),
                               rtol=1e-12)
    np.testing.assert_allclose(A.sum(axis=1, dtype=np.float64), 1.0, atol=5 * tol["rtol"])
    onehot = targets(labels, a.shape[1], np.float64)
    np.testing.assert_allclose(delta, scale * (A.astype(np.float64) - onehot), **tol)
    np.testing.assert_allclose(delta.sum(axis=1, dtype=np.float64), 0, atol=10 * tol["atol"])


@pytest.mark.parametrize("cols", [1, 4])
def test_sigmoid_binary_cross_entropy_matches_reference(dtype, tol, cols):
    a = logits(dtype, seed=31, cols=cols)
    n_labels = 2 if cols == 1 else cols
    labels = np.random.default_rng(32).integers(0, n_labels, size=a.shape[0]).astype(np.int64)
    scale = 1 / a.shape[0]
    A_ref, A_got = a.copy(), a.copy()
    loss_ref, delta_ref = REFERENCE.sigmoid_binary_cross_entropy(A_ref, labels, scale)
    loss_got, delta_got = COMPILED.sigmoid_binary_cross_entropy(A_got, labels, scale)
    assert np.isfinite(loss_got)
    np.testing.assert_allclose(loss_got, loss_ref, rtol=tol["rtol"])
    np.testing.assert_allclose(delta_got, delta_ref, **tol)
    np.testing.assert_allclose(A_got, A_ref, **tol)


@pytest.mark.parametrize("cols", [1, 3])
def test_sigmoid_binary_cross_entropy_properties(ops_impl, dtype, tol, cols):
    # Logits +-1000 against both targets: losses 0 or 1000, never inf.
    a = np.array([[1000.0], [-1000.0], [1000.0], [-1000.0], [0.0], [2.0]])
    labels = np.array([1, 0, 0, 1, 1, 0], dtype=np.int64)
    if cols > 1:
        a = np.repeat(a, cols, axis=1) * np.array([1.0, -1.0, 0.5])
        labels = labels % cols
    a = a.astype(dtype)
    A = a.copy()
    loss, delta = ops_impl.sigmoid_binary_cross_entropy(A, labels, 0.5)
    a64 = a.astype(np.float64)
    t = targets(labels, cols, np.float64)
    # Independent: -log sigmoid(z) = logaddexp(0, -z) with z = a for t = 1, -a for t = 0.
    want = np.sum(np.where(t == 1, np.logaddexp(0, -a64), np.logaddexp(0, a64)))
    assert np.isfinite(loss)
    np.testing.assert_allclose(loss, want, rtol=tol["rtol"])
    np.testing.assert_allclose(A, expit(a64), **tol)
    np.testing.assert_allclose(delta, 0.5 * (A.astype(np.float64) - t), **tol)


@pytest.mark.parametrize("cols", [1, 4])
def test_squared_error_matches_reference(dtype, tol, cols):
    gen = np.random.default_rng(41)
    Y = gen.uniform(-1, 2, size=(9, cols)).astype(dtype)
    labels = gen.integers(0, 2 if cols == 1 else cols, size=9).astype(np.int64)
    Y_before = Y.copy()
    loss_ref, grad_ref = REFERENCE.squared_error(Y, labels, 0.2)
    loss_got, grad_got = COMPILED.squared_error(Y, labels, 0.2)
    np.testing.assert_array_equal(Y, Y_before)
    np.testing.assert_allclose(loss_got, loss_ref, rtol=tol["rtol"])
    np.testing.assert_allclose(grad_got, grad_ref, **tol)
    t = targets(labels, cols, np.float64)
    np.testing.assert_allclose(loss_got, 0.5 * np.sum((Y.astype(np.float64) - t) ** 2),
                               rtol=tol["rtol"])
    np.testing.assert_allclose(grad_got, 0.2 * (Y.astype(np.float64) - t), **tol)


# ---------------------------------------------------------- count_correct ---

def test_count_correct_argmax_by_hand(ops_impl, dtype):
    P = np.array([[0.1, 0.7, 0.2],     # argmax 1, label 1: right
                  [0.4, 0.4, 0.2],     # tie: the first maximum (0) counts; label 1: wrong
                  [0.4, 0.4, 0.2],     # same row, label 0: right
                  [0.3, 0.3, 0.4],     # argmax 2, label 0: wrong
                  [0.0, 0.0, 1.0]],    # argmax 2, label 2: right
                 dtype=dtype)
    labels = np.array([1, 1, 0, 0, 2], dtype=np.int64)
    assert ops_impl.count_correct(P, labels) == 3


def test_count_correct_single_column_by_hand(ops_impl, dtype):
    P = np.array([[0.9], [0.5], [0.5], [0.50001], [0.1], [0.2]], dtype=dtype)
    labels = np.array([1, 1, 0, 1, 0, 1], dtype=np.int64)
    # predictions (p > 0.5):  1, 0, 0, 1, 0, 0  -> right, wrong, right, right, right, wrong
    assert ops_impl.count_correct(P, labels) == 4


@pytest.mark.parametrize("cols", [1, 2, 10])
def test_count_correct_matches_reference(dtype, cols):
    gen = np.random.default_rng(51)
    P = gen.uniform(size=(200, cols)).astype(dtype)
    labels = gen.integers(0, max(cols, 2), size=200).astype(np.int64)
    got = COMPILED.count_correct(P, labels)
    assert isinstance(got, int)
    assert got == REFERENCE.count_correct(P, labels)
    pred = (P[:, 0] > 0.5) if cols == 1 else P.argmax(axis=1)
    assert got == int(np.sum(pred == labels))
    assert COMPILED.count_correct(P[:0], labels[:0]) == 0


# ------------------------------------------------------------------- Rng ---

def test_rng_same_seed_same_stream_different_seed_different_stream():
    a, b = Rng(2017).uniform(1000), Rng(2017).uniform(1000)
    np.testing.assert_array_equal(a, b)
    c = Rng(2018).uniform(1000)
    assert np.mean(a == c) < 0.01
    # The stream continues across calls.
    r = Rng(2017)
    np.testing.assert_array_equal(np.concatenate([r.uniform(300), r.uniform(700)]), a)
    assert Rng(0).uniform(5).std() > 0         # seed 0 is a valid, non-degenerate seed


def test_rng_uniform_range_and_moments():
    n = 10**6
    u = Rng(99).uniform(n)
    assert u.dtype == np.float64 and u.shape == (n,)
    assert u.min() >= 0.0 and u.max() < 1.0
    se_mean = np.sqrt(1 / 12 / n)
    assert abs(u.mean() - 0.5) < 5 * se_mean
    # Var(U) = 1/12; the sample variance has standard error sqrt(1/180 / n).
    assert abs(u.var() - 1 / 12) < 5 * np.sqrt(1 / 180 / n)
    counts = np.bincount((u * 10).astype(int), minlength=10)
    assert ((counts - n / 10) ** 2 / (n / 10)).sum() < chi2.isf(1e-6, 9)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_mask_rate_and_values(dtype, p):
    n = 10**6
    keep_value = 1 / (1 - p)
    mask = np.full(n, np.nan, dtype=dtype)
    Rng(7).dropout_mask(mask, p, keep_value)
    dropped = mask == 0
    assert abs(dropped.mean() - p) < 5 * np.sqrt(p * (1 - p) / n)
    assert np.all(mask[~dropped] == dtype.type(keep_value))      # exactly, no rounding drift
    again = np.empty(n, dtype=dtype)
    Rng(7).dropout_mask(again, p, keep_value)
    np.testing.assert_array_equal(again, mask)


def test_dropout_mask_edge_rates(dtype):
    mask = np.full(1000, np.nan, dtype=dtype)
    Rng(3).dropout_mask(mask, 0.0, 1.0)
    assert np.all(mask == 1)
    Rng(3).dropout_mask(mask, 1.0, 2.0)          # u < 1 always: everything dropped
    assert np.all(mask == 0)


@pytest.mark.parametrize("p, keep_value", [(0.3, 1 / 0.7), (0.5, 1.0)])
def test_compiled_dropout_mask_equals_reference(dtype, p, keep_value):
    shape = (37, 53)
    want = REFERENCE.dropout_mask(Rng(1234), shape, p, keep_value, dtype)
    got = COMPILED.dropout_mask(Rng(1234), shape, p, keep_value, dtype)
    assert got.shape == shape and got.dtype == dtype and want.dtype == dtype
    np.testing.assert_array_equal(got, want)
    assert 0 < np.mean(got == 0) < 1


def test_shuffle_is_a_deterministic_permutation():
    idx = np.arange(1000, dtype=np.int64)
    Rng(5).shuffle(idx)
    np.testing.assert_array_equal(np.sort(idx), np.arange(1000))
    assert np.mean(idx == np.arange(1000)) < 0.05
    again = np.arange(1000, dtype=np.int64)
    Rng(5).shuffle(again)
    np.testing.assert_array_equal(again, idx)
    other = np.arange(1000, dtype=np.int64)
    Rng(6).shuffle(other)
    assert np.mean(other == idx) < 0.05
    for n in (0, 1):
        tiny = np.arange(n, dtype=np.int64)
        Rng(5).shuffle(tiny)
        np.testing.assert_array_equal(tiny, np.arange(n))


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_each_loss_table_entry_is_one_loss(name, dtype):
    """The entry's code, reference, compiled kernel and graph function agree:
    summed loss and delta, and the graph's batch mean with its gradient."""
    entry = LOSSES[name]
    assert entry.code == LOSS_CODES[name]
    rng = np.random.default_rng(3)
    rows, cols = 6, 4
    labels = rng.integers(0, cols, size=rows)
    out = rng.normal(size=(rows, cols)).astype(dtype)
    if entry.output_activation is None:                 # mse takes the activated output
        out = get_activation("sigmoid").forward(out)
    ref_loss, ref_delta = getattr(REFERENCE, entry.kernel)(out.copy(), labels, 1 / rows)
    loss, delta = getattr(COMPILED, entry.kernel)(out.copy(), labels, 1 / rows)
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12}
    np.testing.assert_allclose(loss, ref_loss, **tol)
    np.testing.assert_allclose(delta, ref_delta, **tol)
    x = Tensor(out.copy(), requires_grad=True)
    value = entry.graph(x, labels)
    value.backward()
    np.testing.assert_allclose(float(value.data), ref_loss / rows, **tol)
    np.testing.assert_allclose(x.grad, ref_delta, **tol)


def test_code_mappings_are_distinct_per_concept():
    for codes in (ACTIVATION_CODES, LOSS_CODES, OPTIMIZER_CODES):
        assert len(set(codes.values())) == len(codes)
        assert all(isinstance(code, int) for code in codes.values())
    assert sorted(LOSS_CODES) == ["binary_cross_entropy", "cross_entropy", "mse", "poisson"]
    assert sorted(OPTIMIZER_CODES) == ["adagrad", "adam", "sgd"]


@pytest.mark.parametrize("seed", [0, 17, 2**63 + 5])
def test_shuffle_gives_the_order_of_a_compiled_epoch(seed):
    # A probe network that writes down when it saw each example: one identity
    # unit with weights w (n,) = 0, inputs the one-hot rows of I (n x n), targets
    # 1, squared error, batch 1, plain SGD with eta_t = 1 / (1 + t). Step t on
    # row k touches only w[k]: y = 0, delta = -1, so w[k] becomes eta_t exactly,
    # and t = 1 / w[k] - 1 is the position of row k in the epoch's order.
    n = 50
    W = np.zeros((1, n))
    layer = {"W": W, "b": None, "activation": ACTIVATION_CODES["identity"],
             "state_W": [np.zeros_like(W)]}
    net = CompiledNet([layer], np.float64, 1, LOSS_CODES["mse"], SGD(lr=1.0).config(),
                      seed=seed)
    net.train_epoch(DataSet(np.eye(n), labels=np.ones(n, dtype=np.int64)), True, 1.0, 1.0)
    position = np.rint(1 / W[0] - 1).astype(np.int64)
    np.testing.assert_array_equal(np.sort(position), np.arange(n))
    order = np.arange(n, dtype=np.int64)
    Rng(seed).shuffle(order)
    np.testing.assert_array_equal(order[position], np.arange(n))
    assert not np.array_equal(order, np.arange(n))


def test_shuffle_is_uniform():
    # Over many shuffles of 5 items, every item lands in every position equally
    # often and all 120 permutations occur equally often (chi-square bounds).
    n_items, n_shuffles = 5, 24000
    rng = Rng(42)
    counts = np.zeros((n_items, n_items))
    perms = {}
    for _ in range(n_shuffles):
        idx = np.arange(n_items, dtype=np.int64)
        rng.shuffle(idx)
        counts[np.arange(n_items), idx] += 1
        key = tuple(idx)
        perms[key] = perms.get(key, 0) + 1
    expected = n_shuffles / n_items
    assert ((counts[0] - expected) ** 2 / expected).sum() < chi2.isf(1e-6, n_items - 1)
    assert ((counts - expected) ** 2 / expected).sum() < chi2.isf(1e-6, (n_items - 1) ** 2)
    assert len(perms) == 120
    freq = np.array(list(perms.values()))
    assert ((freq - n_shuffles / 120) ** 2 / (n_shuffles / 120)).sum() < chi2.isf(1e-6, 119)


@pytest.mark.parametrize("shape", [(10, 30), (1, 7), (0, 4), (5, 1)])
@pytest.mark.parametrize("alpha, beta", [(1.0, 0.0), (-0.1, 1.0), (0.5, 0.25)])
def test_add_column_sums_matches_reference(dtype, tol, shape, alpha, beta):
    gen = np.random.default_rng(list(shape))
    D = gen.standard_normal(shape).astype(dtype)
    start = gen.standard_normal(shape[1]).astype(dtype)
    if beta == 0:
        start[...] = np.nan          # beta = 0: out is not read
    got = CompiledOps().add_column_sums(D, start.copy(), alpha, beta)
    want = NumpyOps().add_column_sums(D, start.copy(), alpha, beta)
    np.testing.assert_allclose(got, want, **tol)
    expected = alpha * D.astype(np.float64).sum(axis=0) + (beta * start if beta else 0)
    np.testing.assert_allclose(got, expected, rtol=10 * tol["rtol"], atol=10 * tol["atol"])


@pytest.mark.parametrize("shape", [(9, 40, 6), (1, 5, 3), (4, 7, 1), (3, 70, 33)])
def test_sparse_first_layer_kernels_match_reference(dtype, tol, shape):
    import scipy.sparse as sp
    from fastnn import _kernels
    rows, n_in, n_out = shape
    gen = np.random.default_rng(list(shape))
    X = sp.random(rows, n_in, density=0.2, random_state=gen, format="csr", dtype=dtype)
    W = gen.standard_normal((n_out, n_in)).astype(dtype)
    D = gen.standard_normal((rows, n_out)).astype(dtype)
    G0 = gen.standard_normal((n_in, n_out)).astype(dtype)
    WT = np.ascontiguousarray(W.T)       # the feature-major layout (Dense.feature_major)
    for ops in (CompiledOps(), NumpyOps()):
        np.testing.assert_allclose(ops.csr_times_wt(X, WT, np.empty((rows, n_out), dtype)),
                                   X.toarray() @ W.T, **tol)
        got = ops.add_csr_outer(X, D, G0.copy(), -0.5)
        np.testing.assert_allclose(got, G0 - 0.5 * X.toarray().T @ D, **tol)
        absent = np.setdiff1d(np.arange(n_in), X.indices)
        np.testing.assert_array_equal(got[absent], G0[absent])  # untouched features
        cleared = ops.zero_csr_rows(X, got)
        np.testing.assert_array_equal(cleared[absent], G0[absent])
        assert not cleared[np.unique(X.indices)].any()
    # A shuffled batch: rows order[start:start + rows] of a larger matrix.
    big = sp.vstack([sp.random(3, n_in, density=0.3, random_state=1, dtype=dtype), X]).tocsr()
    order = np.concatenate([np.arange(3, 3 + rows)[::-1], np.arange(3)]).astype(np.int64)
    out = np.empty((rows, n_out), dtype)
    args = (big.data, big.indices.astype(np.int64), big.indptr.astype(np.int64))
    _kernels.csr_times_wt(*args, np.ascontiguousarray(W.T), out, order=order, start=0)
    np.testing.assert_allclose(out, X.toarray()[::-1] @ W.T, **tol)
    G = G0.copy()
    _kernels.add_csr_outer(*args, D, G, 2.0, order=order, start=0)
    np.testing.assert_allclose(G, G0 + 2 * X.toarray()[::-1].T @ D, **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_first_non_finite_finds_the_first_nan_or_inf_like_numpy(dtype):
    """The bit test behind check_X against np.isfinite: every kind of value
    (the largest finite, subnormals, -0 are finite), positions on both sides
    of the kernel's 256-value blocks, several bad values, none, and empty."""
    from fastnn._kernels import first_non_finite

    def reference(a):
        bad = np.flatnonzero(~np.isfinite(a))
        return int(bad[0]) if bad.size else -1

    info = np.finfo(dtype)
    rng = np.random.default_rng(0)
    base = rng.standard_normal(1000).astype(dtype)
    base[[3, 700]] = [info.max, -info.max]
    base[[10, 600]] = [info.smallest_subnormal, -0.0]
    assert first_non_finite(base) == reference(base) == -1
    for value in (np.nan, -np.nan, np.inf, -np.inf):
        for positions in ([0], [255], [256], [511, 512], [999], [300, 40, 900]):
            a = base.copy()
            a[positions] = value
            assert first_non_finite(a) == reference(a) == min(positions), (value, positions)
    assert first_non_finite(np.empty(0, dtype)) == -1
