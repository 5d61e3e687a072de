/* SIMD elementwise kernels: exp, sigmoid, tanh, their derivatives from the
 * output, softmax rows and the optimizers' update rules, in float32 and
 * float64, with the instruction set chosen at run time.
 *
 * How it is built
 * ---------------
 * The point functions below (fastnn_exp_f32_1, ...) are plain C on one value:
 * a range reduction, a polynomial and exponent-bit arithmetic, with no libm
 * call and no branch, so that a loop over them vectorises. simd_loops.h holds
 * the loops over whole arrays; it is included once per instruction set, each
 * time with its functions marked __attribute__((target(...))), so the same
 * source is compiled three times: for the x86-64 baseline (SSE2, 4 floats a
 * vector), for AVX2 (8) and for AVX-512F (16). A table of function pointers
 * per instruction set is picked once, when the extension module is loaded
 * (a constructor), from cpuid (__builtin_cpu_supports, which also checks that
 * the OS saves the vector registers) -- the best one the CPU runs, or the one
 * named by the environment variable FASTNN_SIMD=avx512|avx2|baseline. Nothing
 * is compiled with -march: the wheel runs on any x86-64. With another
 * compiler or CPU architecture only the portable loops are built (the
 * compiler's own vectoriser still applies).
 *
 * Each extension module that includes this header has its own table, chosen
 * the same way; fastnn._kernels checks FASTNN_SIMD at import (a bad value is a
 * ValueError there) and has a private setter for the tests.
 *
 * Determinism
 * -----------
 * Every variant performs the same IEEE operations on each element in the
 * same order, so the results are bitwise identical whichever runs. That needs
 * no contraction of a*b+c into a fused multiply-add (the AVX-512 variant has
 * FMA, the baseline has not): setup.py compiles with -ffp-contract=off.
 * Explicit fma() everywhere would also be deterministic but costs a libm call
 * per operation on the baseline; the polynomials are accurate enough without.
 * (clang also honours the standard pragma below; gcc only the flag.)
 * Sums (softmax) are accumulated in 16 fixed lanes, element j into lane
 * j % 16, and the lanes combined by a fixed halving tree: the same order for
 * vectors of 4, 8 or 16. A NaN input gives a NaN output in every variant
 * (the elementwise functions return the input NaN itself).
 *
 * Accuracy: max error in units in the last place of the result against the
 * exact value (long double), measured by tests/test_simd.py over a dense grid
 * of the whole range, random values and values near zero; the test asserts
 * the bound (glibc's expf/exp and tanhf/tanh are within about 1 ulp):
 *
 *     function   float32   float64   bound   range
 *     exp        1.01      0.97      1.5     whole range, subnormal results included
 *     sigmoid    2.61      2.53      3       whole range
 *     tanh       2.16      2.12      3       whole range
 *
 * So the results differ from libm's in the last bit or two: no test compares
 * with libm bit for bit (the NumPy/PyTorch tolerances are far looser).
 *
 * Special values: exp(-inf) = 0, exp(+inf) = +inf, exp overflows to +inf and
 * underflows through the subnormals to 0 where libm does; sigmoid(-inf) = 0,
 * sigmoid(+inf) = 1; tanh saturates to +-1 and keeps the sign of zero.
 */
#ifndef FASTNN_SIMD_KERNELS_H
#define FASTNN_SIMD_KERNELS_H

#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#if defined(__x86_64__) && defined(__GNUC__)
#define FASTNN_SIMD_DISPATCH 1
#else
#define FASTNN_SIMD_DISPATCH 0
#endif

#if defined(__GNUC__)
#define FASTNN_INLINE static inline __attribute__((always_inline))
#define FASTNN_UNUSED __attribute__((unused))
#define FASTNN_FABSF __builtin_fabsf
#define FASTNN_FABS __builtin_fabs
#define FASTNN_COPYSIGNF __builtin_copysignf
#define FASTNN_COPYSIGN __builtin_copysign
#define FASTNN_SQRTF __builtin_sqrtf
#define FASTNN_SQRT __builtin_sqrt
#else
#define FASTNN_INLINE static inline
#define FASTNN_UNUSED
#define FASTNN_FABSF fabsf
#define FASTNN_FABS fabs
#define FASTNN_COPYSIGNF copysignf
#define FASTNN_COPYSIGN copysign
#define FASTNN_SQRTF sqrtf
#define FASTNN_SQRT sqrt
#endif

