# cython: language_level=3
"""The one door to BLAS.

Every matrix product in fastnn goes through this file, and this is the only file
that reaches ``scipy.linalg.cython_blas`` (so nothing is linked at build time:
SciPy's own BLAS is used). It does so through blas_pointers.h, a table of
function pointers that each extension module fills at its first BLAS call
(``load_blas()`` at the entry points, or the check in every function here), so
that ``import fastnn`` does not import scipy.linalg. The functions speak **row-major** (C order); the
translation to BLAS's column-major convention happens here and nowhere else.

All functions are ``inline noexcept nogil`` and fused over float32/float64, so a
kernel or the training loop can call them without the GIL and without a
cross-module import. ``fastnn._blas`` exposes thin ``def`` twins for the tests
and the graph path.

Conventions: a row-major ``m x n`` matrix ``A`` with leading dimension ``lda``
(the distance between two rows, ``lda >= n``) is, to BLAS, the column-major
``n x m`` matrix ``A^T`` with the same leading dimension.
"""

from cython cimport floating
from libc.string cimport memset

from threads cimport ThreadPolicy, VECTOR_WORK_WEIGHT, team_ready, fastnn_team_run

cdef extern from "blas_pointers.h":
    ctypedef struct fastnn_blas_table:
        void (*sgemm)(char*, char*, int*, int*, int*, float*, float*, int*, float*, int*,
                      float*, float*, int*) noexcept nogil
        void (*dgemm)(char*, char*, int*, int*, int*, double*, double*, int*, double*, int*,
                      double*, double*, int*) noexcept nogil
        void (*sgemv)(char*, int*, int*, float*, float*, int*, float*, int*, float*, float*,
                      int*) noexcept nogil
        void (*dgemv)(char*, int*, int*, double*, double*, int*, double*, int*, double*,
                      double*, int*) noexcept nogil
        void (*sger)(int*, int*, float*, float*, int*, float*, int*, float*, int*) noexcept nogil
        void (*dger)(int*, int*, double*, double*, int*, double*, int*, double*,
                     int*) noexcept nogil
        void (*saxpy)(int*, float*, float*, int*, float*, int*) noexcept nogil
        void (*daxpy)(int*, double*, double*, int*, double*, int*) noexcept nogil
        void (*sscal)(int*, float*, float*, int*) noexcept nogil
        void (*dscal)(int*, double*, double*, int*) noexcept nogil
        float (*sdot)(int*, float*, int*, float*, int*) noexcept nogil
        double (*ddot)(int*, double*, int*, double*, int*) noexcept nogil
    fastnn_blas_table fastnn_blas
    bint fastnn_blas_loaded() noexcept nogil
    int load_blas "fastnn_blas_load" () except -1
    void _ensure_blas "fastnn_blas_ensure" () noexcept nogil


cdef inline fastnn_blas_table* _blas() noexcept nogil:
    """The module's BLAS table, loaded on first use."""
    if not fastnn_blas_loaded():
        _ensure_blas()
    return &fastnn_blas


cdef inline void gemv(bint trans_a, int m, int n, floating alpha,
                      const floating* A, int lda, const floating* x, int incx,
                      floating beta, floating* y, int incy) noexcept nogil:
    """y = alpha * op(A) @ x + beta * y, row-major A of shape m x n."""
    # Row-major A is column-major A^T (n x m): flip the transpose flag.
    cdef char t = b'N' if trans_a else b'T'
    if m == 0 or n == 0:
        return
    if floating is float:
        _blas().sgemv(&t, &n, &m, &alpha, <float*>A, &lda, <float*>x, &incx, &beta, y, &incy)
    else:
        _blas().dgemv(&t, &n, &m, &alpha, <double*>A, &lda, <double*>x, &incx, &beta, y, &incy)


cdef inline void scal(int n, floating alpha, floating* x, int incx) noexcept nogil:
    """x = alpha * x."""
    if floating is float:
        _blas().sscal(&n, &alpha, x, &incx)
    else:
        _blas().dscal(&n, &alpha, x, &incx)


