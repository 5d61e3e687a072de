# cython: language_level=3
"""The compiled kernels: tiny, typed, ``inline noexcept nogil``, fused over
float32/float64, on raw row-major pointers.

Each kernel has a NumPy twin in ``fastnn/ops.py`` (``NumpyOps``) that is its
specification; ``fastnn._kernels`` exposes ``def`` wrappers used by the tests and
by the graph path, and ``fastnn._train`` calls these directly inside its
epoch loop. Kernels never validate: the public entry points did that.

Shapes use ``rows`` (examples in a batch) and ``cols`` (units of a layer).
"""

from cython cimport floating
from libc.math cimport log, logf, log1p, log1pf, sqrt, sqrtf, fabs
from libc.stdint cimport int64_t, uint32_t, uint64_t
from rng cimport RngState, rng_uniform


# Every integer code of the compiled core is defined here, once; fastnn._kernels
# exports them to Python as name -> code mappings (ACTIVATION_CODES, LOSS_CODES,
# OPTIMIZER_CODES), which the Python tables read.

# Activation codes.
cdef enum:
    ACT_IDENTITY = 0
    ACT_SIGMOID = 1
    ACT_TANH = 2
    ACT_RELU = 3
    ACT_SOFTMAX = 4
    ACT_EXP = 5

# Loss codes.
cdef enum:
    LOSS_CROSS_ENTROPY = 0
    LOSS_BINARY_CROSS_ENTROPY = 1
    LOSS_MSE = 2
    LOSS_POISSON = 3

# Optimizer (update rule) codes, for apply_update at the end of this file, and
# the size of the hyper-parameter block every rule reads its own values from.
cdef enum:
    OPT_SGD = 0
    OPT_ADAGRAD = 1
    OPT_ADAM = 2
    HYPER_SIZE = 4


# The elementwise kernels over whole arrays (exp, sigmoid, tanh, their
# derivatives, softmax rows) are C in simd_kernels.h, compiled for the x86-64
# baseline, AVX2 and AVX-512 and dispatched at load time; the point functions
# (*_1) are the same arithmetic on one value, for loops that do more per
# element (the binary cross-entropy). The accuracy (1-3 ulp) and the
# determinism across instruction sets are documented there.
cdef extern from "simd_kernels.h" nogil:
    float fastnn_exp_f32_1(float x) noexcept
    double fastnn_exp_f64_1(double x) noexcept
    float fastnn_sigmoid_f32_1(float a) noexcept
    double fastnn_sigmoid_f64_1(double a) noexcept
    float fastnn_sigmoid_given_exp_f32_1(float a, float e) noexcept
    double fastnn_sigmoid_given_exp_f64_1(double a, double e) noexcept
    float fastnn_tanh_f32_1(float x) noexcept
    double fastnn_tanh_f64_1(double x) noexcept
    void fastnn_exp_f32(float* y, Py_ssize_t n) noexcept
    void fastnn_exp_f64(double* y, Py_ssize_t n) noexcept
    void fastnn_sigmoid_f32(float* y, Py_ssize_t n) noexcept
    void fastnn_sigmoid_f64(double* y, Py_ssize_t n) noexcept
    void fastnn_tanh_f32(float* y, Py_ssize_t n) noexcept
    void fastnn_tanh_f64(double* y, Py_ssize_t n) noexcept
    void fastnn_sigmoid_backward_f32(const float* y, float* g, Py_ssize_t n) noexcept
    void fastnn_sigmoid_backward_f64(const double* y, double* g, Py_ssize_t n) noexcept
    void fastnn_tanh_backward_f32(const float* y, float* g, Py_ssize_t n) noexcept
    void fastnn_tanh_backward_f64(const double* y, double* g, Py_ssize_t n) noexcept
    float fastnn_softmax_row_f32(float* row, Py_ssize_t n, float* top) noexcept
    double fastnn_softmax_row_f64(double* row, Py_ssize_t n, double* top) noexcept
    void fastnn_softmax_rows_f32(float* y, Py_ssize_t rows, Py_ssize_t cols) noexcept
    void fastnn_softmax_rows_f64(double* y, Py_ssize_t rows, Py_ssize_t cols) noexcept
    void fastnn_sgd_update_f32(float* W, const float* G, float* V, Py_ssize_t n, float lr,
                               float mu, int nesterov, float wd) noexcept
    void fastnn_sgd_update_f64(double* W, const double* G, double* V, Py_ssize_t n, double lr,
                               double mu, int nesterov, double wd) noexcept
    void fastnn_adagrad_update_f32(float* W, const float* G, float* S, Py_ssize_t n, float lr,
                                   float eps, float wd) noexcept
    void fastnn_adagrad_update_f64(double* W, const double* G, double* S, Py_ssize_t n,
                                   double lr, double eps, double wd) noexcept
    void fastnn_adam_update_f32(float* W, const float* G, float* M, float* V, Py_ssize_t n,
                                float step, float beta1, float beta2, float eps,
                                float root_bc2, float wd) noexcept
    void fastnn_adam_update_f64(double* W, const double* G, double* M, double* V, Py_ssize_t n,
                                double step, double beta1, double beta2, double eps,
                                double root_bc2, double wd) noexcept


