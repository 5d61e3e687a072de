"""Elementwise arithmetic primitives: + - * / negation, powers, exp, log, max.

NumPy (there is no compiled kernel for plain arithmetic). ``g`` is dl/dz for
the output z; every backward returns dl/dinput shaped like that input.

The binary ops are applied through ``binary``, which broadcasts first: an
operand whose shape differs from the result's, and that a gradient must reach,
goes through ``BroadcastTo`` (whose backward sums over the broadcast axes). So
each backward below sees its output, its gradient and the operands that need a
gradient in one shape and never un-broadcasts; a constant (a number, an array,
a Tensor without ``requires_grad``) is left to NumPy's broadcasting.
"""

import numpy as np

from ..autograd import Function
from ..tensor import Tensor, as_tensor, operands
from .shape import BroadcastTo

__all__ = ["Add", "Sub", "Mul", "Div", "Neg", "Pow", "Exp", "Log", "Maximum", "binary",
           "exp", "log", "maximum"]


def binary(fn, a, b):
    """``fn.apply(a, b)`` for an elementwise binary primitive ``fn``, each
    operand that a gradient must reach expanded to the result's shape first.

    ``a`` and ``b`` are a Tensor and a Tensor, array or Python number, of one
    dtype (``fastnn.tensor`` checks that). When the shapes agree, or one
    operand is a number, nothing but ``fn`` is recorded.
    """
    kind_a, kind_b = type(a), type(b)
    if kind_a is float or kind_a is int or kind_b is float or kind_b is int:
        return fn.apply(a, b)
    data_a = a.data if isinstance(a, Tensor) else a
    data_b = b.data if isinstance(b, Tensor) else b
    if data_a.shape != data_b.shape:
        try:
            shape = np.broadcast(data_a, data_b).shape     # (np.broadcast_shapes is slower)
        except ValueError:
            raise ValueError(f"{fn.__name__.lower()}: shapes {data_a.shape} and "
                             f"{data_b.shape} cannot be broadcast together") from None
        if data_a.shape != shape and isinstance(a, Tensor) and a.requires_grad:
            a = BroadcastTo.apply(a, shape)
        if data_b.shape != shape and isinstance(b, Tensor) and b.requires_grad:
            b = BroadcastTo.apply(b, shape)
    return fn.apply(a, b)


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

def exp(x):
    """e^x elementwise."""
    return Exp.apply(as_tensor(x))


def log(x):
    """Natural logarithm elementwise."""
    return Log.apply(as_tensor(x))


def maximum(a, b):
    """Elementwise max(a, b) with broadcasting."""
    return binary(Maximum, *operands(a, b, "maximum"))
