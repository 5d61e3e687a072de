"""The BLAS door (``fastnn._blas``) against NumPy.

Every product is checked for both dtypes, both transpose flags and four memory
layouts of each operand: C order, Fortran order, a row-strided slice of a larger
C array (leading dimension > number of columns) and the transpose of such a
slice (Fortran-like with a leading dimension > number of rows). Slices live
inside a sentinel-filled parent so that a wrong leading dimension, which would
write outside the view, is caught.

The reference is NumPy in float64. An entry of ``alpha op(A) op(B) + beta C`` is
accepted when its error is below ``rtol * (|alpha| |op(A)| |op(B)| + |beta| |C|)``,
the scale of the terms that were summed (so cancellation cannot make a correct
float32 result fail, nor a wrong one pass).
"""

import contextlib
import re

import numpy as np
import pytest

from fastnn import _blas, blas_threads

LAYOUTS = ["C", "F", "C_slice", "F_slice"]
SENTINEL = 12345.0
ALPHA_BETA = [(-1.5, 0.75), (0.3, 2.0)]


def place(values, layout, dtype):
    """Return ``(view, parent)``: ``view`` holds ``values`` in ``layout``;
    ``parent`` is the whole array the view lives in (the view itself unless
    it is a slice)."""
    r, c = values.shape
    if layout == "C":
        a = np.array(values, dtype=dtype, order="C")     # always a copy
        return a, a
    if layout == "F":
        a = np.array(values, dtype=dtype, order="F")
        return a, a
    if layout == "C_slice":
        parent = np.full((r + 3, c + 5), SENTINEL, dtype=dtype)
        view = parent[1:1 + r, 2:2 + c]
    elif layout == "F_slice":
        parent = np.full((c + 4, r + 5), SENTINEL, dtype=dtype)
        view = parent[2:2 + c, 1:1 + r].T
    else:
        raise AssertionError(layout)
    view[...] = values
    return view, parent