cdef inline floating _exp(floating x) noexcept nogil:
    if floating is float:
        return fastnn_exp_f32_1(x)
    else:
        return fastnn_exp_f64_1(x)


cdef inline floating _log(floating x) noexcept nogil:
    if floating is float:
        return logf(x)
    else:
        return log(x)


cdef inline floating _log1p(floating x) noexcept nogil:
    if floating is float:
        return log1pf(x)
    else:
        return log1p(x)


cdef inline floating _tanh(floating x) noexcept nogil:
    if floating is float:
        return fastnn_tanh_f32_1(x)
    else:
        return fastnn_tanh_f64_1(x)


cdef inline floating _sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef inline floating _sigmoid(floating a) noexcept nogil:
    # 1/(1+e) or e/(1+e) with e = e^{-|a|} <= 1 (simd_kernels.h).
    if floating is float:
        return fastnn_sigmoid_f32_1(a)
    else:
        return fastnn_sigmoid_f64_1(a)


cdef inline floating _sigmoid_given_exp(floating a, floating e) noexcept nogil:
    # _sigmoid(a) from e = _exp(-|a|) already computed (the binary
    # cross-entropy needs e for its loss too): the same operations, the same bits.
    if floating is float:
        return fastnn_sigmoid_given_exp_f32_1(a, e)
    else:
        return fastnn_sigmoid_given_exp_f64_1(a, e)


# ---------------------------------------------------------------- forward ---

cdef inline void add_bias(floating* Y, const floating* b, Py_ssize_t rows,
                          Py_ssize_t cols) noexcept nogil:
    """Y[i, j] += b[j]."""
    cdef Py_ssize_t i, j
    for i in range(rows):
        for j in range(cols):
            Y[i * cols + j] += b[j]


cdef inline void add_column_sums(const floating* D, Py_ssize_t rows, Py_ssize_t cols,
                                 floating alpha, floating beta, floating* out) noexcept nogil:
    """out[j] = beta out[j] + alpha sum_i D[i, j] (out not read when beta = 0):
    the bias gradient of a batch, or the bias update folded into SGD."""
    cdef Py_ssize_t i, j
    if beta == 0:
        for j in range(cols):
            out[j] = 0
    elif beta != 1:
        for j in range(cols):
            out[j] *= beta
    for i in range(rows):
        for j in range(cols):
            out[j] += alpha * D[i * cols + j]


cdef inline void softmax_rows(floating* Y, Py_ssize_t rows, Py_ssize_t cols) noexcept nogil:
    """Y[i, :] = exp(Y[i, :] - max_j Y[i, j]) / sum_j exp(...), in place."""
    if floating is float:
        fastnn_softmax_rows_f32(Y, rows, cols)
    else:
        fastnn_softmax_rows_f64(Y, rows, cols)


