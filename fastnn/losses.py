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
``poisson``
    For exp outputs y = e^a (counts, rates; scikit-learn's MLPRegressor
    loss="poisson"): half the Poisson deviance l = sum_k [y_k - t_k a_k +
    t_k log t_k - t_k], targets t >= 0. Fused with the exp, delta = y - t.

Each entry of ``LOSSES`` holds the loss's kernel code (defined once, in
csrc/kernels.pxd), the output activation it needs, the name of its ops
method (``NumpyOps.<kernel>`` is the NumPy reference, ``CompiledOps.<kernel>``
the compiled kernel) and its graph function.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Literal, Optional

from ._kernels import LOSS_CODES
from .functional.loss import binary_cross_entropy, cross_entropy, mse, poisson

if TYPE_CHECKING:
    from typing import TypeAlias

    #: The keys of ``LOSSES``: what ``loss=`` takes (tests/test_typing.py checks they agree).
    LossName: TypeAlias = Literal["cross_entropy", "binary_cross_entropy", "mse", "poisson"]

__all__ = ["Loss", "LOSSES", "get_loss"]


@dataclass(frozen=True)
class Loss:
    """One loss: its kernel code, the output activation it needs and its graph function."""

    name: str
    #: what the compiled loop dispatches on (csrc/kernels.pxd)
    code: int
    #: activation the last layer must have (fused with the loss), or None for any
    output_activation: Optional[str]
    #: the ops method of the loss kernel (fastnn/ops.py)
    kernel: str
    #: ``graph(output, labels) -> scalar Tensor``, the batch mean; ``output``
    #: is the last layer's pre-activation where ``output_activation`` is set
    graph: Callable
    #: a one-unit graph model predicts class 1 where its output exceeds this
    #: (0 on logits, 1/2 on an activated output)
    decision_threshold: float


def _entry(name, output_activation, kernel, graph, decision_threshold):
    return Loss(name, LOSS_CODES[name], output_activation, kernel, graph, decision_threshold)


LOSSES = {
    "cross_entropy": _entry("cross_entropy", "softmax", "softmax_cross_entropy",
                            cross_entropy, 0.0),
    "binary_cross_entropy": _entry("binary_cross_entropy", "sigmoid",
                                   "sigmoid_binary_cross_entropy", binary_cross_entropy, 0.0),
    "mse": _entry("mse", None, "squared_error", mse, 0.5),
    "poisson": _entry("poisson", "exp", "exp_poisson", poisson, 0.0),
}


def get_loss(name: str) -> Loss:
    """Look up a loss by name; ValueError listing the known ones otherwise."""
    if not isinstance(name, str) or name not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {name!r}")
    return LOSSES[name]
