"""Layers: ``Dense`` (a = W x + b, y = f(a)) and ``Dropout``.

Inside a ``Sequential`` they are not run one by one: the model compiles the
chain into one call per epoch (csrc/_train.pyx). On their own, ``layer(X)``
runs the layer's forward pass on an array with the compiled kernels.

Called on a ``fastnn.Tensor`` instead, a layer is a graph function: ``Dense``
builds a ``Linear`` node (and an activation node) over its own parameters,
exposed as Tensors that share memory with ``W`` and ``b`` (``W_param``,
``b_param``, ``parameters()``); ``Dropout`` builds a mask node. Custom models
(``fastnn.Model``) are written from these calls and trained with the same
optimizers.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np

from . import functional as F
from .activations import get_activation
from .tensor import Tensor
from .initializers import get_initializer, initialize
from .ops import ops
from .validation import check_X, check_param, check_positive_int

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, DTypeLike

__all__ = ["Layer", "Dense", "Dropout"]


class Layer:
    """Base class of the layers a ``Sequential`` accepts."""


def _bytes(n):
    """``n`` bytes in the largest binary unit that keeps the number >= 1."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024


class Dense(Layer):
    """Fully connected layer: ``a = W x + b``, ``y = f(a)``, for a batch
    ``Y = f(X W^T + b)``.

    Parameters
    ----------
    n_in, n_out : int > 0
        Input and output sizes.
    activation : None, "identity", "sigmoid", "tanh", "relu" or "softmax"
        f; None means identity.
    init : str
        Weight recipe (see ``fastnn.initializers``): "normal" (N(0, 1/sqrt(n_in)),
        the default), "glorot_uniform", "he_normal", "standard_normal", "zeros".
    bias : bool
        With ``bias=False`` there is no b: the lecture's implicit bias is a
        constant-1 column appended to the input, which gives the same model
        (its weight column plays the role of b, except that weight decay then
        applies to it).

    Attributes
    ----------
    W : ndarray, shape (n_out, n_in)
        Weights, in the model's dtype. Writable in place; assigning a new
        array copies it into the existing one (shape checked). C-contiguous,
        except in the first layer of a ``Sequential`` fitted on sparse input,
        which stores it feature-major (``feature_major``).
    b : ndarray, shape (n_out,), or None
        Bias (None when ``bias=False``).

    A new layer is initialised from fresh OS entropy in float32; a
    ``Sequential`` re-initialises it from its own ``seed`` in its ``dtype``.
    """

    def __init__(self, n_in: int, n_out: int, activation: str | None = None,
                 init: str = "normal", bias: bool = True) -> None:
        self.n_in = check_positive_int("n_in", n_in)
        self.n_out = check_positive_int("n_out", n_out)
        self.activation = get_activation(activation).name
        get_initializer(init)
        self.init = init
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"bias must be True or False, got {bias!r}")
        self.bias = bool(bias)
        self.initialize(np.random.default_rng(), np.float32)

    def initialize(self, rng: np.random.Generator, dtype: DTypeLike) -> None:
        """Draw W (and b) with this layer's ``init`` from ``rng`` in ``dtype``."""
        try:
            W, b = initialize(self.init, rng, self.n_in, self.n_out, dtype)
        except MemoryError:
            # The recipes draw in float64, then cast: that draw is the peak.
            count = self.n_in * self.n_out
            raise MemoryError(
                f"{self!r}: W has {count:,} weights, which need {_bytes(count * 8)} to draw "
                f"(float64) and {_bytes(count * np.dtype(dtype).itemsize)} to keep in "
                f"{np.dtype(dtype).name}; there is not that much memory") from None
        self._W = W
        self._b = b if self.bias else None
        self._W_param = self._b_param = None
        self._feature_major = False

    @property
    def feature_major(self) -> bool:
        """Whether W is stored feature-major: W.T (n_in, n_out) C-contiguous,
        the weights of each input feature side by side. ``Sequential.fit`` on
        sparse input stores its first layer so (once, a new W array): a CSR
        batch then costs one contiguous row of W.T per non-zero."""
        return self._feature_major

    def _set_feature_major(self, flag: bool) -> np.ndarray | None:
        """Store W feature-major (flag True) or row-major: a new array with
        the same values. Returns the old array, None when nothing changed."""
        if bool(flag) == self._feature_major:
            return None
        old = self._W
        self._W = np.asfortranarray(old) if flag else np.ascontiguousarray(old)
        self._feature_major = bool(flag)
        self._W_param = None
        return old

    @property
    def dtype(self) -> np.dtype:
        return self._W.dtype

    @property
    def W(self) -> np.ndarray:
        return self._W

    @W.setter
    def W(self, value: ArrayLike) -> None:
        self._W[...] = check_param("W", value, self._W.shape, self._W.dtype)

    @property
    def b(self) -> np.ndarray | None:
        return self._b

    @b.setter
    def b(self, value: ArrayLike) -> None:
        if self._b is None:
            raise ValueError("this Dense layer has bias=False: it has no b to set")
        self._b[...] = check_param("b", value, self._b.shape, self._b.dtype)

    @property
    def W_param(self) -> Tensor:
        """W as a Tensor with ``requires_grad=True`` that shares its memory (the
        graph reads it, optimizers update the array in place). The graph
        takes C-contiguous arrays: a feature-major W is stored row-major
        again first (a new array)."""
        self._set_feature_major(False)
        t = self._W_param
        if t is None or t.data is not self._W:
            t = self._W_param = Tensor(self._W, requires_grad=True)
        return t

    @property
    def b_param(self) -> Tensor | None:
        """b as a Tensor sharing its memory, or None when ``bias=False``."""
        if self._b is None:
            return None
        t = self._b_param
        if t is None or t.data is not self._b:
            t = self._b_param = Tensor(self._b, requires_grad=True)
        return t

    def parameters(self) -> list[Tensor]:
        """[W_param, b_param] (b omitted when ``bias=False``): the graph's view
        of the layer, in the order of ``Sequential.get_weights``."""
        return [self.W_param] if self._b is None else [self.W_param, self.b_param]

    @property
    def n_params(self) -> int:
        """Number of trainable scalars."""
        return self.n_out * self.n_in + (self.n_out if self.bias else 0)

    def __call__(self, X: ArrayLike | Tensor, logits: bool = False) -> np.ndarray | Tensor:
        """Forward pass on a batch X (n, n_in) -> Y = f(X W^T + b), shape (n, n_out).

        An array X (converted to the layer's dtype) gives an array. A Tensor X
        (of the layer's dtype) gives a Tensor and records the graph nodes
        ``linear(X, W_param, b_param)`` then f; ``logits=True`` stops before f
        and returns the pre-activation a = X W^T + b, the input that
        ``fastnn.cross_entropy`` / ``binary_cross_entropy`` expect (they fuse
        the softmax / sigmoid in, as the fast path does).
        """
        if isinstance(X, Tensor):
            if X.ndim != 2 or X.shape[1] != self.n_in:
                raise ValueError(f"X must have shape (n, {self.n_in}), got {X.shape}")
            a = F.linear(X, self.W_param, self.b_param)
            if logits or self.activation == "identity":
                return a
            return F.activation(a, self.activation)
        if logits:
            raise ValueError("logits=True needs a Tensor input (graph mode)")
        # The door of the array path: real, finite, (n, n_in), the layer's dtype.
        X = check_X(X, self.n_in, self.dtype)
        W = self._W
        Y = ops.gemm(X, W.T) if self._feature_major else ops.gemm(X, W, trans_b=True)
        if self._b is not None:
            ops.bias_add(Y, self._b)
        return ops.activation_forward(Y, self.activation)

    def __repr__(self):
        return (f"Dense({self.n_in}, {self.n_out}, activation={self.activation!r}, "
                f"init={self.init!r}, bias={self.bias})")


