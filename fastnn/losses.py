"""Losses, keyed by name, each averaged over the examples of a batch.

With labels c (integers) and output y (n, K):

``cross_entropy``
    The lecture's log-loss, for a softmax output:
    l = -log y_c. Fused with the softmax, the delta at the pre-activation
    level is ``y - onehot(c)`` (the lecture's delta_k = -(I{k = c} - y_k)).
``binary_cross_entropy``
    For sigmoid outputs (Nielsen's cost): l = -sum_k [t_k log y_k +
    (1 - t_k) log(1 - y_k)], t = onehot(c); with a single output unit, t = c
    in {0, 1} (logistic regression). Fused with the sigmoid, delta = y - t.
``mse``
    l = 1/2 sum_k (y_k - t_k)^2 with any output activation;
    delta = f'(a) * (y - t).

The NumPy references below take the *pre-activation* ``a`` of the output layer
(except ``mse``, which takes the output ``y``) and return
``(summed loss, gradient)``, matching the compiled kernels.
"""

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .activations import ACTIVATIONS

__all__ = ["Loss", "LOSSES", "get_loss", "targets"]


@dataclass(frozen=True)
class Loss:
    """One loss: its kernel code and the output activation it requires."""

    name: str
    code: int
    #: activation the last layer must have, or None for any
    output_activation: Optional[str]


LOSSES = {
    "cross_entropy": Loss("cross_entropy", 0, "softmax"),
    "binary_cross_entropy": Loss("binary_cross_entropy", 1, "sigmoid"),
    "mse": Loss("mse", 2, None),
}


def get_loss(name):
    """Look up a loss by name; ValueError listing the known ones otherwise."""
    if not isinstance(name, str) or name not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {name!r}")
    return LOSSES[name]


def targets(labels, n_outputs, dtype):
    """Target matrix t (n, n_outputs): one-hot rows, or the 0/1 label itself
    for a single output unit."""
    labels = np.asarray(labels)
    if n_outputs == 1:
        return labels.astype(dtype).reshape(-1, 1)
    t = np.zeros((labels.shape[0], n_outputs), dtype=dtype)
    t[np.arange(labels.shape[0]), labels] = 1
    return t


def softmax_cross_entropy_reference(a, labels, scale):
    """(sum_i logsumexp(a_i) - a_i[c_i], scale * (softmax(a) - onehot))."""
    top = a.max(axis=1, keepdims=True)
    lse = np.log(np.exp(a - top).sum(axis=1, keepdims=True)) + top
    rows = np.arange(a.shape[0])
    loss = float(np.sum(lse[:, 0] - a[rows, labels]))
    p = ACTIVATIONS["softmax"].forward(a)
    return loss, scale * (p - targets(labels, a.shape[1], a.dtype))


def sigmoid_binary_cross_entropy_reference(a, labels, scale):
    """(sum of max(a,0) - a t + log(1 + e^{-|a|}), scale * (sigmoid(a) - t))."""
    t = targets(labels, a.shape[1], a.dtype)
    loss = float(np.sum(np.maximum(a, 0) - a * t + np.log1p(np.exp(-np.abs(a)))))
    return loss, scale * (ACTIVATIONS["sigmoid"].forward(a) - t)


def squared_error_reference(y, labels, scale):
    """(1/2 sum (y - t)^2, scale * (y - t)); the caller applies f'(a)."""
    diff = y - targets(labels, y.shape[1], y.dtype)
    return float(0.5 * np.sum(diff.astype(np.float64) ** 2)), scale * diff
