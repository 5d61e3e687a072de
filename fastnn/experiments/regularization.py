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

import sys

import numpy as np

from ..optimizers import SGD
from .common import (NIELSEN, accuracy_probe, build_mlp, execute, format_table, mean_curve,
                     percent, seed_stats, train_model)
from .options import nonempty_int_list, positive_int, train_size

NAME = "regularization"
TITLE = "L2 weight decay strength vs the train/validation gap on a small training set"

FULL = {**NIELSEN, "hidden": [100], "n_train": 5000, "epochs": 60,
        "lambdas": [0.0, 0.5, 5.0, 20.0, 100.0]}
QUICK = {**FULL, "n_eval": 2000, "n_train": 1000, "epochs": 3,
         "lambdas": [0.0, 5.0, 50.0]}

OPTIONS = {"epochs": positive_int("epochs"), "n_train": train_size,
           "hidden": nonempty_int_list("hidden", low=1, high=10_000)}


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
    rows = []
    for lmbda in config["lambdas"]:
        runs, norms = [], []
        for seed in seeds:
            model = build_mlp(config["hidden"], config["activation"], config["init"], seed=seed)
            run = train_model(model, data, config["epochs"], config["batch_size"],
                              SGD(lr=config["lr"], weight_decay=lmbda / n), probes=probes)
            runs.append(run)
            norms.append(weight_norm(model))
            log(f"  lambda {lmbda:g}, seed {seed}: train {100 * run['train_accuracy'][-1]:.2f}%"
                f"  validation {100 * run['val_accuracy_final']:.2f}%"
                f"  ({run['seconds']:.1f} s)"
                + (f"  DIVERGED: {run['diverged']}" if run["diverged"] else ""))
        rows.append({
            "lmbda": lmbda,
            "weight_decay": lmbda / n,
            "train_accuracy": seed_stats(r["train_accuracy"][-1] for r in runs),
            "val_accuracy": seed_stats(r["val_accuracy_final"] for r in runs),
            "gap": seed_stats(r["train_accuracy"][-1] - r["val_accuracy_final"] for r in runs),
            "test_accuracy": seed_stats(r["test_accuracy"] for r in runs),
            "weight_norm": seed_stats(norms),
            "train_accuracy_curve": mean_curve([r["train_accuracy"] for r in runs]),
            "val_accuracy_curve": mean_curve([r["val_accuracy"] for r in runs]),
            "seconds": [r["seconds"] for r in runs],
            "diverged": [r["diverged"] for r in runs],
        })
    return {"rows": rows}


def table(results, config):
    """Per lambda: train and validation accuracy, their gap, test accuracy,
    squared weight norm."""
    rows = [[f"{row['lmbda']:g}", f"{row['weight_decay']:.2g}", percent(row["train_accuracy"]),
             percent(row["val_accuracy"]), percent(row["gap"]), percent(row["test_accuracy"]),
             f"{row['weight_norm']['mean']:.0f}"] for row in results["rows"]]
    sizes = "-".join(str(n) for n in [784, *config["hidden"], 10])
    head = (f"{sizes} sigmoid, softmax output, {config['epochs']} epochs on "
            f"{config['n_train']:,} images, batch {config['batch_size']}, lr {config['lr']}; "
            f"weight decay = lambda / {config['n_train']}")
    return head + "\n" + format_table(
        ["lambda", "weight decay", "train %", "validation %", "train - val (points)", "test %",
         "sum ||W||^2"], rows)


def run(quick=False, seeds=1, out=None, **kwargs):
    """Run this experiment: ``fastnn.experiments.common.execute`` on this module."""
    return execute(sys.modules[__name__], quick=quick, seeds=seeds, out=out, **kwargs)
