"""Loss primitives, each one fused kernel of the fast path (``fastnn.ops``):
the loss of a batch and its gradient in one call.

Each takes the network's output for a batch, x (n, K), and integer labels (n,),
and returns the batch mean l = (1/n) sum_i l_i as a one-element Tensor; its
backward scales the gradient the kernel computed with it by dl/dz = g.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..autograd import Function
from ..ops import ops
from ..tensor import Tensor, as_tensor
from .nn import writable_rows

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ..tensor import Tensor

__all__ = ["CrossEntropy", "BinaryCrossEntropy", "MSE", "Poisson", "cross_entropy",
           "binary_cross_entropy", "mse", "poisson"]

_ndarray = np.ndarray
_INT64 = np.dtype(np.int64)


def _labels(labels, n, n_classes, where):
    """Labels as C-contiguous int64 (n,) in [0, n_classes), checked at the door
    (the kernels index with them unchecked)."""
    if type(labels) is not _ndarray:
        labels = np.asarray(labels.data if isinstance(labels, Tensor) else labels)
    if labels.dtype != _INT64 or not labels.flags.c_contiguous:
        if labels.dtype.kind not in "iu":
            raise TypeError(f"{where}: labels must be integer class indices, got dtype "
                            f"{labels.dtype}")
        labels = np.ascontiguousarray(labels, dtype=np.int64)
    if labels.shape != (n,):
        raise ValueError(f"{where}: labels must have shape ({n},), one per row of the "
                         f"input, got shape {labels.shape}")
    # A negative label becomes a huge unsigned one: one comparison checks both
    # ends (a Python max is cheaper than a NumPy reduction for a small batch).
    top = max(labels.view(np.uint64).tolist(), default=0) if n <= 16 \
        else labels.view(np.uint64).max()
    if top >= n_classes:
        i = int(np.argmax((labels < 0) | (labels >= n_classes)))
        raise ValueError(f"{where}: labels[{i}] = {labels[i]} is out of range [0, "
                         f"{n_classes - 1}]")
    return labels


def _batch_mean(ctx, where, kernel, x, labels, one_unit_is_binary, overwrites=True):
    """Run ``kernel(x, labels, 1 / n) -> (summed loss, dl/dx)`` on x made
    C-contiguous (a copy when the kernel ``overwrites`` it, as the fused ones
    turn logits into probabilities); keep dl/dx for backward and return the
    mean loss.

    With ``one_unit_is_binary`` a single output unit (K = 1) takes the labels
    0 and 1 (logistic regression); otherwise labels are in [0, K).
    """
    if type(x) is not _ndarray or x.dtype.kind != "f":
        got = f"dtype {x.dtype}" if isinstance(x, _ndarray) else type(x).__name__
        raise TypeError(f"{where}: the input must be a float Tensor (n, n_outputs), got {got}")
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"{where}: input must be 2-D (n, n_outputs) with n >= 1, got shape "
                         f"{x.shape}")
    n, k = x.shape
    labels = _labels(labels, n, 2 if one_unit_is_binary and k == 1 else k, where)
    rows = writable_rows(x, x.dtype) if overwrites else np.ascontiguousarray(x)
    loss_sum, grad = kernel(rows, labels, 1.0 / n)
    ctx.saved_tensors = (grad,)
    return np.asarray(loss_sum / n, dtype=x.dtype)


class _BatchMeanLoss(Function):
    """Shared backward: dl/dx was computed with the loss, times g."""

    @staticmethod
    def backward(ctx, g):
        return ctx.saved_tensors[0] * g, None


class CrossEntropy(_BatchMeanLoss):
    """l = mean_i [logsumexp(a_i) - a_i[c_i]] = mean_i -log softmax(a_i)[c_i]
    from the logits a (n, K), fused in one kernel (the fast path's).

    da = (softmax(a) - onehot(c)) / n, the lecture's delta = -(I{k = c} - y_k)
    averaged over the batch: the identity holds because softmax meets the
    log-loss (it would not for another output activation).
    """

    @staticmethod
    def forward(ctx, logits, labels):
        return _batch_mean(ctx, "cross_entropy", ops.softmax_cross_entropy, logits, labels,
                           one_unit_is_binary=False)


class BinaryCrossEntropy(_BatchMeanLoss):
    """l = mean_i -sum_k [t_ik log p_ik + (1 - t_ik) log(1 - p_ik)], p = sigmoid(a)
    from the logits a (n, K), fused in one kernel (the fast path's); t = onehot(c),
    or t = c in {0, 1} for K = 1 (logistic regression). da = (p - t) / n."""

    @staticmethod
    def forward(ctx, logits, labels):
        return _batch_mean(ctx, "binary_cross_entropy", ops.sigmoid_binary_cross_entropy,
                           logits, labels, one_unit_is_binary=True)


class MSE(_BatchMeanLoss):
    """l = mean_i 1/2 sum_k (y_ik - t_ik)^2 with t = onehot(c) (or c for K = 1),
    on outputs y (n, K) (after their activation); dy = (y - t) / n."""

    @staticmethod
    def forward(ctx, y, labels):
        return _batch_mean(ctx, "mse", ops.squared_error, y, labels, one_unit_is_binary=True,
                           overwrites=False)


class Poisson(_BatchMeanLoss):
    """l = mean_i sum_k [y_ik - t_ik a_ik + t_ik log t_ik - t_ik], y = exp(a),
    half the Poisson deviance, from the logits a (n, K) with its canonical
    link fused in; t = onehot(c) (or c for K = 1). da = (y - t) / n."""

    @staticmethod
    def forward(ctx, logits, labels):
        return _batch_mean(ctx, "poisson", ops.exp_poisson, logits, labels,
                           one_unit_is_binary=True)


# ------------------------------------------------------------ functional API ---

def cross_entropy(logits: ArrayLike | Tensor, labels: ArrayLike | Tensor) -> Tensor:
    """Mean log-loss of softmax(logits) (n, K) for integer labels (n,): a scalar Tensor.

    Takes the logits, not the probabilities: the softmax is fused in (as on
    the fast path). Labels are int class indices in [0, K).
    """
    return CrossEntropy.apply(as_tensor(logits), labels)


def binary_cross_entropy(logits: ArrayLike | Tensor,
                         labels: ArrayLike | Tensor) -> Tensor:
    """Mean binary cross-entropy of sigmoid(logits) (n, K) (summed over the K
    units) for integer labels (n,): 0/1 for K = 1, class indices (one-hot
    targets) for K > 1. Takes logits: the sigmoid is fused in."""
    return BinaryCrossEntropy.apply(as_tensor(logits), labels)


def mse(y: ArrayLike | Tensor, labels: ArrayLike | Tensor) -> Tensor:
    """Mean over rows of 1/2 ||y_i - t_i||^2 for outputs y (n, K) and integer
    labels (n,): t = onehot(label), or the 0/1 label itself for K = 1."""
    return MSE.apply(as_tensor(y), labels)


def poisson(logits: ArrayLike | Tensor, labels: ArrayLike | Tensor) -> Tensor:
    """Mean half Poisson deviance of exp(logits) (n, K) for integer labels
    (n,) (one-hot counts, or the 0/1 count itself for K = 1): a scalar Tensor."""
    return Poisson.apply(as_tensor(logits), labels)
