"""Every graph op against central differences, in float64.

For an op z = f(x_1, ..., x_k) and a fixed random R shaped like z, the scalar
L = sum(z * R) has dL/dx_i = the op's backward applied to g = R. The analytic
gradient (``z.backward(R)`` or ``grad``) is compared with
(L(x + h e_j) - L(x - h e_j)) / 2h for every entry j of every input.

Inputs are drawn away from the kinks (relu at 0, maximum at ties, log near 0)
so that the finite differences are meaningful.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose

import fastnn
from fastnn import Tensor, grad, no_grad

H = 1e-6
RTOL, ATOL = 1e-6, 1e-8


def numerical_gradients(f, arrays, R):
    """Central differences of sum(f(*arrays) * R) w.r.t. every entry of every array."""
    out = []
    for a in arrays:
        g = np.zeros_like(a)
        for j in np.ndindex(a.shape):
            old = a[j]
            a[j] = old + H
            plus = np.sum(f(*arrays) * R)
            a[j] = old - H
            minus = np.sum(f(*arrays) * R)
            a[j] = old
            g[j] = (plus - minus) / (2 * H)
        out.append(g)
    return out


def check_gradients(fn, *arrays, seed=0):
    """Compare the graph's gradients of fn (Tensors -> Tensor) with central
    differences, both with backward(R) (into .grad) and grad()."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    tensors = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    out = fn(*tensors)
    assert out.dtype == np.float64
    R = np.random.default_rng(seed).normal(size=out.shape)

    def value(*xs):
        with no_grad():
            return fn(*[Tensor(x) for x in xs]).data

    expected = numerical_gradients(value, arrays, R)
    out.backward(R)
    for t, e in zip(tensors, expected):
        assert t.grad.shape == t.shape
        assert_allclose(t.grad, e, rtol=RTOL, atol=ATOL)
    # grad() with a scalar cost gives the same numbers and leaves .grad alone.
    tensors2 = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    cost = fastnn.sum(fn(*tensors2) * Tensor(R))
    for g, e in zip(grad(cost, tensors2), expected):
        assert_allclose(g, e, rtol=RTOL, atol=ATOL)
    assert all(t.grad is None for t in tensors2)


def rand(*shape, seed=0, low=None, high=None):
    rng = np.random.default_rng(seed)
    if low is not None:
        return rng.uniform(low, high, size=shape)
    return rng.normal(size=shape)


def away_from_zero(*shape, seed=0):
    x = rand(*shape, seed=seed)
    return np.where(np.abs(x) < 0.1, 0.5, x)


# ------------------------------------------------------------- arithmetic ---

BROADCAST_PAIRS = [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((2, 3, 4), (3, 1)),
                   ((4,), (2, 3, 4)), ((), (3, 2))]


@pytest.mark.parametrize("sa, sb", BROADCAST_PAIRS, ids=str)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_binary_ops_with_broadcasting(op, sa, sb):
    a = rand(*sa, seed=1)
    b = rand(*sb, seed=2, low=0.5, high=2.0) if op == "div" else rand(*sb, seed=2)
    fn = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y,
          "mul": lambda x, y: x * y, "div": lambda x, y: x / y}[op]
    check_gradients(fn, a, b)


@pytest.mark.parametrize("fn", [
    lambda x: x + 1.5, lambda x: 2.0 - x, lambda x: x * 3, lambda x: 3 * x,
    lambda x: x / 4.0, lambda x: 2.0 / x, lambda x: -x, lambda x: x ** 2,
    lambda x: x ** 3, lambda x: x ** -1, lambda x: x ** 0.5,
    lambda x: x + np.arange(4.0), lambda x: np.arange(4.0) * x,
], ids=["add_number", "rsub_number", "mul_number", "rmul_number", "div_number",
        "rdiv_number", "neg", "pow2", "pow3", "pow_minus1", "sqrt", "add_array",
        "rmul_array"])
def test_unary_arithmetic(fn):
    check_gradients(fn, rand(3, 4, low=0.5, high=2.0))