/* ------------------------------------------------------------ bit casts --- */

FASTNN_INLINE uint32_t fastnn_bits_f32(float x) { uint32_t b; memcpy(&b, &x, 4); return b; }
FASTNN_INLINE float fastnn_f32_bits(uint32_t b) { float x; memcpy(&x, &b, 4); return x; }
FASTNN_INLINE uint64_t fastnn_bits_f64(double x) { uint64_t b; memcpy(&b, &x, 8); return b; }
FASTNN_INLINE double fastnn_f64_bits(uint64_t b) { double x; memcpy(&x, &b, 8); return x; }

/* --------------------------------------------------------- the exp core ---
 * e^x = 2^k e^r with k = round(x / ln2) and r = x - k ln2, |r| <= ln2/2 (a
 * hair more where x / ln2 rounds near a half). Adding the shifter 1.5 * 2^p
 * (p = mantissa bits) rounds x / ln2 to an integer in the last mantissa bits,
 * so k is read from the bits of t without a float-to-int conversion. ln2 is
 * split in two (Cody and Waite): k * LN2_HI is exact, so x - k * LN2_HI is
 * exact, and LN2_LO carries the rest. The core returns q = e^r - 1 by the
 * Taylor series r + r^2 (1/2! + r/3! + ...), truncated where the next term is
 * under a tenth of an ulp for |r| <= 0.35 (degree 7 in float32, 13 in
 * float64), and writes k (two's complement, as an unsigned integer). Returning
 * e^r - 1 rather than e^r keeps tanh accurate near 0. */

FASTNN_INLINE float fastnn_expm1_core_f32(float x, uint32_t* k_out) {
    const float shifter = 12582912.0f; /* 1.5 * 2^23 */
    float t = x * 1.44269504088896341f + shifter;
    float k = t - shifter;
    float r = x - k * 0.693359375f;      /* LN2_HI: 9 significant bits */
    float p;
    r = r - k * -2.12194440e-4f;         /* LN2_LO = ln2 - LN2_HI */
    p = (float)(1.0 / 5040.0);
    p = p * r + (float)(1.0 / 720.0);
    p = p * r + (float)(1.0 / 120.0);
    p = p * r + (float)(1.0 / 24.0);
    p = p * r + (float)(1.0 / 6.0);
    p = p * r + 0.5f;
    *k_out = fastnn_bits_f32(t) - 0x4B400000u;
    return r + (r * r) * p;
}

FASTNN_INLINE double fastnn_expm1_core_f64(double x, uint64_t* k_out) {
    const double shifter = 6755399441055744.0; /* 1.5 * 2^52 */
    double t = x * 1.44269504088896338700e+00 + shifter;
    double k = t - shifter;
    double r = x - k * 6.93147180369123816490e-01; /* LN2_HI: 32 significant bits */
    double p;
    r = r - k * 1.90821492927058770002e-10;         /* LN2_LO */
    p = 1.0 / 6227020800.0;                         /* 1/13! */
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    *k_out = fastnn_bits_f64(t) - 0x4338000000000000ull;
    return r + (r * r) * p;
}

/* ------------------------------------------------------ point functions ---
 * The clamps make every exponent below representable: float32 x in
 * [-104, 89] gives k in [-150, 128], float64 x in [-746, 710] gives k in
 * [-1076, 1024]. 2^k is applied as 2^k1 2^k2 with k1 = floor(k/2), two normal
 * powers of two: the first product is exact, the second rounds once, so a
 * subnormal result is correctly rounded from 2^k e^r and a result past the
 * largest float becomes +inf. exp(-104) and exp(-746) already round to 0,
 * exp(89) and exp(710) overflow, so the clamps change no result. */

FASTNN_INLINE float fastnn_exp_f32_1(float x) {
    float c = x < -104.0f ? -104.0f : x;
    uint32_t k, k1;
    float q, y;
    c = c > 89.0f ? 89.0f : c;
    q = fastnn_expm1_core_f32(c, &k);
    k1 = ((k + 256u) >> 1) - 128u;
    y = ((1.0f + q) * fastnn_f32_bits((k1 + 127u) << 23)) * fastnn_f32_bits((k - k1 + 127u) << 23);
    return x != x ? x : y;
}

