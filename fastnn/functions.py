"""The graph's built-in ops: one ``Function`` subclass per primitive, and their
functional names (``fastnn.sigmoid(t)``, ``fastnn.cross_entropy(logits, y)``, ...).

Each class states its maths beside its local gradients. ``g`` is dl/dz for the
output z; every backward returns dl/dinput shaped like that input.

What runs where: matrix products (``@``, ``linear``), the activations
(sigmoid, tanh, relu, softmax), the fused losses and the dropout mask and
product go through the same compiled kernels as the fast training loop
(``fastnn.ops.ops``, ``fastnn._blas``, ``fastnn._kernels``): the graph path is a
second *driver* of those kernels, not a second implementation. Plain
elementwise arithmetic, exp/log, sums, reshapes and indexing use NumPy (there
is no compiled kernel for them).

Broadcasting follows NumPy; a gradient flowing to a broadcast operand is summed
back over the broadcast axes. Dtype rule: floating arrays and Tensors in one op
must share one dtype (float32 op float64 raises ``TypeError`` naming both);
Python numbers, integer and bool arrays are converted to the tensor's dtype.
"""

import numpy as np

from . import _kernels
from .activations import get_activation
from .graph import Function, Tensor
from .ops import ops

__all__ = [
    "Add", "Sub", "Mul", "Div", "Neg", "Pow", "Exp", "Log", "Sum", "Mean", "Transpose",
    "Reshape", "Index", "Concatenate", "Maximum", "MatMul", "Linear", "Activation",
    "Softmax", "LogSoftmax", "CrossEntropy", "BinaryCrossEntropy", "MSE", "DropoutMask",
    "matmul", "linear", "exp", "log", "sum", "mean", "transpose", "reshape", "concatenate",
    "maximum", "activation", "sigmoid", "tanh", "relu", "softmax", "log_softmax",
    "cross_entropy", "binary_cross_entropy", "mse", "dropout",
]

_ndarray = np.ndarray
_INT64 = np.dtype(np.int64)


# ------------------------------------------------------------------ helpers ---

