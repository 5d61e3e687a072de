# cython: language_level=3
"""Python twins of the compiled kernels (csrc/kernels.pxd).

Used by the tests (against the NumPy reference in fastnn/ops.py) and by the
graph path, so both paths run the same machine code. Arrays must be
C-contiguous and share one float dtype; outputs are written in place.
The twins the graph path calls at every op (bias, column sums, activations,
update rules) read their arrays through the NumPy C API (``Floats``): a
fraction of a microsecond per call, any number of dimensions, the last axis
as the columns.
"""

import os

import numpy as np
cimport numpy as cnp
from cython cimport floating
from libc.stdint cimport int64_t, uint64_t

cimport kernels
from kernels cimport (
    ACT_IDENTITY, ACT_SIGMOID, ACT_TANH, ACT_RELU, ACT_SOFTMAX, ACT_EXP,
    LOSS_CROSS_ENTROPY, LOSS_BINARY_CROSS_ENTROPY, LOSS_MSE, LOSS_POISSON, OPT_SGD, OPT_ADAGRAD, OPT_ADAM)
from rng cimport RngState, rng_seed, rng_uniform, rng_shuffle
cimport sparse

# The codes of csrc/kernels.pxd, by name: the only source of these integers in Python.
ACTIVATION_CODES = {"identity": ACT_IDENTITY, "sigmoid": ACT_SIGMOID, "tanh": ACT_TANH,
                    "relu": ACT_RELU, "softmax": ACT_SOFTMAX, "exp": ACT_EXP}
LOSS_CODES = {"cross_entropy": LOSS_CROSS_ENTROPY,
              "binary_cross_entropy": LOSS_BINARY_CROSS_ENTROPY, "mse": LOSS_MSE,
              "poisson": LOSS_POISSON}
OPTIMIZER_CODES = {"sgd": OPT_SGD, "adagrad": OPT_ADAGRAD, "adam": OPT_ADAM}


# ------------------------------------------------ instruction set of the kernels ---

cdef extern from "simd_kernels.h":
    int fastnn_simd_count()
    const char* fastnn_simd_name(int i)
    int fastnn_simd_supported(int i)
    const char* fastnn_simd_active_name()
    int fastnn_simd_select(const char* name)

# Every variant compiled into the kernels, best first ("baseline" is x86-64's
# SSE2, or the portable build on another architecture).
SIMD_VARIANTS = tuple(fastnn_simd_name(i).decode() for i in range(fastnn_simd_count()))


def simd_supported():
    """The variants of SIMD_VARIANTS that this CPU runs, best first."""
    return tuple(fastnn_simd_name(i).decode() for i in range(fastnn_simd_count())
                 if fastnn_simd_supported(i))


def simd_variant():
    """The variant the elementwise kernels of this module run: the best one
    the CPU supports, or the one named by the environment variable FASTNN_SIMD
    when the module was loaded. Every variant gives bitwise the same results."""
    return fastnn_simd_active_name().decode()


def _check_simd_name(name, what):
    if name not in SIMD_VARIANTS:
        raise ValueError(f"{what}={name!r} is not a SIMD variant: choose one of "
                         f"{', '.join(SIMD_VARIANTS)}")
    if name not in simd_supported():
        raise ValueError(f"{what}={name!r} is not supported by this CPU, which runs "
                         f"{', '.join(simd_supported())}")


def _set_simd_variant(str name):
    """Run this module's kernels (the Python twins, hence the graph path) with
    variant ``name``; for the tests, which compare the variants bitwise. The
    compiled training loop (fastnn._train) keeps the choice made at load time:
    set FASTNN_SIMD before importing fastnn to change both."""
    _check_simd_name(name, "name")
    fastnn_simd_select(name.encode())


# The load-time constructor of simd_kernels.h fell back to the best variant on
# a bad FASTNN_SIMD; say so here, at import.
if os.environ.get("FASTNN_SIMD"):
    _check_simd_name(os.environ["FASTNN_SIMD"], "FASTNN_SIMD")


cnp.import_array()


