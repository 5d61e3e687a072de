"""Elementwise arithmetic primitives: + - * / negation, powers, exp, log, max.

NumPy (there is no compiled kernel for plain arithmetic). ``g`` is dl/dz for
the output z; every backward returns dl/dinput shaped like that input.

The binary ops are applied through ``binary``, which broadcasts first: an
operand whose shape differs from the result's, and that a gradient must reach,
goes through ``BroadcastTo`` (whose backward sums over the broadcast axes). So
each backward below sees its output, its gradient and the operands that need a
gradient in one shape and never un-broadcasts; a constant (a number, an array,
a Tensor without ``requires_grad``) is left to NumPy's broadcasting. The one
exception is the bias, a 1-D Tensor added along the last axis of a matrix:
``x + b`` is the single op ``AddBias`` (fastnn.functional.nn), whose backward
sums the columns with the fast path's kernel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..autograd import Function
from ..tensor import Tensor, as_tensor, dtype_error, operand
from .nn import AddBias
from .shape import BroadcastTo

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ..tensor import Tensor

__all__ = ["Add", "Sub", "Mul", "Div", "Neg", "Pow", "Exp", "Log", "Maximum", "binary",
           "exp", "log", "maximum"]


def binary(fn, t, other, op, reflected=False):
    """``fn.apply(t, other)``, or ``fn.apply(other, t)`` when ``reflected``,
    for an elementwise binary primitive ``fn`` and a Tensor ``t``.

    ``other`` (a Tensor, array or number) is brought to t's dtype by the dtype
    rule (``op`` names the operation in errors). Then each operand that a
    gradient must reach and whose shape differs from the result's goes through
    ``BroadcastTo`` first. With a number or equal shapes (the common path)
    nothing but ``fn`` is recorded.
    """
    kind = type(other)
    if kind is float or kind is int:
        return fn.apply(other, t) if reflected else fn.apply(t, other)
    if isinstance(other, Tensor):
        dtype = other.data.dtype
        if dtype is not t.data.dtype and dtype != t.data.dtype:
            raise dtype_error(op, t.data.dtype, dtype)
        shape = other.data.shape
    else:
        other = operand(t, other, op)
        if type(other) is float:
            return fn.apply(other, t) if reflected else fn.apply(t, other)
        shape = other.shape
    a, b = (other, t) if reflected else (t, other)
    if shape != t.data.shape:
        if fn is Add:
            pair = _bias_pair(a, b)
            if pair is not None:
                return AddBias.apply(*pair)
        a, b = _broadcast(op, a, b)
    return fn.apply(a, b)


def _bias_pair(a, b):
    """(x, bias) when one of the addends is a 1-D Tensor that requires a
    gradient and matches the last axis of the other, of 2 or more axes."""
    for x, bias in ((a, b), (b, a)):
        if isinstance(bias, Tensor) and bias.requires_grad:
            x_shape = (x.data if isinstance(x, Tensor) else x).shape
            b_shape = bias.data.shape
            if len(b_shape) == 1 and len(x_shape) >= 2 and x_shape[-1] == b_shape[0]:
                return x, bias
    return None


def _broadcast(op, a, b):
    """``a`` and ``b``, the one of them that needs a gradient and has fewer
    elements than the result (NumPy broadcasting) expanded by ``BroadcastTo``."""
    shape_a = (a.data if isinstance(a, Tensor) else a).shape
    shape_b = (b.data if isinstance(b, Tensor) else b).shape
    # The bias case (one shape the trailing axes of the other) without NumPy.
    if len(shape_b) < len(shape_a) and shape_a[len(shape_a) - len(shape_b):] == shape_b:
        shape = shape_a
    elif len(shape_a) < len(shape_b) and shape_b[len(shape_b) - len(shape_a):] == shape_a:
        shape = shape_b
    else:
        try:
            shape = np.broadcast_shapes(shape_a, shape_b)
        except ValueError:
            raise ValueError(f"{op}: shapes {shape_a} and {shape_b} cannot be broadcast "
                             f"together") from None
    if shape_a != shape and isinstance(a, Tensor) and a.requires_grad:
        a = BroadcastTo.apply(a, shape)
    if shape_b != shape and isinstance(b, Tensor) and b.requires_grad:
        b = BroadcastTo.apply(b, shape)
    return a, b


class Add(Function):
    """z = a + b; da = g, db = g."""

    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, g):
        return g, g


class Sub(Function):
    """z = a - b; da = g, db = -g."""

    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, g):
        return g, -g if ctx.needs_input_grad[1] else None


class Mul(Function):
    """z = a * b; da = g b, db = g a."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.saved_tensors = (a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return g * b if need_a else None, g * a if need_b else None


class Div(Function):
    """z = a / b; da = g / b, db = -g a / b^2 = -g z / b."""

    @staticmethod
    def forward(ctx, a, b):
        out = a / b
        ctx.saved_tensors = (b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        b, out = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return g / b if need_a else None, -g * out / b if need_b else None


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
        ctx.saved_tensors = (a, b)
        return np.maximum(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        share = (a > b) + 0.5 * (a == b)      # float64 weights, cast back below
        dtype = g.dtype
        return ((g * share).astype(dtype, copy=False) if need_a else None,
                (g * (1 - share)).astype(dtype, copy=False) if need_b else None)


# ------------------------------------------------------------ functional API ---

def exp(x: ArrayLike | Tensor) -> Tensor:
    """e^x elementwise."""
    return Exp.apply(as_tensor(x))


def log(x: ArrayLike | Tensor) -> Tensor:
    """Natural logarithm elementwise."""
    return Log.apply(as_tensor(x))


def maximum(a: ArrayLike | Tensor, b: ArrayLike | Tensor) -> Tensor:
    """Elementwise max(a, b) with broadcasting."""
    if isinstance(a, Tensor):
        return binary(Maximum, a, b, "maximum")
    if isinstance(b, Tensor):
        return binary(Maximum, b, a, "maximum", reflected=True)
    return binary(Maximum, Tensor(a), b, "maximum")
