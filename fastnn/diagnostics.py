"""Diagnostics for any fit: the per-layer gradient norms of the vanishing
gradient, measured on a fixed probe set while a ``Sequential`` trains.

The lecture's "speed of learning" of layer l is the size of its
delta^(l) = dC/da^(l), which is also the gradient of the cost with respect to
the layer's biases. ``GradientNorms(X_probe, y_probe)`` records, for every
Dense layer l (hidden layers first, the output layer last),

    ||delta^(l)|| = || (1/n) sum_i dC_i/db^(l) ||_2,
    ||dW^(l)||    = || (1/n) sum_i dC_i/dW^(l) ||_F,

the batch-mean gradients on the n probe rows (``Sequential.gradients``, no
update, weight decay not included), at initialisation (when training begins)
and after every epoch. ``plot_gradient_norms`` draws them (matplotlib, the
``plot`` extra, imported only when called).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Sequence

import numpy as np

from .callbacks import Callback
from .validation import check_labels, check_X

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from numpy.typing import ArrayLike

    from .sequential import Sequential

__all__ = ["GradientNorms", "gradient_norms", "plot_gradient_norms"]


def gradient_norms(model: Sequential, X: ArrayLike, y: ArrayLike
                   ) -> tuple[list[float], list[float]]:
    """(||db^(l)|| per Dense layer, ||dW^(l)|| per Dense layer) of the
    batch-mean gradient of ``model`` (a Sequential) on (X, y), as float64
    norms (NaN for a layer without bias)."""
    delta, weight = [], []
    for dW, db in model.gradients(X, y):
        weight.append(float(np.linalg.norm(dW.astype(np.float64))))
        delta.append(float("nan") if db is None else
                     float(np.linalg.norm(db.astype(np.float64))))
    return delta, weight


class GradientNorms(Callback):
    """Records per-layer gradient norms on a probe set at initialisation and
    after every epoch of a ``Sequential.fit`` (see the module docstring).

    Parameters
    ----------
    X_probe : array-like, shape (n_probe, n_features)
    y_probe : array-like, shape (n_probe,) or one-hot
        A fixed probe set (the first 1,000 training images, say); its
        gradients are computed in one batch.

    Attributes
    ----------
    delta_norms : list of list of float
        ``delta_norms[e][l]`` = ||delta^(l)||: e = 0 at initialisation (the
        weights when ``fit`` begins), e after epoch e; l over the Dense
        layers, the output layer last.
    weight_norms : list of list of float
        The same for ||dW^(l)||.

    The lists are also put into the fit's History as
    ``history.history["delta_norms"]`` and ``["weight_gradient_norms"]``
    (epochs + 1 entries each, index 0 at initialisation, unlike the
    per-epoch logs). Probing does not change training: the gradients come
    from a stream of the model's seed that ``fit`` does not use.
    """

    def __init__(self, X_probe: ArrayLike, y_probe: ArrayLike) -> None:
        self.X_probe, self.y_probe = X_probe, y_probe
        self.delta_norms, self.weight_norms = [], []
        self._checked = None

    def set_model(self, model: Sequential) -> None:
        if not hasattr(model, "gradients") or not hasattr(model, "dense_layers"):
            raise TypeError(f"GradientNorms needs a Sequential (its gradients()), got "
                            f"{type(model).__name__}")
        X = check_X(self.X_probe, model.n_features, model.dtype, name="X_probe")
        labels = check_labels(self.y_probe, X.shape[0], model.n_outputs, name="y_probe",
                              x_name="X_probe")
        self._checked = (X, labels)
        super().set_model(model)

    def _record(self):
        delta, weight = gradient_norms(self.model, *self._checked)
        self.delta_norms.append(delta)
        self.weight_norms.append(weight)
        history = getattr(self.model, "history", None)
        if history is not None:
            history.history["delta_norms"] = self.delta_norms
            history.history["weight_gradient_norms"] = self.weight_norms

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        self.delta_norms, self.weight_norms = [], []
        self._record()

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self._record()

    def ratio(self, which: Literal["delta", "weight"] = "delta") -> list[float]:
        """Per measurement, ||.|| of the last hidden layer over the first:
        much larger than 1 means the first layer learns more slowly."""
        norms = np.array(self._norms(which))
        if norms.shape[1] < 3:
            raise ValueError("the ratio needs at least two hidden layers")
        return (norms[:, -2] / norms[:, 0]).tolist()

    def _norms(self, which):
        if which not in ("delta", "weight"):
            raise ValueError(f"which must be 'delta' or 'weight', got {which!r}")
        return self.delta_norms if which == "delta" else self.weight_norms

    def plot(self, which: Literal["delta", "weight"] = "delta", ax: Axes | None = None,
             hidden_only: bool = True) -> Axes:
        """``plot_gradient_norms`` of the recorded norms; returns the Axes."""
        norms = self._norms(which)
        layers = len(norms[0]) - 1 if hidden_only and norms and len(norms[0]) > 1 else None
        ylabel = "||delta^(l)|| = ||dC/db^(l)||" if which == "delta" else "||dC/dW^(l)||"
        return plot_gradient_norms(norms, ax=ax, layers=layers, ylabel=ylabel)


def plot_gradient_norms(norms: Sequence[Sequence[float | None]] | np.ndarray,
                        ax: Axes | None = None, layers: int | None = None,
                        ylabel: str | None = "||delta^(l)|| = ||dC/db^(l)||",
                        xlabel: str | None = "epoch (0 = initialisation)",
                        title: str | None = None) -> Axes:
    """Draw per-layer norm curves on a log scale.

    Parameters
    ----------
    norms : array-like, shape (measurements, n_layers)
        Row e = measurement e (0 = initialisation, e = after epoch e); None or
        NaN entries (a diverged run) leave gaps.
    ax : matplotlib Axes or None
        None draws on a new ``matplotlib.figure.Figure`` (no pyplot state).
    layers : int or None
        Draw only the first ``layers`` columns (the hidden layers); all if None.
    ylabel, xlabel, title : str or None
        None leaves that label out.

    Returns
    -------
    matplotlib Axes
    """
    if ax is None:
        from matplotlib.figure import Figure
        ax = Figure(figsize=(6.4, 4.6), layout="constrained").subplots()
    values = np.array([[np.nan if v is None else v for v in row] for row in norms],
                      dtype=float)
    count = values.shape[1] if layers is None else layers
    epochs = range(values.shape[0])
    for layer in range(count):
        ax.plot(epochs, values[:, layer], marker="." if values.shape[0] < 12 else None,
                label=f"{'hidden ' if layers is not None else ''}layer {layer + 1}")
    ax.set_yscale("log")
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return ax
