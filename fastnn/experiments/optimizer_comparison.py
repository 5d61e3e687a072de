"""Optimizers: constant SGD, SGD with the 1/t schedule, momentum, Adagrad and
Adam on the same network.

The network is Nielsen's 784-30-30-10 with sigmoid hidden units and a softmax
output, mini-batches of 10, L2 lambda = 5.0 (weight decay lambda / n), 30
epochs (see ``fastnn.experiments.depth``). Only the update rule changes:

================ ===============================================================
SGD              W <- W - eta g,  eta = 0.1
SGD, 1/t         eta_t = eta_0 / (1 + t / tau), eta_0 = 0.5, tau = one epoch of
                 updates: the lecture's eta_t ~ 1/t (sum eta_t = inf, sum
                 eta_t^2 < inf)
momentum         v <- 0.9 v + g, W <- W - eta v, eta = 0.01 (so eta / (1 - mu) =
                 0.1, the same long-run step as plain SGD)
Adagrad          S <- S + g^2, W <- W - eta g / (sqrt(S) + eps), eta = 0.05
Adam             Kingma and Ba's defaults, eta = 0.001, betas (0.9, 0.999)
================ ===============================================================

(g includes the weight decay term lambda / n W for weight matrices.)
"""

from ..optimizers import SGD, Adagrad, Adam
from . import plotting
from .common import (NIELSEN, build_mlp, format_table, layer_sizes, mean_curves, percent,
                     run_columns, seconds_per_run, seed_stats, train_model, train_grid)
from .driver import runner
from .options import experiment_options, hidden_sizes

NAME = "optimizers"
TITLE = "constant SGD, SGD with eta ~ 1/t, momentum, Adagrad and Adam on 784-30-30-10 sigmoid"

#: label -> (description, factory(weight_decay) -> Optimizer)
OPTIMIZERS = {
    "SGD": ("eta 0.1", lambda wd: SGD(lr=0.1, weight_decay=wd)),
    "SGD 1/t": ("eta 0.5 / (1 + t / epoch)",
                lambda wd: SGD(lr=0.5, weight_decay=wd, schedule="inverse_time")),
    "momentum": ("eta 0.01, mu 0.9", lambda wd: SGD(lr=0.01, momentum=0.9, weight_decay=wd)),
    "Adagrad": ("eta 0.05", lambda wd: Adagrad(lr=0.05, weight_decay=wd)),
    "Adam": ("eta 0.001, betas (0.9, 0.999)", lambda wd: Adam(lr=0.001, weight_decay=wd)),
}

FULL = {**NIELSEN, "hidden": [30, 30]}
QUICK = {**FULL, "n_eval": 2000, "n_train": 3000, "epochs": 2}

OPTIONS = experiment_options(hidden=hidden_sizes)


def compute(config, data, seeds, log):
    """Train one network per (optimizer, seed).

    Returns
    -------
    dict
        ``rows``: one per optimizer with ``optimizer``, ``settings``,
        ``val_accuracy``, ``test_accuracy``, ``first_epoch_accuracy``,
        ``final_train_loss`` (``seed_stats``), mean curves
        ``val_accuracy_curve`` (index 0 = initialisation) and
        ``train_loss_curve`` (epochs 1..E), ``seconds`` per seed.
    """
    weight_decay = config["lmbda"] / data.X_train.shape[0]

    def train_one(label, seed):
        model = build_mlp(config["hidden"], config["activation"], config["init"], seed=seed)
        return train_model(model, data, config["epochs"], config["batch_size"],
                           OPTIMIZERS[label][1](weight_decay))

    grid = train_grid(list(OPTIMIZERS), seeds, train_one, lambda label, seed, run: (
        f"{label}, seed {seed}: validation after epoch 1 "
        f"{100 * run['val_accuracy'][1]:.2f}%, at end "
        f"{100 * run['val_accuracy_final']:.2f}%"), log)
    rows = []
    for (label, (settings, _)), runs in zip(OPTIMIZERS.items(), grid):
        nan = float("nan")
        rows.append({
            "optimizer": label,
            "settings": settings,
            "val_accuracy": seed_stats(r["val_accuracy_final"] for r in runs),
            "test_accuracy": seed_stats(r["test_accuracy"] for r in runs),
            "first_epoch_accuracy": seed_stats(
                r["val_accuracy"][1] if len(r["val_accuracy"]) > 1 else nan for r in runs),
            "final_train_loss": seed_stats(
                r["train_loss"][-1] if r["train_loss"] else nan for r in runs),
            **mean_curves(runs, "val_accuracy", "train_loss"),
            **run_columns(runs),
        })
    return {"rows": rows, "weight_decay": weight_decay}


def table(results, config):
    """Per optimizer: training loss of the last epoch, validation accuracy after
    the first and the last epoch, test accuracy."""
    rows = [[row["optimizer"], row["settings"], f"{row['final_train_loss']['mean']:.4f}",
             percent(row["first_epoch_accuracy"]), percent(row["val_accuracy"]),
             percent(row["test_accuracy"]),
             seconds_per_run(row)] for row in results["rows"]]
    sizes = layer_sizes(config["hidden"])
    head = (f"{sizes} sigmoid, softmax output, {config['epochs']} epochs on "
            f"{config['n_train']:,} images, batch {config['batch_size']}, lambda "
            f"{config['lmbda']}")
    return head + "\n" + format_table(
        ["optimizer", "settings", "train loss (last epoch)", "validation % after epoch 1",
         "validation % at end", "test %", "s/run"], rows)


def plot(record, out):
    """optimizers.png: training loss and validation accuracy per epoch."""
    rows = record["results"]["rows"]
    fig, axes = plotting.figure(ncols=2)
    loss, acc = axes[0, 0], axes[0, 1]
    for r in rows:
        label = f"{r['optimizer']} ({r['settings']})"
        train = r["train_loss_curve"]
        line, = loss.plot(range(1, len(train) + 1), train, marker=".", label=label)
        curve = plotting.to_percent(r["val_accuracy_curve"])
        acc.plot(range(len(curve)), curve, marker=".", color=line.get_color(), label=label)
    loss.set_yscale("log")
    plotting.label(loss, "epoch",
                   "training log-loss, mean over the epoch (nats per image)", "training loss")
    plotting.accuracy_ylim(acc, [r["val_accuracy_curve"] for r in rows])
    plotting.label(acc, "epoch", "validation accuracy (%)", "validation accuracy")
    for ax in (loss, acc):
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    sizes = layer_sizes(record["config"]["hidden"])
    plotting.suptitle(fig, record, f"Optimizers on a {sizes} sigmoid network")
    return [plotting.save(fig, out, "optimizers.png")]


#: ``run(quick=False, seeds=1, out=None, **kwargs)``: see ``driver.execute``.
run = runner(__name__)