@pytest.mark.parametrize("name", ["exp", "log", "sigmoid", "tanh", "relu"])
def test_elementwise_functions(name):
    x = rand(3, 5, low=0.2, high=3.0) if name == "log" else away_from_zero(3, 5)
    fn = getattr(fastnn, name)
    check_gradients(fn, x)
    check_gradients(lambda t: getattr(t, name)(), x)     # the Tensor method


@pytest.mark.parametrize("shape", [(7,), (2, 3, 4), ()], ids=str)
@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "exp"])
def test_elementwise_functions_any_shape(name, shape):
    check_gradients(getattr(fastnn, name), away_from_zero(*shape, seed=3))


def test_maximum():
    a, b = rand(4, 5, seed=1), rand(5, seed=2)
    check_gradients(fastnn.maximum, a, b)
    check_gradients(lambda x: fastnn.maximum(x, 0.3), a)
    check_gradients(lambda x: x.maximum(-0.2), a)


def test_maximum_splits_ties_evenly():
    a = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    b = Tensor(np.array([1.0, 5.0, 0.0]), requires_grad=True)
    fastnn.maximum(a, b).sum().backward()
    assert_allclose(a.grad, [0.5, 0.0, 1.0])
    assert_allclose(b.grad, [0.5, 1.0, 0.0])


# ------------------------------------------------------------ reductions ---

@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2)], ids=str)
@pytest.mark.parametrize("name", ["sum", "mean"])
def test_reductions(name, axis, keepdims):
    x = rand(2, 3, 4)
    check_gradients(lambda t: getattr(fastnn, name)(t, axis=axis, keepdims=keepdims), x)
    check_gradients(lambda t: getattr(t, name)(axis=axis, keepdims=keepdims), x)


def test_reduction_values():
    x = rand(2, 3, 4)
    t = Tensor(x)
    assert_allclose(t.sum().data, x.sum())
    assert_allclose(t.mean(axis=0).data, x.mean(axis=0))
    assert_allclose(fastnn.sum(t, axis=(0, 2), keepdims=True).data,
                    x.sum(axis=(0, 2), keepdims=True))
    assert t.sum().data.shape == () and isinstance(t.sum().data, np.ndarray)


# ---------------------------------------------------------------- shapes ---

def test_transpose_and_reshape():
    x = rand(2, 3, 4)
    check_gradients(lambda t: t.transpose(2, 0, 1), x)
    check_gradients(lambda t: fastnn.transpose(t, (1, 0, 2)), x)
    check_gradients(lambda t: t.reshape(6, 4), x)
    check_gradients(lambda t: fastnn.reshape(t, (4, -1)), x)
    check_gradients(lambda t: t.reshape(3, 8).T, x)


@pytest.mark.parametrize("shape, target", [((4,), (3, 4)), ((3, 1), (3, 4)), ((), (2, 3)),
                                           ((2, 1, 4), (5, 2, 3, 4)), ((3, 4), (3, 4))],
                         ids=str)
def test_broadcast_to(shape, target):
    """Broadcasting is an op of its own; its backward sums over the new axes."""
    x = rand(*shape)
    check_gradients(lambda t: fastnn.functional.broadcast_to(t, target), x)
    check_gradients(lambda t: t.broadcast_to(*target) * 1.5, x)
    for data in (x, np.asfortranarray(x), np.repeat(x, 2, axis=-1)[..., ::2] if x.ndim else x):
        out = Tensor(data).broadcast_to(target).data        # a read-only view of data
        assert_allclose(out, np.broadcast_to(x, target), rtol=0, atol=0)
        assert not out.flags.writeable and np.shares_memory(out, data)


def test_broadcast_to_rejects_an_impossible_shape():
    with pytest.raises(ValueError, match=r"shape \(3,\) cannot be broadcast to \(2, 4\)"):
        Tensor(np.ones(3), requires_grad=True).broadcast_to(2, 4)


