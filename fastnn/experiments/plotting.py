"""The experiments' plots (PNG), one ``plot_<experiment>(record, out)`` each.

``record`` is what the experiment's driver writes to ``results.json``;
every function writes its figures into the directory ``out`` and returns
their paths. matplotlib is optional (``pip install 'fastnn[plot]'``): it is
imported only here, only when plotting, and through ``matplotlib.figure``
alone, so no pyplot state or interactive backend is touched.
"""

import math
from pathlib import Path

import numpy as np

__all__ = ["matplotlib_available", "plot_depth", "plot_vanishing", "plot_dropout", "plot_init",
           "plot_optimizers", "plot_regularization"]

DPI = 120


def matplotlib_available():
    """True when matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(ncols=1, nrows=1, width=6.4, height=4.6, **kwargs):
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    for ax in axes.flat:  # epochs and layer counts are whole numbers
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return fig, axes


def _title(fig, record, text):
    seeds = len(record["seeds"])
    detail = (f"{record['dataset'].upper() if record['dataset'] == 'mnist' else 'Fashion-MNIST'}"
              f", {record['config']['n_train']:,} training images, "
              f"{seeds} seed{'s' if seeds > 1 else ''}"
              f"{', QUICK reduced run' if record['quick'] else ''}")
    fig.suptitle(f"{text}\n{detail}", fontsize=11)


def _save(fig, out, name):
    path = Path(out) / name
    fig.savefig(path, dpi=DPI)
    return path


def _percent(values):
    return [100 * v if v is not None and math.isfinite(v) else np.nan for v in values]


def _accuracy_ylim(ax, curves, margin=2.0):
    """Accuracy axis from just below the curves' lowest point after epoch 0
    (ignoring the ~10% of the untrained network) to at most 100.5%."""
    later = [v for c in curves for v in _percent(c[1:]) if math.isfinite(v)]
    if later:
        ax.set_ylim(max(0.0, min(later) - margin), min(100.5, max(later) + margin))


def _loss_ylim(ax, curves):
    """Loss axis fitted to the curves after epoch 0 (the untrained loss is far above)."""
    later = [v for c in curves for v in c[1:] if v is not None and math.isfinite(v)]
    if later:
        low, high = min(later), max(later)
        pad = 0.1 * (high - low) or 0.1 * high
        ax.set_ylim(max(0.0, low - pad), high + pad)


# ------------------------------------------------------------------ depth ---

def plot_depth(record, out):
    """depth_accuracy.png: final accuracy against the number of hidden layers,
    with the lecture's numbers; depth_curves.png: validation accuracy per epoch."""
    rows = record["results"]["rows"]
    depths = [r["hidden_layers"] for r in rows]

    fig, axes = _figure()
    ax = axes[0, 0]
    for key, label, marker, shift in (("val_accuracy", "validation (this run)", "o", -0.06),
                                      ("test_accuracy", "test (this run)", "s", 0.06)):
        mean = [100 * r[key]["mean"] for r in rows]
        low = [100 * (r[key]["mean"] - r[key]["min"]) for r in rows]
        high = [100 * (r[key]["max"] - r[key]["mean"]) for r in rows]
        ax.errorbar([d + shift for d in depths], mean, yerr=[low, high], marker=marker,
                    capsize=4, label=label)
    lecture = [(r["hidden_layers"], r["lecture"]) for r in rows if r["lecture"] is not None]
    if lecture:
        ax.plot(*zip(*lecture), "k*", markersize=11, linestyle="none",
                label="lecture (Nielsen, ch. 5)")
    ax.set_xticks(depths)
    ax.set_xlabel("number of hidden layers (30 sigmoid units each)")
    ax.set_ylabel("accuracy after the last epoch (%)")
    ax.grid(alpha=0.3)
    ax.legend(title="bars: min to max over seeds" if len(record["seeds"]) > 1 else None)
    _title(fig, record, "Accuracy vs depth")
    paths = [_save(fig, out, "depth_accuracy.png")]

    fig, axes = _figure(ncols=2, width=5.4)
    for ax in axes[0]:
        for r in rows:
            curve = _percent(r["val_accuracy_curve"])
            line, = ax.plot(range(len(curve)), curve, label=f"{r['hidden_layers']} hidden")
            if len(r["val_accuracy_curves"]) > 1:
                per_seed = np.array([_percent(c) for c in r["val_accuracy_curves"]],
                                    dtype=float)
                ax.fill_between(range(per_seed.shape[1]), np.nanmin(per_seed, axis=0),
                                np.nanmax(per_seed, axis=0), color=line.get_color(),
                                alpha=0.2)
        ax.set_xlabel("epoch (0 = initialisation)")
        ax.set_ylabel("validation accuracy (%)")
        ax.grid(alpha=0.3)
    whole, zoom = axes[0]
    whole.set_ylim(0, 100)
    whole.set_title("whole range", fontsize=10)
    whole.legend(title="network" + (" (band: min-max over seeds)"
                                    if len(record["seeds"]) > 1 else ""), fontsize=8)
    late = [v for r in rows for c in r["val_accuracy_curves"] for v in _percent(c[len(c) // 2:])
            if math.isfinite(v)]
    if late:
        zoom.set_ylim(min(late) - 1.0, max(late) + 0.5)
    zoom.set_title("zoom on the accuracies of the second half of training", fontsize=10)
    _title(fig, record, "Validation accuracy during training, by depth")
    paths.append(_save(fig, out, "depth_curves.png"))
    return paths


# -------------------------------------------------------------- vanishing ---

def plot_vanishing(record, out):
    """vanishing.png: ||delta^(l)|| per hidden layer against the epoch, one
    panel per (activation, depth), log scale shared by all panels."""
    rows = record["results"]["rows"]
    networks = list(dict.fromkeys((r["activation"], r["init"]) for r in rows))
    depths = list(dict.fromkeys(r["hidden_layers"] for r in rows))
    fig, axes = _figure(ncols=len(depths), nrows=len(networks), width=4.6, height=3.8,
                        sharey=True)
    init_names = {"normal": "N(0, 1/sqrt(n_in))", "he_normal": "He N(0, sqrt(2/n_in))"}
    for r in rows:
        ax = axes[networks.index((r["activation"], r["init"])), depths.index(r["hidden_layers"])]
        norms = np.array([[np.nan if v is None else v for v in row] for row in r["norms"]],
                         dtype=float)
        epochs = range(norms.shape[0])
        for layer in range(r["hidden_layers"]):
            ax.plot(epochs, norms[:, layer], marker="." if norms.shape[0] < 12 else None,
                    label=f"hidden layer {layer + 1}")
        ax.set_yscale("log")
        ax.set_title(f"{r['activation']}, {init_names.get(r['init'], r['init'])}: "
                     f"{r['hidden_layers']} hidden", fontsize=10)
        ax.set_xlabel("epoch (0 = initialisation)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    for row in axes:
        row[0].set_ylabel("||delta^(l)|| = ||dC/db^(l)||")
    _title(fig, record, "Speed of learning of each hidden layer (gradient norm, "
           f"batch mean over {record['results']['n_grad']} training images, log scale)")
    return [_save(fig, out, "vanishing.png")]


# ---------------------------------------------------------------- dropout ---

def plot_dropout(record, out):
    """dropout.png: train and validation accuracy per epoch, and validation
    loss, with and without dropout."""
    rows = record["results"]["rows"]
    fig, axes = _figure(ncols=2)
    acc, loss = axes[0, 0], axes[0, 1]
    for r in rows:
        name = f"dropout p = {r['dropout']}" if r["dropout"] else "no dropout"
        train = _percent(r["train_accuracy_curve"])
        line, = acc.plot(range(len(train)), train, label=f"{name}: train")
        val = _percent(r["val_accuracy_curve"])
        acc.plot(range(len(val)), val, linestyle="--", color=line.get_color(),
                 label=f"{name}: validation")
        loss.plot(range(len(r["val_loss_curve"])), r["val_loss_curve"], color=line.get_color(),
                  label=name)
    _accuracy_ylim(acc, [r[k] for r in rows for k in ("train_accuracy_curve",
                                                      "val_accuracy_curve")])
    acc.set_xlabel("epoch")
    acc.set_ylabel("accuracy, dropout off (%)")
    acc.set_title("training (solid) and validation (dashed) accuracy", fontsize=10)
    _loss_ylim(loss, [r["val_loss_curve"] for r in rows])
    loss.set_xlabel("epoch")
    loss.set_ylabel("validation log-loss (nats per image)")
    loss.set_title("validation loss", fontsize=10)
    for ax in (acc, loss):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    sizes = "-".join(str(n) for n in [784, *record["config"]["hidden"], 10])
    _title(fig, record, f"Dropout on a {sizes} ReLU network")
    return [_save(fig, out, "dropout.png")]


# ------------------------------------------------------------------- init ---

def plot_init(record, out):
    """init.png: validation accuracy per epoch and the share of saturated
    hidden units, per weight recipe."""
    rows = record["results"]["rows"]
    fig, axes = _figure(ncols=2)
    acc, sat = axes[0, 0], axes[0, 1]
    for r in rows:
        curve = _percent(r["val_accuracy_curve"])
        line, = acc.plot(range(len(curve)), curve, marker=".", label=r["label"])
        saturated = np.array(r["saturated"], dtype=float)
        sat.plot(range(saturated.shape[0]), 100 * saturated[:, 0], marker=".",
                 color=line.get_color(), label=r["label"])
    _accuracy_ylim(acc, [r["val_accuracy_curve"] for r in rows])
    acc.set_xlabel("epoch")
    acc.set_ylabel("validation accuracy (%)")
    acc.set_title("validation accuracy", fontsize=10)
    sat.set_xlabel("epoch (0 = initialisation)")
    sat.set_ylabel("saturated units of hidden layer 1 (%)")
    sat.set_title(f"units with sigma'(a) < {record['results']['saturation_threshold']}",
                  fontsize=10)
    sat.set_ylim(0, 100)
    for ax in (acc, sat):
        ax.grid(alpha=0.3)
        ax.legend(title="initial weights", fontsize=8)
    sizes = "-".join(str(n) for n in [784, *record["config"]["hidden"], 10])
    _title(fig, record, f"Weight initialisation of a {sizes} sigmoid network")
    return [_save(fig, out, "init.png")]


# ------------------------------------------------------------- optimizers ---

def plot_optimizers(record, out):
    """optimizers.png: training loss and validation accuracy per epoch."""
    rows = record["results"]["rows"]
    fig, axes = _figure(ncols=2)
    loss, acc = axes[0, 0], axes[0, 1]
    for r in rows:
        label = f"{r['optimizer']} ({r['settings']})"
        train = r["train_loss_curve"]
        line, = loss.plot(range(1, len(train) + 1), train, marker=".", label=label)
        curve = _percent(r["val_accuracy_curve"])
        acc.plot(range(len(curve)), curve, marker=".", color=line.get_color(), label=label)
    loss.set_yscale("log")
    loss.set_xlabel("epoch")
    loss.set_ylabel("training log-loss, mean over the epoch (nats per image)")
    loss.set_title("training loss", fontsize=10)
    _accuracy_ylim(acc, [r["val_accuracy_curve"] for r in rows])
    acc.set_xlabel("epoch")
    acc.set_ylabel("validation accuracy (%)")
    acc.set_title("validation accuracy", fontsize=10)
    for ax in (loss, acc):
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    sizes = "-".join(str(n) for n in [784, *record["config"]["hidden"], 10])
    _title(fig, record, f"Optimizers on a {sizes} sigmoid network")
    return [_save(fig, out, "optimizers.png")]


# --------------------------------------------------------- regularization ---

def plot_regularization(record, out):
    """regularization.png: final train/validation accuracy against lambda, and
    the per-epoch curves."""
    rows = record["results"]["rows"]
    fig, axes = _figure(ncols=2)
    final, curves = axes[0, 0], axes[0, 1]
    positions = list(range(len(rows)))
    for key, label, marker in (("train_accuracy", "train", "o"),
                               ("val_accuracy", "validation", "s")):
        mean = [100 * r[key]["mean"] for r in rows]
        low = [100 * (r[key]["mean"] - r[key]["min"]) for r in rows]
        high = [100 * (r[key]["max"] - r[key]["mean"]) for r in rows]
        final.errorbar(positions, mean, yerr=[low, high], marker=marker, capsize=4, label=label)
    final.set_xticks(positions)
    final.set_xticklabels([f"{r['lmbda']:g}" for r in rows])
    final.set_xlabel(f"L2 lambda (weight decay lambda / {record['config']['n_train']})")
    final.set_ylabel("accuracy after the last epoch (%)")
    final.set_title("train vs validation accuracy", fontsize=10)
    for r in rows:
        train = _percent(r["train_accuracy_curve"])
        line, = curves.plot(range(len(train)), train, label=f"{r['lmbda']:g}")
        val = _percent(r["val_accuracy_curve"])
        curves.plot(range(len(val)), val, linestyle="--", color=line.get_color())
    _accuracy_ylim(curves, [r[k] for r in rows for k in ("train_accuracy_curve",
                                                         "val_accuracy_curve")])
    curves.set_xlabel("epoch")
    curves.set_ylabel("accuracy (%)")
    curves.set_title("training (solid) and validation (dashed)", fontsize=10)
    final.grid(alpha=0.3)
    final.legend(fontsize=8)
    curves.grid(alpha=0.3)
    curves.legend(title="lambda", fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    sizes = "-".join(str(n) for n in [784, *record["config"]["hidden"], 10])
    _title(fig, record, f"L2 regularisation of a {sizes} sigmoid network")
    return [_save(fig, out, "regularization.png")]
