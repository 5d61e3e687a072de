"""Micro-benchmarks of fastnn's kernels, one at a time (pytest-benchmark).

    python -m pytest bench/test_kernels_bench.py --benchmark-only
    python -m pytest bench/ --benchmark-only --benchmark-compare   # against the last saved run

Each benchmark times one kernel through its Python twin (``fastnn._blas``,
``fastnn._kernels``, ``fastnn.ops``) on the shapes the networks of the suite
use, so that a regression in one kernel shows on its own. The twins add a
call overhead of about a microsecond, which dominates only the tiniest shapes.
These are benchmarks, not tests: nothing asserts a time. Inputs are seeded.
"""

import numpy as np
import pytest

from fastnn import _blas, _kernels
from fastnn.activations import get_activation
from fastnn.ops import ops
from trainers import FastnnTrainer, initial_weights
from workloads import NETS, gemm_calls

DTYPES = [np.float32, np.float64]


def _rng(seed=0):
    return np.random.default_rng(seed)


def _array(shape, dtype, scale=0.1, seed=0):
    return (_rng(seed).random(shape) * scale).astype(dtype)


# ----------------------------------------------------------------- GEMM door ---

def _gemm_cases():
    cases = []
    for key, batch, dtypes in (("lecture", 1, DTYPES[:1]), ("lecture", 10, DTYPES[:1]),
                               ("lecture", 128, DTYPES[:1]), ("relu100", 32, DTYPES[:1]),
                               ("big", 128, DTYPES), ("big", 512, DTYPES[:1])):
        for label, m, n, k, ta, tb in gemm_calls(NETS[key], batch):
            for dtype in dtypes:
                step = label.split()[0]
                cases.append(pytest.param(m, n, k, ta, tb, label.startswith("dW"), dtype,
                                          id=f"{key}-b{batch}-{step}-{np.dtype(dtype).name}"
                                             f"-{m}x{n}x{k}"))
    return cases


@pytest.mark.parametrize("m, n, k, trans_a, trans_b, update, dtype", _gemm_cases())
def test_gemm(benchmark, m, n, k, trans_a, trans_b, update, dtype):
    """C (m x n) = alpha op(A) op(B) + beta C, the GEMMs of one training step;
    dW GEMMs run as fastnn's folded SGD update (beta = 1)."""
    A = _array((k, m) if trans_a else (m, k), dtype, seed=1)
    B = _array((n, k) if trans_b else (k, n), dtype, seed=2)
    C = np.zeros((m, n), dtype=dtype)
    alpha, beta = (-1e-6, 1.0) if update else (1.0, 0.0)
    benchmark.extra_info["gflop"] = 2 * m * n * k / 1e9
    benchmark(_blas.gemm, A, B, C, trans_a, trans_b, alpha, beta)


@pytest.mark.parametrize("rows, n_out", [(10, 30), (128, 1024)])
def test_gemv_bias_gradient(benchmark, rows, n_out):
    """b += -lr * delta^T 1 (the bias update of the fast path)."""
    delta = _array((rows, n_out), np.float32)
    ones = np.ones(rows, dtype=np.float32)
    b = np.zeros(n_out, dtype=np.float32)
    benchmark(_blas.gemv, delta, ones, b, True, -1e-6, 1.0)


# --------------------------------------------------------------- activations ---

SHAPES = [(10, 30), (128, 30), (128, 1024), (512, 1024)]


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "softmax"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_activation_forward(benchmark, name, shape, dtype):
    """Y = f(Y) in place (repeated calls keep the same amount of work)."""
    Y = _array(shape, dtype, scale=4.0) - dtype(2.0)
    benchmark(_kernels.activation_forward, Y, get_activation(name).code)


@pytest.mark.parametrize("n", [10 * 30, 128 * 1024])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_exp(benchmark, n, dtype):
    """Y = exp(Y) in place, the SIMD exp behind sigmoid, softmax and the fused
    losses (csrc/simd_kernels.h; bench/count_instructions.py counts its
    instructions per element). The kernel is branch-free, so its cost does not
    depend on the values, which grow to +inf over the repeated calls."""
    Y = -_array((n,), dtype, scale=2.0)
    benchmark(_kernels.exp, Y)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_activation_backward(benchmark, name, shape):
    """G = f'(a) * G from Y = f(a), in place."""
    Y = _array(shape, np.float32, scale=1.0)
    G = _array(shape, np.float32, scale=1e-3, seed=3)
    benchmark(_kernels.activation_backward, Y, G, get_activation(name).code)


@pytest.mark.parametrize("rows, n_out", [(1, 30), (10, 30), (128, 1024)])
def test_bias_add(benchmark, rows, n_out):
    Y = _array((rows, n_out), np.float32)
    b = _array((n_out,), np.float32, scale=1e-6, seed=4)
    benchmark(_kernels.bias_add, Y, b)