cdef inline floating softmax_row(floating* row, Py_ssize_t cols, floating* top) noexcept nogil:
    """One row of softmax_rows: row becomes softmax(row); returns sum_j exp(row[j] - top),
    the normaliser, and writes top = max_j row[j] (both taken before the overwrite)."""
    if floating is float:
        return fastnn_softmax_row_f32(row, cols, top)
    else:
        return fastnn_softmax_row_f64(row, cols, top)


cdef inline void exp_inplace(floating* Y, Py_ssize_t n) noexcept nogil:
    """Y = exp(Y) elementwise."""
    if floating is float:
        fastnn_exp_f32(Y, n)
    else:
        fastnn_exp_f64(Y, n)


cdef inline void activation_forward(int code, floating* Y, Py_ssize_t rows,
                                    Py_ssize_t cols) noexcept nogil:
    """Y = f(Y) in place, f chosen by the activation code."""
    cdef Py_ssize_t i, n = rows * cols
    if code == ACT_SIGMOID:
        if floating is float:
            fastnn_sigmoid_f32(Y, n)
        else:
            fastnn_sigmoid_f64(Y, n)
    elif code == ACT_TANH:
        if floating is float:
            fastnn_tanh_f32(Y, n)
        else:
            fastnn_tanh_f64(Y, n)
    elif code == ACT_RELU:
        # Branch-free so that the compiler vectorises it.
        for i in range(n):
            Y[i] = Y[i] if Y[i] > 0 else 0
    elif code == ACT_SOFTMAX:
        softmax_rows(Y, rows, cols)
    elif code == ACT_EXP:
        for i in range(n):
            Y[i] = _exp(Y[i])


# --------------------------------------------------------------- backward ---

cdef inline void activation_backward(int code, const floating* Y, floating* G,
                                     Py_ssize_t rows, Py_ssize_t cols) noexcept nogil:
    """G = f'(a) * G in place, with f'(a) written from the output Y = f(a).

    sigmoid: y (1 - y); tanh: 1 - y^2; relu: [y > 0]; exp: y; identity: 1.
    softmax is not elementwise: G[i] = Y[i] * (G[i] - <G[i], Y[i]>), the
    Jacobian-vector product of row i.
    """
    cdef Py_ssize_t i, j, n = rows * cols
    cdef floating s
    if code == ACT_SIGMOID:
        if floating is float:
            fastnn_sigmoid_backward_f32(Y, G, n)
        else:
            fastnn_sigmoid_backward_f64(Y, G, n)
    elif code == ACT_TANH:
        if floating is float:
            fastnn_tanh_backward_f32(Y, G, n)
        else:
            fastnn_tanh_backward_f64(Y, G, n)
    elif code == ACT_RELU:
        for i in range(n):
            G[i] = G[i] if Y[i] > 0 else 0
    elif code == ACT_EXP:
        for i in range(n):
            G[i] *= Y[i]
    elif code == ACT_SOFTMAX:
        for i in range(rows):
            s = 0
            for j in range(cols):
                s += G[i * cols + j] * Y[i * cols + j]
            for j in range(cols):
                G[i * cols + j] = Y[i * cols + j] * (G[i * cols + j] - s)


# ------------------------------------------------------------------ losses ---
# Each loss returns the weighted SUM of the per-example losses of the batch,
# sum_i w_i l_i (in double), and writes the gradient with respect to its input
# times scale w_i (the caller passes scale = 1 / sum_i w_i, so gradients are
# weighted batch means; without weights w_i = 1 and scale = 1 / rows).
#
# The targets come in one of two kinds, chosen by which pointer is given:
#   labels (int64, one per row; T is NULL): class indices, one-hot targets for
#       several output units, the 0/1 target itself for one unit;
#   T (rows x cols, the model's dtype; labels is NULL): dense targets (soft or
#       multi-label probabilities, regression values).
# w is NULL for unweighted rows.

cdef inline int _target(const int64_t* labels, Py_ssize_t i, Py_ssize_t j,
                        Py_ssize_t cols) noexcept nogil:
    # One output unit: the label itself is the 0/1 target (logistic regression).
    # Several units: the one-hot encoding of the label.
    if cols == 1:
        return <int>labels[i]
    return 1 if labels[i] == j else 0


