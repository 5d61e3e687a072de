"""The autograd engine: ``Function``/``Context``, the backward sweep, ``grad``,
``no_grad``/``enable_grad``.

The lecture's computation graph is built as the code runs (define-by-run):

* a **variable node** is a ``fastnn.Tensor`` (fastnn/tensor.py): an array
  ``data`` and, once a backward pass reached it, its gradient ``grad``;
* a **function node** is a ``Context``: it records which ``Function`` made a
  tensor, from which inputs, and what the forward pass saved for the local
  gradients.

A ``Function`` subclass is one primitive ``z = f(x, y, ...)``:

``forward(ctx, *inputs) -> z``
    computes the output from the input *arrays* (Tensors are unwrapped before
    the call; other arguments, such as an axis or labels, pass unchanged) and
    may keep what ``backward`` needs with ``ctx.save_for_backward(...)`` or as
    attributes of ``ctx``;
``backward(ctx, grad_output) -> grads``
    receives ``dl/dz`` (an array shaped like ``z``) and returns one gradient
    per input, ``dl/dx = dl/dz dz/dx``, shaped like that input (``None`` for
    an input that needs none: ``ctx.needs_input_grad[i]`` tells which do).
    It must not modify ``grad_output`` in place.

``Function.apply(*inputs)`` runs ``forward`` and, when grad mode is on and an
input Tensor requires a gradient, links the output to a new ``Context``.
``backward(loss)`` (``loss.backward()``) then visits the function nodes in
reverse topological order (an iterative depth-first sort: no recursion limit),
checks the shape of every gradient a ``backward`` returns, sums the gradients
that reach a tensor along several paths (fan-out) and stores the result in
``.grad`` of every leaf that requires it. The graph is freed as it is
traversed unless ``retain_graph=True``.

The built-in primitives are in ``fastnn.functional``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, Sequence, TypeVar

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

_F = TypeVar("_F", bound=Callable[..., Any])

__all__ = ["Function", "Context", "no_grad", "enable_grad", "is_grad_enabled", "backward",
           "grad"]

_ndarray = np.ndarray
_new = object.__new__


class _GradMode(threading.local):
    """Grad mode, one flag per thread (as in PyTorch): a thread's ``no_grad()``
    never switches recording off in another thread."""

    enabled = True


_mode = _GradMode()


def is_grad_enabled() -> bool:
    """True unless inside ``with no_grad():`` in this thread."""
    return _mode.enabled


class no_grad:
    """Context manager (or decorator) in which operations build no graph.

    Outputs computed inside have ``requires_grad=False``: use it for
    evaluation and for parameter updates written with tensor operations.
    """

    __slots__ = ("_prev",)

    def __enter__(self) -> no_grad:
        self._prev = _mode.enabled
        _mode.enabled = False
        return self

    def __exit__(self, *exc: object) -> bool:
        _mode.enabled = self._prev
        return False

    def __call__(self, func: _F) -> _F:
        def wrapper(*args, **kwargs):
            with type(self)():
                return func(*args, **kwargs)
        wrapper.__name__ = getattr(func, "__name__", "wrapper")
        wrapper.__doc__ = getattr(func, "__doc__", None)
        return wrapper


class enable_grad(no_grad):
    """Context manager that turns graph building back on inside ``no_grad``."""

    __slots__ = ()

    def __enter__(self) -> enable_grad:
        self._prev = _mode.enabled
        _mode.enabled = True
        return self


class Context:
    """A function node: what one ``Function.apply`` call recorded.

    Attributes
    ----------
    fn : type
        The ``Function`` subclass whose ``backward`` this node runs.
    inputs : tuple
        The arguments of the call (Tensors and plain values), in order;
        ``None`` once a backward pass has freed the node.
    needs_input_grad : tuple of bool
        ``needs_input_grad[i]`` is True when input i is a Tensor that requires
        a gradient (and grad mode is on); ``backward`` may skip the others.
    saved_tensors : tuple
        What ``forward`` passed to ``save_for_backward``.

    ``forward`` may also set any other attribute (``ctx.axis = axis``).
    """

    __slots__ = ("fn", "inputs", "needs_input_grad", "saved_tensors", "__dict__", "__weakref__")

    def save_for_backward(self, *values: Any) -> None:
        """Keep ``values`` (arrays, usually) for ``backward`` as ``ctx.saved_tensors``."""
        self.saved_tensors = values

    def _free(self):
        self.inputs = None
        self.saved_tensors = None
        self.__dict__.clear()

    def __repr__(self):
        name = self.fn.__name__ if hasattr(self, "fn") else "?"
        return f"<Context of {name}{' (freed)' if self.inputs is None else ''}>"


class Function:
    """Base class of the graph's primitives; subclass it to add an op.

    Write ``forward`` and ``backward`` as static methods and call the op with
    ``MyOp.apply(*inputs)``::

        class Square(Function):
            @staticmethod
            def forward(ctx, x):             # x: ndarray
                ctx.save_for_backward(x)
                return x * x

            @staticmethod
            def backward(ctx, grad_output):  # dl/dz, shaped like z
                x, = ctx.saved_tensors
                return 2 * x * grad_output   # dl/dx, shaped like x

    ``backward`` returns one value per argument of ``apply`` (a tuple, or a
    single array for one argument); ``None`` for arguments without a gradient.
    """

    @staticmethod
    def forward(ctx: Context, *inputs: Any) -> Any:
        raise NotImplementedError("a Function subclass must define forward(ctx, *inputs)")

    @staticmethod
    def backward(ctx: Context, grad_output: np.ndarray) -> Any:
        raise NotImplementedError("a Function subclass must define backward(ctx, grad_output)")

    @classmethod
    def apply(cls, *args: Any) -> Tensor:
        """Run ``forward`` on the unwrapped arguments; return the output Tensor
        (linked to the graph when an input Tensor requires a gradient)."""
        values = []
        needs = []
        track = False
        for a in args:
            if isinstance(a, Tensor):
                values.append(a.data)
                r = a.requires_grad
                needs.append(r)
                track = track or r
            else:
                values.append(a)
                needs.append(False)
        ctx = Context()
        track = track and _mode.enabled
        ctx.needs_input_grad = tuple(needs) if track else (False,) * len(args)
        out = cls.forward(ctx, *values)
        if type(out) is not _ndarray:
            out = np.asarray(out)
        t = _new(Tensor)
        t.data = out
        t.grad = None
        if track:
            ctx.fn = cls
            ctx.inputs = args
            t.requires_grad = True
            t._ctx = ctx
        else:
            t.requires_grad = False
            t._ctx = None
        return t


def backward(tensor: Tensor, gradient: ArrayLike | Tensor | None = None,
             retain_graph: bool = False) -> None:
    """Back-propagate from ``tensor``: ``leaf.grad += dl/dleaf`` for every leaf
    that requires a gradient (``Tensor.backward`` documents the arguments)."""
    root_grad = _root_gradient(tensor, gradient, "backward()")
    if tensor._ctx is None:
        leaves = {id(tensor): (tensor, root_grad)}
    else:
        leaves, _ = _backprop(tensor, root_grad, retain_graph, ())
    seen = set()
    for leaf, g in leaves.values():
        if leaf.grad is None:
            leaf.grad = _owned(g, seen)
        else:
            leaf.grad = leaf.grad + g


def grad(cost: Tensor, params: Tensor | Sequence[Tensor],
         retain_graph: bool = False) -> np.ndarray | list[np.ndarray]:
    """Gradients of ``cost`` with respect to ``params``, without touching ``.grad``.

    The lecture's Theano ``T.grad(cost, params)``.

    Parameters
    ----------
    cost : Tensor
        A one-element tensor (a loss).
    params : Tensor or sequence of Tensor
        Tensors that require a gradient: leaves (parameters) or intermediate
        results of the graph.
    retain_graph : bool
        Keep the graph for another pass (it is freed by default).

    Returns
    -------
    list of ndarray (or one ndarray when ``params`` is a single Tensor)
        ``d cost / d params[i]``, shaped like ``params[i]``; zeros for a
        tensor the cost does not depend on.
    """
    single = isinstance(params, Tensor)
    if not single and (isinstance(params, (str, bytes, np.ndarray))
                       or not hasattr(params, "__iter__")):
        raise TypeError(f"params must be a Tensor or a sequence of Tensors, got "
                        f"{type(params).__name__}")
    plist = [params] if single else list(params)
    for i, p in enumerate(plist):
        if not isinstance(p, Tensor):
            raise TypeError(f"params[{i}] must be a Tensor, got {type(p).__name__}")
        if not p.requires_grad:
            raise ValueError(f"params[{i}] (shape {p.shape}) does not require grad; create "
                             f"it with requires_grad=True")
    root_grad = _root_gradient(cost, None, "grad(cost, params)")
    if cost._ctx is None:
        leaves, kept = {id(cost): (cost, root_grad)}, {}
    else:
        keep = {p._ctx for p in plist if p._ctx is not None}
        leaves, kept = _backprop(cost, root_grad, retain_graph, keep)
    out = []
    seen = set()
    for p in plist:
        if p._ctx is None:
            entry = leaves.get(id(p))
            g = None if entry is None else entry[1]
        else:
            g = kept.get(p._ctx)
        out.append(np.zeros_like(p.data) if g is None else _owned(g, seen))
    return out[0] if single else out


def _root_gradient(root, gradient, where):
    if not isinstance(root, Tensor):
        raise TypeError(f"{where} needs a Tensor, got {type(root).__name__}")
    if not root.requires_grad:
        raise RuntimeError(f"{where}: the tensor does not require grad and has no graph "
                           f"(create the leaves with requires_grad=True, outside no_grad())")
    data = root.data
    if gradient is None:
        if data.size != 1:
            raise RuntimeError(f"{where} on a non-scalar tensor of shape {data.shape} needs a "
                               f"gradient argument of that shape (dl/dtensor); it can be "
                               f"omitted only for a one-element tensor such as a loss")
        return np.ones(data.shape, dtype=data.dtype)
    if isinstance(gradient, Tensor):
        gradient = gradient.data
    raw = np.asarray(gradient)
    if raw.dtype.kind not in "biuf":
        raise TypeError(f"{where}: gradient must hold real numbers, got dtype {raw.dtype}")
    gradient = np.array(raw, dtype=data.dtype)
    if gradient.shape != data.shape:
        raise ValueError(f"{where}: gradient has shape {gradient.shape} but the tensor has "
                         f"shape {data.shape}")
    return gradient


def _owned(g, seen):
    """``g`` itself when nothing else can see it, else a copy: a leaf's
    ``.grad`` must not alias another leaf's gradient or be a view."""
    if g.base is not None or id(g) in seen or not g.flags.writeable:
        g = g.copy()
    seen.add(id(g))
    return g


