"""From what users hand to ``fit`` / ``predict`` / ``evaluate`` to the compiled loop's data.

A ``DataSet`` (csrc/_train.pyx.tp) holds the inputs, dense (n, n_features) or
sparse CSR, the targets, as int64 class labels or dense rows of the model's
dtype, and optional per-example weights; the compiled nets read it in place
(dense rows, in order) or gather each batch from it. Everything is checked
here, once, by fastnn.validation:

- ``check_X``: a C-contiguous array, or a scipy.sparse CSR/CSC matrix as a
  canonical CSR with int64 indices (never densified);
- ``check_targets``: the target kind ("labels", "distributions", "binary",
  "real") and the converted targets;
- ``check_sample_weight``: finite weights >= 0, not all zero, or None.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._train import DataSet
from .validation import check_sample_weight, check_targets, check_X

if TYPE_CHECKING:
    from typing import TypeAlias

    from numpy.typing import ArrayLike, DTypeLike
    from scipy.sparse import sparray, spmatrix

    #: What ``fit`` / ``predict`` / ``evaluate`` take as X: an array-like, or a
    #: scipy.sparse CSR/CSC matrix or sparse array (other formats are refused).
    InputLike: TypeAlias = ArrayLike | spmatrix | sparray

__all__ = ["DataSet", "input_data", "training_data", "has_accuracy"]


def input_data(X: InputLike, n_features: int, dtype: DTypeLike, name: str = "X") -> DataSet:
    """A DataSet of inputs only (``predict``)."""
    return DataSet(check_X(X, n_features, dtype, name=name))


def training_data(X: InputLike, y: ArrayLike, sample_weight: ArrayLike | None, n_features: int,
                  n_outputs: int, loss: str, dtype: DTypeLike, x_name: str = "X",
                  y_name: str = "y", weight_name: str = "sample_weight"
                  ) -> tuple[DataSet, str]:
    """(DataSet, target kind) for ``fit``, ``evaluate`` and ``gradients``."""
    X = check_X(X, n_features, dtype, name=x_name)
    n = X.shape[0]
    kind, values = check_targets(y, n, n_outputs, loss, dtype, name=y_name, x_name=x_name)
    weights = check_sample_weight(sample_weight, n, dtype, name=weight_name, x_name=x_name)
    if kind == "labels":
        return DataSet(X, labels=values, weights=weights), kind
    return DataSet(X, targets=values, weights=weights), kind


def has_accuracy(kind: str) -> bool:
    """Whether an accuracy means something for targets of ``kind``: class
    labels and probability rows (argmax), binary targets (every unit on the
    right side of 1/2); not real-valued regression targets."""
    return kind != "real"