def _unbroadcast(g, shape):
    """Sum g over the axes along which an operand of ``shape`` was broadcast."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    if lead:
        g = g.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g


def _dtype_error(op, a, b):
    return TypeError(f"{op}: operands have dtypes {a} and {b}; convert one (fastnn does not "
                     f"promote float32 to float64 implicitly)")


def _operand(t, other, op):
    """``other`` ready to meet Tensor ``t`` in a binary op (see the dtype rule)."""
    kind = type(other)
    if kind is float or kind is int:
        return other
    if isinstance(other, Tensor):
        if other.data.dtype is not t.data.dtype and other.data.dtype != t.data.dtype:
            raise _dtype_error(op, t.data.dtype, other.data.dtype)
        return other
    if isinstance(other, np.generic):       # numpy scalars would promote float32
        return other.item()
    arr = np.asarray(other)
    if arr.dtype.kind == "f":
        if arr.dtype != t.data.dtype:
            raise _dtype_error(op, t.data.dtype, arr.dtype)
        return arr
    if arr.dtype.kind not in "biu":
        raise TypeError(f"{op}: cannot combine a Tensor with {type(other).__name__} of dtype "
                        f"{arr.dtype}")
    return arr.astype(t.data.dtype)


def _t(x):
    """``x`` as a Tensor (arrays and numbers become constants)."""
    return x if isinstance(x, Tensor) else Tensor(x)


def _pair(a, b, op):
    """Both operands of a functional binary op; the first Tensor sets the dtype."""
    if isinstance(a, Tensor):
        return a, _operand(a, b, op)
    if isinstance(b, Tensor):
        return _operand(b, a, op), b
    a = Tensor(a)
    return a, _operand(a, b, op)


def _axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def _broadcast_error(op, a, b):
    return ValueError(f"{op}: shapes {np.shape(a)} and {np.shape(b)} cannot be broadcast "
                      f"together")


def _blas_ready(a):
    """``a`` as an operand the BLAS door accepts: unit stride along one axis
    (broadcast views with zero strides are copied)."""
    if a.flags.c_contiguous or a.flags.f_contiguous:
        return a
    return np.ascontiguousarray(a)


def _writable_rows(a, dtype):
    """A C-contiguous copy of ``a`` in ``dtype`` (kernels write in place)."""
    return np.array(a, dtype=dtype, order="C")


def _flat_rows(a):
    """View of a C-contiguous array as the 2-D (1, size) block elementwise kernels take."""
    return a.reshape(1, -1)


# ---------------------------------------------------------------- arithmetic ---

class Add(Function):
    """z = a + b (broadcast); da = g, db = g (summed over broadcast axes)."""

    @staticmethod
    def forward(ctx, a, b):
        try:
            out = a + b
        except ValueError:
            raise _broadcast_error("add", a, b) from None
        ctx.saved_tensors = (np.shape(a), np.shape(b))
        return out

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (_unbroadcast(g, sa) if need_a else None,
                _unbroadcast(g, sb) if need_b else None)


class Sub(Function):
    """z = a - b; da = g, db = -g."""

    @staticmethod
    def forward(ctx, a, b):
        try:
            out = a - b
        except ValueError:
            raise _broadcast_error("sub", a, b) from None
        ctx.saved_tensors = (np.shape(a), np.shape(b))
        return out

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (_unbroadcast(g, sa) if need_a else None,
                _unbroadcast(-g, sb) if need_b else None)


class Mul(Function):
    """z = a * b; da = g b, db = g a."""

    @staticmethod
    def forward(ctx, a, b):
        try:
            out = a * b
        except ValueError:
            raise _broadcast_error("mul", a, b) from None
        ctx.saved_tensors = (a, b)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (_unbroadcast(g * b, np.shape(a)) if need_a else None,
                _unbroadcast(g * a, np.shape(b)) if need_b else None)


class Div(Function):
    """z = a / b; da = g / b, db = -g a / b^2 = -g z / b."""

    @staticmethod
    def forward(ctx, a, b):
        try:
            out = a / b
        except ValueError:
            raise _broadcast_error("div", a, b) from None
        ctx.saved_tensors = (a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (_unbroadcast(g / b, np.shape(a)) if need_a else None,
                _unbroadcast(-g * out / b, np.shape(b)) if need_b else None)


class Neg(Function):
    """z = -x; dx = -g."""

    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, g):
        return -g


class Pow(Function):
    """z = x ** p for a number p; dx = g p x^(p - 1)."""

    @staticmethod
    def forward(ctx, x, p):
        ctx.saved_tensors = (x, p)
        return x ** p

    @staticmethod
    def backward(ctx, g):
        x, p = ctx.saved_tensors
        return g * (p * x ** (p - 1)), None


class Exp(Function):
    """z = e^x; dx = g z."""

    @staticmethod
    def forward(ctx, x):
        out = np.exp(x)
        ctx.saved_tensors = (out,)
        return out

    @staticmethod
    def backward(ctx, g):
        return g * ctx.saved_tensors[0]


class Log(Function):
    """z = log x (natural); dx = g / x."""

    @staticmethod
    def forward(ctx, x):
        ctx.saved_tensors = (x,)
        return np.log(x)

    @staticmethod
    def backward(ctx, g):
        return g / ctx.saved_tensors[0]


class Maximum(Function):
    """z = max(a, b) elementwise; the gradient goes to the larger operand
    (split in halves on ties, the mean of the one-sided derivatives)."""

    @staticmethod
    def forward(ctx, a, b):
        try:
            out = np.maximum(a, b)
        except ValueError:
            raise _broadcast_error("maximum", a, b) from None
        ctx.saved_tensors = (a, b)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        share = (a > b) + 0.5 * (a == b)      # float64 weights, cast back below
        dtype = g.dtype
        return (_unbroadcast((g * share).astype(dtype, copy=False), np.shape(a))
                if need_a else None,
                _unbroadcast((g * (1 - share)).astype(dtype, copy=False), np.shape(b))
                if need_b else None)


# ------------------------------------------------------------------ shapes ---

class Sum(Function):
    """z = sum of x over ``axis`` (all axes for None); dx = g broadcast back."""

    @staticmethod
    def forward(ctx, x, axis, keepdims):
        ctx.saved_tensors = (x.shape, axis, keepdims)
        return x.sum(axis=axis, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        shape, axis, keepdims = ctx.saved_tensors
        if axis is not None and not keepdims:
            g = np.expand_dims(g, axis)
        return np.broadcast_to(g, shape), None, None


class Mean(Function):
    """z = mean of x over ``axis``; dx = g / n broadcast back (n values averaged)."""

    @staticmethod
    def forward(ctx, x, axis, keepdims):
        out = x.mean(axis=axis, keepdims=keepdims)
        count = x.size // max(out.size, 1)
        ctx.saved_tensors = (x.shape, axis, keepdims, count)
        return out

    @staticmethod
    def backward(ctx, g):
        shape, axis, keepdims, count = ctx.saved_tensors
        if axis is not None and not keepdims:
            g = np.expand_dims(g, axis)
        return np.broadcast_to(g / count, shape), None, None


class Transpose(Function):
    """z = x with axes permuted (reversed for None); dx = g permuted back."""

    @staticmethod
    def forward(ctx, x, axes):
        ctx.saved_tensors = (axes,)
        return np.transpose(x, axes)

    @staticmethod
    def backward(ctx, g):
        axes, = ctx.saved_tensors
        return np.transpose(g, None if axes is None else np.argsort(axes)), None


class Reshape(Function):
    """z = x reshaped; dx = g reshaped back."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.saved_tensors = (x.shape,)
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.saved_tensors[0]), None


