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
# over that limit runs faster cut into pieces under it, but only on one
# thread: the small kernels never use a second one, and a large GEMM left
# whole on two threads beats the pieces on one (bench/, 784 -> 100 at batch
# 32, one thread: 73 -> 49 us forward, 69 -> 54 us for dW; 784 -> 30 at batch
# 512 on two threads: 224 us in pieces, 198 us whole). So the door cuts only
# when the caller says the product runs on one thread (``use_threads_for``).
# Pieces of the forward form are whole rows (a multiple of SMALL_GEMM_ROW_STEP);
# the weight-gradient form D^T X is cut into column blocks of dW (a multiple
# of SMALL_GEMM_COL_STEP floats, so every block starts on a cache line), or,
# when even the narrowest block is over the limit, along the batch, adding
# each piece into C. Every piece is a fixed function of the shape, so the
# results are reproducible; they differ from the uncut product's in the last
# bits (another kernel, another order of the sums).
cdef enum:
    SMALL_GEMM_WORK = 1000000
    SMALL_GEMM_BLOCK = 1200
    SMALL_GEMM_ROW_STEP = 4
    SMALL_GEMM_COL_STEP = 64
    SMALL_GEMM_BATCH_STEP = 16


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


cdef inline int _piece(long long fitting, int total, int step) noexcept nogil:
    """Piece size: the ``fitting`` units under the small-kernel limit, down to a
    multiple of ``step``; 0 when cutting does not pay (pieces too small, or the
    whole already fits)."""
    cdef long long piece = fitting - fitting % step
    return 0 if piece < step or piece >= total else <int>piece


cdef inline bint _gemm_in_small_pieces(bint trans_a, bint trans_b, int m, int n, int k,
                                       floating alpha, const floating* A, int lda,
                                       const floating* B, int ldb, floating beta,
                                       floating* C, int ldc) noexcept nogil:
    """Run C = alpha op(A) op(B) + beta C as pieces under the small-kernel limit
    when the shape allows it; return False (nothing done) otherwise."""
    cdef int piece, start, size
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    cdef floating one = 1
    if not trans_a and trans_b:
        # Forward form Y = X W^T: cut the rows of X and Y.
        piece = _piece(min(SMALL_GEMM_WORK // (<long long>n * k), SMALL_GEMM_BLOCK // n), m,
                       SMALL_GEMM_ROW_STEP)
        if piece == 0:
            return False
        start = 0
        while start < m:
            size = min(piece, m - start)
            _gemm(ta, tb, size, n, k, alpha, A + start * lda, lda, B, ldb, beta,
                  C + start * ldc, ldc)
            start += piece
        return True
    if trans_a and not trans_b:
        # Weight-gradient form dW = D^T X: column blocks of dW (and of X).
        piece = _piece(SMALL_GEMM_WORK // (<long long>m * k), n, SMALL_GEMM_COL_STEP)
        if piece:
            start = 0
            while start < n:
                size = min(piece, n - start)
                _gemm(ta, tb, m, size, k, alpha, A, lda, B + start, ldb, beta, C + start, ldc)
                start += piece
            return True
        # Too tall for column blocks: cut the shared dimension k (the batch),
        # adding with beta = 1 after the first piece.
        piece = _piece(SMALL_GEMM_WORK // (<long long>m * n), k, SMALL_GEMM_BATCH_STEP)
        if piece == 0:
            return False
        start = 0
        while start < k:
            size = min(piece, k - start)
            _gemm(ta, tb, m, n, size, alpha, A + start * lda, lda, B + start * ldb, ldb,
                  beta if start == 0 else one, C, ldc)
            start += piece
        return True
    return False


cdef inline void gemm(bint trans_a, bint trans_b, int m, int n, int k,
                      floating alpha, const floating* A, int lda,
                      const floating* B, int ldb, floating beta,
                      floating* C, int ldc, bint one_thread) noexcept nogil:
    """C = alpha * op(A) @ op(B) + beta * C, row-major; C is m x n, op(A) m x k,
    op(B) k x n. ``one_thread``: the product runs on one BLAS thread (what
    ``use_threads_for`` returned), so it may be cut into small-kernel pieces."""
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    cdef int i
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
    if one_thread and <double>m * n * k > SMALL_GEMM_WORK and _gemm_in_small_pieces(
            trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc):
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