def outside(parent, view):
    """The entries of C-ordered ``parent`` that ``view`` does not cover (a copy)."""
    mask = np.ones(parent.size, dtype=bool)
    if view.size:
        item = parent.itemsize
        offset = (view.__array_interface__["data"][0]
                  - parent.__array_interface__["data"][0]) // item
        flat = (offset + np.arange(view.shape[0])[:, None] * (view.strides[0] // item)
                + np.arange(view.shape[1])[None, :] * (view.strides[1] // item))
        mask[flat.reshape(-1)] = False
    return parent.reshape(-1)[mask].copy()


def assert_close_to(got, want, scale, rtol):
    """|got - want| <= rtol * scale elementwise (scale: the summed magnitudes)."""
    got = np.asarray(got, dtype=np.float64)
    err = np.abs(got - want)
    limit = rtol * scale + 1e-300
    bad = ~(err <= limit)
    assert not bad.any(), (
        f"{bad.sum()} entries off; worst error {err.max():.3g} vs limit "
        f"{limit[bad].min():.3g}\ngot\n{got}\nwant\n{want}")


def test_place_builds_the_layouts_it_claims():
    values = np.arange(15.0).reshape(3, 5)
    flags = {}
    for layout in LAYOUTS:
        view, parent = place(values, layout, np.float64)
        np.testing.assert_array_equal(view, values)
        flags[layout] = (view.flags.c_contiguous, view.flags.f_contiguous)
        assert np.all(outside(parent, view) == SENTINEL)
        assert outside(parent, view).size == parent.size - view.size
    assert flags == {"C": (True, False), "F": (False, True),
                     "C_slice": (False, False), "F_slice": (False, False)}


# ------------------------------------------------------------------ gemm ---

@pytest.mark.parametrize("layout_c", LAYOUTS)
@pytest.mark.parametrize("layout_b", LAYOUTS)
@pytest.mark.parametrize("layout_a", LAYOUTS)
@pytest.mark.parametrize("trans_b", [False, True], ids=["N", "T"])
@pytest.mark.parametrize("trans_a", [False, True], ids=["N", "T"])
# (1, k, n), (m, k, 1) and (m, 1, n) take the door's gemv/ger shortcuts.
@pytest.mark.parametrize("m, k, n", [(5, 3, 7), (1, 3, 7), (5, 3, 1), (5, 1, 7), (1, 1, 1)],
                         ids=["gemm", "row", "column", "outer", "scalar"])
def test_gemm_matches_numpy(dtype, tol, trans_a, trans_b, layout_a, layout_b, layout_c, m, k, n):
    gen = np.random.default_rng([LAYOUTS.index(layout_a), LAYOUTS.index(layout_b),
                                 LAYOUTS.index(layout_c), trans_a, trans_b, m, k, n])
    a = gen.standard_normal((k, m) if trans_a else (m, k))
    b = gen.standard_normal((n, k) if trans_b else (k, n))
    a, b = a.astype(dtype), b.astype(dtype)        # exact values both sides see
    op_a = (a.T if trans_a else a).astype(np.float64)
    op_b = (b.T if trans_b else b).astype(np.float64)
    for alpha, beta in ALPHA_BETA + [(0.3, 0.0), (0.7, 1.0)]:
        A, A_parent = place(a, layout_a, dtype)
        B, B_parent = place(b, layout_b, dtype)
        c0 = gen.standard_normal((m, n)).astype(dtype)
        if beta == 0:
            c0[...] = np.nan      # BLAS: beta = 0 means C is not read
        C, C_parent = place(c0, layout_c, dtype)
        A_before, B_before, C_outside = A_parent.copy(), B_parent.copy(), outside(C_parent, C)

        out = _blas.gemm(A, B, C, trans_a=trans_a, trans_b=trans_b, alpha=alpha, beta=beta)

        assert out is C
        assert C.dtype == dtype
        want = alpha * op_a @ op_b
        scale = abs(alpha) * np.abs(op_a) @ np.abs(op_b)
        if beta != 0:
            want = want + beta * c0.astype(np.float64)
            scale = scale + abs(beta) * np.abs(c0.astype(np.float64))
        assert_close_to(C, want, scale, tol["rtol"])
        np.testing.assert_array_equal(A_parent, A_before)   # inputs untouched
        np.testing.assert_array_equal(B_parent, B_before)
        np.testing.assert_array_equal(outside(C_parent, C), C_outside)


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("trans_b", [False, True], ids=["N", "T"])
@pytest.mark.parametrize("trans_a", [False, True], ids=["N", "T"])
# The vector shapes go through gemv/ger, which add to the C they are given.
@pytest.mark.parametrize("m, k, n", [(4, 9, 3), (1, 9, 3), (4, 9, 1), (4, 1, 3)],
                         ids=["gemm", "row", "column", "outer"])
def test_gemm_allocates_c_when_none(dtype, tol, trans_a, trans_b, order, m, k, n, rng):
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype, order=order)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype, order=order)
    C = _blas.gemm(a, b, None, trans_a, trans_b, alpha=-0.7, beta=0.5)
    assert C.shape == (m, n) and C.dtype == dtype
    op_a = (a.T if trans_a else a).astype(np.float64)
    op_b = (b.T if trans_b else b).astype(np.float64)
    assert_close_to(C, -0.7 * op_a @ op_b, 0.7 * np.abs(op_a) @ np.abs(op_b), tol["rtol"])


@pytest.mark.parametrize("trans_b", [False, True], ids=["N", "T"])
@pytest.mark.parametrize("trans_a", [False, True], ids=["N", "T"])
def test_gemm_with_k_zero_scales_c_by_beta(dtype, trans_a, trans_b):
    m, n = 3, 4
    A = np.empty((0, m) if trans_a else (m, 0), dtype=dtype)
    B = np.empty((n, 0) if trans_b else (0, n), dtype=dtype)
    C = np.full((m, n), np.nan, dtype=dtype)
    _blas.gemm(A, B, C, trans_a, trans_b, alpha=2.0, beta=0.0)
    np.testing.assert_array_equal(C, np.zeros((m, n)))
    C = np.arange(m * n, dtype=dtype).reshape(m, n)
    _blas.gemm(A, B, C, trans_a, trans_b, alpha=2.0, beta=-0.5)
    np.testing.assert_array_equal(C, -0.5 * np.arange(m * n).reshape(m, n))
    C = _blas.gemm(A, B, None, trans_a, trans_b, alpha=2.0)
    np.testing.assert_array_equal(C, np.zeros((m, n)))


@pytest.mark.parametrize("m, k, n", [(0, 3, 4), (3, 4, 0), (0, 0, 0), (0, 5, 0)])
def test_gemm_with_empty_output(dtype, m, k, n):
    A = np.ones((m, k), dtype=dtype)
    B = np.ones((k, n), dtype=dtype)
    C = _blas.gemm(A, B)
    assert C.shape == (m, n) and C.dtype == dtype
    C2 = np.empty((m, n), dtype=dtype)
    assert _blas.gemm(A, B, C2, alpha=2.0, beta=0.5) is C2


def test_gemm_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=re.escape("(2, 3)") + ".*" + re.escape("(4, 5)")):
        _blas.gemm(np.ones((2, 3)), np.ones((4, 5)))
    # With transposes, the shapes of op(A) and op(B) are named.
    with pytest.raises(ValueError, match=re.escape("(2, 3)") + ".*" + re.escape("(5, 4)")):
        _blas.gemm(np.ones((3, 2)), np.ones((4, 5)), trans_a=True, trans_b=True)