FASTNN_INLINE double fastnn_exp_f64_1(double x) {
    double c = x < -746.0 ? -746.0 : x;
    uint64_t k, k1;
    double q, y;
    c = c > 710.0 ? 710.0 : c;
    q = fastnn_expm1_core_f64(c, &k);
    k1 = ((k + 4096u) >> 1) - 2048u;
    y = ((1.0 + q) * fastnn_f64_bits((k1 + 1023u) << 52)) * fastnn_f64_bits((k - k1 + 1023u) << 52);
    return x != x ? x : y;
}

/* sigmoid(a) = 1 / (1 + e) for a >= 0 and e / (1 + e) for a < 0, with
 * e = exp(-|a|) <= 1, which never overflows. The *_given_exp forms take e
 * already computed (the binary cross-entropy needs it for its loss too), in
 * float32 arithmetic throughout (Cython would promote the constants). */
FASTNN_INLINE float fastnn_sigmoid_given_exp_f32_1(float a, float e) {
    float r = 1.0f / (1.0f + e);
    return a >= 0.0f ? r : e * r;
}

FASTNN_INLINE double fastnn_sigmoid_given_exp_f64_1(double a, double e) {
    double r = 1.0 / (1.0 + e);
    return a >= 0.0 ? r : e * r;
}

FASTNN_INLINE float fastnn_sigmoid_f32_1(float a) {
    return fastnn_sigmoid_given_exp_f32_1(a, fastnn_exp_f32_1(-FASTNN_FABSF(a)));
}

FASTNN_INLINE double fastnn_sigmoid_f64_1(double a) {
    return fastnn_sigmoid_given_exp_f64_1(a, fastnn_exp_f64_1(-FASTNN_FABS(a)));
}

/* tanh|x| = m / (m + 2) with m = e^(2|x|) - 1 = 2^k q + (2^k - 1) >= 0, a sum
 * of two non-negative terms (no cancellation near 0, where m ~ 2|x|), and the
 * sign put back with copysign (tanh(-0) = -0). 2|x| is clamped at 20 (float32)
 * and 40 (float64), past which tanh rounds to 1, so 2^k stays normal. */
FASTNN_INLINE float fastnn_tanh_f32_1(float x) {
    float y = 2.0f * FASTNN_FABSF(x);
    uint32_t k;
    float q, s, m, t;
    y = y > 20.0f ? 20.0f : y;
    q = fastnn_expm1_core_f32(y, &k);
    s = fastnn_f32_bits((k + 127u) << 23);
    m = q * s + (s - 1.0f);
    t = FASTNN_COPYSIGNF(m / (m + 2.0f), x);
    return x != x ? x : t;
}

FASTNN_INLINE double fastnn_tanh_f64_1(double x) {
    double y = 2.0 * FASTNN_FABS(x);
    uint64_t k;
    double q, s, m, t;
    y = y > 40.0 ? 40.0 : y;
    q = fastnn_expm1_core_f64(y, &k);
    s = fastnn_f64_bits((k + 1023u) << 52);
    m = q * s + (s - 1.0);
    t = FASTNN_COPYSIGN(m / (m + 2.0), x);
    return x != x ? x : t;
}

/* -------------------------------------------- the loops, per instruction set */

typedef struct {
    const char* name;
    void (*exp_f32)(float*, Py_ssize_t);
    void (*exp_f64)(double*, Py_ssize_t);
    void (*sigmoid_f32)(float*, Py_ssize_t);
    void (*sigmoid_f64)(double*, Py_ssize_t);
    void (*tanh_f32)(float*, Py_ssize_t);
    void (*tanh_f64)(double*, Py_ssize_t);
    void (*sigmoid_backward_f32)(const float*, float*, Py_ssize_t);
    void (*sigmoid_backward_f64)(const double*, double*, Py_ssize_t);
    void (*tanh_backward_f32)(const float*, float*, Py_ssize_t);
    void (*tanh_backward_f64)(const double*, double*, Py_ssize_t);
    float (*softmax_row_f32)(float*, Py_ssize_t, float*);
    double (*softmax_row_f64)(double*, Py_ssize_t, double*);
    void (*softmax_rows_f32)(float*, Py_ssize_t, Py_ssize_t);
    void (*softmax_rows_f64)(double*, Py_ssize_t, Py_ssize_t);
    void (*sgd_update_f32)(float*, const float*, float*, Py_ssize_t, float, float, int, float);
    void (*sgd_update_f64)(double*, const double*, double*, Py_ssize_t, double, double, int,
                           double);
    void (*adagrad_update_f32)(float*, const float*, float*, Py_ssize_t, float, float, float);
    void (*adagrad_update_f64)(double*, const double*, double*, Py_ssize_t, double, double,
                               double);
    void (*adam_update_f32)(float*, const float*, float*, float*, Py_ssize_t, float, float,
                            float, float, float, float);
    void (*adam_update_f64)(double*, const double*, double*, double*, Py_ssize_t, double,
                            double, double, double, double, double);
} fastnn_simd_table;

