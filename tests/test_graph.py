"""The computation graph's engine and API: Tensor, backward, grad, no_grad,
retain_graph, custom Functions, memory, and the errors at the door.

(The gradients of the individual ops are checked in test_graph_ops.py; the
agreement with the fast path and the Model base class in test_graph_training.py.)
"""

import gc
import sys
import tracemalloc
import weakref

import numpy as np
import pytest
from numpy.testing import assert_allclose

import fastnn
from fastnn import Function, SGD, Tensor, grad, no_grad
from fastnn.functional import AddBias, BroadcastTo


def leaf(*shape, seed=0, dtype=np.float64):
    return Tensor(np.random.default_rng(seed).normal(size=shape).astype(dtype),
                  requires_grad=True)


# ----------------------------------------------------------------- Tensor ---

def test_tensor_wraps_without_copy_and_converts_other_numbers():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = Tensor(a)
    assert t.data is a and t.shape == (2, 3) and t.dtype == np.float32 and t.ndim == 2
    assert t.grad is None and not t.requires_grad and t.is_leaf and t.grad_fn is None
    assert Tensor([1, 2, 3]).dtype == np.float64
    assert Tensor(np.array([True, False])).dtype == np.float64
    assert Tensor(a, dtype="float64").dtype == np.float64
    assert np.asarray(t) is a
    assert len(t) == 2 and t.size == 6
    assert "requires_grad=True" in repr(Tensor(a, requires_grad=True))


@pytest.mark.parametrize("bad, match", [
    (dict(data=np.array(["a"])), "real numbers"),
    (dict(data=[1.0], requires_grad=1), "requires_grad must be True or False"),
    (dict(data=[1.0], dtype="int32"), "'float32' or 'float64', got 'int32'"),
    (dict(data=[1.0], dtype="float16"), "'float32' or 'float64', got 'float16'"),
])
def test_tensor_rejects_bad_arguments(bad, match):
    with pytest.raises(TypeError, match=match):
        Tensor(**bad)


def test_item_numpy_detach():
    t = leaf(1, 1)
    assert t.item() == t.data[0, 0]
    with pytest.raises(ValueError, match=r"one element.*\(2, 2\)"):
        leaf(2, 2).item()
    y = t * 2
    d = y.detach()
    assert d.is_leaf and not d.requires_grad and d.data is y.data
    assert t.numpy() is t.data


# --------------------------------------------------------------- backward ---

def test_backward_fills_leaf_grads_only():
    x, W = leaf(4, 3, seed=1), leaf(2, 3, seed=2)
    const = Tensor(np.ones((4, 2)))
    h = x @ W.T
    loss = (h * const).sum()
    loss.backward()
    assert_allclose(W.grad, np.ones((4, 2)).T @ x.data)
    assert_allclose(x.grad, np.ones((4, 2)) @ W.data)
    assert h.grad is None and const.grad is None
    assert not h.is_leaf and h.grad_fn.fn.__name__ == "MatMul"


def test_gradients_accumulate_over_backward_calls_and_fan_out():
    x = leaf(3, seed=3)
    (x * 3).sum().backward()
    (x * x).sum().backward()                       # x used twice in one graph
    assert_allclose(x.grad, 3 + 2 * x.data)
    x.grad = None
    (x + x + x).sum().backward()
    assert_allclose(x.grad, np.full(3, 3.0))


def test_leaf_grads_never_alias_each_other():
    a, b = leaf(3, seed=1), leaf(3, seed=2)
    (a + b).sum().backward()                       # Add hands the same g to both
    assert a.grad is not b.grad and not np.shares_memory(a.grad, b.grad)
    c, d = leaf(2, 3, seed=3), leaf(6, seed=4)
    (c + d.reshape(2, 3)).sum().backward()         # a view of c's gradient reaches d
    assert not np.shares_memory(c.grad, d.grad)
    assert d.grad.flags.writeable and c.grad.flags.writeable


def test_backward_on_a_leaf():
    x = Tensor(np.array([2.0]), requires_grad=True)
    x.backward()
    assert_allclose(x.grad, [1.0])


def test_backward_with_an_explicit_gradient():
    x = leaf(2, 3)
    y = x * 2
    g = np.arange(6.0).reshape(2, 3)
    y.backward(g)
    assert_allclose(x.grad, 2 * g)