cdef inline floating _target_value(const int64_t* labels, const floating* T, Py_ssize_t i,
                                   Py_ssize_t j, Py_ssize_t cols) noexcept nogil:
    """t[i, j] of either target kind."""
    if T != NULL:
        return T[i * cols + j]
    return <floating>_target(labels, i, j, cols)


cdef inline double _weight(const floating* w, Py_ssize_t i) noexcept nogil:
    return 1.0 if w == NULL else <double>w[i]


cdef inline double softmax_cross_entropy(floating* A, const int64_t* labels, const floating* T,
                                         const floating* w, Py_ssize_t rows, Py_ssize_t cols,
                                         floating scale, floating* delta) noexcept nogil:
    """Fused softmax + log-loss from the logits A (rows x cols).

    l_i = -sum_j t_ij log p_ij = sum_j t_ij (top_i - a_ij) + s_i log sum_j e^{a_ij - top_i},
    s_i = sum_j t_ij (1 for a label), top_i = max_j a_ij: never log(0), even
    when p underflows. On return A holds p = softmax(A) and delta =
    scale w_i (s_i p - t), the gradient at the pre-activation level (p - onehot
    for a label). The identity delta = p - t holds for a softmax output with
    the log-loss (and, per unit, for a sigmoid output with binary
    cross-entropy); any other pairing must go through activation_backward.
    """
    cdef Py_ssize_t i, j
    cdef floating top, total, s, t_sum
    cdef floating* row
    cdef floating* drow
    cdef const floating* trow
    cdef double loss = 0, li, ta
    for i in range(rows):
        row = A + i * cols
        drow = delta + i * cols
        trow = T + i * cols if T != NULL else NULL
        s = scale if w == NULL else scale * w[i]
        # The loss needs the logits before softmax_row overwrites them with
        # p_ij: ta = sum_j t_ij a_ij.
        if T == NULL:
            ta = <double>row[labels[i]]
            t_sum = 1
        else:
            ta = 0
            t_sum = 0
            for j in range(cols):
                ta += <double>trow[j] * <double>row[j]
                t_sum += trow[j]
        # Row becomes p_i; total = sum_j e^{a_ij - top_i}.
        total = softmax_row(row, cols, &top)
        li = <double>t_sum * <double>top - ta + <double>t_sum * <double>_log(total)
        loss += _weight(w, i) * li
        if T == NULL:
            for j in range(cols):
                drow[j] = s * row[j]
            drow[labels[i]] -= s
        else:
            for j in range(cols):
                drow[j] = s * (t_sum * row[j] - trow[j])
    return loss


cdef inline double sigmoid_binary_cross_entropy(floating* A, const int64_t* labels,
                                                const floating* T, const floating* w,
                                                Py_ssize_t rows, Py_ssize_t cols,
                                                floating scale, floating* delta) noexcept nogil:
    """Fused sigmoid + binary cross-entropy, summed over the output units.

    l_i = -sum_j [t_j log p_j + (1 - t_j) log(1 - p_j)], p = sigmoid(a),
    computed as max(a, 0) - a t + log(1 + e^{-|a|}) so it never takes log(0);
    t in [0, 1] may be soft. On return A holds p and delta = scale w_i (p - t).
    """
    cdef Py_ssize_t i, j, k
    cdef floating a, t, s, e
    cdef double loss = 0, li
    for i in range(rows):
        s = scale if w == NULL else scale * w[i]
        li = 0
        for j in range(cols):
            k = i * cols + j
            a = A[k]
            t = _target_value(labels, T, i, j, cols)
            e = _exp(<floating>-fabs(a))      # one exp for the loss and the sigmoid
            li += <double>((a if a > 0 else 0) - a * t + _log1p(e))
            A[k] = _sigmoid_given_exp(a, e)
            delta[k] = s * (A[k] - t)
        loss += _weight(w, i) * li
    return loss


