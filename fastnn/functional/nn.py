"""Network primitives on the compiled kernels: matrix products, the Dense
layer's affine map, activations, softmax, dropout.

They speak the ``ops`` vocabulary (``fastnn.ops.ops``), the same compiled
kernels the fast training loop runs: the graph path is a second *driver* of
those kernels, not a second implementation. (Log-softmax has no kernel and is
NumPy.) ``g`` is dl/dz for the output z; every backward returns dl/dinput
shaped like that input.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..activations import get_activation
from ..autograd import Function
from ..ops import Rng, ops
from ..tensor import as_tensor, dtype_error, operands

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ..tensor import Tensor

__all__ = ["MatMul", "Linear", "AddBias", "Activation", "Softmax", "LogSoftmax", "DropoutMask",
           "matmul", "linear", "activation", "sigmoid", "tanh", "relu", "softmax",
           "log_softmax", "as_rng", "dropout"]

_ndarray = np.ndarray


def _blas_ready(a):
    """``a`` as an operand the BLAS door accepts: unit stride along one axis
    (broadcast views with zero strides are copied)."""
    if a.flags.c_contiguous or a.flags.f_contiguous:
        return a
    return np.ascontiguousarray(a)


def writable_rows(a, dtype):
    """A C-contiguous copy of ``a`` in ``dtype`` (kernels write in place)."""
    if a.dtype == dtype:
        return a.copy()                 # C order; the common case, and the faster call
    return np.array(a, dtype=dtype, order="C")


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
        raise dtype_error("matmul", a.dtype, b.dtype)


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


def _check_linear(x, W, b):
    """The shapes and dtypes ``Linear`` needs: the bias kernel reads n_out
    values of b unchecked, so a short b would be read past its end."""
    for name, value in (("x", x), ("W", W), ("b", b)):
        if value is None and name == "b":
            continue
        if type(value) is not _ndarray:
            raise TypeError(f"linear: {name} must be a Tensor or a numpy array, got "
                            f"{type(value).__name__}")
        if value.dtype.kind != "f":
            raise TypeError(f"linear: {name} must hold floats, got dtype {value.dtype}")
    if W.ndim != 2:
        raise ValueError(f"linear: W must be 2-D (n_out, n_in), got shape {W.shape}")
    if x.ndim != 2 or x.shape[1] != W.shape[1]:
        raise ValueError(f"linear: input has shape {x.shape} but W has shape {W.shape} "
                         f"(n_out, n_in); expected an input of shape (n, {W.shape[1]})")
    if b is not None and b.shape != (W.shape[0],):
        raise ValueError(f"linear: b must have shape ({W.shape[0]},), one bias per output "
                         f"unit of W {W.shape}, got shape {b.shape}")
    if x.dtype != W.dtype:
        raise dtype_error("linear", x.dtype, W.dtype)
    if b is not None and b.dtype != W.dtype:
        raise dtype_error("linear (W, b)", W.dtype, b.dtype)


def check_axis(axis: Any, ndim: int, where: str) -> int:
    """``axis`` as a non-negative int < ndim, or a clear error naming it."""
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{where}: axis must be an integer, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{where}: axis {axis} is out of range for a tensor with {ndim} "
                         f"dimension{'s' if ndim != 1 else ''}")
    return int(axis) % ndim


class Linear(Function):
    """The Dense layer's affine map on a batch: z = x W^T + b.

    Shapes: x (n, n_in), W (n_out, n_in), b (n_out,) or None, z (n, n_out).
    Gradients (the lecture's, summed over the batch): dx = g W,
    dW = g^T x (= sum_i delta_i x_i^T), db = g^T 1 (= sum_i delta_i).
    The same gemm and column-sum calls the fast path makes.
    """

    @staticmethod
    def forward(ctx, x, W, b):
        _check_linear(x, W, b)
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
        if need_b:                            # the fast path's column-sum kernel
            db = ops.add_column_sums(np.ascontiguousarray(g), np.empty(g.shape[1], g.dtype))
        return dx, dW, db


class AddBias(Function):
    """z = x + b for a bias b (n,) added along the last axis of x (..., n):
    the lecture's "+ b" as one op, with the kernels of ``Linear``'s bias.
    dx = g, db = the column sums of g (over every leading axis of x).

    ``x + b`` records it when b requires a gradient (``arithmetic.binary``),
    instead of a ``BroadcastTo`` node and an ``Add``; the values are NumPy's
    ``x + b`` bit for bit (one addition per element)."""

    @staticmethod
    def forward(ctx, x, b):
        z = writable_rows(x, x.dtype)
        ops.bias_add(z, b)
        return z

    @staticmethod
    def backward(ctx, g):
        need_x, need_b = ctx.needs_input_grad
        db = None
        if need_b:
            db = ops.add_column_sums(np.ascontiguousarray(g), np.empty(g.shape[-1], g.dtype))
        return (g if need_x else None), db


# ------------------------------------------------------------- activations ---

class Activation(Function):
    """y = f(x) elementwise for f in sigmoid, tanh, relu, identity, by name;
    dx = f'(x) g with f' written from the output y (the kernels' pair):
    sigmoid y (1 - y), tanh 1 - y^2, relu [y > 0]."""

    @staticmethod
    def forward(ctx, x, name):
        y = writable_rows(x, x.dtype)
        ops.activation_forward(y, name)
        ctx.saved_tensors = (y, name)
        return y

    @staticmethod
    def backward(ctx, g):
        y, name = ctx.saved_tensors
        grad = writable_rows(g, y.dtype)
        ops.activation_backward(y, grad, name)
        return grad, None


class Softmax(Function):
    """y = e^x / sum e^x along ``axis`` (compiled kernel, max-shifted);
    dx = y * (g - <g, y>) along the axis (the kernel's Jacobian-vector product)."""

    @staticmethod
    def forward(ctx, x, axis):
        if x.ndim == 0:
            raise ValueError("softmax: needs a tensor with at least one dimension, got a "
                             "scalar")
        axis = check_axis(axis, x.ndim, "softmax")
        last = axis == x.ndim - 1
        y = writable_rows(x if last else np.moveaxis(x, axis, -1), x.dtype)
        ops.activation_forward(y, "softmax")          # along the last axis
        ctx.saved_tensors = (y, axis, last)
        return y if last else np.moveaxis(y, -1, axis)

    @staticmethod
    def backward(ctx, g):
        y, axis, last = ctx.saved_tensors
        grad = writable_rows(g if last else np.moveaxis(g, axis, -1), y.dtype)
        ops.activation_backward(y, grad, "softmax")
        return (grad if last else np.moveaxis(grad, -1, axis)), None


class LogSoftmax(Function):
    """y = x - logsumexp(x) along ``axis`` (max-shifted, never overflows);
    dx = g - softmax(x) sum(g). NumPy: no compiled kernel computes log-softmax."""

    @staticmethod
    def forward(ctx, x, axis):
        if x.ndim == 0:
            raise ValueError("log_softmax: needs a tensor with at least one dimension, got a "
                             "scalar")
        axis = check_axis(axis, x.ndim, "log_softmax")
        shifted = x - np.max(x, axis=axis, keepdims=True)
        out = shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
        ctx.saved_tensors = (out, axis)
        return out

    @staticmethod
    def backward(ctx, g):
        out, axis = ctx.saved_tensors
        return g - np.exp(out) * np.sum(g, axis=axis, keepdims=True), None


# ----------------------------------------------------------------- dropout ---

class DropoutMask(Function):
    """z = x * m for a fixed mask m (0 or the keep value); dx = g * m.
    (An exact product: NumPy's equals the fast path's kernel bit for bit.)"""

    @staticmethod
    def forward(ctx, x, mask):
        ctx.saved_tensors = (mask,)
        return x * mask

    @staticmethod
    def backward(ctx, g):
        return g * ctx.saved_tensors[0], None


# ------------------------------------------------------------ functional API ---

def matmul(a: ArrayLike | Tensor, b: ArrayLike | Tensor) -> Tensor:
    """a @ b for 1-D/2-D Tensors (see ``MatMul``)."""
    return MatMul.apply(*operands(a, b, "matmul"))


def linear(x: ArrayLike | Tensor, W: Tensor | np.ndarray,
           b: Tensor | np.ndarray | None = None) -> Tensor:
    """z = x W^T + b: x (n, n_in), W (n_out, n_in), b (n_out,) or None -> (n, n_out).

    W and b are Tensors (or arrays) of x's dtype; every shape is checked first.
    """
    return Linear.apply(as_tensor(x), W, b)


def activation(x: ArrayLike | Tensor, name: str | None) -> Tensor:
    """f(x) for an activation name ("identity", "sigmoid", "tanh", "relu",
    "softmax"), with the compiled kernels."""
    name = get_activation(name).name
    if name == "softmax":
        return Softmax.apply(as_tensor(x), -1)
    if name == "identity":
        return as_tensor(x)
    return Activation.apply(as_tensor(x), name)


def sigmoid(x: ArrayLike | Tensor) -> Tensor:
    """1 / (1 + e^-x) elementwise (compiled kernel)."""
    return Activation.apply(as_tensor(x), "sigmoid")


def tanh(x: ArrayLike | Tensor) -> Tensor:
    """tanh(x) elementwise (compiled kernel)."""
    return Activation.apply(as_tensor(x), "tanh")


def relu(x: ArrayLike | Tensor) -> Tensor:
    """max(x, 0) elementwise (compiled kernel)."""
    return Activation.apply(as_tensor(x), "relu")


def softmax(x: ArrayLike | Tensor, axis: int = -1) -> Tensor:
    """e^x / sum e^x along ``axis`` (compiled kernel)."""
    return Softmax.apply(as_tensor(x), axis)


def log_softmax(x: ArrayLike | Tensor, axis: int = -1) -> Tensor:
    """x - logsumexp(x) along ``axis``."""
    return LogSoftmax.apply(as_tensor(x), axis)


def as_rng(seed: Rng | np.random.Generator | int | None) -> Rng:
    """The mask stream for ``seed``: an ``Rng`` itself, a new ``Rng`` seeded
    from a numpy Generator, an int, or OS entropy (None)."""
    if isinstance(seed, Rng):
        return seed
    if isinstance(seed, np.random.Generator):
        return Rng(int(seed.integers(0, 2 ** 63)))
    if seed is None:
        return Rng(int(np.random.SeedSequence().generate_state(1, np.uint64)[0]))
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        return Rng(int(seed))
    raise TypeError(f"seed must be a fastnn Rng, a numpy Generator, a non-negative int or "
                    f"None, got {seed!r}")


def dropout(x: ArrayLike | Tensor, p: float = 0.5, training: bool = True,
            seed: Rng | np.random.Generator | int | None = None,
            scale: str = "train") -> Tensor:
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
    x = as_tensor(x)
    if not training or p == 0:
        if scale == "test" and p != 0 and not training:
            return x * (1.0 - p)
        return x
    keep = 1.0 / (1.0 - p) if scale == "train" else 1.0
    mask = ops.dropout_mask(as_rng(seed), x.data.shape, p, keep, x.data.dtype)
    return DropoutMask.apply(x, mask)