def test_backward_on_a_non_scalar_needs_a_gradient():
    y = leaf(2, 3) * 2
    with pytest.raises(RuntimeError, match=r"non-scalar tensor of shape \(2, 3\).*gradient"):
        y.backward()
    with pytest.raises(ValueError, match=r"gradient has shape \(3,\).*\(2, 3\)"):
        y.backward(np.ones(3))


def test_backward_without_a_graph_says_so():
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor(np.ones(1)).backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        grad(Tensor(np.ones(1)) * 2, [leaf(1)])


def test_deep_graph_needs_no_recursion():
    x = leaf(1)
    y = x
    depth = 3 * sys.getrecursionlimit()
    for _ in range(depth):
        y = y * 1.0 + 0.0
    y.sum().backward()
    assert_allclose(x.grad, [1.0])


# ------------------------------------------------------------- graph life ---

def test_graph_is_freed_after_backward_unless_retained():
    x = leaf(3)
    y = fastnn.tanh(x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()
    x.grad = None
    z = fastnn.tanh(x).sum()
    z.backward(retain_graph=True)
    first = x.grad.copy()
    z.backward()                                   # goes through again, accumulates
    assert_allclose(x.grad, 2 * first)
    with pytest.raises(RuntimeError, match="freed"):
        z.backward()


def test_grad_frees_the_graph_too():
    x = leaf(3)
    y = (x * x).sum()
    grad(y, [x])
    with pytest.raises(RuntimeError, match="retain_graph"):
        grad(y, [x])
    y2 = (x * x).sum()
    g1 = grad(y2, [x], retain_graph=True)[0]
    g2 = grad(y2, [x])[0]
    assert_allclose(g1, g2)


def test_freed_nodes_release_their_arrays():
    x = leaf(50, 50)
    h = fastnn.sigmoid(x)
    ref = weakref.ref(h)
    ctx_ref = weakref.ref(h.grad_fn)
    loss = h.sum()
    del h
    assert ref() is not None                      # kept alive by loss's graph
    loss.backward()
    assert ref() is None                          # the graph let go of it
    assert ctx_ref() is None
    assert loss.grad_fn.inputs is None


# ------------------------------------------------------------------- grad ---

def test_grad_is_theano_grad():
    """The lecture's ``gradients = T.grad(cost, params)``, .grad untouched."""
    rng = np.random.default_rng(0)
    Wi, bi = leaf(4, 5, seed=1), Tensor(np.zeros(4), requires_grad=True)
    Wo, bo = leaf(3, 4, seed=2), Tensor(np.zeros(3), requires_grad=True)
    x = Tensor(rng.normal(size=5))
    h = fastnn.relu(Wi @ x + bi)
    p = fastnn.softmax(Wo @ h + bo)
    cost = -fastnn.log(p[2])
    params = [Wi, bi, Wo, bo]
    gradients = grad(cost, params)
    assert [g.shape for g in gradients] == [t.shape for t in params]
    assert all(t.grad is None for t in params)
    # By hand (the lecture): delta2 = p - onehot, dWo = delta2 h^T, delta1 = f'(a1) Wo^T delta2.
    delta2 = p.data - np.eye(3)[2]
    delta1 = (h.data > 0) * (Wo.data.T @ delta2)
    for g, e in zip(gradients, [np.outer(delta1, x.data), delta1, np.outer(delta2, h.data),
                                delta2]):
        assert_allclose(g, e, rtol=1e-12, atol=1e-15)


def test_grad_of_intermediate_unused_and_single_targets():
    x = leaf(3, seed=1)
    unused = leaf(2, seed=2)
    h = x * 2
    y = (h * h).sum()
    gh, gx, gu = grad(y, [h, x, unused])
    assert_allclose(gh, 2 * h.data)
    assert_allclose(gx, 8 * x.data)
    assert_allclose(gu, np.zeros(2))
    assert isinstance(grad((x * x).sum(), x), np.ndarray)


def test_grad_rejects_bad_params():
    x = leaf(3)
    with pytest.raises(ValueError, match=r"params\[1\].*does not require grad"):
        grad((x * x).sum(), [x, Tensor(np.ones(3))])
    with pytest.raises(TypeError, match=r"params\[0\] must be a Tensor"):
        grad((x * x).sum(), [np.ones(3)])


# ---------------------------------------------------------------- no_grad ---

def test_no_grad_builds_no_graph():
    x = leaf(3)
    with no_grad():
        y = fastnn.sigmoid(x) * 2
        assert not fastnn.is_grad_enabled()
        with fastnn.enable_grad():
            z = x * 2
    assert fastnn.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad

    @no_grad()
    def f(t):
        return t * 3
    assert not f(x).requires_grad
    assert (x * 3).requires_grad


def test_ops_on_constants_build_no_graph():
    y = fastnn.relu(Tensor(np.ones(3))) + 1.0
    assert not y.requires_grad and y.grad_fn is None


def test_binary_ops_record_a_broadcast_only_when_shapes_differ():
    """Same shapes (the common path): the op's node alone, its inputs the
    operands. Different shapes: the operand that needs a gradient goes through
    a BroadcastTo node first; a constant is left to NumPy. A bias added to a
    matrix, in either order, is one AddBias node (matrix first)."""
    a, b, bias = leaf(3, 4, seed=1), leaf(3, 4, seed=2), leaf(4, seed=3)
    for z in (a + b, a * b, a - b, a / b, fastnn.maximum(a, b)):
        assert z.grad_fn.inputs[0] is a and z.grad_fn.inputs[1] is b
    assert (a * 2.0).grad_fn.inputs[0] is a
    for z in (a + bias, bias + a):
        assert z.grad_fn.fn is AddBias and z.grad_fn.inputs == (a, bias)
        np.testing.assert_array_equal(z.data, a.data + bias.data)
    x, y = (a - bias).grad_fn.inputs
    assert x is a and y.grad_fn.fn is BroadcastTo and y.grad_fn.inputs[0] is bias
    x, y = (bias * a).grad_fn.inputs
    assert x.grad_fn.fn is BroadcastTo and y is a
    constant = a + np.ones((2, 3, 4))
    x, y = constant.grad_fn.inputs
    assert x.grad_fn.fn is BroadcastTo and x.shape == (2, 3, 4) and type(y) is np.ndarray
    assert (a + np.ones(4)).grad_fn.inputs[0] is a


def test_graph_modules_speak_only_the_ops_vocabulary():
    """tensor, autograd and the primitives import no compiled module directly:
    the kernels are reached through ``fastnn.ops`` (NumPy reference or compiled)."""
    import ast
    import pathlib
    root = pathlib.Path(fastnn.__file__).parent
    files = [root / "tensor.py", root / "autograd.py", *sorted((root / "functional").glob("*.py"))]
    assert len(files) > 4
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [alias.name for alias in node.names]
            assert not any(n.split(".")[-1] in ("_kernels", "_blas", "_train") for n in names), \
                f"{path.name} imports {names}"


# ------------------------------------------------------- custom functions ---

class SoftPlus(Function):
    """z = log(1 + e^x) (stable); dz/dx = sigmoid(x). A user-defined op."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.logaddexp(0.0, x).astype(x.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        x, = ctx.saved_tensors
        return grad_output / (1 + np.exp(-x))


class ScaledShift(Function):
    """z = a * x + c with a number a (no gradient) and tensors x, c."""

    @staticmethod
    def forward(ctx, x, a, c):
        ctx.a = a
        ctx.seen = ctx.needs_input_grad
        return a * x + c

    @staticmethod
    def backward(ctx, g):
        assert ctx.needs_input_grad == ctx.seen
        return (g * ctx.a if ctx.needs_input_grad[0] else None, None,
                g if ctx.needs_input_grad[2] else None)


def test_custom_function_gradient():
    x = leaf(4, 3)
    y = SoftPlus.apply(x)
    assert y.grad_fn.fn is SoftPlus
    y.backward(np.ones((4, 3)))
    assert_allclose(x.grad, 1 / (1 + np.exp(-x.data)))
    h = 1e-6
    xp, xm = x.data + h, x.data - h
    assert_allclose(x.grad, (np.logaddexp(0, xp) - np.logaddexp(0, xm)) / (2 * h), rtol=1e-6)


def test_custom_function_needs_input_grad():
    x, c = leaf(3, seed=1), Tensor(np.ones(3))
    out = ScaledShift.apply(x, 2.0, c)
    assert out.grad_fn.needs_input_grad == (True, False, False)
    out.sum().backward()
    assert_allclose(x.grad, np.full(3, 2.0))
    assert c.grad is None


def test_custom_function_trains():
    """A network whose hidden activation is the user's SoftPlus learns XOR."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(200, 2))
    y = ((X[:, 0] > 0) ^ (X[:, 1] > 0)).astype(np.int64)
    W1 = Tensor(rng.normal(size=(16, 2)), requires_grad=True)
    b1 = Tensor(np.zeros(16), requires_grad=True)
    W2 = Tensor(rng.normal(size=(2, 16)) * 0.3, requires_grad=True)
    b2 = Tensor(np.zeros(2), requires_grad=True)
    params = [W1, b1, W2, b2]
    opt = SGD(lr=0.5, momentum=0.9)
    x = Tensor(X)
    first = None
    for _ in range(300):
        logits = fastnn.linear(SoftPlus.apply(fastnn.linear(x, W1, b1)), W2, b2)
        loss = fastnn.train_step(fastnn.cross_entropy(logits, y), params, opt)
        first = loss if first is None else first
    with no_grad():
        pred = fastnn.linear(SoftPlus.apply(fastnn.linear(x, W1, b1)), W2, b2).data
    assert loss < 0.3 * first
    assert np.mean(pred.argmax(axis=1) == y) > 0.9


def test_custom_function_with_a_wrong_gradient_shape_is_caught():
    class Bad(Function):
        @staticmethod
        def forward(ctx, x):
            return x.sum(axis=0)

        @staticmethod
        def backward(ctx, g):
            return g                               # should be broadcast back to (3, 4)

    x = leaf(3, 4)
    with pytest.raises(RuntimeError, match=r"Bad.backward returned a gradient of shape "
                                           r"\(4,\) for an input of shape \(3, 4\)"):
        Bad.apply(x).sum().backward()

    class Missing(Function):
        @staticmethod
        def forward(ctx, x, y):
            return x + y

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(RuntimeError, match="returned 1 gradients for 2 inputs"):
        Missing.apply(x, x).sum().backward()
    with pytest.raises(NotImplementedError, match="forward"):
        Function.apply(x)


# ------------------------------------------------------------------ memory ---

def test_ten_thousand_steps_keep_memory_flat():
    """The graph is freed by reference counting (no cycles): with the cyclic
    collector off, no function node or intermediate tensor outlives its step,
    the number of Python objects stays put, and traced memory does not grow."""
    rng = np.random.default_rng(0)
    W = Tensor(rng.normal(size=(3, 4)), requires_grad=True)
    b = Tensor(np.zeros(3), requires_grad=True)
    x = Tensor(rng.normal(size=(2, 4)))
    labels = np.array([0, 2])
    opt = SGD(lr=0.01)
    nodes = weakref.WeakSet()

    def step(record):
        h = fastnn.tanh(fastnn.linear(x, W, b))
        logits = fastnn.dropout(h * h + h, 0.2, seed=1) @ W.T[:3, :3]
        loss = fastnn.cross_entropy(logits, labels)
        if record:
            nodes.update((h, logits, h.grad_fn, logits.grad_fn))
        fastnn.train_step(loss, [W, b], opt)

    gc.collect()
    gc.disable()
    try:
        for _ in range(1000):
            step(False)
        blocks = sys.getallocatedblocks()
        for i in range(8000):
            step(i % 100 == 0)
        grown_blocks = sys.getallocatedblocks() - blocks
        assert len(nodes) == 0
        tracemalloc.start()
        for _ in range(100):
            step(False)
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(900):
            step(False)
        grown_bytes = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
    finally:
        gc.enable()
    assert grown_blocks < 400, f"{grown_blocks} more Python objects after 8000 steps"
    assert grown_bytes < 16 * 1024, f"memory grew by {grown_bytes} bytes in 900 steps"


# ----------------------------------------------------------- bad input ---

def test_matmul_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"matmul: shapes \(3, 4\) and \(5, 2\)"):
        leaf(3, 4) @ leaf(5, 2)
    with pytest.raises(ValueError, match=r"\(2, 3, 4\)"):
        leaf(2, 3, 4) @ leaf(4, 2)
    with pytest.raises(ValueError, match=r"linear: input has shape \(3, 5\).*\(2, 4\)"):
        fastnn.linear(leaf(3, 5), leaf(2, 4))


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "maximum"])
def test_broadcast_mismatch_names_both_shapes(op):
    a, b = leaf(3, 4), leaf(5,)
    fn = {"add": lambda: a + b, "sub": lambda: a - b, "mul": lambda: a * b,
          "div": lambda: a / b, "maximum": lambda: fastnn.maximum(a, b)}[op]
    with pytest.raises(ValueError, match=rf"{op}: shapes \(3, 4\) and \(5,\) cannot be "
                                         rf"broadcast"):
        fn()