def test_indexing_and_gather():
    x = rand(5, 4)
    rows = np.array([3, 0, 3, 1])                  # repeated row: gradients add up
    check_gradients(lambda t: t[rows], x)
    check_gradients(lambda t: t[1:4], x)
    check_gradients(lambda t: t[2], x)
    check_gradients(lambda t: t[1, 3], x)
    labels = np.array([1, 0, 3, 3, 2])
    check_gradients(lambda t: t[np.arange(5), labels], x)    # gather one per row
    check_gradients(lambda t: t[:, ::2], x)


def test_concatenate():
    a, b, c = rand(2, 3, seed=1), rand(4, 3, seed=2), rand(1, 3, seed=3)
    check_gradients(lambda x, y, z: fastnn.concatenate([x, y, z], axis=0), a, b, c)
    d, e = rand(3, 2, seed=4), rand(3, 5, seed=5)
    check_gradients(lambda x, y: fastnn.concatenate((x, y), axis=1), d, e)


# ------------------------------------------------------- matrix products ---

@pytest.mark.parametrize("sa, sb", [((3, 4), (4, 5)), ((3, 4), (4,)), ((4,), (4, 5)),
                                    ((4,), (4,)), ((1, 4), (4, 1))], ids=str)
def test_matmul(sa, sb):
    a, b = rand(*sa, seed=1), rand(*sb, seed=2)
    check_gradients(lambda x, y: x @ y, a, b)
    check_gradients(fastnn.matmul, a, b)
    with no_grad():
        assert_allclose((Tensor(a) @ Tensor(b)).data, a @ b, rtol=1e-12)


def test_matmul_with_transposed_and_broadcast_operands():
    x, W = rand(3, 4, seed=1), rand(5, 4, seed=2)
    check_gradients(lambda x, W: x @ W.T, x, W)           # a transposed view goes to BLAS
    check_gradients(lambda x, W: (x.T).T @ W.T, x, W)
    # The gradient reaching a matmul from a sum is a zero-stride broadcast view.
    check_gradients(lambda x, W: (x @ W.T).sum(axis=0), x, W)
    check_gradients(lambda x, W: x @ W.T + x.sum(axis=1, keepdims=True), x, W)


@pytest.mark.parametrize("bias", [True, False])
def test_linear(bias):
    x, W, b = rand(6, 4, seed=1), rand(3, 4, seed=2), rand(3, seed=3)
    if bias:
        check_gradients(fastnn.linear, x, W, b)
    else:
        check_gradients(lambda x, W: fastnn.linear(x, W), x, W)
    with no_grad():
        out = fastnn.linear(Tensor(x), Tensor(W), Tensor(b) if bias else None).data
    assert_allclose(out, x @ W.T + (b if bias else 0), rtol=1e-12)


# ------------------------------------------------------------ softmaxes ---

@pytest.mark.parametrize("shape, axis", [((4, 5), -1), ((4, 5), 0), ((2, 3, 4), 1),
                                         ((6,), 0)], ids=str)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_and_log_softmax(name, shape, axis):
    x = rand(*shape, seed=4) * 2
    check_gradients(lambda t: getattr(fastnn, name)(t, axis=axis), x)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    p = e / e.sum(axis=axis, keepdims=True)
    with no_grad():
        out = getattr(fastnn, name)(Tensor(x), axis=axis).data
    assert_allclose(out, p if name == "softmax" else np.log(p), rtol=1e-12, atol=1e-14)


def test_log_softmax_does_not_overflow():
    x = Tensor(np.array([[1000.0, 0.0, -1000.0]]), requires_grad=True)
    out = fastnn.log_softmax(x)
    assert np.isfinite(out.data).all()
    out.sum().backward()
    assert np.isfinite(x.grad).all()


# ---------------------------------------------------------------- losses ---

def test_cross_entropy():
    logits, labels = rand(6, 4, seed=5) * 2, np.array([0, 3, 1, 1, 2, 3])
    check_gradients(lambda t: fastnn.cross_entropy(t, labels), logits)
    top = logits.max(axis=1, keepdims=True)
    lse = np.log(np.exp(logits - top).sum(axis=1)) + top[:, 0]
    expected = np.mean(lse - logits[np.arange(6), labels])
    assert_allclose(fastnn.cross_entropy(Tensor(logits), labels).data, expected, rtol=1e-12)