def test_gemm_wrong_c_shape_names_both_shapes():
    with pytest.raises(ValueError, match=re.escape("(3, 2)") + ".*" + re.escape("(2, 3)")):
        _blas.gemm(np.ones((2, 4)), np.ones((4, 3)), np.zeros((3, 2)))


@pytest.mark.parametrize("which", ["A", "B", "C"])
def test_gemm_mixed_dtypes_raise_type_error(which):
    arrays = {"A": np.ones((2, 3)), "B": np.ones((3, 4)), "C": np.zeros((2, 4))}
    arrays[which] = arrays[which].astype(np.float32)
    with pytest.raises(TypeError, match="float32"):
        _blas.gemm(arrays["A"], arrays["B"], arrays["C"])


def test_gemm_integer_arrays_raise_type_error():
    with pytest.raises(TypeError, match="int64"):
        _blas.gemm(np.ones((2, 3), dtype=np.int64), np.ones((3, 4), dtype=np.int64))


def test_gemm_rejects_arrays_without_a_unit_stride():
    big = np.ones((6, 8))
    with pytest.raises(ValueError, match="A"):
        _blas.gemm(big[::2, ::2], np.ones((4, 2)))
    with pytest.raises(ValueError, match="C"):
        _blas.gemm(np.ones((3, 4)), np.ones((4, 4)), big[::2, ::2])


# ------------------------------------------------------------------ gemv ---

def strided_vector(values, stride, dtype):
    """(view, parent): values at every ``stride``-th place of a sentinel array."""
    parent = np.full(max(len(values) * stride + 1, 1), SENTINEL, dtype=dtype)
    view = parent[1::stride][:len(values)]
    view[...] = values
    return view, parent


@pytest.mark.parametrize("stride_y", [1, 3])
@pytest.mark.parametrize("stride_x", [1, 2])
@pytest.mark.parametrize("layout_a", LAYOUTS)
@pytest.mark.parametrize("trans_a", [False, True], ids=["N", "T"])
def test_gemv_matches_numpy(dtype, tol, trans_a, layout_a, stride_x, stride_y):
    gen = np.random.default_rng([LAYOUTS.index(layout_a), trans_a, stride_x, stride_y])
    m, n = 5, 7       # op(A) is m x n
    a = gen.standard_normal((n, m) if trans_a else (m, n)).astype(dtype)
    x = gen.standard_normal(n).astype(dtype)
    op_a = (a.T if trans_a else a).astype(np.float64)
    for alpha, beta in ALPHA_BETA + [(0.3, 0.0), (0.7, 1.0)]:
        A, A_parent = place(a, layout_a, dtype)
        X, X_parent = strided_vector(x, stride_x, dtype)
        y0 = gen.standard_normal(m).astype(dtype)
        if beta == 0:
            y0[...] = np.nan
        Y, Y_parent = strided_vector(y0, stride_y, dtype)
        A_before, X_before = A_parent.copy(), X_parent.copy()

        out = _blas.gemv(A, X, Y, trans_a=trans_a, alpha=alpha, beta=beta)

        assert out is Y
        want = alpha * op_a @ x.astype(np.float64)
        scale = abs(alpha) * np.abs(op_a) @ np.abs(x.astype(np.float64))
        if beta != 0:
            want = want + beta * y0.astype(np.float64)
            scale = scale + abs(beta) * np.abs(y0.astype(np.float64))
        assert_close_to(Y, want, scale, tol["rtol"])
        np.testing.assert_array_equal(A_parent, A_before)
        np.testing.assert_array_equal(X_parent, X_before)
        gaps = np.ones(Y_parent.shape, dtype=bool)
        gaps[1::stride_y][:m] = False
        assert np.all(Y_parent[gaps] == SENTINEL)


