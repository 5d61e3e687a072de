# cython: language_level=3
"""Per-GEMM choice of the BLAS thread count.

Small GEMMs (a mini-batch of 10 against a 784 x 30 layer) run faster on one
thread: waking a second one costs more than it saves. Large ones want every
core. OpenBLAS (>= 0.3.27) offers ``openblas_set_num_threads_local``, which
sets the count and returns the previous one (for the calling thread in
OpenBLAS's OpenMP build; SciPy's pthreads build applies it to the whole
process, measured); fastnn/blas_threads.py finds it in the BLAS that SciPy
uses and passes its address here. The compiled loops switch counts only when
a GEMM's size class changes, and restore the previous count before
returning, so the user's code never sees a changed setting after a call.

A GEMM that csrc/blas.pxd cuts into small-kernel pieces (which never use a
BLAS thread) runs them on the policy's team instead when max_threads >= 2:
the calling thread and one helper (csrc/team.h), started at the first such
product, sent to sleep by restore_threads at the end of every compiled call
and stopped when its net is freed.
"""

ctypedef int (*set_threads_fn)(int) noexcept nogil

cdef extern from "team.h" nogil:
    ctypedef struct fastnn_team:
        int running
    ctypedef void (*fastnn_piece_fn)(void* job, int piece) noexcept nogil
    int fastnn_team_start(fastnn_team* team)
    int fastnn_team_usable(fastnn_team* team)
    void fastnn_team_run(fastnn_team* team, fastnn_piece_fn fn, void* job, int count)
    void fastnn_team_rest(fastnn_team* team)
    void fastnn_team_stop(fastnn_team* team)


cdef struct ThreadPolicy:
    set_threads_fn set_local   # NULL: leave threading to the BLAS
    int max_threads            # count for large GEMMs
    double min_work            # m * n * k from which a GEMM uses max_threads
    int current                # count set by us (0: nothing set yet)
    int prior                  # the thread's count before our first change
    int want                   # the count for the product at hand (use_threads_for)
    fastnn_team* team          # where the pieces of a cut GEMM may run on two
                               # threads (team.h; NULL: nowhere), or NULL


# A product with a single row or column (a matrix-vector product, or the
# outer product of a batch of one) reads or writes its whole matrix for one
# multiply-add per element: memory-bound, it gains from a second thread at far
# less work than a GEMM (bench/: a 1024 x 1024 sgemv took 74 us on one thread,
# 40 us on two, and 784-1024-1024-10 trained at batch 1 1.2x faster; up to
# 400 x 784 the second thread gained nothing).
cdef enum:
    VECTOR_WORK_WEIGHT = 8


cdef inline void use_threads_for(ThreadPolicy* tp, double m, double n, double k) noexcept nogil:
    """Set the calling thread's BLAS thread count for C (m x n) = A (m x k) B (k x n):
    its work m*n*k, counted VECTOR_WORK_WEIGHT times when m, n or k is 1,
    against the policy's min_work; tp.want keeps it for blas.gemm (one thread:
    it may cut the product into pieces), also when there is no setter."""
    cdef int want, previous
    cdef double work = m * n * k
    if m == 1 or n == 1 or k == 1:
        work *= VECTOR_WORK_WEIGHT
    want = 1 if work < tp.min_work else tp.max_threads
    tp.want = want
    if tp.set_local != NULL and want != tp.current:
        previous = tp.set_local(want)
        if tp.current == 0:
            tp.prior = previous
        tp.current = want


cdef inline bint team_ready(ThreadPolicy* tp) noexcept nogil:
    """Whether tp's team runs (started here at its first use); False without
    one, or when no thread could be made."""
    if tp.team == NULL:
        return False
    if not fastnn_team_usable(tp.team) and fastnn_team_start(tp.team) != 0:
        tp.team = NULL          # run everything on this thread from now on
        return False
    return True


cdef inline void restore_threads(ThreadPolicy* tp) noexcept nogil:
    """At the end of a compiled call: give the calling thread back the count it
    had before use_threads_for, and send the team's helper to sleep."""
    if tp.team != NULL:
        fastnn_team_rest(tp.team)
    if tp.set_local != NULL and tp.current != 0:
        tp.set_local(tp.prior)
        tp.current = 0