def test_cross_entropy_equals_the_composed_lecture_cost():
    """Fused loss == mean(-log softmax(a)[c]) built from the elementary ops."""
    logits, labels = rand(5, 3, seed=6), np.array([2, 0, 1, 1, 0])
    a1 = Tensor(logits, requires_grad=True)
    a2 = Tensor(logits.copy(), requires_grad=True)
    fused = fastnn.cross_entropy(a1, labels)
    composed = -fastnn.log(fastnn.softmax(a2)[np.arange(5), labels]).mean()
    assert_allclose(fused.data, composed.data, rtol=1e-12)
    fused.backward()
    composed.backward()
    assert_allclose(a1.grad, a2.grad, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("k", [1, 3])
def test_binary_cross_entropy(k):
    logits = rand(6, k, seed=7) * 2
    labels = np.array([0, 1, 1, 0, 1, 0]) if k == 1 else np.array([0, 2, 1, 1, 0, 2])
    check_gradients(lambda t: fastnn.binary_cross_entropy(t, labels), logits)
    t = np.zeros((6, k))
    if k == 1:
        t[:, 0] = labels
    else:
        t[np.arange(6), labels] = 1
    p = 1 / (1 + np.exp(-logits))
    expected = np.mean(-np.sum(t * np.log(p) + (1 - t) * np.log(1 - p), axis=1))
    assert_allclose(fastnn.binary_cross_entropy(Tensor(logits), labels).data, expected,
                    rtol=1e-10)


@pytest.mark.parametrize("k", [1, 3])
def test_mse(k):
    y = rand(5, k, seed=8)
    labels = np.array([1, 0, 1, 1, 0]) if k == 1 else np.array([2, 0, 1, 2, 2])
    check_gradients(lambda t: fastnn.mse(t, labels), y)
    t = np.zeros((5, k))
    if k == 1:
        t[:, 0] = labels
    else:
        t[np.arange(5), labels] = 1
    assert_allclose(fastnn.mse(Tensor(y), labels).data,
                    np.mean(0.5 * np.sum((y - t) ** 2, axis=1)), rtol=1e-12)


# --------------------------------------------------------------- dropout ---

@pytest.mark.parametrize("scale", ["train", "test"])
def test_dropout_gradient_with_a_fixed_mask(scale):
    # An int seed draws the same mask at every call, so L is a smooth function.
    check_gradients(lambda t: fastnn.dropout(t, 0.4, training=True, seed=5, scale=scale),
                    rand(4, 6))


def test_dropout_mask_values_and_test_time_map():
    x = np.ones((50, 40))
    out = fastnn.dropout(Tensor(x), 0.25, training=True, seed=1).data
    assert set(np.unique(out)) == {0.0, 1 / 0.75}
    assert abs((out == 0).mean() - 0.25) < 0.03
    out = fastnn.dropout(Tensor(x), 0.25, training=True, seed=1, scale="test").data
    assert set(np.unique(out)) == {0.0, 1.0}
    t = Tensor(x)
    assert fastnn.dropout(t, 0.25, training=False) is t
    assert_allclose(fastnn.dropout(t, 0.25, training=False, scale="test").data, 0.75 * x)


def test_dropout_rng_stream_matches_the_kernel_order():
    """An Rng seed is a stream: masks are drawn in row-major order, call after call."""
    a, b = fastnn.Rng(42), fastnn.Rng(42)
    first = fastnn.dropout(Tensor(np.ones((3, 4))), 0.5, seed=a).data
    second = fastnn.dropout(Tensor(np.ones((2, 5))), 0.5, seed=a).data
    u = b.uniform(12 + 10)
    assert_allclose(first, np.where(u[:12] >= 0.5, 2.0, 0.0).reshape(3, 4))
    assert_allclose(second, np.where(u[12:] >= 0.5, 2.0, 0.0).reshape(2, 5))


# --------------------------------------------------- fan-out and networks ---

def test_fan_out_node_used_twice():
    x = away_from_zero(3, 4)
    check_gradients(lambda t: t * t, x)
    check_gradients(lambda t: fastnn.sigmoid(t) * t + t, x)

    def diamond(t):
        h = fastnn.tanh(t)            # h feeds two branches that meet again
        return fastnn.exp(h) * (h @ Tensor(np.eye(4))) - h.sum(axis=1, keepdims=True)
    check_gradients(diamond, x)


def test_shared_weights_across_two_uses():
    x, W = rand(3, 4, seed=1), rand(4, 4, seed=2)
    check_gradients(lambda x, W: fastnn.tanh(fastnn.tanh(x @ W.T) @ W.T), x, W)


@pytest.mark.parametrize("hidden", ["sigmoid", "tanh", "relu"])
def test_two_layer_network(hidden):
    """The lecture's network y = softmax(W2 f(W1 x + b1) + b2), log-loss: every
    parameter against central differences."""
    rng = np.random.default_rng(9)
    X = rng.normal(size=(7, 5))
    labels = rng.integers(0, 3, size=7)
    W1, b1 = rng.normal(size=(4, 5)), rng.normal(size=4) * 0.3
    W2, b2 = rng.normal(size=(3, 4)), rng.normal(size=3) * 0.3

    def net(W1, b1, W2, b2):
        h = fastnn.activation(Tensor(X) @ W1.T + b1, hidden)
        return fastnn.cross_entropy(fastnn.linear(h, W2, b2), labels)
    check_gradients(net, W1, b1, W2, b2)


def test_two_layer_network_against_the_numpy_reference():
    """Agreement with tests/reference_mlp.py, the lecture's equations one
    example at a time."""
    from reference_mlp import ReferenceMLP
    rng = np.random.default_rng(10)
    X = rng.normal(size=(8, 6))
    labels = rng.integers(0, 4, size=8)
    W1, b1 = rng.normal(size=(5, 6)), rng.normal(size=5)
    W2, b2 = rng.normal(size=(4, 5)), rng.normal(size=4)
    ref = ReferenceMLP([(W1, b1), (W2, b2)], ["sigmoid", "softmax"], "cross_entropy")
    expected, ref_loss, _ = ref.gradients(X, labels)
    params = [Tensor(a.copy(), requires_grad=True) for a in (W1, b1, W2, b2)]
    h = fastnn.sigmoid(fastnn.linear(Tensor(X), params[0], params[1]))
    loss = fastnn.cross_entropy(fastnn.linear(h, params[2], params[3]), labels)
    assert_allclose(loss.item(), ref_loss, rtol=1e-12)
    got = grad(loss, params)
    for g, e in zip(got, [expected[0][0], expected[0][1], expected[1][0], expected[1][1]]):
        assert_allclose(g, e, rtol=1e-10, atol=1e-14)


def test_graph_ops_run_on_both_ops_implementations(ops_impl, monkeypatch):
    """The graph speaks the ops vocabulary: on the NumPy reference (the
    specification) and on the compiled kernels it gives the same values and
    gradients."""
    import fastnn.functional as functional
    rng = np.random.default_rng(11)
    X, labels = rng.normal(size=(6, 5)), rng.integers(0, 3, size=6)
    arrays = [rng.normal(size=(4, 5)), rng.normal(size=4), rng.normal(size=(3, 4)),
              rng.normal(size=3)]

    def run():
        params = [Tensor(a.copy(), requires_grad=True) for a in arrays]
        h = fastnn.tanh(fastnn.linear(Tensor(X), params[0], params[1]))
        z = h @ params[2].T + params[3]
        loss = (fastnn.cross_entropy(z, labels) + fastnn.mse(fastnn.softmax(z), labels)
                + fastnn.binary_cross_entropy(h, labels))
        return [loss.data] + grad(loss, params)

    expected = run()
    patched = [m for m in vars(functional).values() if hasattr(m, "ops")]
    assert {m.__name__ for m in patched} == {"fastnn.functional.nn", "fastnn.functional.loss"}
    for module in patched:
        monkeypatch.setattr(module, "ops", ops_impl)
    for got, want in zip(run(), expected):
        assert_allclose(got, want, rtol=1e-12, atol=1e-14)
