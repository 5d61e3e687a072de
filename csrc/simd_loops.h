/* The array loops of simd_kernels.h, compiled once per instruction set.
 *
 * simd_kernels.h includes this file several times, each time with
 * FASTNN_ISA (the name suffix: baseline, avx2, avx512) and FASTNN_ISA_ATTR
 * (empty, or __attribute__((target(...)))) defined; every function below is
 * then fastnn_<kernel>_<dtype>_<isa>. The point functions it calls are
 * always_inline, so each copy is vectorised for its own instruction set.
 * Do not include it on its own.
 */
#ifndef FASTNN_ISA
#error "simd_loops.h is included by simd_kernels.h, with FASTNN_ISA defined"
#endif

#ifndef FASTNN_LOOP_MACROS
#define FASTNN_LOOP_MACROS
#define FASTNN_PASTE_(base, isa) base##_##isa
#define FASTNN_PASTE(base, isa) FASTNN_PASTE_(base, isa)
#define FASTNN_NAME(base) FASTNN_PASTE(base, FASTNN_ISA)
#define FASTNN_LANES 16

/* y[i] = point(y[i]) for i < n. */
#define FASTNN_MAP(base, T, point)                                          \
    FASTNN_ISA_ATTR static void FASTNN_NAME(base)(T* y, Py_ssize_t n) {    \
        Py_ssize_t i;                                                       \
        _Pragma("omp simd")                                                 \
        for (i = 0; i < n; i++) y[i] = point(y[i]);                         \
    }

/* g[i] = g[i] * f'(a_i), f' written from the output y[i] = f(a_i). */
#define FASTNN_BACKWARD(base, T, derivative)                                         \
    FASTNN_ISA_ATTR static void FASTNN_NAME(base)(const T* y, T* g, Py_ssize_t n) { \
        Py_ssize_t i;                                                                \
        _Pragma("omp simd")                                                          \
        for (i = 0; i < n; i++) g[i] = g[i] * (derivative);                         \
    }

/* Softmax of one row of n >= 1 values, in place:
 * row = exp(row - top) / total with top = max(row), total = sum exp(row - top).
 * Returns total and writes top (the fused log-loss needs both).
 * Both reductions run over FASTNN_LANES fixed lanes (element j in lane j % 16)
 * combined by a fixed halving tree, so that the order of the additions, and
 * therefore the bits of the result, do not depend on the vector width. The
 * last n % 16 elements go through one whole block padded with -inf, which
 * changes no lane (max(lane, -inf) = lane, lane + exp(-inf) = lane), so a row
 * of 10 -- the output layer -- is one vector block, not 10 scalar exps. */
#define FASTNN_SOFTMAX_ROW(base, T, exp1)                                             \
    FASTNN_ISA_ATTR static T FASTNN_NAME(base)(T* row, Py_ssize_t n, T* top_out) {   \
        T lane[FASTNN_LANES], pad[FASTNN_LANES], top, total, inv, e;                  \
        Py_ssize_t b, l, w, j;                                                        \
        for (l = 0; l < FASTNN_LANES; l++) lane[l] = row[0];                          \
        for (b = 0; b + FASTNN_LANES <= n; b += FASTNN_LANES)                         \
            for (l = 0; l < FASTNN_LANES; l++)                                        \
                lane[l] = row[b + l] > lane[l] ? row[b + l] : lane[l];                \
        if (b < n) {                                                                  \
            for (l = 0; l < FASTNN_LANES; l++) pad[l] = -HUGE_VAL;                    \
            memcpy(pad, row + b, (size_t)(n - b) * sizeof(T));                        \
            for (l = 0; l < FASTNN_LANES; l++)                                        \
                lane[l] = pad[l] > lane[l] ? pad[l] : lane[l];                        \
        }                                                                             \
        for (w = FASTNN_LANES / 2; w >= 1; w /= 2)                                    \
            for (l = 0; l < w; l++)                                                   \
                lane[l] = lane[l + w] > lane[l] ? lane[l + w] : lane[l];              \
        top = lane[0];                                                                \
        for (l = 0; l < FASTNN_LANES; l++) lane[l] = 0;                               \
        for (b = 0; b + FASTNN_LANES <= n; b += FASTNN_LANES)                         \
            for (l = 0; l < FASTNN_LANES; l++) {                                      \
                e = exp1(row[b + l] - top);                                           \
                row[b + l] = e;                                                       \
                lane[l] += e;                                                         \
            }                                                                         \
        if (b < n) {                                                                  \
            for (l = 0; l < FASTNN_LANES; l++) pad[l] = -HUGE_VAL;                    \
            memcpy(pad, row + b, (size_t)(n - b) * sizeof(T));                        \
            for (l = 0; l < FASTNN_LANES; l++) {                                      \
                e = exp1(pad[l] - top);                                               \
                pad[l] = e;                                                           \
                lane[l] += e;                                                         \
            }                                                                         \
            memcpy(row + b, pad, (size_t)(n - b) * sizeof(T));                        \
        }                                                                             \
        for (w = FASTNN_LANES / 2; w >= 1; w /= 2)                                    \
            for (l = 0; l < w; l++) lane[l] += lane[l + w];                           \
        total = lane[0];                                                              \
        inv = 1 / total;                                                              \
        _Pragma("omp simd")                                                           \
        for (j = 0; j < n; j++) row[j] *= inv;                                        \
        *top_out = top;                                                               \
        return total;                                                                 \
    }