cdef inline void ger(int m, int n, floating alpha, const floating* x, int incx,
                     const floating* y, int incy, floating* A, int lda) noexcept nogil:
    """A += alpha * x @ y^T, row-major A of shape m x n (x has m entries, y n)."""
    # Row-major A is column-major A^T (n x m): A^T += alpha y x^T.
    if m == 0 or n == 0:
        return
    if floating is float:
        _blas().sger(&n, &m, &alpha, <float*>y, &incy, <float*>x, &incx, A, &lda)
    else:
        _blas().dger(&n, &m, &alpha, <double*>y, &incy, <double*>x, &incx, A, &lda)


# OpenBLAS's small-matrix kernels (SkylakeX and later) multiply without packing
# the operands when m*n*k <= 1e6 (and, for the forward-pass form X W^T, when
# the output block has at most 1200 entries). A mini-batch GEMM a few times
# over that limit runs faster cut into pieces under it (bench/, 784 -> 100 at
# batch 32, one thread: 73 -> 47 us forward, 69 -> 47 us for dW). The small
# kernels never use a second thread, so with two threads the pieces are shared
# by the policy's team (threads.pxd, team.h); without one, a large GEMM is
# better left whole on the BLAS's threads (784 -> 30 at batch 512: 224 us in
# pieces on one thread, 192 us whole on two).
#
# The pieces are blocks of C: whole rows in the forward form, column blocks of
# dW in the weight-gradient form D^T X, as even as the limit allows, and an
# even number of them (the two threads of a team claim them one by one). Each
# block is written by one small GEMM, so the result is the same whichever
# thread ran it, and the same for one thread and two: a fixed function of the
# shape. (It differs from the uncut product's in the last bits: another
# kernel, another order of the sums.)
# A piece under SMALL_GEMM_MIN_PIECE of work costs more in calls than it saves
# (784 -> 100 at batch 1347 with 64 inputs: 112 pieces of 12 rows took 273 us,
# the whole product 111 us), so a shape that only cuts that small stays whole.
# A weight gradient too tall for column blocks is cut along the batch instead,
# each piece added into C (on one thread only: the sums would race).
cdef enum:
    SMALL_GEMM_WORK = 1000000
    SMALL_GEMM_BLOCK = 1200
    SMALL_GEMM_ROW_STEP = 4       # forward pieces: a multiple of 4 rows
    SMALL_GEMM_COL_STEP = 16      # dW pieces: a multiple of 16 columns (a cache line)
    SMALL_GEMM_BATCH_STEP = 16
    SMALL_GEMM_MIN_PIECE = 250000  # m*n*k of the smallest piece worth a call


cdef inline void _gemm(char ta, char tb, int m, int n, int k, floating alpha,
                       const floating* A, int lda, const floating* B, int ldb, floating beta,
                       floating* C, int ldc) noexcept nogil:
    """The one sgemm/dgemm call: row-major C (m x n) = alpha op(A) op(B) + beta C.
    Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the
    operands and the dimensions, keep the transpose flags."""
    if floating is float:
        _blas().sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*>B, &ldb, <float*>A, &lda, &beta, C, &ldc)
    else:
        _blas().dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*>B, &ldb, <double*>A, &lda, &beta, C, &ldc)


cdef struct Pieces:
    # C = alpha op(A) op(B) + beta C cut into ``count`` blocks of ``piece``
    # rows (by_rows) or columns of C. The operands are untyped: ``is_double``
    # says which.
    const void* A
    const void* B
    void* C
    double alpha, beta
    int m, n, k, lda, ldb, ldc
    int piece, count
    bint trans_a, trans_b, by_rows, is_double


cdef inline int _even_piece(long long fitting, int total, int step,
                            long long unit_work) noexcept nogil:
    """The size of the blocks of ``total`` that are at most ``fitting`` (the
    small-kernel limit) and a multiple of ``step``, in an even number of
    blocks as even as that allows; 0 when cutting does not pay (the whole
    fits, or a block would be under ``step`` or, at ``unit_work`` per unit,
    under SMALL_GEMM_MIN_PIECE)."""
    cdef long long count, piece
    if fitting >= total or fitting < step:
        return 0
    count = (total + fitting - 1) // fitting
    count += count % 2
    piece = (total + count - 1) // count
    piece += (step - piece % step) % step       # up to a multiple of step
    if piece > fitting:
        piece -= step
    if piece < step or piece * unit_work < SMALL_GEMM_MIN_PIECE:
        return 0
    return <int>piece


