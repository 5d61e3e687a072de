"""Shape primitives: broadcasting, reductions, reshapes, indexing, joining.

All NumPy (no compiled kernel moves data around). ``g`` is dl/dz for the
output z; every backward returns dl/dinput shaped like that input.

``BroadcastTo`` is NumPy broadcasting as an op of its own (tinygrad's
``expand``): the elementwise binary ops apply it to an operand whose shape
differs from the result's, so its backward, a sum over the broadcast axes, is
the only place where a gradient is un-broadcast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..autograd import Function
from ..tensor import Tensor, as_tensor

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ..tensor import Tensor

__all__ = ["BroadcastTo", "Sum", "Mean", "Transpose", "Reshape", "Index", "Concatenate",
           "broadcast_to", "sum", "mean", "transpose", "reshape", "concatenate"]

_ndarray = np.ndarray


def _is_index(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def axis_argument(axis):
    """An ``axis`` argument as NumPy takes it (None, an int, or a tuple of
    ints; a list becomes a tuple), or a TypeError naming it."""
    if axis is None or _is_index(axis):
        return axis
    if isinstance(axis, (list, tuple)) and all(_is_index(a) for a in axis):
        return tuple(axis)
    raise TypeError(f"axis must be None, an integer or a tuple of integers, got {axis!r}")


def shape_argument(args, axes=False):
    """The shape from ``f(2, 3)`` or ``f((2, 3))`` (``args`` = the * arguments):
    integers >= 0, or -1 for the one inferred dimension; with ``axes``, a
    permutation's axes (any integers, NumPy checks them)."""
    shape = args
    if len(args) == 1 and not _is_index(args[0]):
        if not isinstance(args[0], (list, tuple)):
            raise TypeError(f"shape must be integers or a tuple of integers, got {args[0]!r}")
        shape = tuple(args[0])
    if axes:
        if not all(_is_index(d) for d in shape):
            raise TypeError(f"axes must be integers, got {tuple(shape)!r}")
    elif not all(_is_index(d) and d >= -1 for d in shape):
        raise TypeError(f"shape must be integers >= 0 (or -1 for one inferred dimension), got "
                        f"{tuple(shape)!r}")
    return tuple(int(d) for d in shape)


def _reduce(op, x, axis, keepdims):
    """x.sum / x.mean with NumPy's axis errors named for the op."""
    try:
        return getattr(x, op)(axis=axis, keepdims=keepdims)
    except (ValueError, OverflowError) as exc:     # AxisError is a ValueError
        raise ValueError(f"{op}: axis {axis!r} does not fit a tensor of shape {x.shape} "
                         f"({exc})") from None


