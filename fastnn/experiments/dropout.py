"""Dropout: a wide ReLU network that overfits a small training set, with and
without dropout p = 0.5 on its hidden units.

The network is 784-800-800-10 (ReLU, He initialisation, softmax output), the
size Srivastava et al. used on MNIST, trained on only the first 2,000 training
images with plain SGD and no weight decay, so it learns its training set by
heart (100% training accuracy) long before it stops improving on new images.
Dropout zeroes each hidden unit with probability p = 0.5 for every example
while training (inverted scaling: kept units x 2, nothing to do at test
time). It slows the fitting of the training set and narrows the gap between
training and test accuracy.

Training accuracy here is measured with dropout off, on the training images,
after every epoch, beside the accuracy on the 10,000 validation images; the
test accuracy is measured once, at the end.
"""

import sys

from ..optimizers import SGD
from .common import (accuracy_probe, build_mlp, execute, format_table, mean_curve, percent,
                     seed_stats, train_model)
from .options import nonempty_int_list, positive_int, train_size

NAME = "dropout"
TITLE = "a wide ReLU network on a small training set, with and without dropout p = 0.5"

FULL = {"hidden": [800, 800], "activation": "relu", "init": "he_normal", "n_train": 2000,
        "epochs": 50, "batch_size": 10, "lr": 0.05, "dropout": [0.0, 0.5]}
QUICK = {**FULL, "n_eval": 2000, "hidden": [64, 64], "n_train": 500, "epochs": 4}

OPTIONS = {"epochs": positive_int("epochs"), "n_train": train_size,
           "hidden": nonempty_int_list("hidden", low=1, high=10_000)}


def compute(config, data, seeds, log):
    """Train with and without dropout for every seed.

    Returns
    -------
    dict
        ``rows``: one per dropout probability with ``dropout``,
        ``train_accuracy``, ``val_accuracy``, ``test_accuracy``, ``gap``
        (train - test accuracy), as ``seed_stats``; mean curves (index 0 =
        initialisation) ``train_accuracy_curve``, ``val_accuracy_curve``,
        ``val_loss_curve``; ``train_loss_curve`` (epochs 1..E, dropout on);
        ``seconds`` per seed.
    """
    probes = {"train_accuracy": accuracy_probe(data.X_train, data.y_train)}
    rows = []
    for p in config["dropout"]:
        runs = []
        for seed in seeds:
            model = build_mlp(config["hidden"], config["activation"], config["init"],
                              dropout=p, seed=seed)
            run = train_model(model, data, config["epochs"], config["batch_size"],
                              SGD(lr=config["lr"]), probes=probes)
            runs.append(run)
            log(f"  dropout {p}, seed {seed}: train {100 * run['train_accuracy'][-1]:.2f}%  "
                f"test {100 * run['test_accuracy']:.2f}%  ({run['seconds']:.1f} s)"
                + (f"  DIVERGED: {run['diverged']}" if run["diverged"] else ""))
        rows.append({
            "dropout": p,
            "train_accuracy": seed_stats(r["train_accuracy"][-1] for r in runs),
            "val_accuracy": seed_stats(r["val_accuracy_final"] for r in runs),
            "test_accuracy": seed_stats(r["test_accuracy"] for r in runs),
            "gap": seed_stats(r["train_accuracy"][-1] - r["test_accuracy"] for r in runs),
            "train_accuracy_curve": mean_curve([r["train_accuracy"] for r in runs]),
            "val_accuracy_curve": mean_curve([r["val_accuracy"] for r in runs]),
            "val_loss_curve": mean_curve([r["val_loss"] for r in runs]),
            "train_loss_curve": mean_curve([r["train_loss"] for r in runs]),
            "seconds": [r["seconds"] for r in runs],
            "diverged": [r["diverged"] for r in runs],
        })
    return {"rows": rows}


def table(results, config):
    """Per dropout probability: train / validation / test accuracy and the gap."""
    rows = [[f"p = {row['dropout']}" if row["dropout"] else "no dropout",
             percent(row["train_accuracy"]), percent(row["val_accuracy"]),
             percent(row["test_accuracy"]), percent(row["gap"]),
             f"{sum(row['seconds']) / len(row['seconds']):.1f}"] for row in results["rows"]]
    sizes = "-".join(str(n) for n in [784, *config["hidden"], 10])
    head = (f"{sizes} {config['activation']} ({config['init']}), {config['epochs']} epochs on "
            f"{config['n_train']:,} images, batch {config['batch_size']}, lr {config['lr']}, "
            f"no weight decay; accuracy after the last epoch, dropout off")
    return head + "\n" + format_table(
        ["model", "train %", "validation %", "test %", "train - test (points)", "s/run"], rows)


def run(quick=False, seeds=1, out=None, **kwargs):
    """Run this experiment: ``fastnn.experiments.common.execute`` on this module."""
    return execute(sys.modules[__name__], quick=quick, seeds=seeds, out=out, **kwargs)
