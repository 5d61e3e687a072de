"""Vanishing gradient: how fast each hidden layer learns, by depth and activation.

The lecture's "speed of learning" of hidden layer l is the size of its
delta^(l) = dC/da^(l), which is also the gradient with respect to the layer's
biases: with sigmoid units,

    delta^(l) = sigma'(a^(l)) o (W^(l+1)T delta^(l+1)),   sigma' <= 1/4,

so with weights of order 1 every layer down shrinks the gradient, and the
first hidden layers learn much more slowly than the last ones. We measure

    ||delta^(l)|| = || (1/1000) sum_i dC_i/db^(l) ||_2

over the first 1,000 training images at initialisation and after every epoch
(``fastnn.GradientNorms(X[:1000], y[:1000])``, a callback of the fit, whose
``delta_norms`` are exactly those batch means' norms), for 2, 3 and 4
hidden layers of 30 units, trained with Nielsen's settings (see
``fastnn.experiments.depth``); then the same with ReLU hidden units and He
initialisation (W ~ N(0, sqrt(2/n_in))), the remedy: relu' is 1 on active
units, so delta keeps its size going down.

The summary number is the ratio ||delta^(last hidden)|| / ||delta^(1)||: much
larger than 1 means the first layer learns more slowly.
"""

import math

import numpy as np

from ..diagnostics import GradientNorms, plot_gradient_norms
from ..optimizers import SGD
from . import plotting
from .common import (NIELSEN, build_mlp, format_table, percent, run_columns, seed_stats,
                     train_model, train_grid)
from .depth import VARIANTS
from .driver import runner
from .options import choice, experiment_options, nonempty_int_list, positive_int

NAME = "vanishing"
TITLE = "per-layer gradient norms ||delta^(l)|| for 2-4 hidden layers, sigmoid vs ReLU"

#: (hidden activation, initialisation) pairs compared.
NETWORKS = [("sigmoid", "normal"), ("relu", "he_normal")]

FULL = {**NIELSEN, "depths": [2, 3, 4], "n_grad": 1000, "variant": "softmax"}
QUICK = {**FULL, "n_eval": 2000, "n_train": 2000, "epochs": 2}

OPTIONS = experiment_options(depths=nonempty_int_list("depths", low=2, high=8),
                             n_grad=positive_int("n_grad"), variant=choice("variant", VARIANTS))


def _ratio(norms, depth):
    return norms[depth - 1] / norms[0] if norms[0] > 0 else float("inf")


def compute(config, data, seeds, log):
    """Train every (network, depth, seed) and record the gradient norms.

    Returns
    -------
    dict
        ``rows``: one per (activation, depth) with ``activation``, ``init``,
        ``hidden_layers``, ``norms`` (mean over seeds, shape (epochs + 1,
        hidden_layers + 1): row e after epoch e, row 0 at initialisation,
        columns hidden layers 1..L then the output layer), ``norms_per_seed``,
        ``ratio_init``, ``ratio_final`` (``seed_stats`` of last hidden / first
        hidden), ``ratio_geomean`` (geometric mean of that ratio over epochs
        1..E), ``val_accuracy``, ``test_accuracy``, ``val_accuracy_curve``.
    """
    n_grad = min(config["n_grad"], data.X_train.shape[0])
    Xg, yg = data.X_train[:n_grad], data.y_train[:n_grad]
    loss = VARIANTS[config["variant"]]
    weight_decay = config["lmbda"] / data.X_train.shape[0]

    def train_one(network, seed):
        activation, init, depth = network
        model = build_mlp([config["hidden"]] * depth, activation, init, loss=loss, seed=seed)
        norms = GradientNorms(Xg, yg)
        record = train_model(model, data, config["epochs"], config["batch_size"],
                             SGD(lr=config["lr"], weight_decay=weight_decay),
                             callbacks=[norms])
        record["norms"] = norms.delta_norms
        return record

    def describe(network, seed, run):
        activation, init, depth = network
        first, last = run["norms"][0], run["norms"][-1]
        return (f"{activation}/{init}, {depth} hidden, seed {seed}: ||delta|| at init "
                + " ".join(f"{v:.3g}" for v in first[:depth])
                + ", at end " + " ".join(f"{v:.3g}" for v in last[:depth])
                + f"; validation {100 * run['val_accuracy_final']:.2f}%")

    networks = [(activation, init, depth) for activation, init in NETWORKS
                for depth in config["depths"]]
    rows = []
    for (activation, init, depth), runs in zip(networks, train_grid(networks, seeds, train_one,
                                                                    describe, log)):
        per_seed = [np.array(r["norms"], dtype=np.float64) for r in runs]
        length = min(len(n) for n in per_seed)
        mean = np.mean([n[:length] for n in per_seed], axis=0)
        geomeans = []
        for n in per_seed:
            ratios = [_ratio(row, depth) for row in n[1:]]
            geomeans.append(math.exp(np.mean(np.log(ratios))) if ratios else float("nan"))
        rows.append({
            "activation": activation,
            "init": init,
            "hidden_layers": depth,
            "norms": mean.tolist(),
            "norms_per_seed": [n.tolist() for n in per_seed],
            "ratio_init": seed_stats(_ratio(n[0], depth) for n in per_seed),
            "ratio_final": seed_stats(_ratio(n[-1], depth) for n in per_seed),
            "ratio_geomean": seed_stats(geomeans),
            "val_accuracy": seed_stats(r["val_accuracy_final"] for r in runs),
            "test_accuracy": seed_stats(r["test_accuracy"] for r in runs),
            "val_accuracy_curve": np.mean([r["val_accuracy"][:length] for r in runs],
                                          axis=0).tolist(),
            **run_columns(runs),
        })
    return {"rows": rows, "n_grad": n_grad, "weight_decay": weight_decay, "loss": loss}


