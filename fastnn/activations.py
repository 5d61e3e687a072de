"""Activation functions, as pairs keyed by name.

Each entry holds the code the compiled kernels dispatch on (defined once, in
csrc/kernels.pxd, and read here from ``fastnn._kernels.ACTIVATION_CODES``) and
the NumPy reference of the pair the kernels implement:

- ``forward(a) -> y = f(a)``
- ``derivative(y) -> f'(a)`` written from the *output* y, so back-propagation
  needs only what the forward pass kept (the lecture's layer keeps x, a, y, delta).

========== ======================= ===================================
name       y = f(a)                f'(a) from y
========== ======================= ===================================
identity   a                       1
sigmoid    1 / (1 + e^{-a})        y (1 - y)          (at most 1/4)
tanh       tanh(a)                 1 - y^2
relu       max(a, 0)               [y > 0]
softmax    e^{a_k} / sum_k' e^a    not elementwise: delta = y * (g - <g, y>)
exp        e^a                     y     (the Poisson loss's output)
========== ======================= ===================================
"""

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ._kernels import ACTIVATION_CODES

__all__ = ["Activation", "ACTIVATIONS", "get_activation"]


@dataclass(frozen=True)
class Activation:
    """One activation: its kernel code and its NumPy reference."""

    name: str
    code: int
    forward: Callable[[np.ndarray], np.ndarray]
    #: f'(a) from y = f(a); None for softmax, whose Jacobian is not diagonal.
    derivative: Optional[Callable[[np.ndarray], np.ndarray]]

    def backward(self, y, grad_y):
        """Reference for ``delta = dl/da`` given ``y = f(a)`` and ``grad_y = dl/dy``."""
        if self.derivative is None:  # softmax, row-wise Jacobian-vector product
            return y * (grad_y - np.sum(grad_y * y, axis=-1, keepdims=True))
        return self.derivative(y) * grad_y


def _sigmoid(a):
    # exp never overflows: e^{-|a|} <= 1.
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)


def _softmax(a):
    e = np.exp(a - a.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _entry(name, forward, derivative):
    return Activation(name, ACTIVATION_CODES[name], forward, derivative)


ACTIVATIONS = {
    "identity": _entry("identity", lambda a: a.copy(), lambda y: np.ones_like(y)),
    "sigmoid": _entry("sigmoid", _sigmoid, lambda y: y * (1 - y)),
    "tanh": _entry("tanh", np.tanh, lambda y: 1 - y * y),
    "relu": _entry("relu", lambda a: np.maximum(a, 0), lambda y: (y > 0).astype(y.dtype)),
    "softmax": _entry("softmax", _softmax, None),
    "exp": _entry("exp", np.exp, lambda y: y.copy()),
}


def get_activation(name):
    """Look up an activation by name (``None`` means identity).

    Raises
    ------
    ValueError
        For an unknown name, listing the known ones.
    """
    if name is None:
        name = "identity"
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)} or None, "
                         f"got {name!r}")
    return ACTIVATIONS[name]