cdef inline double squared_error(const floating* Y, const int64_t* labels, const floating* T,
                                 const floating* w, Py_ssize_t rows, Py_ssize_t cols,
                                 floating scale, floating* G) noexcept nogil:
    """l_i = 1/2 sum_j (y_j - t_j)^2; G = scale w_i (y - t), the gradient at the
    output (the caller multiplies by f'(a) with activation_backward)."""
    cdef Py_ssize_t i, j, k
    cdef floating diff, s
    cdef double loss = 0, li
    for i in range(rows):
        s = scale if w == NULL else scale * w[i]
        li = 0
        for j in range(cols):
            k = i * cols + j
            diff = Y[k] - _target_value(labels, T, i, j, cols)
            li += 0.5 * <double>diff * diff
            G[k] = s * diff
        loss += _weight(w, i) * li
    return loss


cdef inline double exp_poisson(floating* A, const int64_t* labels, const floating* T,
                               const floating* w, Py_ssize_t rows, Py_ssize_t cols,
                               floating scale, floating* G) noexcept nogil:
    """Half the Poisson deviance of y = exp(a) (scikit-learn's MLPRegressor
    loss="poisson"): l_i = sum_j y_ij - t_ij a_ij + t_ij log t_ij - t_ij
    (t log t = 0 at t = 0), from the logits a. On return A holds y and
    G = scale w_i (y - t): exp is the canonical link of the Poisson loss, so
    the delta at a is y - t (as softmax with the log-loss)."""
    cdef Py_ssize_t i, j, k
    cdef floating s, t, y
    cdef double loss = 0, li
    for i in range(rows):
        s = scale if w == NULL else scale * w[i]
        li = 0
        for j in range(cols):
            k = i * cols + j
            t = _target_value(labels, T, i, j, cols)
            y = _exp(A[k])
            li += <double>y - <double>t * A[k] - t
            if t > 0:
                li += <double>t * log(<double>t)
            A[k] = y
            G[k] = s * (y - t)
        loss += _weight(w, i) * li
    return loss


cdef inline bint loss_takes_logits(int loss) noexcept nogil:
    """True when the loss kernel applies the output activation itself (fused
    softmax / sigmoid), so the forward pass leaves the last layer's logits."""
    return loss != LOSS_MSE


cdef inline double output_delta(int loss, int activation, floating* out,
                                const int64_t* labels, const floating* T, const floating* w,
                                Py_ssize_t rows, Py_ssize_t cols,
                                floating scale, floating* delta) noexcept nogil:
    """The loss kernel of ``loss`` on the output layer's ``out`` (rows x cols)
    against labels or dense targets T (one of them NULL), rows weighted by w
    (NULL: 1): returns sum_i w_i l_i and writes delta = scale w_i dl_i/da, the
    gradient at the pre-activation a. Fused losses take the logits in ``out``
    and leave the probabilities there; the squared error takes y = f(a) and
    multiplies by f'(a) through activation_backward."""
    cdef double total
    if loss == LOSS_CROSS_ENTROPY:
        return softmax_cross_entropy(out, labels, T, w, rows, cols, scale, delta)
    if loss == LOSS_BINARY_CROSS_ENTROPY:
        return sigmoid_binary_cross_entropy(out, labels, T, w, rows, cols, scale, delta)
    if loss == LOSS_POISSON:
        return exp_poisson(out, labels, T, w, rows, cols, scale, delta)
    total = squared_error(out, labels, T, w, rows, cols, scale, delta)
    activation_backward(activation, out, delta, rows, cols)
    return total


cdef inline Py_ssize_t _argmax(const floating* row, Py_ssize_t cols) noexcept nogil:
    cdef Py_ssize_t j, best = 0
    for j in range(1, cols):
        if row[j] > row[best]:
            best = j
    return best