class Index(Function):
    """z = x[key] (slices, integers, integer arrays: row indexing and gather);
    dx = zeros with g scattered back (summed where an index repeats)."""

    @staticmethod
    def forward(ctx, x, key):
        ctx.saved_tensors = (x.shape, x.dtype, key)
        return x[key]

    @staticmethod
    def backward(ctx, g):
        shape, dtype, key = ctx.saved_tensors
        out = np.zeros(shape, dtype=dtype)
        if _basic_index(key):
            out[key] = g                      # no index can repeat
        else:
            np.add.at(out, key, g)
        return out, None


def _basic_index(key):
    """True for ints, slices, None and Ellipsis (and tuples of them)."""
    items = key if type(key) is tuple else (key,)
    for k in items:
        if not (k is None or k is Ellipsis or type(k) is slice
                or isinstance(k, (int, np.integer)) and not isinstance(k, bool)):
            return False
    return True


class Concatenate(Function):
    """z = [x_1, ..., x_k] joined along ``axis``; dx_i = the matching slice of g.
    Called as ``Concatenate.apply(axis, *xs)``."""

    @staticmethod
    def forward(ctx, axis, *xs):
        try:
            out = np.concatenate(xs, axis=axis)
        except ValueError:
            raise ValueError(f"concatenate: shapes {[x.shape for x in xs]} do not match "
                             f"outside axis {axis}") from None
        ctx.saved_tensors = (axis, np.cumsum([x.shape[axis] for x in xs])[:-1])
        return out

    @staticmethod
    def backward(ctx, g):
        axis, splits = ctx.saved_tensors
        return (None, *np.split(g, splits, axis=axis))


# ------------------------------------------------------ matrix products (BLAS) ---

def _check_matmul(a, b):
    if a.ndim not in (1, 2) or b.ndim not in (1, 2):
        raise ValueError(f"matmul: operands must be 1-D or 2-D, got shapes {a.shape} and "
                         f"{b.shape}")
    if a.shape[-1] != b.shape[0]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned: "
                         f"{a.shape[-1]} (last axis of the first) != {b.shape[0]} "
                         f"(first axis of the second)")
    if a.dtype != b.dtype:
        raise _dtype_error("matmul", a.dtype, b.dtype)