def test_gemv_allocates_y_when_none(dtype, tol, rng):
    a = rng.standard_normal((4, 6)).astype(dtype)
    x = rng.standard_normal(4).astype(dtype)
    y = _blas.gemv(a, x, trans_a=True, alpha=1.25)
    assert y.shape == (6,) and y.dtype == dtype
    a64, x64 = a.astype(np.float64), x.astype(np.float64)
    assert_close_to(y, 1.25 * a64.T @ x64, 1.25 * np.abs(a64.T) @ np.abs(x64), tol["rtol"])


@pytest.mark.parametrize("trans_a", [False, True], ids=["N", "T"])
def test_gemv_with_empty_x_scales_y_by_beta(dtype, trans_a):
    A = np.empty((0, 3) if trans_a else (3, 0), dtype=dtype)
    x = np.empty(0, dtype=dtype)
    y = np.full(3, np.nan, dtype=dtype)
    _blas.gemv(A, x, y, trans_a, alpha=2.0, beta=0.0)
    np.testing.assert_array_equal(y, np.zeros(3))
    y = np.array([1.0, -2.0, 4.0], dtype=dtype)
    _blas.gemv(A, x, y, trans_a, alpha=2.0, beta=0.5)
    np.testing.assert_array_equal(y, [0.5, -1.0, 2.0])


@pytest.mark.parametrize("trans_a", [False, True], ids=["N", "T"])
def test_gemv_with_empty_output(dtype, trans_a):
    A = np.ones((4, 0) if trans_a else (0, 4), dtype=dtype)
    y = _blas.gemv(A, np.ones(4, dtype=dtype), trans_a=trans_a)
    assert y.shape == (0,) and y.dtype == dtype


def test_gemv_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=re.escape("(4, 3)") + ".*" + re.escape("(5,)")):
        _blas.gemv(np.ones((4, 3)), np.ones(5))
    with pytest.raises(ValueError, match=re.escape("(6,)") + ".*" + re.escape("(4,)")):
        _blas.gemv(np.ones((4, 3)), np.ones(3), np.zeros(6))


@pytest.mark.parametrize("which", ["A", "x", "y"])
def test_gemv_mixed_dtypes_raise_type_error(which):
    arrays = {"A": np.ones((2, 3)), "x": np.ones(3), "y": np.zeros(2)}
    arrays[which] = arrays[which].astype(np.float32)
    with pytest.raises(TypeError, match="float32"):
        _blas.gemv(arrays["A"], arrays["x"], arrays["y"])


@pytest.mark.parametrize("which", ["x", "y"])
def test_gemv_rejects_vectors_with_negative_stride(which):
    # BLAS reads a negative increment backwards from the *lowest* address; the
    # door hands it &v[0], so such a vector must be refused, not misread.
    vectors = {"x": np.arange(1.0, 4.0), "y": np.zeros(2)}
    vectors[which] = vectors[which][::-1]
    with pytest.raises(ValueError, match="stride"):
        _blas.gemv(np.ones((2, 3)), vectors["x"], vectors["y"])


# ------------------------------------------------------ axpy, scal, dot ---

@pytest.mark.parametrize("n", [0, 1, 7])
@pytest.mark.parametrize("stride_y", [1, 3])
@pytest.mark.parametrize("stride_x", [1, 2])
def test_axpy_matches_numpy(dtype, tol, stride_x, stride_y, n):
    gen = np.random.default_rng([n, stride_x, stride_y])
    x = gen.standard_normal(n).astype(dtype)
    y0 = gen.standard_normal(n).astype(dtype)
    X, X_parent = strided_vector(x, stride_x, dtype)
    Y, Y_parent = strided_vector(y0, stride_y, dtype)
    X_before = X_parent.copy()
    assert _blas.axpy(-1.75, X, Y) is Y
    x64, y64 = x.astype(np.float64), y0.astype(np.float64)
    assert_close_to(Y, -1.75 * x64 + y64, 1.75 * np.abs(x64) + np.abs(y64), tol["rtol"])
    np.testing.assert_array_equal(X_parent, X_before)
    gaps = np.ones(Y_parent.shape, dtype=bool)
    gaps[1::stride_y][:n] = False
    assert np.all(Y_parent[gaps] == SENTINEL)