cdef struct Floats:
    # A C-contiguous float32/float64 array as the kernels read it: its data,
    # its size, and its rows x cols with the last axis as the columns (a
    # scalar is 1 x 1).
    char* data
    Py_ssize_t size, rows, cols
    int typenum


cdef int _floats(str name, object a, Floats* out, int typenum=-1,
                 bint writable=False) except -1:
    """Fill ``out`` for the ndarray ``a``, checked: float32 or float64 (the
    dtype ``typenum`` when >= 0), C-contiguous, writable when asked."""
    if not cnp.PyArray_Check(a):
        raise TypeError(f"{name} must be a numpy array, got {type(a).__name__}")
    cdef cnp.ndarray arr = <cnp.ndarray>a
    cdef int t = cnp.PyArray_TYPE(arr), nd = cnp.PyArray_NDIM(arr)
    if t != cnp.NPY_FLOAT32 and t != cnp.NPY_FLOAT64:
        raise TypeError(f"{name} must be a float32 or float64 array, got dtype {a.dtype}")
    if typenum >= 0 and t != typenum:
        raise TypeError(f"{name} has dtype {a.dtype}, but the first array has dtype "
                        f"{np.dtype(np.float32 if typenum == cnp.NPY_FLOAT32 else np.float64)}")
    if not cnp.PyArray_IS_C_CONTIGUOUS(arr):
        raise ValueError(f"{name} must be C-contiguous, got strides {a.strides}")
    if writable and not cnp.PyArray_ISWRITEABLE(arr):
        raise ValueError(f"{name} is read-only (the result is written into it)")
    out.data = <char*>cnp.PyArray_DATA(arr)
    out.size = cnp.PyArray_SIZE(arr)
    out.cols = cnp.PyArray_DIM(arr, nd - 1) if nd else 1
    out.rows = out.size // out.cols if out.cols else 0
    out.typenum = t
    return 0


cdef int _same_size(str name, const Floats* a, str other, const Floats* b) except -1:
    if a.size != b.size:
        raise ValueError(f"{name} has {a.size} elements but {other} has {b.size}")
    return 0


def bias_add(Y, b):
    """Y[i, j] += b[j] in place (Y rows x cols, b of cols values)."""
    cdef Floats y, bias
    _floats("Y", Y, &y, -1, True)
    _floats("b", b, &bias, y.typenum)
    if bias.size != y.cols:
        raise ValueError(f"b has {bias.size} values but Y has {y.cols} columns")
    if y.size:
        with nogil:
            if y.typenum == cnp.NPY_FLOAT32:
                kernels.add_bias(<float*>y.data, <const float*>bias.data, y.rows, y.cols)
            else:
                kernels.add_bias(<double*>y.data, <const double*>bias.data, y.rows, y.cols)


def add_column_sums(D, out, double alpha=1.0, double beta=0.0):
    """out = beta out + alpha D.sum(axis=0) in place (D rows x cols, out of
    cols values; out not read when beta = 0)."""
    cdef Floats d, o
    _floats("D", D, &d)
    _floats("out", out, &o, d.typenum, True)
    if o.size != d.cols:
        raise ValueError(f"out has {o.size} values but D has {d.cols} columns")
    if o.size:
        with nogil:
            if d.typenum == cnp.NPY_FLOAT32:
                kernels.add_column_sums(<const float*>d.data, d.rows, d.cols, <float>alpha,
                                        <float>beta, <float*>o.data)
            else:
                kernels.add_column_sums(<const double*>d.data, d.rows, d.cols, alpha, beta,
                                        <double*>o.data)


cdef inline const int64_t* _order(const int64_t[::1] order):
    """The batch's row order, or NULL for rows in order (None or empty)."""
    return &order[0] if order is not None and order.shape[0] else NULL


