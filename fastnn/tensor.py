"""``Tensor``: the variable node of the computation graph, and its operators.

A Tensor wraps a float32 or float64 numpy array. Every operator and method
that computes (``t + u``, ``t @ W.T``, ``t[idx]``, ``t.sum(axis=1)``,
``t.relu()``, ...) is one line here that calls its primitive, a ``Function``
of ``fastnn.functional``; ``t.backward()`` runs the engine of
``fastnn.autograd``.

Dtype rule: the floating operands of one operation (Tensors, arrays) must
share one dtype; mixing float32 and float64 raises ``TypeError`` naming both
(nothing is promoted implicitly). Python numbers, numpy scalars and integer or
bool arrays adapt to the tensor's dtype (``t * 2`` stays float32).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, DTypeLike

    from .autograd import Context

__all__ = ["Tensor", "as_tensor", "operand", "operands", "dtype_error"]

_new = object.__new__
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _as_float_array(data, dtype):
    if isinstance(data, Tensor):
        data = data.data
    try:
        arr = np.asarray(data, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"Tensor data must be an array of real numbers; converting "
                        f"{type(data).__name__} failed: {exc}") from None
    if arr.dtype.kind == "f" and not arr.dtype.isnative and arr.dtype.itemsize in (4, 8):
        arr = arr.astype(arr.dtype.newbyteorder("="))    # the kernels compute natively
    if arr.dtype not in _FLOATS:
        if dtype is not None:
            raise TypeError(f"Tensor dtype must be float32 or float64, got dtype={dtype!r}")
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"Tensor data must be real numbers, got an array of dtype "
                            f"{arr.dtype}")
        arr = arr.astype(np.float64)
    return arr


class Tensor:
    """A node of the computation graph that holds an array.

    Parameters
    ----------
    data : array-like
        Wrapped without a copy when it is already a float32 or float64 numpy
        array (the Tensor and the array share memory); other numbers (lists,
        ints, bools) are converted to float64.
    requires_grad : bool
        Whether gradients with respect to this tensor are wanted: operations
        on it are recorded, and ``backward`` fills its ``grad``.
    dtype : None, "float32" or "float64"
        Convert ``data`` to this dtype (a copy if it differs).

    Attributes
    ----------
    data : ndarray
        The value, any shape.
    grad : ndarray or None
        dl/data, same shape and dtype, filled (summed into) by ``backward``
        for a leaf that requires a gradient.
    requires_grad : bool
    grad_fn : Context or None
        The function node that made this tensor; None for a leaf.

    Operands of the operators follow the module's dtype rule and NumPy's
    broadcasting (the gradient of a broadcast operand is summed back over the
    broadcast axes by ``fastnn.functional.BroadcastTo``).
    """

    __slots__ = ("data", "grad", "requires_grad", "_ctx", "__weakref__")
    # ndarray <op> Tensor defers to Tensor's reflected operator.
    __array_ufunc__ = None

    def __init__(self, data: ArrayLike | Tensor, requires_grad: bool = False,
                 dtype: DTypeLike | None = None) -> None:
        if not isinstance(requires_grad, (bool, np.bool_)):
            raise TypeError(f"requires_grad must be True or False, got {requires_grad!r}")
        if dtype is not None:
            try:
                resolved = np.dtype(dtype)
            except TypeError:
                resolved = None
            if resolved not in _FLOATS:
                raise TypeError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
            dtype = resolved
        self.data = _as_float_array(data, dtype)
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._ctx = None

    # ------------------------------------------------------------ views ---
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def grad_fn(self) -> Context | None:
        return self._ctx

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    def __len__(self) -> int:
        return len(self.data)

    def __array__(self, dtype=None, copy=None):
        if dtype is not None and dtype != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def numpy(self) -> np.ndarray:
        """The array itself (shared, not a copy)."""
        return self.data

    def item(self) -> float:
        """The value of a one-element tensor as a Python float."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.item()

    def detach(self) -> Tensor:
        """A new leaf sharing ``data``, cut from the graph."""
        return _leaf(self.data)

    def __repr__(self) -> str:
        extra = ", requires_grad=True" if self.requires_grad else ""
        if self._ctx is not None:
            extra = f", grad_fn={self._ctx.fn.__name__}"
        body = np.array2string(self.data, separator=", ", threshold=20, edgeitems=2)
        return f"Tensor({body}, dtype={self.data.dtype.name}{extra})"

    # --------------------------------------------------------- backward ---
    def backward(self, gradient: ArrayLike | Tensor | None = None,
                 retain_graph: bool = False) -> None:
        """Back-propagate from this tensor: fill ``.grad`` of the leaves.

        Parameters
        ----------
        gradient : array-like or None
            dl/self, shaped like this tensor. May be omitted only for a
            one-element tensor (a loss), where it is 1.
        retain_graph : bool
            Keep the graph so that ``backward`` can run through it again;
            by default each function node frees its inputs and saved arrays
            once its gradient has been propagated.

        Every leaf tensor with ``requires_grad`` that the output depends on
        gets ``leaf.grad += dl/dleaf`` (set on the first call): gradients
        accumulate over calls, as in PyTorch; reset them with
        ``leaf.grad = None``.
        """
        _backward(self, gradient, retain_graph)

    # ------------------------------------------------------- arithmetic ---
    # Elementwise, with the dtype rule and NumPy broadcasting (see ``binary``).
    def __add__(self, other: Any) -> Tensor:
        return _binary(Add, self, other, "add")

    def __radd__(self, other: Any) -> Tensor:
        return _binary(Add, self, other, "add", True)

    def __sub__(self, other: Any) -> Tensor:
        return _binary(Sub, self, other, "sub")

    def __rsub__(self, other: Any) -> Tensor:
        return _binary(Sub, self, other, "sub", True)

    def __mul__(self, other: Any) -> Tensor:
        return _binary(Mul, self, other, "mul")

    def __rmul__(self, other: Any) -> Tensor:
        return _binary(Mul, self, other, "mul", True)

    def __truediv__(self, other: Any) -> Tensor:
        return _binary(Div, self, other, "div")

    def __rtruediv__(self, other: Any) -> Tensor:
        return _binary(Div, self, other, "div", True)

    def __neg__(self) -> Tensor:
        return Neg.apply(self)

    def __pow__(self, exponent: float) -> Tensor:
        """self ** p for a number p."""
        return Pow.apply(self, _exponent(exponent))

    def maximum(self, other: Any) -> Tensor:
        """Elementwise max(self, other)."""
        return _binary(Maximum, self, other, "maximum")

    def exp(self) -> Tensor:
        return Exp.apply(self)

    def log(self) -> Tensor:
        return Log.apply(self)

    # ----------------------------------------------------- matrix product ---
    def __matmul__(self, other: Any) -> Tensor:
        """self @ other for 1-D and 2-D operands (BLAS)."""
        return MatMul.apply(self, operand(self, other, "matmul"))

    def __rmatmul__(self, other: Any) -> Tensor:
        return MatMul.apply(operand(self, other, "matmul"), self)

    # ------------------------------------------------- reductions, shapes ---
    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """Sum over ``axis`` (int, tuple or None for all)."""
        return Sum.apply(self, _axis(axis), keepdims)

    def mean(self, axis: int | tuple[int, ...] | None = None,
             keepdims: bool = False) -> Tensor:
        """Mean over ``axis`` (int, tuple or None for all)."""
        return Mean.apply(self, _axis(axis), keepdims)

    def reshape(self, *shape: Any) -> Tensor:
        """Same values in a new shape (``t.reshape(2, 3)`` or ``t.reshape((2, 3))``)."""
        return Reshape.apply(self, _shape(shape))

    def transpose(self, *axes: Any) -> Tensor:
        """Permute the axes (reverse them when none are given)."""
        return Transpose.apply(self, _shape(axes, axes=True) or None)

    @property
    def T(self) -> Tensor:
        """The axes reversed (the transpose of a matrix)."""
        return Transpose.apply(self, None)

    def broadcast_to(self, *shape: Any) -> Tensor:
        """Broadcast to ``shape`` as NumPy does (a read-only view; the gradient
        is summed back over the broadcast axes)."""
        return BroadcastTo.apply(self, _shape(shape))

    def __getitem__(self, key: Any) -> Tensor:
        """self[key]: slices, integers, integer arrays (row indexing, gather)."""
        return Index.apply(self, key.data if isinstance(key, Tensor) else key)

    # -------------------------------------------------------- activations ---
    def sigmoid(self) -> Tensor:
        return Activation.apply(self, "sigmoid")

    def tanh(self) -> Tensor:
        return Activation.apply(self, "tanh")

    def relu(self) -> Tensor:
        return Activation.apply(self, "relu")

    def softmax(self, axis: int = -1) -> Tensor:
        return Softmax.apply(self, axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        return LogSoftmax.apply(self, axis)


def _leaf(data):
    t = _new(Tensor)
    t.data = data
    t.grad = None
    t.requires_grad = False
    t._ctx = None
    return t


def as_tensor(x: ArrayLike | Tensor) -> Tensor:
    """``x`` itself if it is a Tensor, else a constant Tensor of it."""
    return x if isinstance(x, Tensor) else Tensor(x)


def dtype_error(op: str, a: Any, b: Any) -> TypeError:
    """The dtype rule's error for ``op`` on operands of dtypes ``a`` and ``b``."""
    return TypeError(f"{op}: operands have dtypes {a} and {b}; convert one (fastnn does not "
                     f"promote float32 to float64 implicitly)")


def operand(t: Tensor, other: Any, op: str) -> Any:
    """``other`` ready to meet Tensor ``t`` in a binary op (see the dtype rule):
    a Python number, a Tensor of t's dtype or an array of t's dtype."""
    kind = type(other)
    if kind is float or kind is int:
        return other
    if isinstance(other, Tensor):
        if other.data.dtype is not t.data.dtype and other.data.dtype != t.data.dtype:
            raise dtype_error(op, t.data.dtype, other.data.dtype)
        return other
    if isinstance(other, (bool, np.bool_, np.integer, np.floating)):
        return float(other)                 # a numpy scalar would promote float32
    arr = np.asarray(other)
    if arr.dtype.kind == "f":
        if arr.dtype != t.data.dtype:
            raise dtype_error(op, t.data.dtype, arr.dtype)
        return arr
    if arr.dtype.kind not in "biu":
        raise TypeError(f"{op}: cannot combine a Tensor with {type(other).__name__} of dtype "
                        f"{arr.dtype}")
    return arr.astype(t.data.dtype)


def operands(a: Any, b: Any, op: str) -> tuple[Any, Any]:
    """Both operands of a functional binary op (``fastnn.maximum(a, b)``), as
    for an operator; the first Tensor sets the dtype."""
    if isinstance(a, Tensor):
        return a, operand(a, b, op)
    if isinstance(b, Tensor):
        return operand(b, a, op), b
    a = Tensor(a)
    return a, operand(a, b, op)


def _exponent(p):
    if isinstance(p, np.generic):
        p = p.item()
    if isinstance(p, bool) or not isinstance(p, (int, float)):
        raise TypeError(f"pow: the exponent must be a number, got {p!r}")
    return p


# The operators call the primitives, and the primitives build Tensors
# (Function.apply returns one), so they are imported once the class exists.
# fastnn/functional/__init__.py imports this module before any primitive, so
# the order holds whichever graph module is imported first.
from .autograd import backward as _backward  # noqa: E402
from .functional.arithmetic import (Add, Div, Exp, Log, Maximum, Mul, Neg, Pow,  # noqa: E402
                                    Sub, binary as _binary)
from .functional.nn import Activation, LogSoftmax, MatMul, Softmax  # noqa: E402
from .functional.shape import (BroadcastTo, Index, Mean, Reshape, Sum,  # noqa: E402
                               Transpose, axis_argument as _axis, shape_argument as _shape)