@pytest.mark.parametrize("n", [0, 1, 7])
@pytest.mark.parametrize("stride", [1, 3])
def test_scal_matches_numpy(dtype, tol, stride, n):
    gen = np.random.default_rng([n, stride])
    x0 = gen.standard_normal(n).astype(dtype)
    X, X_parent = strided_vector(x0, stride, dtype)
    assert _blas.scal(0.37, X) is X
    x64 = x0.astype(np.float64)
    assert_close_to(X, 0.37 * x64, 0.37 * np.abs(x64), tol["rtol"])
    gaps = np.ones(X_parent.shape, dtype=bool)
    gaps[1::stride][:n] = False
    assert np.all(X_parent[gaps] == SENTINEL)


@pytest.mark.parametrize("n", [0, 1, 7, 1001])
@pytest.mark.parametrize("stride_y", [1, 3])
@pytest.mark.parametrize("stride_x", [1, 2])
def test_dot_matches_numpy(dtype, tol, stride_x, stride_y, n):
    gen = np.random.default_rng([n, stride_x, stride_y])
    x = gen.standard_normal(n).astype(dtype)
    y = gen.standard_normal(n).astype(dtype)
    X, _ = strided_vector(x, stride_x, dtype)
    Y, _ = strided_vector(y, stride_y, dtype)
    got = _blas.dot(X, Y)
    assert isinstance(got, float)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    # float32 accumulates n terms: allow the usual n * eps growth beyond rtol.
    rtol = tol["rtol"] * max(1.0, n / 100) if dtype == np.float32 else tol["rtol"]
    assert_close_to(np.array([got]), np.array([x64 @ y64]),
                    np.array([np.abs(x64) @ np.abs(y64)]), rtol)


@pytest.mark.parametrize("name", ["axpy", "dot"])
def test_vector_length_mismatch_names_both_lengths(name):
    args = (np.ones(7), np.ones(11))
    call = (lambda: _blas.axpy(1.0, *args)) if name == "axpy" else (lambda: _blas.dot(*args))
    with pytest.raises(ValueError, match=r"\b7\b.*\b11\b"):
        call()


@pytest.mark.parametrize("name", ["axpy", "dot"])
def test_vector_mixed_dtypes_raise_type_error(name):
    args = (np.ones(3, dtype=np.float32), np.ones(3))
    call = (lambda: _blas.axpy(1.0, *args)) if name == "axpy" else (lambda: _blas.dot(*args))
    with pytest.raises(TypeError, match="float32"):
        call()


@pytest.mark.parametrize("name", ["axpy", "scal", "dot"])
def test_vectors_with_negative_stride_are_rejected(name):
    x = np.arange(4.0)[::-1]
    calls = {"axpy": lambda: _blas.axpy(1.0, x, np.zeros(4)),
             "scal": lambda: _blas.scal(2.0, x),
             "dot": lambda: _blas.dot(np.ones(4), x)}
    with pytest.raises(ValueError, match="stride"):
        calls[name]()


@pytest.mark.parametrize("name", ["axpy", "scal", "dot"])
def test_vector_functions_reject_matrices(name):
    M = np.ones((2, 3))
    calls = {"axpy": lambda: _blas.axpy(1.0, M, M), "scal": lambda: _blas.scal(2.0, M),
             "dot": lambda: _blas.dot(M, M)}
    with pytest.raises(ValueError, match=re.escape("(2, 3)")):
        calls[name]()


# ----------------------------------------------- the ops vocabulary's BLAS ---

@pytest.mark.parametrize("trans", [(False, False), (True, False), (False, True), (True, True)],
                         ids=["NN", "TN", "NT", "TT"])