cdef inline double count_correct(int loss, const floating* P, const int64_t* labels,
                                 const floating* T, const floating* w, Py_ssize_t rows,
                                 Py_ssize_t cols) noexcept nogil:
    """Weighted count sum_i w_i [row i predicted right] (w NULL: the number of rows).

    Labels: the argmax of P equals the label (p > 0.5 for a single unit).
    Dense targets with binary cross-entropy: every unit agrees, p_ij > 0.5
    exactly where t_ij > 0.5 (subset accuracy, as scikit-learn scores
    multi-label outputs). Dense targets with cross-entropy: argmax p = argmax t.
    Dense targets with the squared error: 0 (no accuracy is reported).
    """
    cdef Py_ssize_t i, j, best
    cdef bint right
    cdef double correct = 0
    if T != NULL and (loss == LOSS_MSE or loss == LOSS_POISSON):
        return 0
    for i in range(rows):
        if T == NULL:
            if cols == 1:
                best = 1 if P[i] > 0.5 else 0
            else:
                best = _argmax(P + i * cols, cols)
            right = best == labels[i]
        elif loss == LOSS_BINARY_CROSS_ENTROPY:
            right = True
            for j in range(cols):
                if (P[i * cols + j] > 0.5) != (T[i * cols + j] > 0.5):
                    right = False
        else:
            right = _argmax(P + i * cols, cols) == _argmax(T + i * cols, cols)
        if right:
            correct += _weight(w, i)
    return correct


# ------------------------------------------------------------ input checks ---

cdef enum:
    FINITE_BLOCK = 256


# A value is not finite exactly when its exponent bits are all ones, that is
# when (bits & EXPONENT) + EXPONENT_ONE carries into the sign bit.
cdef inline uint32_t _non_finite_bit32(uint32_t bits) noexcept nogil:
    return ((bits & 0x7f800000u) + 0x00800000u) >> 31


cdef inline uint64_t _non_finite_bit64(uint64_t bits) noexcept nogil:
    return ((bits & 0x7ff0000000000000u) + 0x0010000000000000u) >> 63


cdef inline Py_ssize_t first_non_finite(const floating* x, Py_ssize_t n) noexcept nogil:
    """Index of the first NaN or +-inf among x[0:n], or -1 when all are finite.

    The bit test above is integer AND, ADD and shift (vectorised by the
    compiler even on the x86-64 baseline, for 32- and 64-bit lanes), OR-ed
    over blocks of FINITE_BLOCK values; only a block that has one is scanned
    for its position."""
    cdef Py_ssize_t start = 0, i, end
    cdef uint64_t found
    cdef const uint32_t* bits32 = <const uint32_t*>x
    cdef const uint64_t* bits64 = <const uint64_t*>x
    while start < n:
        end = start + FINITE_BLOCK if start + FINITE_BLOCK < n else n
        found = 0
        if floating is float:
            for i in range(start, end):
                found |= _non_finite_bit32(bits32[i])
        else:
            for i in range(start, end):
                found |= _non_finite_bit64(bits64[i])
        if found:
            for i in range(start, end):
                if (_non_finite_bit32(bits32[i]) if floating is float
                        else _non_finite_bit64(bits64[i])):
                    return i
        start = end
    return -1


# ----------------------------------------------------------------- dropout ---

cdef inline void dropout_mask(RngState* rng, floating* mask, Py_ssize_t n,
                              double p, floating keep_value) noexcept nogil:
    """mask[i] = 0 with probability p, else keep_value; one uniform draw per
    element, in order, so a seed fixes the mask bitwise."""
    cdef Py_ssize_t i
    for i in range(n):
        mask[i] = keep_value if rng_uniform(rng) >= p else 0


cdef inline void multiply(const floating* X, const floating* M, floating* out,
                          Py_ssize_t n) noexcept nogil:
    """out = X * M elementwise (out may alias X)."""
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = X[i] * M[i]


# ----------------------------------------------------------------- updates ---
# W and G are flat arrays of n parameters. ``weight_decay`` adds wd * W to the
# gradient (callers pass 0 for biases).