#define FASTNN_ISA baseline
#define FASTNN_ISA_ATTR
#include "simd_loops.h"
#undef FASTNN_ISA
#undef FASTNN_ISA_ATTR

#if FASTNN_SIMD_DISPATCH
#define FASTNN_ISA avx2
#define FASTNN_ISA_ATTR __attribute__((target("avx2")))
#include "simd_loops.h"
#undef FASTNN_ISA
#undef FASTNN_ISA_ATTR

#define FASTNN_ISA avx512
#define FASTNN_ISA_ATTR __attribute__((target("avx512f,prefer-vector-width=512")))
#include "simd_loops.h"
#undef FASTNN_ISA
#undef FASTNN_ISA_ATTR
#endif

#define FASTNN_SIMD_TABLE(isa) {#isa, \
    fastnn_exp_f32_##isa, fastnn_exp_f64_##isa, \
    fastnn_sigmoid_f32_##isa, fastnn_sigmoid_f64_##isa, \
    fastnn_tanh_f32_##isa, fastnn_tanh_f64_##isa, \
    fastnn_sigmoid_backward_f32_##isa, fastnn_sigmoid_backward_f64_##isa, \
    fastnn_tanh_backward_f32_##isa, fastnn_tanh_backward_f64_##isa, \
    fastnn_softmax_row_f32_##isa, fastnn_softmax_row_f64_##isa, \
    fastnn_softmax_rows_f32_##isa, fastnn_softmax_rows_f64_##isa, \
    fastnn_sgd_update_f32_##isa, fastnn_sgd_update_f64_##isa, \
    fastnn_adagrad_update_f32_##isa, fastnn_adagrad_update_f64_##isa, \
    fastnn_adam_update_f32_##isa, fastnn_adam_update_f64_##isa}

/* Best first. */
static const fastnn_simd_table fastnn_simd_tables[] = {
#if FASTNN_SIMD_DISPATCH
    FASTNN_SIMD_TABLE(avx512),
    FASTNN_SIMD_TABLE(avx2),
#endif
    FASTNN_SIMD_TABLE(baseline),
};
#define FASTNN_SIMD_COUNT ((int)(sizeof fastnn_simd_tables / sizeof fastnn_simd_tables[0]))

/* The table in use; the constructor below sets it when the module loads. */
static const fastnn_simd_table* fastnn_simd_active = &fastnn_simd_tables[FASTNN_SIMD_COUNT - 1];

/* ------------------------------------------------------------- dispatch --- */

/* Whether this CPU (and OS) runs variant i of fastnn_simd_tables. */
static FASTNN_UNUSED int fastnn_simd_supported(int i) {
    const char* name = fastnn_simd_tables[i].name;
#if FASTNN_SIMD_DISPATCH
    __builtin_cpu_init();
    if (strcmp(name, "avx512") == 0) return __builtin_cpu_supports("avx512f");
    if (strcmp(name, "avx2") == 0) return __builtin_cpu_supports("avx2");
#endif
    return strcmp(name, "baseline") == 0;
}

static FASTNN_UNUSED const char* fastnn_simd_name(int i) { return fastnn_simd_tables[i].name; }
static FASTNN_UNUSED int fastnn_simd_count(void) { return FASTNN_SIMD_COUNT; }
static FASTNN_UNUSED const char* fastnn_simd_active_name(void) { return fastnn_simd_active->name; }

/* Use the variant called name: 0 on success, -1 if no variant has that name,
 * -2 if this CPU does not run it (the table in use is then unchanged). NULL
 * or "" picks the best variant the CPU runs. */
