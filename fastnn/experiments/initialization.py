"""Initialisation: N(0, 1/sqrt(n_in)) vs Glorot uniform vs N(0, 1) for a
sigmoid network.

With W ~ N(0, 1) (and, in Nielsen's "large weight" recipe, b ~ N(0, 1)) the
pre-activation of a first-layer unit, a = sum_j w_j x_j + b, has standard
deviation sqrt(1 + sum_j x_j^2), about 10 for an MNIST digit: most sigmoid
units start saturated (sigma(a) near 0 or 1), where sigma'(a) = y (1 - y) is
tiny, so their weights barely move and learning starts slowly. The lecture's
N(0, 1/sqrt(n_in)) keeps the standard deviation of a near 1, as does Glorot's
U[-sqrt(6/(n_in + n_out)), +sqrt(6/(n_in + n_out))].

The network is Nielsen's 784-30-10 with sigmoid hidden units and his settings
(see ``fastnn.experiments.depth``); every layer, output included, uses the
recipe under test. Besides the validation accuracy after every epoch we
record the fraction of saturated hidden units, those with
sigma'(a) = y (1 - y) < 0.01 (|a| > 4.6), over the first 1,000 training
images.
"""

import numpy as np

from ..optimizers import SGD
from . import plotting
from .common import (NIELSEN, build_mlp, format_table, layer_sizes, mean_curve, mean_curves,
                     percent, run_columns, seed_stats, train_model, train_grid)
from .driver import runner
from .options import experiment_options, hidden_sizes

NAME = "init"
TITLE = "N(0, 1/sqrt(n_in)) vs Glorot uniform vs N(0, 1) weights in a sigmoid network"

#: Recipes compared, with the labels of the table and plot.
RECIPES = {"normal": "N(0, 1/sqrt(n_in))", "glorot_uniform": "Glorot uniform",
           "standard_normal": "N(0, 1)"}

#: A sigmoid unit counts as saturated when sigma'(a) = y (1 - y) is below this.
SATURATION = 0.01

FULL = {**NIELSEN, "hidden": [30], "n_probe": 1000}
QUICK = {**FULL, "n_eval": 2000, "n_train": 3000, "epochs": 3}

OPTIONS = experiment_options(hidden=hidden_sizes)


def saturated_fraction(model, X):
    """Fraction of saturated units (y (1 - y) < SATURATION) in each sigmoid
    hidden layer of ``model`` for the inputs X (n, 784)."""
    fractions = []
    h = np.array(X)  # a writable copy: Dense.__call__ needs one
    for layer in model.dense_layers[:-1]:
        h = layer(h)
        fractions.append(float(np.mean(h * (1 - h) < SATURATION)))
    return fractions


def compute(config, data, seeds, log):
    """Train one network per (recipe, seed).

    Returns
    -------
    dict
        ``rows``: one per recipe with ``init``, ``label``, ``val_accuracy``,
        ``test_accuracy`` (``seed_stats``), ``val_accuracy_curve``,
        ``val_loss_curve`` (mean over seeds, index 0 = initialisation),
        ``val_accuracy_curves`` (per seed), ``saturated`` (fraction of
        saturated units per hidden layer, mean over seeds, one row per epoch,
        row 0 = initialisation), ``first_epoch_accuracy``.
    """
    X_probe = data.X_train[:config["n_probe"]]
    weight_decay = config["lmbda"] / data.X_train.shape[0]

    def train_one(init, seed):
        model = build_mlp(config["hidden"], config["activation"], init, seed=seed)
        return train_model(model, data, config["epochs"], config["batch_size"],
                           SGD(lr=config["lr"], weight_decay=weight_decay),
                           probes={"saturated": lambda m: saturated_fraction(m, X_probe)})

    grid = train_grid(list(RECIPES), seeds, train_one, lambda init, seed, run: (
        f"{RECIPES[init]}, seed {seed}: saturated at init "
        f"{100 * run['saturated'][0][0]:.0f}%, validation after epoch 1 "
        f"{100 * run['val_accuracy'][1]:.2f}%, at end "
        f"{100 * run['val_accuracy_final']:.2f}%"), log)
    rows = []
    for (init, label), runs in zip(RECIPES.items(), grid):
        curves = [r["val_accuracy"] for r in runs]
        length = min(len(r["saturated"]) for r in runs)
        rows.append({
            "init": init,
            "label": label,
            "val_accuracy": seed_stats(r["val_accuracy_final"] for r in runs),
            "test_accuracy": seed_stats(r["test_accuracy"] for r in runs),
            "first_epoch_accuracy": seed_stats(c[1] if len(c) > 1 else float("nan")
                                               for c in curves),
            "val_accuracy_curve": mean_curve(curves),
            "val_accuracy_curves": curves,
            **mean_curves(runs, "val_loss"),
            "saturated": np.mean([r["saturated"][:length] for r in runs], axis=0).tolist(),
            **run_columns(runs),
        })
    return {"rows": rows, "weight_decay": weight_decay, "saturation_threshold": SATURATION}


def table(results, config):
    """Per recipe: saturated units at initialisation and at the end, validation
    accuracy after the first and the last epoch, test accuracy."""
    rows = []
    for row in results["rows"]:
        rows.append([row["label"],
                     " ".join(f"{100 * v:.0f}" for v in row["saturated"][0]),
                     " ".join(f"{100 * v:.0f}" for v in row["saturated"][-1]),
                     percent(row["first_epoch_accuracy"]), percent(row["val_accuracy"]),
                     percent(row["test_accuracy"])])
    sizes = layer_sizes(config["hidden"])
    head = (f"{sizes} sigmoid, softmax output, {config['epochs']} epochs on "
            f"{config['n_train']:,} images, batch {config['batch_size']}, lr {config['lr']}, "
            f"lambda {config['lmbda']}; saturated = sigma' < {SATURATION} on "
            f"{config['n_probe']} training images")
    return head + "\n" + format_table(
        ["weights", "saturated % at init", "saturated % at end", "validation % after epoch 1",
         "validation % at end", "test %"], rows)


def plot(record, out):
    """init.png: validation accuracy per epoch and the share of saturated
    hidden units, per weight recipe."""
    rows = record["results"]["rows"]
    fig, axes = plotting.figure(ncols=2)
    acc, sat = axes[0, 0], axes[0, 1]
    for r in rows:
        curve = plotting.to_percent(r["val_accuracy_curve"])
        line, = acc.plot(range(len(curve)), curve, marker=".", label=r["label"])
        saturated = np.array(r["saturated"], dtype=float)
        sat.plot(range(saturated.shape[0]), 100 * saturated[:, 0], marker=".",
                 color=line.get_color(), label=r["label"])
    plotting.accuracy_ylim(acc, [r["val_accuracy_curve"] for r in rows])
    plotting.label(acc, "epoch", "validation accuracy (%)", "validation accuracy")
    sat.set_xlabel("epoch (0 = initialisation)")
    sat.set_ylabel("saturated units of hidden layer 1 (%)")
    sat.set_title(f"units with sigma'(a) < {record['results']['saturation_threshold']}",
                  fontsize=10)
    sat.set_ylim(0, 100)
    for ax in (acc, sat):
        ax.grid(alpha=0.3)
        ax.legend(title="initial weights", fontsize=8)
    sizes = layer_sizes(record["config"]["hidden"])
    plotting.suptitle(fig, record, f"Weight initialisation of a {sizes} sigmoid network")
    return [plotting.save(fig, out, "init.png")]


#: ``run(quick=False, seeds=1, out=None, **kwargs)``: see ``driver.execute``.
run = runner(__name__)
