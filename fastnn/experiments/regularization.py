"""Regularization: L2 weight decay strength vs the gap between training and
validation accuracy.

The lecture's L2 term adds lambda/2 ||W||^2 to the summed loss; per update on
a mini-batch mean that is weight decay lambda / n (n training images):
W <- (1 - eta lambda / n) W - eta g. A 784-100-10 sigmoid network (Nielsen's
chapter 3 net) trained on only the first 5,000 training images overfits
without it: training accuracy near 100%, validation accuracy well below. We
sweep lambda (Nielsen used lambda = 5 on 50,000 images) and report training
accuracy (dropout-free evaluation on the training images), validation
accuracy and their difference, plus the squared weight norm sum_l ||W^(l)||^2.
"""

import numpy as np

from ..optimizers import SGD
from . import plotting
from .common import (NIELSEN, accuracy_probe, build_mlp, format_table, layer_sizes, mean_curves,
                     percent, run_columns, seed_stats, train_model, train_grid)
from .driver import runner
from .options import experiment_options, hidden_sizes

NAME = "regularization"
TITLE = "L2 weight decay strength vs the train/validation gap on a small training set"

FULL = {**NIELSEN, "hidden": [100], "n_train": 5000, "epochs": 60,
        "lambdas": [0.0, 0.5, 5.0, 20.0, 100.0]}
QUICK = {**FULL, "n_eval": 2000, "n_train": 1000, "epochs": 3,
         "lambdas": [0.0, 5.0, 50.0]}

OPTIONS = experiment_options(hidden=hidden_sizes)


def weight_norm(model):
    """sum over layers of ||W^(l)||_F^2 (the L2 penalty without lambda / 2)."""
    return float(sum(np.sum(layer.W.astype(np.float64) ** 2) for layer in model.dense_layers))


def compute(config, data, seeds, log):
    """Train one network per (lambda, seed).

    Returns
    -------
    dict
        ``rows``: one per lambda with ``lmbda``, ``weight_decay`` (lambda / n),
        ``train_accuracy``, ``val_accuracy``, ``gap`` (train - validation),
        ``test_accuracy``, ``weight_norm`` (``seed_stats``), mean curves
        ``train_accuracy_curve`` and ``val_accuracy_curve`` (index 0 =
        initialisation), ``seconds`` per seed.
    """
    n = data.X_train.shape[0]
    probes = {"train_accuracy": accuracy_probe(data.X_train, data.y_train)}

    def train_one(lmbda, seed):
        model = build_mlp(config["hidden"], config["activation"], config["init"], seed=seed)
        run = train_model(model, data, config["epochs"], config["batch_size"],
                          SGD(lr=config["lr"], weight_decay=lmbda / n), probes=probes)
        return {**run, "weight_norm": weight_norm(model)}

    grid = train_grid(config["lambdas"], seeds, train_one, lambda lmbda, seed, run: (
        f"lambda {lmbda:g}, seed {seed}: train {100 * run['train_accuracy'][-1]:.2f}%"
        f"  validation {100 * run['val_accuracy_final']:.2f}%"), log)
    rows = []
    for lmbda, runs in zip(config["lambdas"], grid):
        rows.append({
            "lmbda": lmbda,
            "weight_decay": lmbda / n,
            "train_accuracy": seed_stats(r["train_accuracy"][-1] for r in runs),
            "val_accuracy": seed_stats(r["val_accuracy_final"] for r in runs),
            "gap": seed_stats(r["train_accuracy"][-1] - r["val_accuracy_final"] for r in runs),
            "test_accuracy": seed_stats(r["test_accuracy"] for r in runs),
            "weight_norm": seed_stats(r["weight_norm"] for r in runs),
            **mean_curves(runs, "train_accuracy", "val_accuracy"),
            **run_columns(runs),
        })
    return {"rows": rows}


def table(results, config):
    """Per lambda: train and validation accuracy, their gap, test accuracy,
    squared weight norm."""
    rows = [[f"{row['lmbda']:g}", f"{row['weight_decay']:.2g}", percent(row["train_accuracy"]),
             percent(row["val_accuracy"]), percent(row["gap"]), percent(row["test_accuracy"]),
             f"{row['weight_norm']['mean']:.0f}"] for row in results["rows"]]
    sizes = layer_sizes(config["hidden"])
    head = (f"{sizes} sigmoid, softmax output, {config['epochs']} epochs on "
            f"{config['n_train']:,} images, batch {config['batch_size']}, lr {config['lr']}; "
            f"weight decay = lambda / {config['n_train']}")
    return head + "\n" + format_table(
        ["lambda", "weight decay", "train %", "validation %", "train - val (points)", "test %",
         "sum ||W||^2"], rows)


def plot(record, out):
    """regularization.png: final train/validation accuracy against lambda, and
    the per-epoch curves."""
    rows = record["results"]["rows"]
    fig, axes = plotting.figure(ncols=2)
    final, curves = axes[0, 0], axes[0, 1]
    positions = list(range(len(rows)))
    for key, label, marker in (("train_accuracy", "train", "o"),
                               ("val_accuracy", "validation", "s")):
        plotting.seed_errorbars(final, positions, rows, key, marker=marker, label=label)
    final.set_xticks(positions)
    final.set_xticklabels([f"{r['lmbda']:g}" for r in rows])
    plotting.label(final, f"L2 lambda (weight decay lambda / {record['config']['n_train']})",
                   "accuracy after the last epoch (%)", "train vs validation accuracy")
    for r in rows:
        train = plotting.to_percent(r["train_accuracy_curve"])
        line, = curves.plot(range(len(train)), train, label=f"{r['lmbda']:g}")
        val = plotting.to_percent(r["val_accuracy_curve"])
        curves.plot(range(len(val)), val, linestyle="--", color=line.get_color())
    plotting.accuracy_ylim(curves, [r[k] for r in rows
                                    for k in ("train_accuracy_curve", "val_accuracy_curve")])
    plotting.label(curves, "epoch", "accuracy (%)", "training (solid) and validation (dashed)")
    final.grid(alpha=0.3)
    final.legend(fontsize=8)
    curves.grid(alpha=0.3)
    curves.legend(title="lambda", fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    sizes = layer_sizes(record["config"]["hidden"])
    plotting.suptitle(fig, record, f"L2 regularisation of a {sizes} sigmoid network")
    return [plotting.save(fig, out, "regularization.png")]


#: ``run(quick=False, seeds=1, out=None, **kwargs)``: see ``driver.execute``.
run = runner(__name__)