static FASTNN_UNUSED int fastnn_simd_select(const char* name) {
    int i;
    for (i = 0; i < FASTNN_SIMD_COUNT; i++) {
        if (name == NULL || name[0] == '\0') {
            if (fastnn_simd_supported(i)) { fastnn_simd_active = &fastnn_simd_tables[i]; return 0; }
        } else if (strcmp(name, fastnn_simd_tables[i].name) == 0) {
            if (!fastnn_simd_supported(i)) return -2;
            fastnn_simd_active = &fastnn_simd_tables[i];
            return 0;
        }
    }
    return -1;
}

#if defined(__GNUC__)
/* At load time, before any kernel runs (so no thread races the choice): the
 * variant named by FASTNN_SIMD, or the best one when unset or unusable (the
 * importing module reports a bad value as an error). */
__attribute__((constructor)) static void fastnn_simd_init(void) {
    if (fastnn_simd_select(getenv("FASTNN_SIMD")) != 0) fastnn_simd_select(NULL);
}
#endif

/* ----------------------------------------------- the interface to Cython --- */

static inline void fastnn_exp_f32(float* y, Py_ssize_t n) { fastnn_simd_active->exp_f32(y, n); }
static inline void fastnn_exp_f64(double* y, Py_ssize_t n) { fastnn_simd_active->exp_f64(y, n); }
static inline void fastnn_sigmoid_f32(float* y, Py_ssize_t n) { fastnn_simd_active->sigmoid_f32(y, n); }
static inline void fastnn_sigmoid_f64(double* y, Py_ssize_t n) { fastnn_simd_active->sigmoid_f64(y, n); }
static inline void fastnn_tanh_f32(float* y, Py_ssize_t n) { fastnn_simd_active->tanh_f32(y, n); }
static inline void fastnn_tanh_f64(double* y, Py_ssize_t n) { fastnn_simd_active->tanh_f64(y, n); }
static inline void fastnn_sigmoid_backward_f32(const float* y, float* g, Py_ssize_t n) {
    fastnn_simd_active->sigmoid_backward_f32(y, g, n);
}
static inline void fastnn_sigmoid_backward_f64(const double* y, double* g, Py_ssize_t n) {
    fastnn_simd_active->sigmoid_backward_f64(y, g, n);
}
static inline void fastnn_tanh_backward_f32(const float* y, float* g, Py_ssize_t n) {
    fastnn_simd_active->tanh_backward_f32(y, g, n);
}
static inline void fastnn_tanh_backward_f64(const double* y, double* g, Py_ssize_t n) {
    fastnn_simd_active->tanh_backward_f64(y, g, n);
}
static inline float fastnn_softmax_row_f32(float* row, Py_ssize_t n, float* top) {
    return fastnn_simd_active->softmax_row_f32(row, n, top);
}
static inline double fastnn_softmax_row_f64(double* row, Py_ssize_t n, double* top) {
    return fastnn_simd_active->softmax_row_f64(row, n, top);
}
static inline void fastnn_softmax_rows_f32(float* y, Py_ssize_t rows, Py_ssize_t cols) {
    fastnn_simd_active->softmax_rows_f32(y, rows, cols);
}
static inline void fastnn_softmax_rows_f64(double* y, Py_ssize_t rows, Py_ssize_t cols) {
    fastnn_simd_active->softmax_rows_f64(y, rows, cols);
}
#define FASTNN_FORWARD_UPDATES(T, sfx) \
static inline void fastnn_sgd_update_##sfx(T* W, const T* G, T* V, Py_ssize_t n, T lr, T mu, \
                                           int nesterov, T wd) { \
    fastnn_simd_active->sgd_update_##sfx(W, G, V, n, lr, mu, nesterov, wd); \
} \
static inline void fastnn_adagrad_update_##sfx(T* W, const T* G, T* S, Py_ssize_t n, T lr, \
                                               T eps, T wd) { \
    fastnn_simd_active->adagrad_update_##sfx(W, G, S, n, lr, eps, wd); \
} \
static inline void fastnn_adam_update_##sfx(T* W, const T* G, T* M, T* V, Py_ssize_t n, \
                                            T step, T beta1, T beta2, T eps, T root_bc2, \
                                            T wd) { \
    fastnn_simd_active->adam_update_##sfx(W, G, M, V, n, step, beta1, beta2, eps, root_bc2, wd); \
}
FASTNN_FORWARD_UPDATES(float, f32)
FASTNN_FORWARD_UPDATES(double, f64)

#endif /* FASTNN_SIMD_KERNELS_H */
