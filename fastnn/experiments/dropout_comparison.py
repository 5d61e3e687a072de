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

from ..optimizers import SGD
from . import plotting
from .common import (accuracy_probe, build_mlp, format_table, layer_sizes, mean_curves, percent,
                     run_columns, seconds_per_run, seed_stats, train_model, train_grid)
from .driver import runner
from .options import experiment_options, hidden_sizes

NAME = "dropout"
TITLE = "a wide ReLU network on a small training set, with and without dropout p = 0.5"

FULL = {"hidden": [800, 800], "activation": "relu", "init": "he_normal", "n_train": 2000,
        "epochs": 50, "batch_size": 10, "lr": 0.05, "dropout": [0.0, 0.5]}
QUICK = {**FULL, "n_eval": 2000, "hidden": [64, 64], "n_train": 500, "epochs": 4}

OPTIONS = experiment_options(hidden=hidden_sizes)


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

    def train_one(p, seed):
        model = build_mlp(config["hidden"], config["activation"], config["init"],
                          dropout=p, seed=seed)
        return train_model(model, data, config["epochs"], config["batch_size"],
                           SGD(lr=config["lr"]), probes=probes)

    grid = train_grid(config["dropout"], seeds, train_one, lambda p, seed, run: (
        f"dropout {p}, seed {seed}: train {100 * run['train_accuracy'][-1]:.2f}%  "
        f"test {100 * run['test_accuracy']:.2f}%"), log)
    rows = []
    for p, runs in zip(config["dropout"], grid):
        rows.append({
            "dropout": p,
            "train_accuracy": seed_stats(r["train_accuracy"][-1] for r in runs),
            "val_accuracy": seed_stats(r["val_accuracy_final"] for r in runs),
            "test_accuracy": seed_stats(r["test_accuracy"] for r in runs),
            "gap": seed_stats(r["train_accuracy"][-1] - r["test_accuracy"] for r in runs),
            **mean_curves(runs, "train_accuracy", "val_accuracy", "val_loss", "train_loss"),
            **run_columns(runs),
        })
    return {"rows": rows}


def table(results, config):
    """Per dropout probability: train / validation / test accuracy and the gap."""
    rows = [[f"p = {row['dropout']}" if row["dropout"] else "no dropout",
             percent(row["train_accuracy"]), percent(row["val_accuracy"]),
             percent(row["test_accuracy"]), percent(row["gap"]),
             seconds_per_run(row)] for row in results["rows"]]
    sizes = layer_sizes(config["hidden"])
    head = (f"{sizes} {config['activation']} ({config['init']}), {config['epochs']} epochs on "
            f"{config['n_train']:,} images, batch {config['batch_size']}, lr {config['lr']}, "
            f"no weight decay; accuracy after the last epoch, dropout off")
    return head + "\n" + format_table(
        ["model", "train %", "validation %", "test %", "train - test (points)", "s/run"], rows)


def plot(record, out):
    """dropout.png: train and validation accuracy per epoch, and validation
    loss, with and without dropout."""
    rows = record["results"]["rows"]
    fig, axes = plotting.figure(ncols=2)
    acc, loss = axes[0, 0], axes[0, 1]
    for r in rows:
        name = f"dropout p = {r['dropout']}" if r["dropout"] else "no dropout"
        train = plotting.to_percent(r["train_accuracy_curve"])
        line, = acc.plot(range(len(train)), train, label=f"{name}: train")
        val = plotting.to_percent(r["val_accuracy_curve"])
        acc.plot(range(len(val)), val, linestyle="--", color=line.get_color(),
                 label=f"{name}: validation")
        loss.plot(range(len(r["val_loss_curve"])), r["val_loss_curve"], color=line.get_color(),
                  label=name)
    plotting.accuracy_ylim(acc, [r[k] for r in rows
                                 for k in ("train_accuracy_curve", "val_accuracy_curve")])
    plotting.label(acc, "epoch", "accuracy, dropout off (%)",
                   "training (solid) and validation (dashed) accuracy")
    plotting.loss_ylim(loss, [r["val_loss_curve"] for r in rows])
    plotting.label(loss, "epoch", "validation log-loss (nats per image)", "validation loss")
    for ax in (acc, loss):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    sizes = layer_sizes(record["config"]["hidden"])
    plotting.suptitle(fig, record, f"Dropout on a {sizes} ReLU network")
    return [plotting.save(fig, out, "dropout.png")]


#: ``run(quick=False, seeds=1, out=None, **kwargs)``: see ``driver.execute``.
run = runner(__name__)
