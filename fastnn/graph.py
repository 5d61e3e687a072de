"""The computation graph: ``Tensor``, ``Function``/``Context``, the backward engine.

The lecture's computation graph, built as the code runs (define-by-run):

* a **variable node** is a ``Tensor``: a numpy array ``data`` and, once a
  backward pass reached it, its gradient ``grad`` (an array of the same shape);
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
``loss.backward()`` then visits the function nodes in reverse topological
order (an iterative depth-first sort: no recursion limit), sums the gradients
that reach a tensor along several paths (fan-out) and stores the result in
``.grad`` of every leaf that requires it. The graph is freed as it is
traversed unless ``retain_graph=True``.

Tensors hold float32 or float64 arrays. The operators and the named ops
(``t @ u``, ``t + u``, ``t.sum()``, ``fastnn.relu(t)``, ...) are defined in
``fastnn.functions``, which installs the operator methods on ``Tensor``.
"""

import numpy as np

__all__ = ["Tensor", "Function", "Context", "no_grad", "enable_grad", "is_grad_enabled",
           "grad"]

_ndarray = np.ndarray
_new = object.__new__
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))

# Grad mode (one flag per process, not per thread): no_grad() turns it off.
_grad_enabled = True


def is_grad_enabled():
    """True unless inside ``with no_grad():``."""
    return _grad_enabled


class no_grad:
    """Context manager (or decorator) in which operations build no graph.

    Outputs computed inside have ``requires_grad=False``: use it for
    evaluation and for parameter updates written with tensor operations.
    """

    __slots__ = ("_prev",)

    def __enter__(self):
        global _grad_enabled
        self._prev = _grad_enabled
        _grad_enabled = False
        return self

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self._prev
        return False

    def __call__(self, func):
        def wrapper(*args, **kwargs):
            with type(self)():
                return func(*args, **kwargs)
        wrapper.__name__ = getattr(func, "__name__", "wrapper")
        wrapper.__doc__ = getattr(func, "__doc__", None)
        return wrapper


class enable_grad(no_grad):
    """Context manager that turns graph building back on inside ``no_grad``."""

    __slots__ = ()

    def __enter__(self):
        global _grad_enabled
        self._prev = _grad_enabled
        _grad_enabled = True
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

    def save_for_backward(self, *values):
        """Keep ``values`` (arrays, usually) for ``backward`` as ``ctx.saved_tensors``."""
        self.saved_tensors = values

    def _free(self):
        self.inputs = None
        self.saved_tensors = None
        self.__dict__.clear()

    def __repr__(self):
        name = self.fn.__name__ if hasattr(self, "fn") else "?"
        return f"<Context of {name}{' (freed)' if self.inputs is None else ''}>"


def _as_float_array(data, dtype):
    if isinstance(data, Tensor):
        data = data.data
    arr = np.asarray(data, dtype=dtype)
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

    Dtype rule: the floating operands of one operation (Tensors, arrays) must
    share one dtype; mixing float32 and float64 raises ``TypeError`` naming
    both (nothing is promoted implicitly). Python numbers, numpy scalars and
    integer or bool arrays adapt to the tensor's dtype (``t * 2`` stays float32).
    """

    __slots__ = ("data", "grad", "requires_grad", "_ctx", "__weakref__")
    # ndarray <op> Tensor defers to Tensor's reflected operator.
    __array_ufunc__ = None

    def __init__(self, data, requires_grad=False, dtype=None):
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
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return self.data.size

    @property
    def grad_fn(self):
        return self._ctx

    @property
    def is_leaf(self):
        return self._ctx is None

    def __len__(self):
        return len(self.data)

    def __array__(self, dtype=None, copy=None):
        if dtype is not None and dtype != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def numpy(self):
        """The array itself (shared, not a copy)."""
        return self.data

    def item(self):
        """The value of a one-element tensor as a Python float."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.item()

    def detach(self):
        """A new leaf sharing ``data``, cut from the graph."""
        return _leaf(self.data)

    def __repr__(self):
        extra = ", requires_grad=True" if self.requires_grad else ""
        if self._ctx is not None:
            extra = f", grad_fn={self._ctx.fn.__name__}"
        body = np.array2string(self.data, separator=", ", threshold=20, edgeitems=2)
        return f"Tensor({body}, dtype={self.data.dtype.name}{extra})"

    # --------------------------------------------------------- backward ---
    def backward(self, gradient=None, retain_graph=False):
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
        root_grad = _root_gradient(self, gradient, "backward()")
        if self._ctx is None:
            leaves = {id(self): (self, root_grad)}
        else:
            leaves, _ = _backprop(self, root_grad, retain_graph, ())
        seen = set()
        for leaf, g in leaves.values():
            if leaf.grad is None:
                leaf.grad = _owned(g, seen)
            else:
                leaf.grad = leaf.grad + g


def _leaf(data):
    t = _new(Tensor)
    t.data = data
    t.grad = None
    t.requires_grad = False
    t._ctx = None
    return t


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
    gradient = np.array(gradient, dtype=data.dtype)
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


def grad(cost, params, retain_graph=False):
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
    def forward(ctx, *inputs):
        raise NotImplementedError("a Function subclass must define forward(ctx, *inputs)")

    @staticmethod
    def backward(ctx, grad_output):
        raise NotImplementedError("a Function subclass must define backward(ctx, grad_output)")

    @classmethod
    def apply(cls, *args):
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
        track = track and _grad_enabled
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