class MatMul(Function):
    """z = a @ b through the BLAS door, for 2-D @ 2-D (gemm), 2-D @ 1-D and
    1-D @ 2-D (gemv) and 1-D @ 1-D (dot).

    2-D: da = g b^T (m x k), db = a^T g (k x n). Matrix-vector z = A x:
    dA = g x^T, dx = A^T g. Vector-matrix z = x B = B^T x: dx = B g, dB = x g^T.
    """

    @staticmethod
    def forward(ctx, a, b):
        if type(a) is not _ndarray or type(b) is not _ndarray:
            a, b = np.asarray(a), np.asarray(b)
        _check_matmul(a, b)
        a, b = _blas_ready(a), _blas_ready(b)
        ctx.saved_tensors = (a, b)
        if a.ndim == 2:
            return ops.gemm(a, b) if b.ndim == 2 else ops.gemv(a, b)
        if b.ndim == 2:
            return ops.gemv(b, a, trans_a=True)
        return np.asarray(ops.dot(a, b), dtype=a.dtype)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        da = db = None
        if a.ndim == 2 and b.ndim == 2:
            g = _blas_ready(g)
            if need_a:
                da = ops.gemm(g, b, trans_b=True)
            if need_b:
                db = ops.gemm(a, g, trans_a=True)
        elif a.ndim == 2:                     # z = A x
            g = np.ascontiguousarray(g)
            if need_a:
                da = ops.gemm(g.reshape(-1, 1), np.ascontiguousarray(b).reshape(1, -1))
            if need_b:
                db = ops.gemv(a, g, trans_a=True)
        elif b.ndim == 2:                     # z = x B
            g = np.ascontiguousarray(g)
            if need_a:
                da = ops.gemv(b, g)
            if need_b:
                db = ops.gemm(np.ascontiguousarray(a).reshape(-1, 1), g.reshape(1, -1))
        else:                                 # z = <a, b>
            if need_a:
                da = g * b
            if need_b:
                db = g * a
        return da, db


class Linear(Function):
    """The Dense layer's affine map on a batch: z = x W^T + b.

    Shapes: x (n, n_in), W (n_out, n_in), b (n_out,) or None, z (n, n_out).
    Gradients (the lecture's, summed over the batch): dx = g W,
    dW = g^T x (= sum_i delta_i x_i^T), db = g^T 1 (= sum_i delta_i).
    The same gemm/gemv calls the fast path makes.
    """

    @staticmethod
    def forward(ctx, x, W, b):
        if x.ndim != 2 or x.shape[1] != W.shape[1]:
            raise ValueError(f"linear: input has shape {x.shape} but W has shape {W.shape} "
                             f"(n_out, n_in); expected an input of shape (n, {W.shape[1]})")
        if x.dtype != W.dtype:
            raise _dtype_error("linear", x.dtype, W.dtype)
        if b is not None and b.dtype != W.dtype:
            raise _dtype_error("linear (W, b)", W.dtype, b.dtype)
        x = _blas_ready(x)
        ctx.saved_tensors = (x, W)
        z = ops.gemm(x, W, trans_b=True)
        if b is not None:
            ops.bias_add(z, b)
        return z

    @staticmethod
    def backward(ctx, g):
        x, W = ctx.saved_tensors
        need_x, need_W, need_b = ctx.needs_input_grad
        g = _blas_ready(g)
        dx = ops.gemm(g, W) if need_x else None
        dW = ops.gemm(g, x, trans_a=True) if need_W else None
        db = None
        if need_b:
            db = ops.gemv(g, np.ones(g.shape[0], dtype=g.dtype), trans_a=True)
        return dx, dW, db


# ---------------------------------------------------- activations (kernels) ---

class Activation(Function):
    """y = f(x) elementwise for f in sigmoid, tanh, relu, identity, by name;
    dx = f'(x) g with f' written from the output y (the kernels' pair):
    sigmoid y (1 - y), tanh 1 - y^2, relu [y > 0]."""

    @staticmethod
    def forward(ctx, x, name):
        y = _writable_rows(x, x.dtype)
        ops.activation_forward(_flat_rows(y), name)
        ctx.saved_tensors = (y, name)
        return y

    @staticmethod
    def backward(ctx, g):
        y, name = ctx.saved_tensors
        grad = _writable_rows(g, y.dtype)
        ops.activation_backward(_flat_rows(y), _flat_rows(grad), name)
        return grad, None