cdef inline void sgd_update(floating* W, const floating* G, floating* V, Py_ssize_t n,
                            floating lr, floating momentum, bint nesterov,
                            floating weight_decay) noexcept nogil:
    """g = G + wd W; v = mu v + g; W -= lr (g + mu v if nesterov else v).
    With momentum 0 (V unused, may be NULL): W -= lr g. (The loops, over
    every instruction set, are in simd_loops.h.)"""
    if floating is float:
        fastnn_sgd_update_f32(W, G, V, n, lr, momentum, nesterov, weight_decay)
    else:
        fastnn_sgd_update_f64(W, G, V, n, lr, momentum, nesterov, weight_decay)


cdef inline void adagrad_update(floating* W, const floating* G, floating* S, Py_ssize_t n,
                                floating lr, floating eps,
                                floating weight_decay) noexcept nogil:
    """g = G + wd W; S += g^2; W -= lr g / (sqrt(S) + eps)."""
    if floating is float:
        fastnn_adagrad_update_f32(W, G, S, n, lr, eps, weight_decay)
    else:
        fastnn_adagrad_update_f64(W, G, S, n, lr, eps, weight_decay)


cdef inline void adam_update(floating* W, const floating* G, floating* M, floating* V,
                             Py_ssize_t n, floating lr, floating beta1, floating beta2,
                             floating eps, floating bias_correction1,
                             floating bias_correction2, floating weight_decay) noexcept nogil:
    """g = G + wd W; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
    W -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps), bc_k = 1 - beta_k^t."""
    cdef floating step = lr / bias_correction1
    cdef floating root_bc2 = _sqrt(bias_correction2)
    if floating is float:
        fastnn_adam_update_f32(W, G, M, V, n, step, beta1, beta2, eps, root_bc2, weight_decay)
    else:
        fastnn_adam_update_f64(W, G, M, V, n, step, beta1, beta2, eps, root_bc2, weight_decay)


cdef inline bint is_plain_sgd(int rule, const double* hyper) noexcept nogil:
    """SGD without momentum: W <- W - lr (G + wd W) needs no gradient buffer,
    so the training loop folds it into the weight-gradient GEMM."""
    return rule == OPT_SGD and hyper[0] == 0


cdef inline void apply_update(int rule, const double* hyper, long long t, floating* W,
                              const floating* G, floating* S1, floating* S2, Py_ssize_t n,
                              floating lr, floating weight_decay) noexcept nogil:
    """One step of update rule ``rule`` on the n parameters W from their
    gradient G, with state arrays S1, S2 and the rule's block ``hyper``:

    ========== ============================== ==============================
    rule       hyper                          state
    ========== ============================== ==============================
    OPT_SGD    (momentum, nesterov as 0 or 1) S1 = velocity (unused, may be
                                              NULL, when momentum is 0)
    OPT_ADAGRAD (eps,)                        S1 = sum of squared gradients
    OPT_ADAM   (beta1, beta2, eps, eps_on_v)  S1 = m, S2 = v; t >= 1 is this
                                              step's number (bias correction)
    ========== ============================== ==============================

    Adam's ``eps_on_v`` (0 or 1) says where eps is added: 0 to sqrt(v_hat)
    (PyTorch), 1 to sqrt(v) before the bias correction (scikit-learn, Kingma
    and Ba's Algorithm 1 reordered), which is the first form with eps
    replaced by eps / sqrt(1 - beta2^t).

    Entries of hyper past a rule's own are unused (fastnn/optimizers.py,
    ``Optimizer.config``, fills the block)."""
    if rule == OPT_SGD:
        sgd_update(W, G, S1, n, lr, <floating>hyper[0], hyper[1] != 0, weight_decay)
    elif rule == OPT_ADAGRAD:
        adagrad_update(W, G, S1, n, lr, <floating>hyper[0], weight_decay)
    elif rule == OPT_ADAM:
        adam_update(W, G, S1, S2, n, lr, <floating>hyper[0], <floating>hyper[1],
                    <floating>(hyper[2] / sqrt(1 - hyper[1] ** t) if hyper[3] != 0
                               else hyper[2]),
                    <floating>(1 - hyper[0] ** t), <floating>(1 - hyper[1] ** t), weight_decay)