def _ratio_text(stats):
    text = f"{stats['mean']:.1f}"
    if len(stats["values"]) > 1:
        text += f" ± {stats['std']:.1f}"
    return text


def table(results, config):
    """Per (network, depth): hidden-layer norms at initialisation and after
    the last epoch (mean over seeds), the last/first ratios, accuracy."""
    rows = []
    for row in results["rows"]:
        depth = row["hidden_layers"]
        rows.append([
            f"{row['activation']} ({row['init']})", depth,
            " ".join(f"{v:.3g}" for v in row["norms"][0][:depth]),
            _ratio_text(row["ratio_init"]),
            " ".join(f"{v:.3g}" for v in row["norms"][-1][:depth]),
            _ratio_text(row["ratio_final"]),
            _ratio_text(row["ratio_geomean"]),
            percent(row["val_accuracy"]),
        ])
    head = (f"||delta^(l)|| = norm of dC/db^(l), batch mean over {results['n_grad']} training "
            f"images, hidden layers l = 1..L (mean over seeds); ratio = layer L / layer 1\n"
            f"{config['epochs']} epochs on {config['n_train']:,} images, batch "
            f"{config['batch_size']}, lr {config['lr']}, lambda {config['lmbda']}")
    return head + "\n" + format_table(
        ["hidden units", "L", "||delta^(l)|| at init", "ratio", "||delta^(l)|| at end",
         "ratio", "ratio (geo. mean over epochs)", "validation %"], rows)


def plot(record, out):
    """vanishing.png: ||delta^(l)|| per hidden layer against the epoch, one
    panel per (activation, depth), log scale shared by all panels."""
    rows = record["results"]["rows"]
    networks = list(dict.fromkeys((r["activation"], r["init"]) for r in rows))
    depths = list(dict.fromkeys(r["hidden_layers"] for r in rows))
    fig, axes = plotting.figure(ncols=len(depths), nrows=len(networks), width=4.6, height=3.8,
                        sharey=True)
    init_names = {"normal": "N(0, 1/sqrt(n_in))", "he_normal": "He N(0, sqrt(2/n_in))"}
    for r in rows:
        ax = axes[networks.index((r["activation"], r["init"])), depths.index(r["hidden_layers"])]
        plot_gradient_norms(r["norms"], ax, layers=r["hidden_layers"], ylabel=None,
                            title=f"{r['activation']}, {init_names.get(r['init'], r['init'])}: "
                                  f"{r['hidden_layers']} hidden")
    for row in axes:
        row[0].set_ylabel("||delta^(l)|| = ||dC/db^(l)||")
    plotting.suptitle(fig, record, "Speed of learning of each hidden layer (gradient norm, "
           f"batch mean over {record['results']['n_grad']} training images, log scale)")
    return [plotting.save(fig, out, "vanishing.png")]


#: ``run(quick=False, seeds=1, out=None, **kwargs)``: see ``driver.execute``.
run = runner(__name__)