/* Softmax of each of the rows x cols row-major rows, in place. */
#define FASTNN_SOFTMAX_ROWS(base, T, row_kernel)                                           \
    FASTNN_ISA_ATTR static void FASTNN_NAME(base)(T* y, Py_ssize_t rows, Py_ssize_t cols) { \
        Py_ssize_t i;                                                                       \
        T top;                                                                              \
        for (i = 0; i < rows; i++) FASTNN_NAME(row_kernel)(y + i * cols, cols, &top);      \
    }

/* The update rules of csrc/kernels.pxd (sgd_update, adagrad_update,
 * adam_update: the maths is documented there), over n parameters W with
 * gradient G, in the order of operations of their scalar form, so that every
 * variant gives the same bits. The arrays do not overlap. */
#define FASTNN_SGD(base, T)                                                            \
    FASTNN_ISA_ATTR static void FASTNN_NAME(base)(T* W, const T* G, T* V, Py_ssize_t n, \
                                                  T lr, T mu, int nesterov, T wd) {     \
        Py_ssize_t i;                                                                   \
        T g, v;                                                                         \
        if (mu == 0) {                                                                  \
            _Pragma("omp simd")                                                         \
            for (i = 0; i < n; i++) W[i] -= lr * (G[i] + wd * W[i]);                    \
        } else if (nesterov) {                                                          \
            _Pragma("omp simd private(g, v)")                                           \
            for (i = 0; i < n; i++) {                                                   \
                g = G[i] + wd * W[i];                                                   \
                v = mu * V[i] + g;                                                      \
                V[i] = v;                                                               \
                W[i] -= lr * (g + mu * v);                                              \
            }                                                                           \
        } else {                                                                        \
            _Pragma("omp simd private(g, v)")                                           \
            for (i = 0; i < n; i++) {                                                   \
                g = G[i] + wd * W[i];                                                   \
                v = mu * V[i] + g;                                                      \
                V[i] = v;                                                               \
                W[i] -= lr * v;                                                         \
            }                                                                           \
        }                                                                               \
    }

#define FASTNN_ADAGRAD(base, T, sqrt1)                                                 \
    FASTNN_ISA_ATTR static void FASTNN_NAME(base)(T* W, const T* G, T* S, Py_ssize_t n, \
                                                  T lr, T eps, T wd) {                  \
        Py_ssize_t i;                                                                   \
        T g, s;                                                                         \
        _Pragma("omp simd private(g, s)")                                               \
        for (i = 0; i < n; i++) {                                                       \
            g = G[i] + wd * W[i];                                                       \
            s = S[i] + g * g;                                                           \
            S[i] = s;                                                                   \
            W[i] -= lr * g / (sqrt1(s) + eps);                                          \
        }                                                                               \
    }

#define FASTNN_ADAM(base, T, sqrt1)                                                    \
    FASTNN_ISA_ATTR static void FASTNN_NAME(base)(T* W, const T* G, T* M, T* V,         \
                                                  Py_ssize_t n, T step, T beta1,        \
                                                  T beta2, T eps, T root_bc2, T wd) {   \
        Py_ssize_t i;                                                                   \
        T g, m, v;                                                                      \
        _Pragma("omp simd private(g, m, v)")                                            \
        for (i = 0; i < n; i++) {                                                       \
            g = G[i] + wd * W[i];                                                       \
            m = beta1 * M[i] + ((T)1 - beta1) * g;                                      \
            v = beta2 * V[i] + ((T)1 - beta2) * g * g;                                  \
            M[i] = m;                                                                   \
            V[i] = v;                                                                   \
            W[i] -= step * m / (sqrt1(v) / root_bc2 + eps);                             \
        }                                                                               \
    }
#endif /* FASTNN_LOOP_MACROS */

FASTNN_MAP(fastnn_exp_f32, float, fastnn_exp_f32_1)
FASTNN_MAP(fastnn_exp_f64, double, fastnn_exp_f64_1)
FASTNN_MAP(fastnn_sigmoid_f32, float, fastnn_sigmoid_f32_1)
FASTNN_MAP(fastnn_sigmoid_f64, double, fastnn_sigmoid_f64_1)
FASTNN_MAP(fastnn_tanh_f32, float, fastnn_tanh_f32_1)
FASTNN_MAP(fastnn_tanh_f64, double, fastnn_tanh_f64_1)
FASTNN_BACKWARD(fastnn_sigmoid_backward_f32, float, y[i] * (1.0f - y[i]))
FASTNN_BACKWARD(fastnn_sigmoid_backward_f64, double, y[i] * (1.0 - y[i]))
FASTNN_BACKWARD(fastnn_tanh_backward_f32, float, 1.0f - y[i] * y[i])
FASTNN_BACKWARD(fastnn_tanh_backward_f64, double, 1.0 - y[i] * y[i])
FASTNN_SOFTMAX_ROW(fastnn_softmax_row_f32, float, fastnn_exp_f32_1)
FASTNN_SOFTMAX_ROW(fastnn_softmax_row_f64, double, fastnn_exp_f64_1)
FASTNN_SOFTMAX_ROWS(fastnn_softmax_rows_f32, float, fastnn_softmax_row_f32)
FASTNN_SOFTMAX_ROWS(fastnn_softmax_rows_f64, double, fastnn_softmax_row_f64)
FASTNN_SGD(fastnn_sgd_update_f32, float)
FASTNN_SGD(fastnn_sgd_update_f64, double)
FASTNN_ADAGRAD(fastnn_adagrad_update_f32, float, FASTNN_SQRTF)
FASTNN_ADAGRAD(fastnn_adagrad_update_f64, double, FASTNN_SQRT)
FASTNN_ADAM(fastnn_adam_update_f32, float, FASTNN_SQRTF)
FASTNN_ADAM(fastnn_adam_update_f64, double, FASTNN_SQRT)
