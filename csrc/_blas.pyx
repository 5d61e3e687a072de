# cython: language_level=3
"""Python twins of the BLAS door (csrc/blas.pxd), for the tests and the graph path.

They accept 2-D arrays in C or Fortran order, and row-strided views (a slice of
rows or columns of a C array): a Fortran array is handed to the door as the
transpose of a C array. Outputs are written in place and returned.
``gemm`` on contiguous operands (the graph path's usual case) reads them
through the NumPy C API, at a fraction of a microsecond per call; anything
else takes the general, memoryview path.
"""

import numpy as np
cimport numpy as cnp
from cython cimport floating

cimport blas
from threads cimport (ThreadPolicy, set_threads_fn, product_work, use_threads_for,
                     restore_threads)

# The per-GEMM thread policy of fastnn/blas_threads.py (set_local NULL until it
# is pushed here). Each call works on its own copy, so concurrent callers do
# not share the "current count" bookkeeping.
cdef ThreadPolicy _policy
cdef bint _ready = False

cnp.import_array()


cdef int _ensure_ready() except -1:
    """At the first call: load SciPy's BLAS and fastnn's thread policy (kept
    out of ``import fastnn``, which then needs no scipy.linalg)."""
    global _ready
    if not _ready:
        blas.load_blas()
        from fastnn import blas_threads
        blas_threads.policy()       # pushes the policy here (set_thread_policy)
        _ready = True
    return 0


def set_thread_policy(Py_ssize_t address, int max_threads, double min_work):
    """Install the BLAS's thread-local setter (address 0: none) and the policy:
    GEMMs with m*n*k < min_work run on one thread, larger ones on max_threads."""
    _policy.set_local = <set_threads_fn>address if address else NULL
    _policy.max_threads = max_threads
    _policy.min_work = min_work
    _policy.current = 0
    _policy.prior = 0


