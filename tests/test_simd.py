"""The SIMD elementwise kernels of csrc/simd_kernels.h.

- Accuracy: exp, sigmoid and tanh against a reference in long double (x87,
  64-bit mantissa: correctly rounded to float64 but for a 2^-11 ulp margin),
  in units in the last place of the result, on a dense grid over the whole
  range, on random values and near zero, in float32 and float64.
- Special values: +-inf, NaN, signed zeros, overflow, underflow, saturation.
- Determinism: every variant (baseline, AVX2, AVX-512) this CPU runs gives
  bitwise the same results, kernel by kernel and for a whole seeded fit, and
  the tail of an array (the scalar epilogue of a vector loop) gives the same
  bits as its body.
- The instruction-set switch: FASTNN_SIMD picks the variant at load time; a bad
  value is a ValueError naming it.
"""

import subprocess
import sys

import numpy as np
import pytest

from children import CHILD_CWD, child_env  # noqa: E402
from numpy.testing import assert_allclose, assert_array_equal

from fastnn import _kernels
from fastnn._kernels import ACTIVATION_CODES, LOSS_CODES

DTYPES = [np.float32, np.float64]
# Max error in ulp documented in csrc/simd_kernels.h (measured: exp 1.01 / 0.97,
# sigmoid 2.61 / 2.53, tanh 2.16 / 2.12 in float32 / float64).
MAX_ULP = {"exp": 1.5, "sigmoid": 3.0, "tanh": 3.0}


@pytest.fixture
def restore_variant():
    before = _kernels.simd_variant()
    yield
    _kernels._set_simd_variant(before)


def apply(name, x):
    """The compiled kernel ``name`` on a copy of the 1-d array x."""
    y = x.copy()
    if name == "exp":
        _kernels.exp(y)
    else:
        _kernels.activation_forward(y.reshape(1, -1), ACTIVATION_CODES[name])
    return y


def exact(name, x):
    X = x.astype(np.longdouble)
    if name == "exp":
        return np.exp(X)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-X))
    return np.tanh(X)


def grid(dtype):
    """Dense over the range where each function is not yet saturated, random,
    and logarithmic towards zero from both sides."""
    rng = np.random.default_rng(0)
    if dtype == np.float32:
        lo, hi, tiny = -104.0, 89.0, -40
    else:
        lo, hi, tiny = -746.0, 710.0, -300
    small = np.logspace(tiny, 0, 5000)
    return np.concatenate([np.linspace(lo, hi, 400_001), rng.standard_normal(50_000) * 10,
                           np.linspace(-1e-3, 1e-3, 20_001), small, -small]).astype(dtype)


