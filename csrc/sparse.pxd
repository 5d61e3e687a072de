# cython: language_level=3
"""The sparse first layer's kernels: a batch of CSR rows times W^T, the
weight gradient delta^T x over the features the batch holds, and the
clearing of what that gradient wrote.

The first layer of a net reading CSR batches works on WT = W^T (n_in x
n_out, row-major: the weights of feature j are the contiguous row WT[j, :]),
so a non-zero (j, v) costs one contiguous axpy of n_out values, forward and
backward; with W itself (n_out x n_in) each of its n_out weights would be a
cache line of its own.

The batch is rows ``order[start:start + rows]`` of a canonical CSR matrix
(``values``, int64 ``indices``, ``indptr``), or rows ``start:start + rows``
when ``order`` is NULL. Each kernel has a NumPy twin in ``fastnn/ops.py``
(``NumpyOps.csr_times_wt``, ``add_csr_outer``, ``zero_csr_rows``);
``fastnn._kernels`` exposes ``def`` wrappers for the tests. Kernels never
validate.
"""

from cython cimport floating
from libc.stdint cimport int64_t


cdef inline Py_ssize_t batch_row(const int64_t* order, Py_ssize_t k) noexcept nogil:
    """Row k of an epoch's order (k itself when in order)."""
    return order[k] if order != NULL else k


cdef inline void csr_times_wt(const floating* values, const int64_t* indices,
                              const int64_t* indptr, const int64_t* order, Py_ssize_t start,
                              Py_ssize_t rows, const floating* WT, Py_ssize_t n_out,
                              floating* out) noexcept nogil:
    """out (rows x n_out) = X_batch W^T = X_batch WT: out[i, :] = sum_k v_k
    WT[j_k, :] over the non-zeros (j_k, v_k) of batch row i, in index order."""
    cdef Py_ssize_t i, o, k, r
    cdef const floating* w
    cdef floating* y
    cdef floating v
    for i in range(rows):
        r = batch_row(order, start + i)
        y = out + i * n_out
        for o in range(n_out):
            y[o] = 0
        for k in range(indptr[r], indptr[r + 1]):
            v = values[k]
            w = WT + indices[k] * n_out
            for o in range(n_out):
                y[o] += v * w[o]


cdef inline void add_csr_outer(const floating* values, const int64_t* indices,
                               const int64_t* indptr, const int64_t* order, Py_ssize_t start,
                               Py_ssize_t rows, const floating* D, Py_ssize_t n_out,
                               floating alpha, floating* GT) noexcept nogil:
    """GT (n_in x n_out) += alpha X_batch^T D, D (rows x n_out): GT[j_k, :] +=
    (alpha v_k) D[i, :] for every non-zero (j_k, v_k) of batch row i, rows in
    batch order. Rows of GT (features) absent from the batch are not touched."""
    cdef Py_ssize_t i, o, k, r
    cdef const floating* d
    cdef floating* g
    cdef floating a
    for i in range(rows):
        r = batch_row(order, start + i)
        d = D + i * n_out
        for k in range(indptr[r], indptr[r + 1]):
            a = alpha * values[k]
            g = GT + indices[k] * n_out
            for o in range(n_out):
                g[o] += a * d[o]


cdef inline void zero_csr_rows(const int64_t* indices, const int64_t* indptr,
                               const int64_t* order, Py_ssize_t start, Py_ssize_t rows,
                               Py_ssize_t n_out, floating* GT) noexcept nogil:
    """GT[j, :] = 0 for every feature j that the batch's rows hold: after an
    update, what ``add_csr_outer`` wrote, so that GT is all zeros again
    without a pass over it."""
    cdef Py_ssize_t i, o, k, r
    cdef floating* g
    for i in range(rows):
        r = batch_row(order, start + i)
        for k in range(indptr[r], indptr[r + 1]):
            g = GT + indices[k] * n_out
            for o in range(n_out):
                g[o] = 0