def test_dtype_rule_float32_with_float64_is_an_error():
    a32 = leaf(2, 3, dtype=np.float32)
    b64 = leaf(2, 3, dtype=np.float64)
    for fn in (lambda: a32 + b64, lambda: b64 * a32, lambda: a32 @ b64.T,
               lambda: a32 + np.ones((2, 3)), lambda: fastnn.maximum(a32, b64),
               lambda: fastnn.concatenate([a32, b64])):
        with pytest.raises(TypeError, match="float32.*float64|float64.*float32"):
            fn()
    with pytest.raises(TypeError, match="float64 and float32"):
        fastnn.linear(b64, a32)


def test_dtype_rule_numbers_and_integer_arrays_adapt():
    a32 = leaf(2, 3, dtype=np.float32)
    for out in (a32 * 2, 2.5 - a32, a32 / np.float64(3.0), a32 + np.arange(3),
                a32 ** 2, fastnn.maximum(a32, 0), a32 + np.ones(3, dtype=np.float32)):
        assert out.dtype == np.float32


def test_loss_label_errors():
    logits = leaf(4, 3)
    with pytest.raises(ValueError, match=r"labels\[2\] = 3 is out of range \[0, 2\]"):
        fastnn.cross_entropy(logits, np.array([0, 1, 3, 2]))
    with pytest.raises(ValueError, match=r"labels\[0\] = -1"):
        fastnn.cross_entropy(logits, np.array([-1, 1, 2, 2]))
    with pytest.raises(ValueError, match=r"shape \(4,\).*got shape \(3,\)"):
        fastnn.cross_entropy(logits, np.array([0, 1, 2]))
    with pytest.raises(TypeError, match="integer class indices, got dtype float64"):
        fastnn.cross_entropy(logits, np.array([0.0, 1.0, 2.0, 2.0]))
    with pytest.raises(ValueError, match=r"labels\[1\] = 2 is out of range \[0, 1\]"):
        fastnn.binary_cross_entropy(leaf(3, 1), np.array([0, 2, 1]))
    with pytest.raises(ValueError, match=r"2-D \(n, n_outputs\)"):
        fastnn.mse(leaf(3), np.array([0, 1, 1]))


def test_other_argument_errors():
    x = leaf(3)
    with pytest.raises(TypeError, match="exponent must be a number"):
        x ** x
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\), got 1.0"):
        fastnn.dropout(x, 1.0)
    with pytest.raises(ValueError, match="scale must be 'train' or 'test'"):
        fastnn.dropout(x, 0.5, scale="both")
    with pytest.raises(TypeError, match="seed must be"):
        fastnn.dropout(x, 0.5, seed="abc")
    with pytest.raises(ValueError, match="activation must be one of"):
        fastnn.activation(x, "swish")
    with pytest.raises(ValueError, match=r"concatenate: shapes \[\(3,\), \(2, 2\)\]"):
        fastnn.concatenate([x, leaf(2, 2)])
    with pytest.raises(TypeError, match="optimizer must be an Optimizer"):
        fastnn.train_step((x * x).sum(), [x], "sgd")
    with pytest.raises(ValueError, match=r"params\[0\] must be a Tensor over a writable "
                                         r"C-contiguous array"):
        y = Tensor(np.ones((3, 4)).T, requires_grad=True)
        fastnn.train_step((y * y).sum(), [y], SGD())