# ------------------------------------------------------------------- losses ---

@pytest.mark.parametrize("rows", [1, 10, 128, 512])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_softmax_cross_entropy(benchmark, rows, dtype):
    """Fused softmax + log-loss: A becomes p, delta = (p - onehot) / rows."""
    A = _array((rows, 10), dtype, scale=4.0)
    labels = _rng(5).integers(0, 10, size=rows).astype(np.int64)
    delta = np.empty_like(A)
    benchmark(_kernels.output_delta, _kernels.LOSS_CODES["cross_entropy"], A, labels,
              1.0 / rows, delta)


@pytest.mark.parametrize("rows", [10, 128])
def test_ops_softmax_cross_entropy(benchmark, rows):
    """The same through fastnn.ops (the graph path's door: allocates delta)."""
    A = _array((rows, 10), np.float32, scale=4.0)
    labels = _rng(5).integers(0, 10, size=rows).astype(np.int64)
    benchmark(ops.softmax_cross_entropy, A, labels, 1.0 / rows)


@pytest.mark.parametrize("rows", [10, 128])
def test_count_correct(benchmark, rows):
    P = _array((rows, 10), np.float32, scale=1.0)
    labels = _rng(6).integers(0, 10, size=rows).astype(np.int64)
    benchmark(_kernels.count_correct, P, labels)


# ------------------------------------------------------------------ dropout ---

@pytest.mark.parametrize("n", [10 * 784, 128 * 1024])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_dropout_mask(benchmark, n, dtype):
    """mask[i] = 0 with probability p, else 1 / (1 - p), from the xoshiro PRNG."""
    rng = _kernels.Rng(7)
    mask = np.empty(n, dtype=dtype)
    benchmark(rng.dropout_mask, mask, 0.5, 2.0)


@pytest.mark.parametrize("n", [128 * 1024])
def test_multiply(benchmark, n):
    """out = X * mask (applying a dropout mask)."""
    X = _array((n,), np.float32)
    M = _array((n,), np.float32, seed=8)
    out = np.empty_like(X)
    benchmark(_kernels.multiply, X, M, out)


def test_ops_dropout_mask(benchmark):
    """ops.dropout_mask allocates its mask (the graph path)."""
    rng = _kernels.Rng(9)
    benchmark(ops.dropout_mask, rng, (128, 1024), 0.5, 2.0, np.float32)


# ------------------------------------------------------------------ updates ---

UPDATE_SIZES = [30 * 784, 1024 * 1024]


@pytest.mark.parametrize("n", UPDATE_SIZES)
@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True)],
                         ids=["plain", "momentum", "nesterov"])
def test_sgd_update(benchmark, n, momentum, nesterov):
    W = _array((n,), np.float32, scale=1.0)
    G = _array((n,), np.float32, scale=1e-3, seed=10)
    V = np.zeros(n, dtype=np.float32)
    benchmark(_kernels.sgd_update, W, G, V, 1e-6, momentum, nesterov, 1e-4)


@pytest.mark.parametrize("n", UPDATE_SIZES)
def test_adagrad_update(benchmark, n):
    W = _array((n,), np.float32, scale=1.0)
    G = _array((n,), np.float32, scale=1e-3, seed=11)
    S = np.zeros(n, dtype=np.float32)
    benchmark(_kernels.adagrad_update, W, G, S, 1e-6, 1e-8, 0.0)


@pytest.mark.parametrize("n", UPDATE_SIZES)
def test_adam_update(benchmark, n):
    W = _array((n,), np.float32, scale=1.0)
    G = _array((n,), np.float32, scale=1e-3, seed=12)
    M = np.zeros(n, dtype=np.float32)
    V = np.zeros(n, dtype=np.float32)
    benchmark(_kernels.adam_update, W, G, M, V, 1e-6, 0.9, 0.999, 1e-8, 10, 0.0)


# ------------------------------------------------- one epoch of the fast path ---

@pytest.mark.parametrize("key, batch, n", [("lecture", 1, 2000), ("lecture", 10, 5000),
                                           ("lecture", 128, 5120), ("relu100", 32, 3200),
                                           ("big", 128, 1280)])
def test_fit_epoch(benchmark, key, batch, n):
    """Sequential.fit for one epoch over n random MNIST-shaped examples
    (validation, compiled-net setup and the epoch itself)."""
    spec = NETS[key]
    X = _array((n, 784), np.float32, scale=1.0, seed=13)
    y = _rng(14).integers(0, 10, size=n).astype(np.int64)
    trainer = FastnnTrainer(spec, X, y, batch, initial_weights(spec, "float32"))
    benchmark.extra_info["examples"] = n
    benchmark(trainer.run, 0, n)