class Softmax(Function):
    """y = e^x / sum e^x along ``axis`` (compiled kernel, max-shifted);
    dx = y * (g - <g, y>) along the axis (the kernel's Jacobian-vector product)."""

    @staticmethod
    def forward(ctx, x, axis):
        last = axis == -1 or axis == x.ndim - 1
        y = _writable_rows(x if last else np.moveaxis(x, axis, -1), x.dtype)
        ops.activation_forward(y.reshape(-1, y.shape[-1]), "softmax")
        ctx.saved_tensors = (y, axis, last)
        return y if last else np.moveaxis(y, -1, axis)

    @staticmethod
    def backward(ctx, g):
        y, axis, last = ctx.saved_tensors
        grad = _writable_rows(g if last else np.moveaxis(g, axis, -1), y.dtype)
        ops.activation_backward(y.reshape(-1, y.shape[-1]), grad.reshape(-1, y.shape[-1]),
                                "softmax")
        return (grad if last else np.moveaxis(grad, -1, axis)), None


class LogSoftmax(Function):
    """y = x - logsumexp(x) along ``axis`` (max-shifted, never overflows);
    dx = g - softmax(x) sum(g). NumPy: no compiled kernel computes log-softmax."""

    @staticmethod
    def forward(ctx, x, axis):
        shifted = x - np.max(x, axis=axis, keepdims=True)
        out = shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
        ctx.saved_tensors = (out, axis)
        return out

    @staticmethod
    def backward(ctx, g):
        out, axis = ctx.saved_tensors
        return g - np.exp(out) * np.sum(g, axis=axis, keepdims=True), None


# ------------------------------------------------------------ losses (kernels) ---

def _labels(labels, n, n_classes, where):
    """Labels as C-contiguous int64 (n,) in [0, n_classes), checked at the door
    (the kernels index with them unchecked)."""
    if type(labels) is not _ndarray:
        labels = np.asarray(labels.data if isinstance(labels, Tensor) else labels)
    if labels.dtype != _INT64 or not labels.flags.c_contiguous:
        if labels.dtype.kind not in "iu":
            raise TypeError(f"{where}: labels must be integer class indices, got dtype "
                            f"{labels.dtype}")
        labels = np.ascontiguousarray(labels, dtype=np.int64)
    if labels.shape != (n,):
        raise ValueError(f"{where}: labels must have shape ({n},), one per row of the "
                         f"input, got shape {labels.shape}")
    # A negative label becomes a huge unsigned one: one comparison checks both
    # ends (a Python max is cheaper than a NumPy reduction for a small batch).
    top = max(labels.view(np.uint64).tolist(), default=0) if n <= 16 \
        else labels.view(np.uint64).max()
    if top >= n_classes:
        i = int(np.argmax((labels < 0) | (labels >= n_classes)))
        raise ValueError(f"{where}: labels[{i}] = {labels[i]} is out of range [0, "
                         f"{n_classes - 1}]")
    return labels


def _check_rows(x, where):
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"{where}: input must be 2-D (n, n_outputs) with n >= 1, got shape "
                         f"{x.shape}")


class CrossEntropy(Function):
    """l = mean_i [logsumexp(a_i) - a_i[c_i]] = mean_i -log softmax(a_i)[c_i]
    from the logits a (n, K), fused in one kernel (the fast path's).

    da = (softmax(a) - onehot(c)) / n, the lecture's delta = -(I{k = c} - y_k)
    averaged over the batch: the identity holds because softmax meets the
    log-loss (it would not for another output activation).
    """

    @staticmethod
    def forward(ctx, logits, labels):
        _check_rows(logits, "cross_entropy")
        n = logits.shape[0]
        labels = _labels(labels, n, logits.shape[1], "cross_entropy")
        probs = _writable_rows(logits, logits.dtype)
        loss_sum, delta = ops.softmax_cross_entropy(probs, labels, 1.0 / n)
        ctx.saved_tensors = (delta,)
        return np.asarray(loss_sum / n, dtype=logits.dtype)

    @staticmethod
    def backward(ctx, g):
        return ctx.saved_tensors[0] * g, None