def ulp_errors(y, ref, dtype):
    """|y - ref| in units of the spacing of dtype at ref (subnormal spacing at
    the bottom), where ref is finite in dtype."""
    with np.errstate(over="ignore"):
        rounded = ref.astype(dtype)
    finite = np.isfinite(rounded)
    spacing = np.maximum(np.spacing(np.abs(rounded[finite])),
                         np.finfo(dtype).smallest_subnormal).astype(np.longdouble)
    return np.abs(y[finite].astype(np.longdouble) - ref[finite]) / spacing, finite


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", ["exp", "sigmoid", "tanh"])
def test_accuracy_in_ulp(name, dtype):
    x = grid(dtype)
    y = apply(name, x)
    errors, finite = ulp_errors(y, exact(name, x), dtype)
    assert errors.max() <= MAX_ULP[name], (name, float(errors.max()),
                                           x[finite][np.argmax(errors)])
    # Where the exact value overflows dtype, the kernel does too (exp only).
    assert np.all(np.isposinf(y[~finite]))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_exp_matches_numpy_where_libm_overflows_and_underflows(dtype):
    info = np.finfo(dtype)
    edge = np.log(info.max)
    x = np.array([edge * (1 - 1e-6), edge * (1 + 1e-6), np.log(info.smallest_subnormal),
                  np.log(info.smallest_normal), 2 * np.log(info.smallest_subnormal)],
                 dtype=dtype)
    with np.errstate(over="ignore", under="ignore"):
        expected = np.exp(x)
    y = apply("exp", x)
    assert np.isfinite(y[0]) and np.isposinf(y[1])
    assert y[2] == info.smallest_subnormal and y[4] == 0
    assert_allclose(y[:4], expected[:4], rtol=4 * info.eps)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_special_values(dtype):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30], dtype=dtype)
    exp, sig, tanh = apply("exp", x), apply("sigmoid", x), apply("tanh", x)
    assert_array_equal(exp, np.array([np.nan, np.inf, 0, 1, 1, np.inf, 0], dtype=dtype))
    assert_array_equal(sig, np.array([np.nan, 1, 0, 0.5, 0.5, 1, 0], dtype=dtype))
    assert_array_equal(tanh, np.array([np.nan, 1, -1, 0, 0, 1, -1], dtype=dtype))
    assert not np.signbit(tanh[3]) and np.signbit(tanh[4])
    # Saturation where the correctly rounded value is 1 (tanh) or 0 (sigmoid
    # of a large negative input underflows through the subnormals, never < 0).
    big = dtype(9.1 if dtype == np.float32 else 19.1)
    assert apply("tanh", np.array([big, -big], dtype=dtype)).tolist() == [1, -1]
    tail = apply("sigmoid", -np.linspace(80, 800, 50).astype(dtype))
    assert np.all(tail >= 0) and np.all(np.diff(tail) <= 0)


def supported_pairs():
    return [(v, dt) for v in _kernels.simd_supported() for dt in DTYPES]


def run_every_kernel(dtype, seed=0):
    """The outputs of every SIMD-backed kernel on seeded data, odd shapes
    included (tails shorter than a vector)."""
    rng = np.random.default_rng(seed)
    out = []
    for rows, cols in [(3, 37), (1, 1), (5, 16), (2, 1024), (7, 10)]:
        A = (rng.standard_normal((rows, cols)) * 6).astype(dtype)
        G = rng.standard_normal((rows, cols)).astype(dtype)
        for name in ["sigmoid", "tanh", "softmax"]:
            Y = A.copy()
            _kernels.activation_forward(Y, ACTIVATION_CODES[name])
            D = G.copy()
            _kernels.activation_backward(Y, D, ACTIVATION_CODES[name])
            out += [Y, D]
        E = A.ravel().copy()
        _kernels.exp(E)
        out.append(E)
        labels = rng.integers(0, cols if cols > 1 else 2, size=rows).astype(np.int64)
        for loss in ["cross_entropy", "binary_cross_entropy"]:
            Z, delta = A.copy(), np.empty_like(A)
            value = _kernels.output_delta(LOSS_CODES[loss], Z, labels, 1.0 / rows, delta)
            out += [Z, delta, np.array([value])]
    return out


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_every_variant_gives_the_same_bits(dtype, restore_variant):
    supported = _kernels.simd_supported()
    assert "baseline" in supported and supported[-1] == "baseline"
    results = {}
    for variant in supported:
        _kernels._set_simd_variant(variant)
        assert _kernels.simd_variant() == variant
        results[variant] = run_every_kernel(dtype)
    for variant in supported:
        for got, want in zip(results[variant], results["baseline"]):
            assert_array_equal(got.view(np.uint8), want.view(np.uint8), err_msg=variant)


@pytest.mark.parametrize("variant, dtype", supported_pairs())
def test_tail_of_an_array_gives_the_bits_of_its_body(variant, dtype, restore_variant):
    # A vector loop runs its last n % width elements through a narrower or
    # scalar epilogue: that path must round exactly as the vector body does.
    _kernels._set_simd_variant(variant)
    x = (np.random.default_rng(1).standard_normal(64) * 20).astype(dtype)
    for name in ["exp", "sigmoid", "tanh"]:
        whole = apply(name, x)
        for n in range(1, 40):
            assert_array_equal(apply(name, x[:n]), whole[:n], err_msg=f"{name} n={n}")
            assert_array_equal(apply(name, x[-n:]), whole[-n:], err_msg=f"{name} n={n}")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("cols", [1, 2, 10, 15, 16, 17, 33, 1000])
