# cython: language_level=3
"""Python twins of the BLAS door (csrc/blas.pxd), for the tests and the graph path.

They accept 2-D arrays in C or Fortran order, and row-strided views (a slice of
rows or columns of a C array): a Fortran array is handed to the door as the
transpose of a C array. Outputs are written in place and returned.
The matrix twins read their arrays through the NumPy C API (a fraction of a
microsecond per call: the graph path makes several per step).
"""

import numpy as np
cimport numpy as cnp
from cython cimport floating

cimport blas
from threads cimport ThreadPolicy, set_threads_fn, use_threads_for, restore_threads

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
    _policy.want = 1
    _policy.team = NULL        # the twins' pieces run on the calling thread


cdef struct Matrix:
    # A 2-D array as the row-major door reads it: a C-like array is itself, a
    # Fortran-like one the transpose of a C-like array (``transposed``).
    char* data
    Py_ssize_t rows, cols
    int ld
    bint transposed


cdef int _describe(str name, object a, Matrix* out) except -1:
    """Fill ``out`` for the 2-D ndarray ``a``, read through the NumPy C API.
    One axis must have unit stride and the other must not make rows overlap
    (a broadcast view with stride 0 would be read as different data)."""
    if not cnp.PyArray_Check(a):
        raise TypeError(f"{name} must be a numpy array, got {type(a).__name__}")
    cdef cnp.ndarray arr = <cnp.ndarray>a
    if cnp.PyArray_NDIM(arr) != 2:
        raise ValueError(f"{name} must be 2-D, got shape {a.shape}")
    cdef Py_ssize_t rows = cnp.PyArray_DIM(arr, 0), cols = cnp.PyArray_DIM(arr, 1)
    cdef Py_ssize_t s0 = cnp.PyArray_STRIDE(arr, 0), s1 = cnp.PyArray_STRIDE(arr, 1)
    cdef Py_ssize_t item = cnp.PyArray_ITEMSIZE(arr)
    out.data, out.rows, out.cols = <char*>cnp.PyArray_DATA(arr), rows, cols
    if rows * cols == 0 or ((cols <= 1 or s1 == item) and (rows <= 1 or s0 >= cols * item)):
        out.transposed = False
        out.ld = <int>max(s0 // item, max(cols, 1))
    elif (rows <= 1 or s0 == item) and (cols <= 1 or s1 >= rows * item):
        out.transposed = True
        out.ld = <int>max(s1 // item, max(rows, 1))
    else:
        raise ValueError(f"{name} must have unit stride along one axis and non-overlapping "
                         f"rows/columns, got shape {a.shape} and strides {a.strides} (a "
                         f"broadcast view? pass np.ascontiguousarray({name}))")
    return 0


cdef int _float_type(str op, str names, tuple arrays) except -1:
    """The NumPy type number the arrays share, float32 or float64."""
    cdef int typenum = cnp.PyArray_TYPE(<cnp.ndarray?>arrays[0])
    for a in arrays:
        if cnp.PyArray_TYPE(<cnp.ndarray?>a) != typenum:
            typenum = -1
    if typenum != cnp.NPY_FLOAT32 and typenum != cnp.NPY_FLOAT64:
        raise TypeError(f"{op}: {names} must share float32 or float64, got "
                        f"{', '.join(str(a.dtype) for a in arrays)}")
    return typenum


cdef int _writable(str name, object a) except -1:
    if not cnp.PyArray_ISWRITEABLE(<cnp.ndarray>a):
        raise ValueError(f"{name} is read-only (the result is written into it)")
    return 0


def gemm(A, B, C=None, bint trans_a=False, bint trans_b=False, double alpha=1.0,
         double beta=0.0):
    """C = alpha * op(A) @ op(B) + beta * C; op(X) is X.T when trans_x.

    A, B, C: 2-D arrays of one dtype (float32 or float64); C (m, n) is created
    when None (as if zeros) and must have unit stride along its rows or columns.
    """
    _ensure_ready()
    cdef Matrix a, b, c
    _describe("A", A, &a)
    _describe("B", B, &b)
    cdef Py_ssize_t m = a.cols if trans_a else a.rows, k = a.rows if trans_a else a.cols
    cdef Py_ssize_t kb = b.cols if trans_b else b.rows, n = b.rows if trans_b else b.cols
    if k != kb:
        raise ValueError(f"gemm: op(A) has shape {(m, k)} and op(B) has shape {(kb, n)}")
    cdef cnp.npy_intp dims[2]
    if C is None:
        # beta = 0: a GEMM never reads C, but gemv/ger (a side of 1) add to it.
        dims[0], dims[1] = m, n
        vector = m == 1 or n == 1 or k <= 1
        C = cnp.PyArray_ZEROS(2, dims, cnp.PyArray_TYPE(<cnp.ndarray>A), 0) if vector else \
            cnp.PyArray_EMPTY(2, dims, cnp.PyArray_TYPE(<cnp.ndarray>A), 0)
        beta = 0.0
    _describe("C", C, &c)
    if c.rows != m or c.cols != n:
        raise ValueError(f"gemm: C has shape {C.shape}, expected {(m, n)}")
    cdef int typenum = _float_type("gemm", "A, B, C", (A, B, C))
    _writable("C", C)
    if m == 0 or n == 0:
        return C
    if k == 0:
        C[...] = 0 if beta == 0 else beta * C
        return C
    # The door is row-major: an operand read transposed flips its flag, and a
    # Fortran-like C is computed as C^T = op(B)^T op(A)^T, which is C-like.
    cdef bint ta = trans_a ^ a.transposed, tb = trans_b ^ b.transposed
    cdef Matrix first = a, second = b
    if c.transposed:
        first, second, ta, tb, m, n = b, a, not tb, not ta, n, m
    cdef ThreadPolicy tp = _policy
    with nogil:
        use_threads_for(&tp, m, n, k)
        if typenum == cnp.NPY_FLOAT32:
            blas.gemm(ta, tb, <int>m, <int>n, <int>k, <float>alpha, <const float*>first.data,
                      first.ld, <const float*>second.data, second.ld, <float>beta,
                      <float*>c.data, c.ld, &tp)
        else:
            blas.gemm(ta, tb, <int>m, <int>n, <int>k, <double>alpha, <const double*>first.data,
                      first.ld, <const double*>second.data, second.ld, <double>beta,
                      <double*>c.data, c.ld, &tp)
        restore_threads(&tp)
    return C


def gemv(A, x, y=None, bint trans_a=False, double alpha=1.0, double beta=0.0):
    """y = alpha * op(A) @ x + beta * y for 2-D A and 1-D x, y (one dtype)."""
    _ensure_ready()
    cdef Matrix a
    _describe("A", A, &a)
    rows = a.cols if trans_a else a.rows
    cols = a.rows if trans_a else a.cols
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
    cdef int typenum = _float_type("gemv", "A, x, y", (A, x, y))
    _writable("y", y)
    if rows == 0:
        return y
    if cols == 0:
        y[...] = 0 if beta == 0 else beta * y
        return y
    # The door's gemv reads a row-major A (a.rows x a.cols), op(A) = A^T when ta.
    cdef bint ta = trans_a ^ a.transposed
    cdef int m = <int>(a.cols if a.transposed else a.rows)
    cdef int n = <int>(a.rows if a.transposed else a.cols)
    cdef Py_ssize_t item = cnp.PyArray_ITEMSIZE(<cnp.ndarray>A)
    cdef int incx = <int>(x.strides[0] // item), incy = <int>(y.strides[0] // item)
    cdef char* xp = <char*>cnp.PyArray_DATA(<cnp.ndarray>x)
    cdef char* yp = <char*>cnp.PyArray_DATA(<cnp.ndarray>y)
    cdef ThreadPolicy tp = _policy
    with nogil:
        use_threads_for(&tp, m, 1, n)
        if typenum == cnp.NPY_FLOAT32:
            blas.gemv(ta, m, n, <float>alpha, <const float*>a.data, a.ld, <const float*>xp,
                      incx, <float>beta, <float*>yp, incy)
        else:
            blas.gemv(ta, m, n, <double>alpha, <const double*>a.data, a.ld,
                      <const double*>xp, incx, <double>beta, <double*>yp, incy)
        restore_threads(&tp)
    return y


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
    # Under the policy, as a matrix-vector product is (a vector counts
    # VECTOR_WORK_WEIGHT times its length): a dot the BLAS threads leaves its
    # workers spinning on the cores that the next compiled call needs.
    cdef ThreadPolicy tp = _policy
    cdef floating total
    with nogil:
        use_threads_for(&tp, x.shape[0], 1, 1)
        total = blas.dot(<int>x.shape[0], &x[0], <int>(x.strides[0] // sizeof(floating)),
                         &y[0], <int>(y.strides[0] // sizeof(floating)))
        restore_threads(&tp)
    return total