def csr_times_wt(const floating[::1] values, const int64_t[::1] indices,
                 const int64_t[::1] indptr, const floating[:, ::1] WT, floating[:, ::1] out,
                 const int64_t[::1] order=None, Py_ssize_t start=0):
    """out (rows x n_out) = X_batch WT for the CSR rows order[start:start + rows]
    (start:start + rows without order), rows = out.shape[0], WT (n_in x n_out)."""
    cdef const int64_t* rows_order = _order(order)
    if out.shape[0] and out.shape[1]:
        with nogil:
            sparse.csr_times_wt(&values[0] if values.shape[0] else NULL,
                                &indices[0] if indices.shape[0] else NULL, &indptr[0],
                                rows_order, start, out.shape[0], &WT[0, 0], WT.shape[1],
                                &out[0, 0])


def add_csr_outer(const floating[::1] values, const int64_t[::1] indices,
                  const int64_t[::1] indptr, const floating[:, ::1] D, floating[:, ::1] GT,
                  double alpha=1.0, const int64_t[::1] order=None, Py_ssize_t start=0):
    """GT (n_in x n_out) += alpha X_batch^T D over the CSR rows of the batch
    (as ``csr_times_wt``), rows = D.shape[0]; other rows of GT untouched."""
    cdef const int64_t* rows_order = _order(order)
    if D.shape[0] and GT.shape[0] and GT.shape[1]:
        with nogil:
            sparse.add_csr_outer(&values[0] if values.shape[0] else NULL,
                                 &indices[0] if indices.shape[0] else NULL, &indptr[0],
                                 rows_order, start, D.shape[0], &D[0, 0], GT.shape[1],
                                 <floating>alpha, &GT[0, 0])


def zero_csr_rows(const int64_t[::1] indices, const int64_t[::1] indptr, floating[:, ::1] GT,
                  Py_ssize_t rows, const int64_t[::1] order=None, Py_ssize_t start=0):
    """GT[j, :] = 0 for every feature j of the batch's CSR rows (as ``csr_times_wt``)."""
    cdef const int64_t* rows_order = _order(order)
    if rows and GT.shape[0] and GT.shape[1]:
        with nogil:
            sparse.zero_csr_rows(&indices[0] if indices.shape[0] else NULL, &indptr[0],
                                 rows_order, start, rows, GT.shape[1], &GT[0, 0])


def activation_forward(Y, int code):
    """Y = f(Y) in place (softmax along the last axis)."""
    cdef Floats y
    _floats("Y", Y, &y, -1, True)
    if y.size:
        with nogil:
            if y.typenum == cnp.NPY_FLOAT32:
                kernels.activation_forward(code, <float*>y.data, y.rows, y.cols)
            else:
                kernels.activation_forward(code, <double*>y.data, y.rows, y.cols)


def exp(floating[::1] Y):
    """Y = exp(Y) in place (the SIMD exp of csrc/simd_kernels.h; NumPy's
    ``np.exp`` is its reference, within 1 ulp)."""
    if Y.shape[0]:
        with nogil:
            kernels.exp_inplace(&Y[0], Y.shape[0])


def activation_backward(Y, G, int code):
    """G = f'(a) * G in place, f' written from the output Y = f(a) (softmax:
    its Jacobian-vector product along the last axis)."""
    cdef Floats y, g
    _floats("Y", Y, &y)
    _floats("G", G, &g, y.typenum, True)
    _same_size("G", &g, "Y", &y)
    if y.cols != g.cols:
        raise ValueError(f"G has {g.cols} columns but Y has {y.cols}")
    if y.size:
        with nogil:
            if y.typenum == cnp.NPY_FLOAT32:
                kernels.activation_backward(code, <const float*>y.data, <float*>g.data,
                                            y.rows, y.cols)
            else:
                kernels.activation_backward(code, <const double*>y.data, <double*>g.data,
                                            y.rows, y.cols)


cdef const int64_t* _labels_or_null(object labels) except? NULL:
    """Address of an int64 (rows,) array, or NULL for None (or an empty one)."""
    cdef const int64_t[::1] view
    if labels is None:
        return NULL
    view = labels
    return &view[0] if view.shape[0] else NULL