class BroadcastTo(Function):
    """z = x broadcast to ``shape`` (new leading axes, axes of length 1
    repeated); dx = g summed over those axes."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.saved_tensors = (x.shape,)
        lead = len(shape) - x.ndim
        if lead > 0 and x.flags.c_contiguous and tuple(shape[lead:]) == x.shape:
            # Only new leading axes (a bias row under a batch): the view is built
            # directly, as np.broadcast_to costs more than a whole Add.
            out = _ndarray(shape, x.dtype, x, 0, (0,) * lead + x.strides)
            out.flags.writeable = False
            return out
        try:
            return np.broadcast_to(x, shape)
        except (ValueError, OverflowError):
            raise ValueError(f"broadcast_to: shape {x.shape} cannot be broadcast to "
                             f"{tuple(shape)}") from None

    @staticmethod
    def backward(ctx, g):
        shape, = ctx.saved_tensors
        lead = g.ndim - len(shape)
        if lead:
            g = g.sum(axis=tuple(range(lead)))
        axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
        if axes:
            g = g.sum(axis=axes, keepdims=True)
        return g, None


class Sum(Function):
    """z = sum of x over ``axis`` (all axes for None); dx = g broadcast back."""

    @staticmethod
    def forward(ctx, x, axis, keepdims):
        ctx.saved_tensors = (x.shape, axis, keepdims)
        return _reduce("sum", x, axis, keepdims)

    @staticmethod
    def backward(ctx, g):
        shape, axis, keepdims = ctx.saved_tensors
        if axis is not None and not keepdims and shape:   # (NumPy lets a 0-d x take axis 0)
            g = np.expand_dims(g, axis)
        return np.broadcast_to(g, shape), None, None


class Mean(Function):
    """z = mean of x over ``axis``; dx = g / n broadcast back (n values averaged)."""

    @staticmethod
    def forward(ctx, x, axis, keepdims):
        out = _reduce("mean", x, axis, keepdims)
        count = x.size // max(out.size, 1)
        ctx.saved_tensors = (x.shape, axis, keepdims, count)
        return out

    @staticmethod
    def backward(ctx, g):
        shape, axis, keepdims, count = ctx.saved_tensors
        if axis is not None and not keepdims and shape:   # (NumPy lets a 0-d x take axis 0)
            g = np.expand_dims(g, axis)
        return np.broadcast_to(g / count, shape), None, None


class Transpose(Function):
    """z = x with axes permuted (reversed for None); dx = g permuted back."""

    @staticmethod
    def forward(ctx, x, axes):
        ctx.saved_tensors = (axes,)
        try:
            return np.transpose(x, axes)
        except (ValueError, OverflowError):        # AxisError too
            raise ValueError(f"transpose: axes {axes!r} are not a permutation of the "
                             f"{x.ndim} axes of a tensor of shape {x.shape}") from None

    @staticmethod
    def backward(ctx, g):
        axes, = ctx.saved_tensors
        return np.transpose(g, None if axes is None else np.argsort(axes)), None


class Reshape(Function):
    """z = x reshaped; dx = g reshaped back."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.saved_tensors = (x.shape,)
        try:
            return x.reshape(shape)
        except (ValueError, OverflowError) as exc:
            raise ValueError(f"reshape: a tensor of shape {x.shape} ({x.size} values) cannot "
                             f"take shape {shape!r} ({exc})") from None

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


# ------------------------------------------------------------ functional API ---

def broadcast_to(x: ArrayLike | Tensor, *shape: int | Sequence[int]) -> Tensor:
    """x broadcast to ``shape`` as NumPy does (``t.broadcast_to(...)``), a
    read-only view; the gradient is summed back over the broadcast axes."""
    return BroadcastTo.apply(as_tensor(x), shape_argument(shape))


def sum(x: ArrayLike | Tensor, axis: int | Sequence[int] | None = None,  # noqa: A001
        keepdims: bool = False) -> Tensor:       # (shadows the builtin on purpose)
    """Sum over ``axis`` (int, tuple or None for all)."""
    return Sum.apply(as_tensor(x), axis_argument(axis), keepdims)


def mean(x: ArrayLike | Tensor, axis: int | Sequence[int] | None = None,
         keepdims: bool = False) -> Tensor:
    """Mean over ``axis`` (int, tuple or None for all)."""
    return Mean.apply(as_tensor(x), axis_argument(axis), keepdims)


def transpose(x: ArrayLike | Tensor, axes: Sequence[int] | None = None) -> Tensor:
    """Permute the axes (reverse them for None); ``t.T`` for 2-D."""
    return Transpose.apply(as_tensor(x), None if axes is None else shape_argument((axes,),
                                                                                 axes=True))


def reshape(x: ArrayLike | Tensor, *shape: int | Sequence[int]) -> Tensor:
    """Same values in a new shape (``reshape(t, 2, 3)`` or ``reshape(t, (2, 3))``)."""
    return Reshape.apply(as_tensor(x), shape_argument(shape))


def concatenate(tensors: Sequence[ArrayLike | Tensor], axis: int = 0) -> Tensor:
    """Join a sequence of Tensors along ``axis`` (one dtype)."""
    if isinstance(tensors, (Tensor, np.ndarray, str)) or not hasattr(tensors, "__iter__"):
        raise TypeError(f"tensors must be a list or tuple of Tensors, got "
                        f"{type(tensors).__name__}")
    tensors = list(tensors)
    if not tensors:
        raise ValueError("concatenate needs at least one tensor, got an empty sequence")
    dtypes = {t.data.dtype if isinstance(t, Tensor) else np.asarray(t).dtype for t in tensors}
    if len(dtypes) > 1:
        raise TypeError(f"concatenate: tensors have dtypes {sorted(map(str, dtypes))}; "
                        f"convert them to one")
    return Concatenate.apply(axis, *tensors)