def test_ops_blas_methods_agree_with_numpy(ops_impl, dtype, tol, trans):
    # NumpyOps and CompiledOps share BLAS semantics: beta = 0 ignores C's contents.
    trans_a, trans_b = trans
    gen = np.random.default_rng(77)
    m, k, n = 3, 5, 2
    a = gen.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = gen.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    x = gen.standard_normal(k).astype(dtype)
    op_a = (a.T if trans_a else a).astype(np.float64)
    op_b = (b.T if trans_b else b).astype(np.float64)
    scale = np.abs(op_a) @ np.abs(op_b)

    C = np.full((m, n), np.nan, dtype=dtype)
    assert ops_impl.gemm(a, b, C, trans_a, trans_b, alpha=-2.0, beta=0.0) is C
    assert_close_to(C, -2.0 * op_a @ op_b, 2.0 * scale, tol["rtol"])
    c0 = C.astype(np.float64)
    ops_impl.gemm(a, b, C, trans_a, trans_b, alpha=0.5, beta=1.5)
    assert_close_to(C, 0.5 * op_a @ op_b + 1.5 * c0, 0.5 * scale + 1.5 * np.abs(c0), tol["rtol"])
    fresh = ops_impl.gemm(a, b, None, trans_a, trans_b, alpha=3.0)
    assert fresh.dtype == dtype
    assert_close_to(fresh, 3.0 * op_a @ op_b, 3.0 * scale, tol["rtol"])

    A = op_a.astype(dtype)                        # C-ordered (m, k) for gemv
    y = np.full(m, np.nan, dtype=dtype)
    assert ops_impl.gemv(A, x, y, alpha=0.25, beta=0.0) is y
    x64 = x.astype(np.float64)
    assert_close_to(y, 0.25 * op_a @ x64, 0.25 * np.abs(op_a) @ np.abs(x64), tol["rtol"])
    yt = ops_impl.gemv(A, y, None, trans_a=True, alpha=1.0)
    y64 = y.astype(np.float64)
    assert yt.dtype == dtype
    assert_close_to(yt, op_a.T @ y64, np.abs(op_a.T) @ np.abs(y64), tol["rtol"])

    z = x.copy()
    assert ops_impl.axpy(-0.5, x, z) is z
    np.testing.assert_allclose(z, 0.5 * x64, **tol)
    assert ops_impl.scal(4.0, z) is z
    np.testing.assert_allclose(z, 2.0 * x64, **tol)
    got = ops_impl.dot(x, z)
    assert isinstance(got, float)
    np.testing.assert_allclose(got, 2.0 * x64 @ x64, rtol=tol["rtol"])


def test_gemm_rejects_broadcast_views_whose_rows_overlap():
    # A stride-0 view would be read by BLAS as different rows of memory.
    A = np.broadcast_to(np.arange(3.0), (4, 3))
    with pytest.raises(ValueError, match=r"A must have unit stride .* strides \(0, 8\)"):
        _blas.gemm(A, np.eye(3))
    np.testing.assert_array_equal(_blas.gemm(np.ascontiguousarray(A), np.eye(3)), A)


# Shapes past OpenBLAS's small-kernel limit that the door cuts into pieces when
# the product runs on one thread: the forward form X W^T (rows cut, a narrow and
# a wide layer), the weight-gradient form D^T X (column blocks of dW, or the
# batch when even a narrow block is over the limit), each with a remainder
# piece; and one that is left whole (too wide to cut). Each also runs on the
# default policy, which leaves the larger ones whole on two threads.
@pytest.mark.parametrize("trans_a, trans_b, m, k, n", [
    (False, True, 100, 784, 30), (False, True, 515, 784, 30), (False, True, 100, 784, 100),
    (True, False, 30, 100, 784), (True, False, 30, 515, 784), (True, False, 30, 1000, 784),
    (False, True, 64, 784, 400),
], ids=["forward", "forward-remainder", "forward-wide", "dW-columns", "dW-columns-remainder",
        "dW-batch", "whole"])
@pytest.mark.parametrize("alpha, beta", [(1.0, 0.0), (-0.3, 0.9), (0.5, 1.0)])
@pytest.mark.parametrize("threads", ["one", "default"])
def test_gemm_in_small_pieces_matches_numpy(dtype, tol, trans_a, trans_b, m, k, n, alpha, beta,
                                            threads):
    policy = blas_threads.limited(1) if threads == "one" else contextlib.nullcontext()
    gen = np.random.default_rng([m, k, n])
    a = gen.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = gen.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    c0 = gen.standard_normal((m, n)).astype(dtype)
    C = c0.copy()
    with policy:
        _blas.gemm(a, b, C, trans_a=trans_a, trans_b=trans_b, alpha=alpha, beta=beta)
    op_a = (a.T if trans_a else a).astype(np.float64)
    op_b = (b.T if trans_b else b).astype(np.float64)
    want = alpha * op_a @ op_b + beta * c0
    scale = abs(alpha) * np.abs(op_a) @ np.abs(op_b) + abs(beta) * np.abs(c0)
    assert_close_to(C, want, scale, tol["rtol"])