def test_softmax_rows_of_every_width_match_numpy(dtype, cols):
    A = (np.random.default_rng(cols).standard_normal((4, cols)) * 5).astype(dtype)
    if cols > 1:
        A[1, -1] = -np.inf   # a masked logit: probability 0, the others unchanged
    Y = A.copy()
    _kernels.activation_forward(Y, ACTIVATION_CODES["softmax"])
    shifted = np.exp(A.astype(np.float64) - A.max(axis=1, keepdims=True))
    expected = shifted / shifted.sum(axis=1, keepdims=True)
    assert_allclose(Y, expected, rtol=8 * np.finfo(dtype).eps * max(1, np.log2(cols)),
                    atol=0)


def updates_in_numpy(rule, W, G, S1, S2, dtype):
    """The update rules of csrc/kernels.pxd in NumPy, every scalar rounded to
    dtype and the operations in the kernels' order: the bits they must give."""
    f = dtype
    lr, wd, mu, eps, b1, b2 = f(0.05), f(0.01), f(0.9), f(1e-7), f(0.8), f(0.99)
    g = G + wd * W
    if rule == "plain":
        return [W - lr * (G + wd * W)]
    if rule in ("momentum", "nesterov"):
        v = mu * S1 + g
        return [W - lr * (g + mu * v if rule == "nesterov" else v), v]
    if rule == "adagrad":
        s = S1 + g * g
        return [W - lr * g / (np.sqrt(s) + eps), s]
    # Step t = 3; the wrapper forms 1 - beta^t in double, as the training loop does.
    step, root_bc2 = lr / f(1 - float(b1) ** 3), np.sqrt(f(1 - float(b2) ** 3))
    m = b1 * S1 + (f(1) - b1) * g
    v = b2 * S2 + (f(1) - b2) * g * g
    return [W - step * m / (np.sqrt(v) / root_bc2 + eps), m, v]


def updates_compiled(rule, W, G, S1, S2, dtype):
    W, S1, S2 = W.copy(), S1.copy(), S2.copy()
    f = dtype
    if rule == "plain":
        _kernels.sgd_update(W, G, W[:0], 0.05, 0.0, False, 0.01)
        return [W]
    if rule in ("momentum", "nesterov"):
        _kernels.sgd_update(W, G, S1, 0.05, 0.9, rule == "nesterov", 0.01)
        return [W, S1]
    if rule == "adagrad":
        _kernels.adagrad_update(W, G, S1, 0.05, float(f(1e-7)), 0.01)
        return [W, S1]
    _kernels.adam_update(W, G, S1, S2, float(f(0.05)), float(f(0.8)), float(f(0.99)),
                         float(f(1e-7)), 3, float(f(0.01)))
    return [W, S1, S2]


@pytest.mark.parametrize("variant, dtype", supported_pairs())
def test_update_rules_give_the_bits_of_numpy_in_every_variant(variant, dtype, restore_variant):
    # The optimizers' updates (simd_loops.h) on lengths that end in every
    # tail a vector loop can leave, against the same operations in NumPy.
    _kernels._set_simd_variant(variant)
    rng = np.random.default_rng(5)
    for n in list(range(1, 40)) + [1000]:
        W, G, S1 = (rng.standard_normal(n).astype(dtype) for _ in range(3))
        S2 = np.abs(rng.standard_normal(n)).astype(dtype)
        for rule in ["plain", "momentum", "nesterov", "adagrad", "adam"]:
            S1r = np.abs(S1) if rule == "adagrad" else S1
            got = updates_compiled(rule, W, G, S1r, S2, dtype)
            want = updates_in_numpy(rule, W, G, S1r, S2, dtype)
            assert not np.array_equal(got[0], W)
            for a, b in zip(got, want):
                assert_array_equal(a.view(np.uint8), b.view(np.uint8),
                                   err_msg=f"{rule} n={n}")


