# cython: language_level=3
"""Per-GEMM choice of the BLAS thread count, local to the calling thread.

Small GEMMs (a mini-batch of 10 against a 784 x 30 layer) run faster on one
thread: waking a second one costs more than it saves. Large ones want every
core. OpenBLAS (>= 0.3.27) offers ``openblas_set_num_threads_local``, which
sets the count for the calling thread only and returns the previous one;
fastnn/blas_threads.py finds it in the BLAS that SciPy uses and passes its
address here. The compiled loops switch counts only when a GEMM's size class
changes, and restore the thread's previous count before returning, so the
user's other code never sees a changed setting.
"""

ctypedef int (*set_threads_fn)(int) noexcept nogil


cdef struct ThreadPolicy:
    set_threads_fn set_local   # NULL: leave threading to the BLAS
    int max_threads            # count for large GEMMs
    double min_work            # m * n * k from which a GEMM uses max_threads
    int current                # count set by us (0: nothing set yet)
    int prior                  # the thread's count before our first change


# A product with a single row or column (a matrix-vector product, or the
# outer product of a batch of one) reads or writes its whole matrix for one
# multiply-add per element: memory-bound, it gains from a second thread at far
# less work than a GEMM (bench/: a 1024 x 1024 sgemv took 74 us on one thread,
# 40 us on two, and 784-1024-1024-10 trained at batch 1 1.2x faster; up to
# 400 x 784 the second thread gained nothing).
cdef enum:
    VECTOR_WORK_WEIGHT = 8


cdef inline bint use_threads_for(ThreadPolicy* tp, double m, double n, double k) noexcept nogil:
    """Set the calling thread's BLAS thread count for C (m x n) = A (m x k) B (k x n):
    its work m*n*k, counted VECTOR_WORK_WEIGHT times when m, n or k is 1,
    against the policy's min_work. Returns True when the product is to run on
    one thread (blas.gemm's ``one_thread``: it may then be cut into pieces),
    also when there is no setter and the policy is only the door's guide."""
    cdef int want, previous
    cdef double work = m * n * k
    if m == 1 or n == 1 or k == 1:
        work *= VECTOR_WORK_WEIGHT
    want = 1 if work < tp.min_work else tp.max_threads
    if tp.set_local != NULL and want != tp.current:
        previous = tp.set_local(want)
        if tp.current == 0:
            tp.prior = previous
        tp.current = want
    return want <= 1


cdef inline void restore_threads(ThreadPolicy* tp) noexcept nogil:
    """Give the calling thread back the count it had before use_threads_for."""
    if tp.set_local != NULL and tp.current != 0:
        tp.set_local(tp.prior)
        tp.current = 0