def _topological_order(root_ctx):
    """Function nodes reachable from ``root_ctx`` through inputs that need a
    gradient, each after every node it depends on (iterative DFS post-order)."""
    order = []
    visited = set()
    stack = [(root_ctx, False)]
    push = stack.append
    while stack:
        ctx, expanded = stack.pop()
        if expanded:
            order.append(ctx)
            continue
        if ctx in visited:
            continue
        visited.add(ctx)
        inputs = ctx.inputs
        if inputs is None:
            raise RuntimeError(f"the graph behind a {ctx.fn.__name__} node was freed by an "
                               f"earlier backward pass; pass retain_graph=True to the first "
                               f"backward() (or grad()) to go through it twice")
        push((ctx, True))
        for x, need in zip(inputs, ctx.needs_input_grad):
            if need:
                parent = x._ctx
                if parent is not None and parent not in visited:
                    push((parent, False))
    return order


def _backprop(root, root_grad, retain_graph, keep):
    """Reverse sweep from ``root`` with dl/droot = ``root_grad``.

    Returns ``(leaves, kept)``: ``leaves`` maps id(leaf) -> (leaf, dl/dleaf)
    for the leaves requiring a gradient; ``kept`` maps each function node in
    ``keep`` to dl/d(its output).
    """
    order = _topological_order(root._ctx)
    pending = {root._ctx: root_grad}     # node -> dl/d(its output), summed over paths
    leaves = {}
    kept = {}
    for ctx in reversed(order):
        g = pending.pop(ctx, None)
        if ctx in keep:
            kept[ctx] = g
        if g is None:                     # no gradient flowed into this node
            if not retain_graph:
                ctx._free()
            continue
        grads = ctx.fn.backward(ctx, g)
        inputs = ctx.inputs
        if type(grads) is not tuple:
            grads = (grads,)
        if len(grads) != len(inputs):
            raise RuntimeError(f"{ctx.fn.__name__}.backward returned {len(grads)} gradients "
                               f"for {len(inputs)} inputs")
        for x, need, gx in zip(inputs, ctx.needs_input_grad, grads):
            if not need or gx is None:
                continue
            data = x.data
            if type(gx) is not _ndarray:
                gx = np.asarray(gx, dtype=data.dtype)
            if gx.shape != data.shape:
                raise RuntimeError(f"{ctx.fn.__name__}.backward returned a gradient of shape "
                                   f"{gx.shape} for an input of shape {data.shape}")
            parent = x._ctx
            if parent is None:
                entry = leaves.get(id(x))
                leaves[id(x)] = (x, gx if entry is None else entry[1] + gx)
            else:
                prev = pending.get(parent)
                pending[parent] = gx if prev is None else prev + gx
        if not retain_graph:
            ctx._free()
    return leaves, kept


# Function.apply builds Tensors and the sweep reads them, but only when called:
# the import comes last because fastnn/tensor.py imports this module (its
# ``backward`` method calls the one above).
from .tensor import Tensor  # noqa: E402
