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

import math

import numpy as np

from ..optimizers import SGD
from . import plotting
from .common import (NIELSEN, build_mlp, format_table, mean_curve, percent, run_columns,
                     seconds_per_run, seed_stats, train_model, train_grid)
from .driver import runner
from .options import choice, experiment_options, nonempty_int_list

NAME = "depth"
TITLE = "accuracy of 0-4 hidden sigmoid layers of 30 units (Nielsen's settings)"

#: The lecture's validation accuracies (%) by number of hidden layers.
LECTURE = {0: 88.0, 1: 96.5, 2: 96.9, 3: 96.5, 4: 96.5}

VARIANTS = {"softmax": "cross_entropy", "nielsen": "binary_cross_entropy"}

FULL = {**NIELSEN, "depths": [0, 1, 2, 3, 4], "variant": "softmax"}
QUICK = {**FULL, "n_eval": 2000, "n_train": 3000, "epochs": 2}

OPTIONS = experiment_options(depths=nonempty_int_list("depths", low=0, high=8),
                             variant=choice("variant", VARIANTS))


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

    def train_one(depth, seed):
        model = build_mlp([config["hidden"]] * depth, config["activation"], config["init"],
                          loss=loss, seed=seed)
        optimizer = SGD(lr=config["lr"], weight_decay=weight_decay)
        return train_model(model, data, config["epochs"], config["batch_size"], optimizer)

    grid = train_grid(config["depths"], seeds, train_one, lambda depth, seed, run: (
        f"{depth} hidden, seed {seed}: validation {100 * run['val_accuracy_final']:.2f}%"
        f"  test {100 * run['test_accuracy']:.2f}%"), log)
    rows = []
    for depth, runs in zip(config["depths"], grid):
        curves = [r["val_accuracy"] for r in runs]
        rows.append({
            "hidden_layers": depth,
            "lecture": LECTURE.get(depth),
            "val_accuracy": seed_stats(r["val_accuracy_final"] for r in runs),
            "test_accuracy": seed_stats(r["test_accuracy"] for r in runs),
            "best_val_accuracy": seed_stats(max(c[1:], default=float("nan")) for c in curves),
            **run_columns(runs),
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
                     seconds_per_run(row)])
    output = ("softmax + log-loss" if config["variant"] == "softmax"
              else "sigmoid + binary cross-entropy (Nielsen)")
    head = (f"784-30xk-10, sigmoid hidden layers, {output} output; {config['epochs']} epochs on "
            f"{config['n_train']:,} images, batch {config['batch_size']}, lr {config['lr']}, "
            f"lambda {config['lmbda']}; accuracy after the last epoch")
    return head + "\n" + format_table(
        ["hidden layers", "validation %", "val range %", "test %", "best-epoch val %",
         "lecture %", "s/run"], rows)


def plot(record, out):
    """depth_accuracy.png: final accuracy against the number of hidden layers,
    with the lecture's numbers; depth_curves.png: validation accuracy per epoch."""
    rows = record["results"]["rows"]
    depths = [r["hidden_layers"] for r in rows]

    fig, axes = plotting.figure()
    ax = axes[0, 0]
    for key, label, marker, shift in (("val_accuracy", "validation (this run)", "o", -0.06),
                                      ("test_accuracy", "test (this run)", "s", 0.06)):
        plotting.seed_errorbars(ax, [d + shift for d in depths], rows, key, marker=marker,
                                label=label)
    lecture = [(r["hidden_layers"], r["lecture"]) for r in rows if r["lecture"] is not None]
    if lecture:
        ax.plot(*zip(*lecture), "k*", markersize=11, linestyle="none",
                label="lecture (Nielsen, ch. 5)")
    ax.set_xticks(depths)
    ax.set_xlabel("number of hidden layers (30 sigmoid units each)")
    ax.set_ylabel("accuracy after the last epoch (%)")
    ax.grid(alpha=0.3)
    ax.legend(title="bars: min to max over seeds" if len(record["seeds"]) > 1 else None)
    plotting.suptitle(fig, record, "Accuracy vs depth")
    paths = [plotting.save(fig, out, "depth_accuracy.png")]

    fig, axes = plotting.figure(ncols=2, width=5.4)
    for ax in axes[0]:
        for r in rows:
            curve = plotting.to_percent(r["val_accuracy_curve"])
            line, = ax.plot(range(len(curve)), curve, label=f"{r['hidden_layers']} hidden")
            if len(r["val_accuracy_curves"]) > 1:
                per_seed = np.array([plotting.to_percent(c) for c in r["val_accuracy_curves"]],
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
    late = [v for r in rows for c in r["val_accuracy_curves"]
            for v in plotting.to_percent(c[len(c) // 2:]) if math.isfinite(v)]
    if late:
        zoom.set_ylim(min(late) - 1.0, max(late) + 0.5)
    zoom.set_title("zoom on the accuracies of the second half of training", fontsize=10)
    plotting.suptitle(fig, record, "Validation accuracy during training, by depth")
    paths.append(plotting.save(fig, out, "depth_curves.png"))
    return paths


#: ``run(quick=False, seeds=1, out=None, **kwargs)``: see ``driver.execute``.
run = runner(__name__)