def output_delta(int loss, floating[:, ::1] out, labels, double scale,
                 floating[:, ::1] delta, targets=None, weights=None):
    """The loss kernel of code ``loss`` (``LOSS_CODES``) on ``out`` (rows x cols):
    delta = scale w_i dl_i/d(out); returns sum_i w_i l_i. The targets are
    ``labels`` (int64 (rows,)) or, with ``labels=None``, ``targets`` (rows x
    cols, out's dtype); ``weights`` (rows,) or None for 1. The fused losses
    take logits and leave the probabilities in ``out``; the squared error
    leaves ``out`` alone (delta = scale w (y - t))."""
    cdef const floating[:, ::1] t
    cdef const floating[::1] w
    cdef const floating* t_ptr = NULL
    cdef const floating* w_ptr = NULL
    cdef const int64_t* l_ptr = _labels_or_null(labels)
    cdef double loss_sum
    if out.shape[0] == 0:
        return 0.0
    if targets is not None:
        t = targets
        t_ptr = &t[0, 0]
    if weights is not None:
        w = weights
        w_ptr = &w[0]
    with nogil:
        loss_sum = kernels.output_delta(loss, kernels.ACT_IDENTITY, &out[0, 0], l_ptr, t_ptr,
                                        w_ptr, out.shape[0], out.shape[1], <floating>scale,
                                        &delta[0, 0])
    return loss_sum


def count_correct(const floating[:, ::1] P, labels, targets=None, weights=None,
                  int loss=LOSS_CROSS_ENTROPY):
    """sum_i w_i [row i right]: argmax (or p > 0.5 for one column) equal to the
    label; for dense ``targets`` (labels None) by the rule of ``loss``
    (kernels.pxd, ``count_correct``)."""
    cdef const floating[:, ::1] t
    cdef const floating[::1] w
    cdef const floating* t_ptr = NULL
    cdef const floating* w_ptr = NULL
    cdef const int64_t* l_ptr = _labels_or_null(labels)
    if P.shape[0] == 0:
        return 0
    if targets is not None:
        t = targets
        t_ptr = &t[0, 0]
    if weights is not None:
        w = weights
        w_ptr = &w[0]
    correct = kernels.count_correct(loss, &P[0, 0], l_ptr, t_ptr, w_ptr, P.shape[0],
                                    P.shape[1])
    return int(correct) if weights is None else correct


def first_non_finite(const floating[::1] X):
    """Index of the first NaN or +-inf in X (1-D), or -1 when all are finite."""
    cdef Py_ssize_t i
    with nogil:
        i = kernels.first_non_finite(&X[0], X.shape[0]) if X.shape[0] else -1
    return i


def multiply(const floating[::1] X, const floating[::1] M, floating[::1] out):
    """out = X * M elementwise."""
    if X.shape[0]:
        with nogil:
            kernels.multiply(&X[0], &M[0], &out[0], X.shape[0])


def sgd_update(W, G, V, double lr, double momentum=0.0, bint nesterov=False,
               double weight_decay=0.0):
    """In-place SGD step with weight decay and (Nesterov) momentum on arrays of
    any shape; V (the velocity) may be None or empty when momentum is 0."""
    cdef Floats w, g, v
    _floats("W", W, &w, -1, True)
    _floats("G", G, &g, w.typenum)
    _same_size("G", &g, "W", &w)
    v.data, v.size = NULL, 0
    if V is not None:
        _floats("V", V, &v, w.typenum, True)
    if v.size == 0 and momentum != 0:
        raise ValueError(f"momentum={momentum} needs a velocity V the size of W")
    if v.size:
        _same_size("V", &v, "W", &w)
    if w.size:
        with nogil:
            if w.typenum == cnp.NPY_FLOAT32:
                kernels.sgd_update(<float*>w.data, <const float*>g.data,
                                   <float*>v.data if v.size else NULL, w.size, <float>lr,
                                   <float>momentum, nesterov, <float>weight_decay)
            else:
                kernels.sgd_update(<double*>w.data, <const double*>g.data,
                                   <double*>v.data if v.size else NULL, w.size, lr, momentum,
                                   nesterov, weight_decay)


