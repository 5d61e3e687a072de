"""Drawing helpers shared by the experiments' plots.

Each experiment module owns its plot, ``plot(record, out)``: ``record`` is
what the driver writes to ``results.json``; the function writes its PNG
figures into the directory ``out`` and returns their paths. matplotlib is
optional (``pip install 'fastnn[plot]'``): it is imported only here, only
when a figure is made, and through ``matplotlib.figure`` alone, so no pyplot
state or interactive backend is touched.
"""

import math
from pathlib import Path

import numpy as np

__all__ = ["matplotlib_available", "figure", "suptitle", "save", "to_percent", "label",
           "accuracy_ylim", "loss_ylim", "seed_errorbars"]

DPI = 120


def matplotlib_available():
    """True when matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def figure(ncols=1, nrows=1, width=6.4, height=4.6, **kwargs):
    """A constrained-layout Figure and its (nrows, ncols) array of axes, each
    ``width`` x ``height`` inches, with integer ticks on the x axes; ``kwargs``
    go to ``Figure.subplots`` (``sharey=True``, ...)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    for ax in axes.flat:  # epochs and layer counts are whole numbers
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return fig, axes


def suptitle(fig, record, text):
    """``text`` over a second line naming the dataset, training size, seeds
    and whether the run was the quick one."""
    seeds = len(record["seeds"])
    detail = (f"{record['dataset'].upper() if record['dataset'] == 'mnist' else 'Fashion-MNIST'}"
              f", {record['config']['n_train']:,} training images, "
              f"{seeds} seed{'s' if seeds > 1 else ''}"
              f"{', QUICK reduced run' if record['quick'] else ''}")
    fig.suptitle(f"{text}\n{detail}", fontsize=11)


def save(fig, out, name):
    """Write ``fig`` to ``out/name`` as PNG and return that path."""
    path = Path(out) / name
    fig.savefig(path, dpi=DPI)
    return path


def to_percent(values):
    """Fractions to percent; None, NaN and inf (diverged runs) to NaN, a gap in the line."""
    return [100 * v if v is not None and math.isfinite(v) else np.nan for v in values]


def label(ax, xlabel, ylabel, title):
    """Axis labels and a small title for one panel."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)


def accuracy_ylim(ax, curves, margin=2.0):
    """Accuracy axis from just below the curves' lowest point after epoch 0
    (ignoring the ~10% of the untrained network) to at most 100.5%."""
    later = [v for c in curves for v in to_percent(c[1:]) if math.isfinite(v)]
    if later:
        ax.set_ylim(max(0.0, min(later) - margin), min(100.5, max(later) + margin))


def loss_ylim(ax, curves):
    """Loss axis fitted to the curves after epoch 0 (the untrained loss is far above)."""
    later = [v for c in curves for v in c[1:] if v is not None and math.isfinite(v)]
    if later:
        low, high = min(later), max(later)
        pad = 0.1 * (high - low) or 0.1 * high
        ax.set_ylim(max(0.0, low - pad), high + pad)


def seed_errorbars(ax, positions, rows, key, **style):
    """Plot ``row[key]`` (``seed_stats`` of fractions) of every row at ``positions``:
    the mean over seeds in percent, with a bar from the lowest to the highest seed."""
    mean = [100 * r[key]["mean"] for r in rows]
    low = [100 * (r[key]["mean"] - r[key]["min"]) for r in rows]
    high = [100 * (r[key]["max"] - r[key]["mean"]) for r in rows]
    ax.errorbar(positions, mean, yerr=[low, high], capsize=4, **style)