def test_set_simd_variant_rejects_unknown_and_unsupported_names(restore_variant):
    with pytest.raises(ValueError, match="'sse9' is not a SIMD variant"):
        _kernels._set_simd_variant("sse9")
    unsupported = [v for v in _kernels.SIMD_VARIANTS if v not in _kernels.simd_supported()]
    for variant in unsupported:
        with pytest.raises(ValueError, match=f"'{variant}' is not supported by this CPU"):
            _kernels._set_simd_variant(variant)
    assert set(_kernels.simd_supported()) <= set(_kernels.SIMD_VARIANTS)


FIT_SCRIPT = """
import hashlib
import numpy as np
from fastnn import Adam, Dense, SGD, Sequential, _kernels
rng = np.random.default_rng(0)
X = rng.standard_normal((60, 6)).astype(np.float32)
y = rng.integers(0, 3, size=60)
model = Sequential([Dense(6, 9, "sigmoid"), Dense(9, 7, "tanh"), Dense(7, 3, "softmax")],
                   dtype="float32", seed=3)
model.fit(X, y, epochs=2, batch_size=8, optimizer=SGD(lr=0.5), verbose=0)
model.fit(X, y, epochs=1, batch_size=8, optimizer=SGD(lr=0.1, momentum=0.9, nesterov=True),
          verbose=0)
model.fit(X, y, epochs=1, batch_size=8, optimizer=Adam(lr=0.01), verbose=0)
digest = hashlib.sha256(b"".join(w.tobytes() for w in model.get_weights())).hexdigest()
print(_kernels.simd_variant(), digest)
"""


def run_with_simd(value, script=FIT_SCRIPT):
    return subprocess.run([sys.executable, "-c", script], env=child_env(FASTNN_SIMD=value),
                          cwd=CHILD_CWD, capture_output=True, text=True, timeout=120)


def test_fastnn_simd_picks_the_variant_of_a_whole_fit_and_the_weights_agree_bitwise():
    # The compiled training loop has its own dispatch table, chosen when it is
    # loaded: only FASTNN_SIMD reaches it. Compare the best variant with the baseline.
    best = _kernels.simd_supported()[0]
    digests = {}
    for variant in {best, "baseline"}:
        done = run_with_simd(variant)
        assert done.returncode == 0, done.stderr
        reported, digests[variant] = done.stdout.split()
        assert reported == variant
    assert len(set(digests.values())) == 1, digests


def test_a_bad_fastnn_simd_fails_the_import_naming_the_value():
    done = run_with_simd("avx9000", "import fastnn")
    assert done.returncode != 0
    assert "FASTNN_SIMD='avx9000' is not a SIMD variant" in done.stderr


def test_the_instruction_count_drivers_run():
    # bench/count_instructions.py runs these programs under valgrind; here they
    # run once, small, without it, so that a renamed kernel breaks a test.
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "bench" / "count_instructions.py"
    spec = importlib.util.spec_from_file_location("count_instructions", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in module.KERNELS:
        for dtype in ("float32", "float64"):
            exec(module.driver(name, dtype, shape=(3, 4), calls=1), {})


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_fused_sigmoid_loss_leaves_the_bits_of_the_sigmoid_kernel(dtype):
    # The binary cross-entropy computes p from the e^{-|a|} its loss needs;
    # p must still be exactly what activation_forward's sigmoid gives.
    A = (np.random.default_rng(2).standard_normal((50, 3)) * 30).astype(dtype)
    A[0, :] = [0.0, -0.0, -200.0]
    labels = np.random.default_rng(3).integers(0, 2, size=50).astype(np.int64)
    P, delta = A.copy(), np.empty_like(A)
    _kernels.output_delta(LOSS_CODES["binary_cross_entropy"], P, labels, 1.0, delta)
    Y = A.copy()
    _kernels.activation_forward(Y, ACTIVATION_CODES["sigmoid"])
    assert_array_equal(P.view(np.uint8), Y.view(np.uint8))