def adagrad_update(W, G, S, double lr, double eps, double weight_decay=0.0):
    """In-place Adagrad step (arrays of any shape, one size)."""
    cdef Floats w, g, s
    _floats("W", W, &w, -1, True)
    _floats("G", G, &g, w.typenum)
    _floats("S", S, &s, w.typenum, True)
    _same_size("G", &g, "W", &w)
    _same_size("S", &s, "W", &w)
    if w.size:
        with nogil:
            if w.typenum == cnp.NPY_FLOAT32:
                kernels.adagrad_update(<float*>w.data, <const float*>g.data, <float*>s.data,
                                       w.size, <float>lr, <float>eps, <float>weight_decay)
            else:
                kernels.adagrad_update(<double*>w.data, <const double*>g.data, <double*>s.data,
                                       w.size, lr, eps, weight_decay)


def adam_update(W, G, M, V, double lr, double beta1, double beta2, double eps, long long t,
                double weight_decay=0.0):
    """In-place Adam step number t (t >= 1, for the bias corrections), arrays
    of any shape, one size."""
    cdef Floats w, g, m, v
    _floats("W", W, &w, -1, True)
    _floats("G", G, &g, w.typenum)
    _floats("M", M, &m, w.typenum, True)
    _floats("V", V, &v, w.typenum, True)
    _same_size("G", &g, "W", &w)
    _same_size("M", &m, "W", &w)
    _same_size("V", &v, "W", &w)
    cdef double bc1 = 1 - beta1 ** t, bc2 = 1 - beta2 ** t
    if w.size:
        with nogil:
            if w.typenum == cnp.NPY_FLOAT32:
                kernels.adam_update(<float*>w.data, <const float*>g.data, <float*>m.data,
                                    <float*>v.data, w.size, <float>lr, <float>beta1,
                                    <float>beta2, <float>eps, <float>bc1, <float>bc2,
                                    <float>weight_decay)
            else:
                kernels.adam_update(<double*>w.data, <const double*>g.data, <double*>m.data,
                                    <double*>v.data, w.size, lr, beta1, beta2, eps, bc1, bc2,
                                    weight_decay)


cdef class Rng:
    """The compiled loops' PRNG (xoshiro256++), seeded explicitly.

    ``Rng(seed).dropout_mask(...)`` draws exactly the masks that the fast path
    draws from the same seed, in the same order.
    """

    cdef RngState state

    def __cinit__(self, seed):
        # Checked here, not by Cython's conversion: that would truncate 1.5 to
        # 1, take True as 1 and raise an OverflowError naming no argument.
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"Rng seed must be an integer in [0, 2**64), got {seed!r}")
        if not 0 <= seed < 2 ** 64:
            raise ValueError(f"Rng seed must be an integer in [0, 2**64), got {seed!r}")
        rng_seed(&self.state, <uint64_t>int(seed))

    def uniform(self, Py_ssize_t n):
        """n uniform doubles in [0, 1)."""
        out = np.empty(n, dtype=np.float64)
        cdef double[::1] o = out
        cdef Py_ssize_t i
        for i in range(n):
            o[i] = rng_uniform(&self.state)
        return out

    def get_state(self):
        """The generator's 256-bit state: a uint64 array (4,), for checkpoints."""
        return np.array([self.state.s0, self.state.s1, self.state.s2, self.state.s3],
                        dtype=np.uint64)

    def set_state(self, state):
        """Continue from a ``get_state()``: four uint64 words, not all zero."""
        words = np.asarray(state)
        if words.shape != (4,) or words.dtype != np.uint64 or not words.any():
            raise ValueError(f"an Rng state is 4 uint64 words, not all zero, got {state!r}")
        self.state.s0, self.state.s1, self.state.s2, self.state.s3 = (int(w) for w in words)

    def shuffle(self, int64_t[::1] idx):
        """Fisher-Yates shuffle of idx in place."""
        with nogil:
            rng_shuffle(&self.state, &idx[0] if idx.shape[0] else NULL, idx.shape[0])

    def dropout_mask(self, floating[::1] mask, double p, double keep_value):
        """mask[i] = 0 with probability p, else keep_value, in order."""
        if mask.shape[0]:
            with nogil:
                kernels.dropout_mask(&self.state, &mask[0], mask.shape[0], p,
                                     <floating>keep_value)