cdef inline bint _as_rows(const floating[:, :] A, int* ld) noexcept:
    """Describe A to the row-major door: returns True when A must be read
    transposed (it is Fortran-like) and sets its leading dimension."""
    cdef Py_ssize_t item = sizeof(floating)
    if ((A.shape[1] <= 1 or A.strides[1] == item)
            and (A.shape[0] <= 1 or A.strides[0] >= max(A.shape[1], 1) * item)):
        ld[0] = <int>max(A.strides[0] // item, max(A.shape[1], 1))
        return False
    ld[0] = <int>max(A.strides[1] // item, max(A.shape[0], 1))
    return True


def _check_unit_stride(name, a):
    """The door reads a matrix as rows (or columns) at a fixed distance: one axis
    must have unit stride and the other must not make rows overlap (a broadcast
    view with stride 0 would be read as different data)."""
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {a.shape}")
    if a.size == 0:
        return
    item = a.itemsize
    rows, cols = a.shape
    s0, s1 = a.strides
    c_like = (cols <= 1 or s1 == item) and (rows <= 1 or s0 >= max(cols, 1) * item)
    f_like = (rows <= 1 or s0 == item) and (cols <= 1 or s1 >= max(rows, 1) * item)
    if not (c_like or f_like):
        raise ValueError(f"{name} must have unit stride along one axis and non-overlapping "
                         f"rows/columns, got shape {a.shape} and strides {a.strides} (a "
                         f"broadcast view? pass np.ascontiguousarray({name}))")


def gemm(A, B, C=None, bint trans_a=False, bint trans_b=False, alpha=1.0, beta=0.0):
    """C = alpha * op(A) @ op(B) + beta * C; op(X) is X.T when trans_x.

    A, B, C: 2-D arrays of one dtype (float32 or float64); C (m, n) is created
    (zeros) when None and must have unit stride along its rows or columns.
    """
    _ensure_ready()
    done = _gemm_contiguous(A, B, C, trans_a, trans_b, alpha, beta)
    if done is not None:
        return done
    for name, a in (("A", A), ("B", B)):
        _check_unit_stride(name, a)
    m = A.shape[1] if trans_a else A.shape[0]
    k = A.shape[0] if trans_a else A.shape[1]
    kb = B.shape[1] if trans_b else B.shape[0]
    n = B.shape[0] if trans_b else B.shape[1]
    if k != kb:
        raise ValueError(f"gemm: op(A) has shape {(m, k)} and op(B) has shape {(kb, n)}")
    if C is None:
        C = np.zeros((m, n), dtype=A.dtype)
    _check_unit_stride("C", C)
    if C.shape != (m, n):
        raise ValueError(f"gemm: C has shape {C.shape}, expected {(m, n)}")
    if not (A.dtype == B.dtype == C.dtype) or A.dtype not in (np.float32, np.float64):
        raise TypeError(f"gemm: A, B, C must share float32 or float64, got "
                        f"{A.dtype}, {B.dtype}, {C.dtype}")
    if C.strides[1] != C.itemsize and C.shape[1] > 1:
        # Fortran-like C: compute C^T = op(B)^T op(A)^T, which is C-like.
        gemm(B, A, C.T, not trans_b, not trans_a, alpha, beta)
        return C
    _gemm(A, B, C, trans_a, trans_b, alpha, beta)
    return C


cdef inline int _layout(object a, int typenum, bint writable):
    """1 when a is a C-contiguous 2-D ndarray of dtype ``typenum`` with no empty
    axis (and writable when asked), 2 when it is such an array in Fortran
    order (a transposed view), 0 otherwise."""
    if not cnp.PyArray_Check(a):
        return 0
    cdef cnp.ndarray arr = <cnp.ndarray>a
    if (cnp.PyArray_NDIM(arr) != 2 or cnp.PyArray_TYPE(arr) != typenum
            or cnp.PyArray_DIM(arr, 0) == 0 or cnp.PyArray_DIM(arr, 1) == 0
            or (writable and not cnp.PyArray_ISWRITEABLE(arr))):
        return 0
    if cnp.PyArray_IS_C_CONTIGUOUS(arr):
        return 1
    return 2 if cnp.PyArray_IS_F_CONTIGUOUS(arr) else 0


cdef object _gemm_contiguous(object A, object B, object C, bint trans_a, bint trans_b,
                             double alpha, double beta):
    """``gemm`` for the graph path's usual operands, read straight from the
    arrays (no memoryviews, no Python-level stride checks): A and B contiguous
    in C or Fortran order (a Fortran A is the transpose of a C array), C (when
    given) C-contiguous, one float dtype, nothing empty. Returns C, or None
    (nothing done) for any other operands, which the general path then checks
    and runs."""
    cdef cnp.npy_intp dims[2]
    if not cnp.PyArray_Check(A):
        return None
    cdef int typenum = cnp.PyArray_TYPE(<cnp.ndarray>A)
    if typenum != cnp.NPY_FLOAT32 and typenum != cnp.NPY_FLOAT64:
        return None
    cdef int layout_a = _layout(A, typenum, False), layout_b = _layout(B, typenum, False)
    if layout_a == 0 or layout_b == 0 or (C is not None and _layout(C, typenum, True) != 1):
        return None
    cdef cnp.ndarray a = <cnp.ndarray>A, b = <cnp.ndarray>B
    cdef int ra = <int>cnp.PyArray_DIM(a, 0), ca = <int>cnp.PyArray_DIM(a, 1)
    cdef int rb = <int>cnp.PyArray_DIM(b, 0), cb = <int>cnp.PyArray_DIM(b, 1)
    cdef int m = ca if trans_a else ra, k = ra if trans_a else ca
    cdef int kb = cb if trans_b else rb, n = rb if trans_b else cb
    if k != kb:
        raise ValueError(f"gemm: op(A) has shape {(m, k)} and op(B) has shape {(kb, n)}")
    # The door reads row-major operands: a Fortran-order one is its transpose.
    cdef bint ta = trans_a ^ (layout_a == 2), tb = trans_b ^ (layout_b == 2)
    cdef int lda = ra if layout_a == 2 else ca, ldb = rb if layout_b == 2 else cb
    if C is None:
        # A GEMM with beta = 0 never reads C; a product the door sends to
        # gemv/ger (a side of 1) starts from zeros, as the general path does.
        dims[0], dims[1] = m, n
        if m == 1 or n == 1 or k == 1:
            C = cnp.PyArray_ZEROS(2, dims, typenum, 0)
        else:
            C = cnp.PyArray_EMPTY(2, dims, typenum, 0)
        beta = 0.0
    cdef cnp.ndarray c = <cnp.ndarray>C
    if cnp.PyArray_DIM(c, 0) != m or cnp.PyArray_DIM(c, 1) != n:
        raise ValueError(f"gemm: C has shape {C.shape}, expected {(m, n)}")
    cdef ThreadPolicy tp = _policy
    with nogil:
        use_threads_for(&tp, product_work(m, n, k))
        if typenum == cnp.NPY_FLOAT32:
            blas.gemm(ta, tb, m, n, k, <float>alpha, <const float*>cnp.PyArray_DATA(a), lda,
                      <const float*>cnp.PyArray_DATA(b), ldb, <float>beta,
                      <float*>cnp.PyArray_DATA(c), n)
        else:
            blas.gemm(ta, tb, m, n, k, alpha, <const double*>cnp.PyArray_DATA(a), lda,
                      <const double*>cnp.PyArray_DATA(b), ldb, beta,
                      <double*>cnp.PyArray_DATA(c), n)
        restore_threads(&tp)
    return C


def _gemm(const floating[:, :] A, const floating[:, :] B, floating[:, :] C, bint trans_a,
           bint trans_b, floating alpha, floating beta):
    cdef int lda, ldb, ldc
    cdef bint ta = trans_a ^ _as_rows(A, &lda)
    cdef bint tb = trans_b ^ _as_rows(B, &ldb)
    _as_rows(C, &ldc)
    cdef int m = C.shape[0], n = C.shape[1]
    cdef int k = A.shape[0] if trans_a else A.shape[1]
    if m == 0 or n == 0:
        return
    if k == 0:
        for i in range(m):
            for j in range(n):
                C[i, j] = beta * C[i, j] if beta != 0 else 0
        return
    cdef ThreadPolicy tp = _policy
    with nogil:
        use_threads_for(&tp, product_work(m, n, k))
        blas.gemm(ta, tb, m, n, k, alpha, &A[0, 0], lda, &B[0, 0], ldb, beta, &C[0, 0], ldc)
        restore_threads(&tp)


def gemv(A, x, y=None, bint trans_a=False, alpha=1.0, beta=0.0):
    """y = alpha * op(A) @ x + beta * y for 2-D A and 1-D x, y (one dtype)."""
    _ensure_ready()
    _check_unit_stride("A", A)
    rows = A.shape[1] if trans_a else A.shape[0]
    cols = A.shape[0] if trans_a else A.shape[1]
    if x.ndim != 1 or x.shape[0] != cols:
        raise ValueError(f"gemv: op(A) has shape {(rows, cols)} and x has shape {x.shape}")
    if y is None:
        y = np.zeros(rows, dtype=A.dtype)
    if y.ndim != 1 or y.shape[0] != rows:
        raise ValueError(f"gemv: y has shape {y.shape}, expected {(rows,)}")
    for name, v in (("x", x), ("y", y)):
        # BLAS walks a negative increment from the lowest address, not from &v[0].
        if v.shape[0] > 1 and v.strides[0] <= 0:
            raise ValueError(f"gemv: {name} needs a positive stride, got strides {v.strides}")
    if not (A.dtype == x.dtype == y.dtype) or A.dtype not in (np.float32, np.float64):
        raise TypeError(f"gemv: A, x, y must share float32 or float64, got "
                        f"{A.dtype}, {x.dtype}, {y.dtype}")
    _gemv(A, x, y, trans_a, alpha, beta)
    return y


def _gemv(const floating[:, :] A, const floating[:] x, floating[:] y, bint trans_a,
           floating alpha, floating beta):
    cdef int lda
    cdef bint ta = trans_a ^ _as_rows(A, &lda)
    cdef int m = A.shape[1] if ta != trans_a else A.shape[0]
    cdef int n = A.shape[0] if ta != trans_a else A.shape[1]
    cdef int incx = x.strides[0] // sizeof(floating), incy = y.strides[0] // sizeof(floating)
    if y.shape[0] == 0:
        return
    if x.shape[0] == 0:
        for i in range(y.shape[0]):
            y[i] = beta * y[i] if beta != 0 else 0
        return
    cdef ThreadPolicy tp = _policy
    with nogil:
        use_threads_for(&tp, product_work(m, 1, n))
        blas.gemv(ta, m, n, alpha, &A[0, 0], lda, &x[0], incx, beta, &y[0], incy)
        restore_threads(&tp)


def _check_vectors(name, *vectors):
    for v in vectors:
        if v.ndim != 1:
            raise ValueError(f"{name}: vectors must be 1-D, got shape {v.shape}")
        if v.strides[0] <= 0 and v.shape[0] > 1:
            raise ValueError(f"{name}: vectors need a positive stride, got {v.strides}")
    if len({v.shape[0] for v in vectors}) > 1:
        raise ValueError(f"{name}: lengths differ: {[v.shape[0] for v in vectors]}")
    dtypes = {v.dtype for v in vectors}
    if len(dtypes) != 1 or vectors[0].dtype not in (np.float32, np.float64):
        raise TypeError(f"{name}: vectors must share float32 or float64, got {dtypes}")


def axpy(alpha, x, y):
    """y = alpha * x + y, in place; returns y."""
    _ensure_ready()
    _check_vectors("axpy", x, y)
    if x.shape[0]:
        _axpy(x, y, alpha)
    return y


def _axpy(const floating[:] x, floating[:] y, floating alpha):
    blas.axpy(<int>x.shape[0], alpha, &x[0], <int>(x.strides[0] // sizeof(floating)),
              &y[0], <int>(y.strides[0] // sizeof(floating)))


def scal(alpha, x):
    """x = alpha * x, in place; returns x."""
    _ensure_ready()
    _check_vectors("scal", x)
    if x.shape[0]:
        _scal(x, alpha)
    return x


def _scal(floating[:] x, floating alpha):
    blas.scal(<int>x.shape[0], alpha, &x[0], <int>(x.strides[0] // sizeof(floating)))


def dot(x, y):
    """Return sum_i x_i * y_i as a Python float."""
    _ensure_ready()
    _check_vectors("dot", x, y)
    if not x.shape[0]:
        return 0.0
    return _dot(x, y)


def _dot(const floating[:] x, const floating[:] y):
    return blas.dot(<int>x.shape[0], &x[0], <int>(x.strides[0] // sizeof(floating)),
                    &y[0], <int>(y.strides[0] // sizeof(floating)))
