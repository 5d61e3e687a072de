# cython: language_level=3
"""A tiny seeded PRNG usable without the GIL: xoshiro256++ seeded by splitmix64.

Dropout masks and the per-epoch shuffle are drawn from it inside compiled
loops. The same seed gives the same stream on every machine (it is pure
integer arithmetic), so masks and shuffles are bitwise reproducible.
"""

from libc.stdint cimport uint64_t, int64_t


cdef struct RngState:
    uint64_t s0, s1, s2, s3


cdef inline uint64_t _splitmix64(uint64_t* x) noexcept nogil:
    x[0] += <uint64_t>0x9E3779B97F4A7C15
    cdef uint64_t z = x[0]
    z = (z ^ (z >> 30)) * <uint64_t>0xBF58476D1CE4E5B9
    z = (z ^ (z >> 27)) * <uint64_t>0x94D049BB133111EB
    return z ^ (z >> 31)


cdef inline void rng_seed(RngState* st, uint64_t seed) noexcept nogil:
    """Expand a 64-bit seed into the 256-bit state (never all zeros)."""
    cdef uint64_t x = seed
    st.s0 = _splitmix64(&x)
    st.s1 = _splitmix64(&x)
    st.s2 = _splitmix64(&x)
    st.s3 = _splitmix64(&x)


cdef inline uint64_t _rotl(uint64_t x, int k) noexcept nogil:
    return (x << k) | (x >> (64 - k))


cdef inline uint64_t rng_next(RngState* st) noexcept nogil:
    """Next 64 random bits (xoshiro256++)."""
    cdef uint64_t result = _rotl(st.s0 + st.s3, 23) + st.s0
    cdef uint64_t t = st.s1 << 17
    st.s2 ^= st.s0
    st.s3 ^= st.s1
    st.s1 ^= st.s2
    st.s0 ^= st.s3
    st.s2 ^= t
    st.s3 = _rotl(st.s3, 45)
    return result


cdef inline double rng_uniform(RngState* st) noexcept nogil:
    """Uniform double in [0, 1) with 53 random bits."""
    return (rng_next(st) >> 11) * (1.0 / 9007199254740992.0)


cdef inline uint64_t rng_below(RngState* st, uint64_t n) noexcept nogil:
    """Uniform integer in [0, n), n >= 1, without modulo bias."""
    cdef uint64_t x, threshold
    # Reject the few draws below 2**64 mod n so every residue is equally likely.
    threshold = (<uint64_t>0 - n) % n      # 2**64 mod n
    x = rng_next(st)
    while x < threshold:
        x = rng_next(st)
    return x % n


cdef inline void rng_shuffle(RngState* st, int64_t* idx, Py_ssize_t n) noexcept nogil:
    """Fisher-Yates shuffle of idx[0:n] in place."""
    cdef Py_ssize_t i, j
    cdef int64_t tmp
    for i in range(n - 1, 0, -1):
        j = <Py_ssize_t>rng_below(st, <uint64_t>(i + 1))
        tmp = idx[i]
        idx[i] = idx[j]
        idx[j] = tmp