cdef inline bint _plan_pieces(bint trans_a, bint trans_b, int m, int n, int k,
                              Pieces* p) noexcept nogil:
    """Fill the shape part of ``p`` for a product over the small-kernel limit
    whose C can be cut into blocks; False when it cannot."""
    p.trans_a, p.trans_b, p.m, p.n, p.k = trans_a, trans_b, m, n, k
    if not trans_a and trans_b:
        # Forward form Y = X W^T: blocks of rows of X and Y.
        p.by_rows = True
        p.piece = _even_piece(min(SMALL_GEMM_WORK // (<long long>n * k), SMALL_GEMM_BLOCK // n),
                              m, SMALL_GEMM_ROW_STEP, <long long>n * k)
        p.count = (m + p.piece - 1) // p.piece if p.piece else 0
    elif trans_a and not trans_b:
        # Weight-gradient form dW = D^T X: column blocks of dW and X.
        p.by_rows = False
        p.piece = _even_piece(SMALL_GEMM_WORK // (<long long>m * k), n, SMALL_GEMM_COL_STEP,
                              <long long>m * k)
        p.count = (n + p.piece - 1) // p.piece if p.piece else 0
    else:
        return False
    return p.piece != 0


cdef inline void _run_pieces(const Pieces* p, floating* kind, int first, int last) noexcept nogil:
    """Blocks first .. last - 1 of ``p`` (``kind``, a null pointer, names the dtype)."""
    cdef char ta = b'T' if p.trans_a else b'N'
    cdef char tb = b'T' if p.trans_b else b'N'
    cdef const floating* A = <const floating*>p.A
    cdef const floating* B = <const floating*>p.B
    cdef floating* C = <floating*>p.C
    cdef int i, start
    for i in range(first, last):
        start = i * p.piece
        if p.by_rows:
            _gemm(ta, tb, min(p.piece, p.m - start), p.n, p.k, <floating>p.alpha,
                  A + start * p.lda, p.lda, B, p.ldb, <floating>p.beta, C + start * p.ldc, p.ldc)
        else:
            _gemm(ta, tb, p.m, min(p.piece, p.n - start), p.k, <floating>p.alpha, A, p.lda,
                  B + start, p.ldb, <floating>p.beta, C + start, p.ldc)


cdef inline void _team_piece(void* job, int piece) noexcept nogil:
    """Block ``piece`` of the Pieces ``job``, for whichever team member claimed it."""
    cdef const Pieces* p = <const Pieces*>job
    if p.is_double:
        _run_pieces(p, <double*>NULL, piece, piece + 1)
    else:
        _run_pieces(p, <float*>NULL, piece, piece + 1)


cdef inline bint _gemm_along_batch(int m, int n, int k, floating alpha, const floating* A,
                                   int lda, const floating* B, int ldb, floating beta,
                                   floating* C, int ldc) noexcept nogil:
    """dW = alpha D^T X + beta dW cut along the batch k, each piece added into
    C; False (nothing done) when the pieces would be too small."""
    cdef int piece, start
    cdef floating one = 1
    cdef char ta = b'T', tb = b'N'
    piece = <int>(SMALL_GEMM_WORK // (<long long>m * n))
    piece -= piece % SMALL_GEMM_BATCH_STEP
    if piece < SMALL_GEMM_BATCH_STEP or piece >= k:
        return False
    start = 0
    while start < k:
        _gemm(ta, tb, m, n, min(piece, k - start), alpha, A + start * lda, lda,
              B + start * ldb, ldb, beta if start == 0 else one, C, ldc)
        start += piece
    return True


cdef inline bint runs_on_blas_threads(const ThreadPolicy* tp, bint trans_a, bint trans_b,
                                      int m, int n, int k) noexcept nogil:
    """Whether ``gemm`` would run this product whole on the BLAS's own
    threads under ``tp`` (more than one thread wanted, and not cut into
    pieces). A net with such a product leaves the second core to the BLAS:
    a team's spinning helper would compete with the BLAS's workers for it."""
    cdef double work = <double>m * n * k
    cdef Pieces p
    if m == 1 or n == 1 or k == 1:
        work *= VECTOR_WORK_WEIGHT
    if tp.max_threads <= 1 or work < tp.min_work:
        return False
    return not (<double>m * n * k > SMALL_GEMM_WORK and
                _plan_pieces(trans_a, trans_b, m, n, k, &p))


cdef inline void gemm(bint trans_a, bint trans_b, int m, int n, int k,
                      floating alpha, const floating* A, int lda,
                      const floating* B, int ldb, floating beta,
                      floating* C, int ldc, ThreadPolicy* tp) noexcept nogil:
    """C = alpha * op(A) @ op(B) + beta * C, row-major; C is m x n, op(A) m x k,
    op(B) k x n. ``tp``: the thread policy after ``use_threads_for`` for this
    product: on one thread, or on a team, it may be cut into small-kernel pieces."""
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    cdef int i
    cdef Pieces p
    if m == 0 or n == 0:
        return
    # A GEMM with a vector operand packs its matrix operand for nothing: a
    # mini-batch of one example, or a one-unit layer. Send those to the
    # matrix-vector routines, which read the matrix once. (The strides below
    # walk a row or column of the row-major operands.)
    if k == 1:
        # C = beta C + alpha a b^T, a = op(A) (m x 1), b = op(B) (1 x n).
        if beta == 0:
            for i in range(m):
                memset(C + i * ldc, 0, n * sizeof(floating))
        elif beta != 1:
            for i in range(m):
                scal(n, beta, C + i * ldc, 1)
        ger(m, n, alpha, A, 1 if trans_a else lda, B, ldb if trans_b else 1, C, ldc)
        return
    if m == 1:
        # c (1 x n) = alpha op(B)^T a + beta c, a = op(A) (1 x k).
        if trans_b:
            gemv(False, n, k, alpha, B, ldb, A, lda if trans_a else 1, beta, C, 1)
        else:
            gemv(True, k, n, alpha, B, ldb, A, lda if trans_a else 1, beta, C, 1)
        return
    if n == 1:
        # c (m x 1) = alpha op(A) b + beta c, b = op(B) (k x 1).
        if trans_a:
            gemv(True, k, m, alpha, A, lda, B, 1 if trans_b else ldb, beta, C, ldc)
        else:
            gemv(False, m, k, alpha, A, lda, B, 1 if trans_b else ldb, beta, C, ldc)
        return
    if <double>m * n * k > SMALL_GEMM_WORK:
        if _plan_pieces(trans_a, trans_b, m, n, k, &p):
            p.A, p.B, p.C, p.alpha, p.beta = A, B, C, alpha, beta
            p.lda, p.ldb, p.ldc, p.is_double = lda, ldb, ldc, floating is double
            if tp.max_threads >= 2 and team_ready(tp):
                fastnn_team_run(tp.team, _team_piece, &p, p.count)
                return
            if tp.want <= 1:
                _run_pieces(&p, <floating*>NULL, 0, p.count)
                return
        elif tp.want <= 1 and trans_a and not trans_b and _gemm_along_batch(
                m, n, k, alpha, A, lda, B, ldb, beta, C, ldc):
            return
    _gemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)


cdef inline void axpy(int n, floating alpha, const floating* x, int incx,
                      floating* y, int incy) noexcept nogil:
    """y = alpha * x + y."""
    if floating is float:
        _blas().saxpy(&n, &alpha, <float*>x, &incx, y, &incy)
    else:
        _blas().daxpy(&n, &alpha, <double*>x, &incx, y, &incy)


cdef inline floating dot(int n, const floating* x, int incx,
                         const floating* y, int incy) noexcept nogil:
    """Return sum_i x_i * y_i."""
    if floating is float:
        return _blas().sdot(&n, <float*>x, &incx, <float*>y, &incy)
    else:
        return _blas().ddot(&n, <double*>x, &incx, <double*>y, &incy)