class BinaryCrossEntropy(Function):
    """l = mean_i -sum_k [t_ik log p_ik + (1 - t_ik) log(1 - p_ik)], p = sigmoid(a)
    from the logits a (n, K), fused in one kernel (the fast path's); t = onehot(c),
    or t = c in {0, 1} for K = 1 (logistic regression). da = (p - t) / n."""

    @staticmethod
    def forward(ctx, logits, labels):
        _check_rows(logits, "binary_cross_entropy")
        n, k = logits.shape
        labels = _labels(labels, n, 2 if k == 1 else k, "binary_cross_entropy")
        probs = _writable_rows(logits, logits.dtype)
        loss_sum, delta = ops.sigmoid_binary_cross_entropy(probs, labels, 1.0 / n)
        ctx.saved_tensors = (delta,)
        return np.asarray(loss_sum / n, dtype=logits.dtype)

    @staticmethod
    def backward(ctx, g):
        return ctx.saved_tensors[0] * g, None


class MSE(Function):
    """l = mean_i 1/2 sum_k (y_ik - t_ik)^2 with t = onehot(c) (or c for K = 1),
    on outputs y (n, K) (after their activation); dy = (y - t) / n."""

    @staticmethod
    def forward(ctx, y, labels):
        _check_rows(y, "mse")
        n, k = y.shape
        labels = _labels(labels, n, 2 if k == 1 else k, "mse")
        loss_sum, grad = ops.squared_error(np.ascontiguousarray(y), labels, 1.0 / n)
        ctx.saved_tensors = (grad,)
        return np.asarray(loss_sum / n, dtype=y.dtype)

    @staticmethod
    def backward(ctx, g):
        return ctx.saved_tensors[0] * g, None


# ----------------------------------------------------------- dropout (kernels) ---

class DropoutMask(Function):
    """z = x * m for a fixed mask m (0 or the keep value), with the compiled
    multiply kernel; dx = g * m."""

    @staticmethod
    def forward(ctx, x, mask):
        x = np.ascontiguousarray(x)
        out = np.empty_like(x)
        _kernels.multiply(x.reshape(-1), mask.reshape(-1), out.reshape(-1))
        ctx.saved_tensors = (mask,)
        return out

    @staticmethod
    def backward(ctx, g):
        mask, = ctx.saved_tensors
        g = np.ascontiguousarray(g, dtype=mask.dtype)
        out = np.empty_like(g)
        _kernels.multiply(g.reshape(-1), mask.reshape(-1), out.reshape(-1))
        return out, None


# ------------------------------------------------------------- functional API ---

def matmul(a, b):
    """a @ b for 1-D/2-D Tensors (see ``MatMul``)."""
    a, b = _pair(a, b, "matmul")
    return MatMul.apply(a, b)


def linear(x, W, b=None):
    """z = x W^T + b: x (n, n_in), W (n_out, n_in), b (n_out,) or None -> (n, n_out)."""
    return Linear.apply(_t(x), W, b)


def exp(x):
    """e^x elementwise."""
    return Exp.apply(_t(x))


def log(x):
    """Natural logarithm elementwise."""
    return Log.apply(_t(x))


def sum(x, axis=None, keepdims=False):      # noqa: A001 (shadows the builtin on purpose)
    """Sum over ``axis`` (int, tuple or None for all)."""
    return Sum.apply(_t(x), _axis(axis), keepdims)


def mean(x, axis=None, keepdims=False):
    """Mean over ``axis`` (int, tuple or None for all)."""
    return Mean.apply(_t(x), _axis(axis), keepdims)


def transpose(x, axes=None):
    """Permute the axes (reverse them for None); ``t.T`` for 2-D."""
    return Transpose.apply(_t(x), None if axes is None else tuple(axes))


