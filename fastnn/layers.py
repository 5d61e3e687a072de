"""Layers: ``Dense`` (a = W x + b, y = f(a)) and ``Dropout``.

Inside a ``Sequential`` they are not run one by one: the model compiles the
chain into one call per epoch (csrc/_train.pyx). On their own, ``layer(X)``
runs the layer's forward pass on an array with the compiled kernels.
"""

import numbers

import numpy as np

from .activations import get_activation
from .initializers import get_initializer, initialize
from .ops import ops
from .validation import check_positive_int

__all__ = ["Layer", "Dense", "Dropout"]


class Layer:
    """Base class of the layers a ``Sequential`` accepts."""


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
        array copies it into the existing one (shape checked).
    b : ndarray, shape (n_out,), or None
        Bias (None when ``bias=False``).

    A new layer is initialised from fresh OS entropy in float32; a
    ``Sequential`` re-initialises it from its own ``seed`` in its ``dtype``.
    """

    def __init__(self, n_in, n_out, activation=None, init="normal", bias=True):
        self.n_in = check_positive_int("n_in", n_in)
        self.n_out = check_positive_int("n_out", n_out)
        self.activation = get_activation(activation).name
        get_initializer(init)
        self.init = init
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"bias must be True or False, got {bias!r}")
        self.bias = bool(bias)
        self.initialize(np.random.default_rng(), np.float32)

    def initialize(self, rng, dtype):
        """Draw W (and b) with this layer's ``init`` from ``rng`` in ``dtype``."""
        W, b = initialize(self.init, rng, self.n_in, self.n_out, dtype)
        self._W = W
        self._b = b if self.bias else None

    @property
    def dtype(self):
        return self._W.dtype

    @property
    def W(self):
        return self._W

    @W.setter
    def W(self, value):
        value = np.asarray(value)
        if value.shape != self._W.shape:
            raise ValueError(f"W must have shape {self._W.shape} (n_out, n_in), got "
                             f"{value.shape}")
        self._W[...] = value

    @property
    def b(self):
        return self._b

    @b.setter
    def b(self, value):
        if self._b is None:
            raise ValueError("this Dense layer has bias=False: it has no b to set")
        value = np.asarray(value)
        if value.shape != self._b.shape:
            raise ValueError(f"b must have shape {self._b.shape} (n_out,), got {value.shape}")
        self._b[...] = value

    @property
    def n_params(self):
        """Number of trainable scalars."""
        return self.n_out * self.n_in + (self.n_out if self.bias else 0)

    def __call__(self, X):
        """Forward pass on a batch X (n, n_in) in the layer's dtype -> (n, n_out)."""
        X = np.ascontiguousarray(X, dtype=self.dtype)
        if X.ndim != 2 or X.shape[1] != self.n_in:
            raise ValueError(f"X must have shape (n, {self.n_in}), got {X.shape}")
        Y = ops.gemm(X, self._W, trans_b=True)
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
    """

    def __init__(self, p, scale="train"):
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p < 1:
            raise ValueError(f"Dropout p must be a probability in [0, 1), got {p!r}")
        if scale not in ("train", "test"):
            raise ValueError(f"Dropout scale must be 'train' or 'test', got {scale!r}")
        self.p = float(p)
        self.scale = scale

    @property
    def keep_value(self):
        """Multiplier of a kept unit while training."""
        return 1.0 / (1.0 - self.p) if self.scale == "train" else 1.0

    @property
    def test_factor(self):
        """Multiplier of every unit at test time."""
        return 1.0 if self.scale == "train" else 1.0 - self.p

    def __call__(self, X):
        """Test-time forward: X scaled by ``test_factor``."""
        X = np.asarray(X)
        return X * X.dtype.type(self.test_factor) if self.test_factor != 1 else X

    def __repr__(self):
        return f"Dropout({self.p}, scale={self.scale!r})"