class Dropout(Layer):
    """Dropout on the units of its input (Srivastava et al.).

    While training, each unit is zeroed with probability ``p``, with a new mask
    for every example. Two equivalent conventions:

    ``scale="train"`` (default, "inverted dropout")
        kept units are multiplied by 1/(1 - p) while training; identity at test.
    ``scale="test"`` (the lecture's form)
        kept units pass unscaled while training; at test time every unit is
        multiplied by (1 - p).

    Both give the same expected activation at training and test time: with
    inverted dropout E[m x / (1 - p)] = x = the test-time output; with the
    lecture's form E[m x] = (1 - p) x = the test-time output. They train the
    same model up to a rescaling of the next layer's weights by (1 - p).

    Parameters
    ----------
    p : float in [0, 1)
        Probability of dropping a unit.
    scale : "train" or "test"

    Attributes (graph mode)
    -----------------------
    training : bool
        On a Tensor input, draw a mask when True (the default), apply the
        test-time map when False; ``Model.train()`` / ``eval()`` set it.
    rng : fastnn.ops.Rng or None
        The mask stream on a Tensor input; a ``Model`` hands its own to the
        Dropout layers assigned to it; None draws a fresh one from OS entropy
        on first use. Ignored by ``Sequential`` (the fast path seeds its own).
    """

    def __init__(self, p: float, scale: str = "train") -> None:
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p < 1:
            raise ValueError(f"Dropout p must be a probability in [0, 1), got {p!r}")
        if scale not in ("train", "test"):
            raise ValueError(f"Dropout scale must be 'train' or 'test', got {scale!r}")
        self.p = float(p)
        self.scale = scale
        self.training = True
        self.rng = None

    @property
    def keep_value(self) -> float:
        """Multiplier of a kept unit while training."""
        return 1.0 / (1.0 - self.p) if self.scale == "train" else 1.0

    @property
    def test_factor(self) -> float:
        """Multiplier of every unit at test time."""
        return 1.0 if self.scale == "train" else 1.0 - self.p

    def __call__(self, X: ArrayLike | Tensor) -> np.ndarray | Tensor:
        """On an array: the test-time forward, X scaled by ``test_factor``.

        On a Tensor: ``fastnn.dropout(X, p, self.training, self.rng, scale)``,
        a graph node (one uniform draw per element of X, in row-major order).
        """
        if isinstance(X, Tensor):
            if self.training and self.p > 0 and self.rng is None:
                self.rng = F.as_rng(None)
            return F.dropout(X, self.p, self.training, self.rng, self.scale)
        X = np.asarray(X)
        if X.dtype.kind != "f":
            raise TypeError(f"X must be a float array (the activations of a layer), got dtype "
                            f"{X.dtype}")
        return X * X.dtype.type(self.test_factor) if self.test_factor != 1 else X

    def __repr__(self):
        return f"Dropout({self.p}, scale={self.scale!r})"