def reshape(x, *shape):
    """Same values in a new shape (``reshape(t, 2, 3)`` or ``reshape(t, (2, 3))``)."""
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
        shape = tuple(shape[0])
    return Reshape.apply(_t(x), shape)


def concatenate(tensors, axis=0):
    """Join a sequence of Tensors along ``axis`` (one dtype)."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("concatenate needs at least one tensor, got an empty sequence")
    dtypes = {t.data.dtype if isinstance(t, Tensor) else np.asarray(t).dtype for t in tensors}
    if len(dtypes) > 1:
        raise TypeError(f"concatenate: tensors have dtypes {sorted(map(str, dtypes))}; "
                        f"convert them to one")
    return Concatenate.apply(axis, *tensors)


def maximum(a, b):
    """Elementwise max(a, b) with broadcasting."""
    a, b = _pair(a, b, "maximum")
    return Maximum.apply(a, b)


def activation(x, name):
    """f(x) for an activation name ("identity", "sigmoid", "tanh", "relu",
    "softmax"), with the compiled kernels."""
    name = get_activation(name).name
    if name == "softmax":
        return Softmax.apply(_t(x), -1)
    if name == "identity":
        return _t(x)
    return Activation.apply(_t(x), name)


def sigmoid(x):
    """1 / (1 + e^-x) elementwise (compiled kernel)."""
    return Activation.apply(_t(x), "sigmoid")


def tanh(x):
    """tanh(x) elementwise (compiled kernel)."""
    return Activation.apply(_t(x), "tanh")


def relu(x):
    """max(x, 0) elementwise (compiled kernel)."""
    return Activation.apply(_t(x), "relu")


def softmax(x, axis=-1):
    """e^x / sum e^x along ``axis`` (compiled kernel)."""
    return Softmax.apply(_t(x), axis)


def log_softmax(x, axis=-1):
    """x - logsumexp(x) along ``axis``."""
    return LogSoftmax.apply(_t(x), axis)


def cross_entropy(logits, labels):
    """Mean log-loss of softmax(logits) (n, K) for integer labels (n,): a scalar Tensor.

    Takes the logits, not the probabilities: the softmax is fused in (as on
    the fast path). Labels are int class indices in [0, K).
    """
    return CrossEntropy.apply(logits, labels)


def binary_cross_entropy(logits, labels):
    """Mean binary cross-entropy of sigmoid(logits) (n, K) (summed over the K
    units) for integer labels (n,): 0/1 for K = 1, class indices (one-hot
    targets) for K > 1. Takes logits: the sigmoid is fused in."""
    return BinaryCrossEntropy.apply(logits, labels)


def mse(y, labels):
    """Mean over rows of 1/2 ||y_i - t_i||^2 for outputs y (n, K) and integer
    labels (n,): t = onehot(label), or the 0/1 label itself for K = 1."""
    return MSE.apply(y, labels)


def _rng(seed):
    if isinstance(seed, _kernels.Rng):
        return seed
    if isinstance(seed, np.random.Generator):
        return _kernels.Rng(int(seed.integers(0, 2 ** 63)))
    if seed is None:
        return _kernels.Rng(int(np.random.SeedSequence().generate_state(1, np.uint64)[0]))
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        return _kernels.Rng(int(seed))
    raise TypeError(f"seed must be a fastnn Rng, a numpy Generator, a non-negative int or "
                    f"None, got {seed!r}")


def dropout(x, p=0.5, training=True, seed=None, scale="train"):
    """Drop each unit of x with probability p (Srivastava et al.).

    Parameters
    ----------
    x : Tensor, any shape (n, units) for a batch
    p : float in [0, 1)
    training : bool
        False: the test-time map (identity for ``scale="train"``, x (1 - p) for
        ``scale="test"``), no randomness.
    seed : fastnn.ops.Rng, numpy Generator, int or None
        Where the mask comes from. An ``Rng`` is a stream: successive calls
        draw successive masks, one uniform per element in row-major order,
        exactly as the fast path draws them (so ``Rng(s)`` shared by the
        dropouts of a model, called in forward order, reproduces
        ``CompiledNet``'s masks for seed s). An int makes a new ``Rng(int)``
        each call (the same mask every time); None draws OS entropy.
    scale : "train" or "test"
        Kept units are multiplied by 1 / (1 - p) while training ("train",
        inverted dropout) or passed unchanged ("test", the lecture's form).

    Returns
    -------
    Tensor shaped like x: x * m, m_k = 0 if u_k < p else the keep value.
    """
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating)) or not 0 <= p < 1:
        raise ValueError(f"dropout p must be a probability in [0, 1), got {p!r}")
    if scale not in ("train", "test"):
        raise ValueError(f"dropout scale must be 'train' or 'test', got {scale!r}")
    if not isinstance(x, Tensor):
        x = Tensor(x)
    if not training or p == 0:
        if scale == "test" and p != 0 and not training:
            return x * (1.0 - p)
        return x
    keep = 1.0 / (1.0 - p) if scale == "train" else 1.0
    mask = ops.dropout_mask(_rng(seed), x.data.shape, p, keep, x.data.dtype)
    return DropoutMask.apply(x, mask)


# ------------------------------------------------------- Tensor operators ---

def _add(self, other):
    return Add.apply(self, _operand(self, other, "add"))


def _radd(self, other):
    return Add.apply(_operand(self, other, "add"), self)


def _sub(self, other):
    return Sub.apply(self, _operand(self, other, "sub"))


def _rsub(self, other):
    return Sub.apply(_operand(self, other, "sub"), self)


def _mul(self, other):
    return Mul.apply(self, _operand(self, other, "mul"))


def _rmul(self, other):
    return Mul.apply(_operand(self, other, "mul"), self)


def _truediv(self, other):
    return Div.apply(self, _operand(self, other, "div"))


def _rtruediv(self, other):
    return Div.apply(_operand(self, other, "div"), self)


def _matmul(self, other):
    return MatMul.apply(self, _operand(self, other, "matmul"))


def _rmatmul(self, other):
    return MatMul.apply(_operand(self, other, "matmul"), self)


def _neg(self):
    return Neg.apply(self)


def _pow(self, exponent):
    if isinstance(exponent, np.generic):
        exponent = exponent.item()
    if isinstance(exponent, bool) or not isinstance(exponent, (int, float)):
        raise TypeError(f"pow: the exponent must be a number, got {exponent!r}")
    return Pow.apply(self, exponent)


def _getitem(self, key):
    if isinstance(key, Tensor):
        key = key.data
    return Index.apply(self, key)


def _tensor_sum(self, axis=None, keepdims=False):
    """Sum over ``axis`` (see ``fastnn.sum``)."""
    return Sum.apply(self, _axis(axis), keepdims)


def _tensor_mean(self, axis=None, keepdims=False):
    """Mean over ``axis`` (see ``fastnn.mean``)."""
    return Mean.apply(self, _axis(axis), keepdims)


def _tensor_reshape(self, *shape):
    """Same values in a new shape."""
    return reshape(self, *shape)


def _tensor_transpose(self, *axes):
    """Permute the axes (reverse them when none are given)."""
    if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
        axes = tuple(axes[0])
    return Transpose.apply(self, axes or None)


def _T(self):
    return Transpose.apply(self, None)


for _name, _fn in {
    "__add__": _add, "__radd__": _radd, "__sub__": _sub, "__rsub__": _rsub,
    "__mul__": _mul, "__rmul__": _rmul, "__truediv__": _truediv,
    "__rtruediv__": _rtruediv, "__matmul__": _matmul, "__rmatmul__": _rmatmul,
    "__neg__": _neg, "__pow__": _pow, "__getitem__": _getitem,
    "sum": _tensor_sum, "mean": _tensor_mean, "reshape": _tensor_reshape,
    "transpose": _tensor_transpose, "T": property(_T),
    "exp": exp, "log": log, "sigmoid": sigmoid, "tanh": tanh, "relu": relu,
    "softmax": softmax, "log_softmax": log_softmax, "maximum": maximum,
}.items():
    setattr(Tensor, _name, _fn)
del _name, _fn
