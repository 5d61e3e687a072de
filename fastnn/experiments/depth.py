"""Depth: 0 to 4 hidden sigmoid layers of 30 units on MNIST (the lecture's table).

The lecture (after Nielsen, chapter 5) reports the validation accuracy of
feed-forward networks 784 - 30 x k - 10 with sigmoid hidden layers and a softmax
output, for k = 0..4:

    k = 0: ~88%    1: ~96.5%    2: ~96.9%    3: ~96.5%    4: ~96.5%

Settings (Nielsen's): mini-batches of 10, eta = 0.1, 30 epochs, L2 lambda = 5.0
(weight decay lambda / n per update, n = number of training images),
W ~ N(0, 1/sqrt(n_in)). Accuracy on the 10,000 validation images (the last
10,000 of the MNIST training file) after the last epoch, and on the 10,000 test
images.

``variant="nielsen"`` uses Nielsen's own output layer: sigmoid units with the
binary cross-entropy (his network2.py); the default ``"softmax"`` is the
lecture's (softmax with the log-loss).
"""

import sys

from ..optimizers import SGD
from .common import (NIELSEN, build_mlp, execute, format_table, mean_curve, percent,
                     seed_stats, train_model)
from .options import choice, nonempty_int_list, positive_int, train_size

NAME = "depth"
TITLE = "accuracy of 0-4 hidden sigmoid layers of 30 units (Nielsen's settings)"

#: The lecture's validation accuracies (%) by number of hidden layers.
LECTURE = {0: 88.0, 1: 96.5, 2: 96.9, 3: 96.5, 4: 96.5}

VARIANTS = {"softmax": "cross_entropy", "nielsen": "binary_cross_entropy"}

FULL = {**NIELSEN, "depths": [0, 1, 2, 3, 4], "variant": "softmax"}
QUICK = {**FULL, "n_eval": 2000, "n_train": 3000, "epochs": 2}

OPTIONS = {"epochs": positive_int("epochs"), "n_train": train_size,
           "depths": nonempty_int_list("depths", low=0, high=8),
           "variant": choice("variant", VARIANTS)}


def compute(config, data, seeds, log):
    """Train every depth with every seed; see the module docstring.

    Returns
    -------
    dict
        ``rows``: one per depth with ``hidden_layers``, ``lecture`` (% or
        None), ``val_accuracy``, ``test_accuracy``, ``best_val_accuracy``
        (``seed_stats`` of fractions), ``seconds`` (per seed),
        ``val_accuracy_curve`` (mean over seeds, index 0 = initialisation) and
        ``val_accuracy_curves`` (per seed).
    """
    loss = VARIANTS[config["variant"]]
    weight_decay = config["lmbda"] / data.X_train.shape[0]
    rows = []
    for depth in config["depths"]:
        runs = []
        for seed in seeds:
            model = build_mlp([config["hidden"]] * depth, config["activation"], config["init"],
                              loss=loss, seed=seed)
            optimizer = SGD(lr=config["lr"], weight_decay=weight_decay)
            run = train_model(model, data, config["epochs"], config["batch_size"], optimizer)
            runs.append(run)
            log(f"  {depth} hidden, seed {seed}: validation {100 * run['val_accuracy_final']:.2f}%"
                f"  test {100 * run['test_accuracy']:.2f}%  ({run['seconds']:.1f} s)"
                + (f"  DIVERGED: {run['diverged']}" if run["diverged"] else ""))
        curves = [r["val_accuracy"] for r in runs]
        rows.append({
            "hidden_layers": depth,
            "lecture": LECTURE.get(depth),
            "val_accuracy": seed_stats(r["val_accuracy_final"] for r in runs),
            "test_accuracy": seed_stats(r["test_accuracy"] for r in runs),
            "best_val_accuracy": seed_stats(max(c[1:], default=float("nan")) for c in curves),
            "seconds": [r["seconds"] for r in runs],
            "diverged": [r["diverged"] for r in runs],
            "val_accuracy_curve": mean_curve(curves),
            "val_accuracy_curves": curves,
        })
    return {"rows": rows, "weight_decay": weight_decay, "loss": loss}


def table(results, config):
    """Per depth: validation and test accuracy (mean ± std over seeds, range),
    best epoch's validation accuracy, the lecture's number."""
    rows = []
    for row in results["rows"]:
        val = row["val_accuracy"]
        spread = (f"{100 * val['min']:.2f}-{100 * val['max']:.2f}"
                  if len(val["values"]) > 1 else "-")
        lecture = row["lecture"]
        rows.append([row["hidden_layers"], percent(val), spread, percent(row["test_accuracy"]),
                     percent(row["best_val_accuracy"]),
                     f"~{lecture:g}" if lecture is not None else "-",
                     f"{sum(row['seconds']) / len(row['seconds']):.1f}"])
    output = ("softmax + log-loss" if config["variant"] == "softmax"
              else "sigmoid + binary cross-entropy (Nielsen)")
    head = (f"784-30xk-10, sigmoid hidden layers, {output} output; {config['epochs']} epochs on "
            f"{config['n_train']:,} images, batch {config['batch_size']}, lr {config['lr']}, "
            f"lambda {config['lmbda']}; accuracy after the last epoch")
    return head + "\n" + format_table(
        ["hidden layers", "validation %", "val range %", "test %", "best-epoch val %",
         "lecture %", "s/run"], rows)


def run(quick=False, seeds=1, out=None, **kwargs):
    """Run this experiment: ``fastnn.experiments.common.execute`` on this module."""
    return execute(sys.modules[__name__], quick=quick, seeds=seeds, out=out, **kwargs)
