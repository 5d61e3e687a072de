"""Pre-training: deep sigmoid networks started from random weights or from
greedy layer-wise autoencoder pre-training, then the same supervised training.

The lecture's second cure for the vanishing gradient: "do pre-training when
it is possible (Hinton et al. 2006; Bengio et al. 2007): when you cannot
really escape from the initial (random) point, find a good starting point".
Networks: the lecture's sigmoid hidden layers of 30 units at depths 4 to 6,
and a wider 784-500-500-500-10 in the manner of Bengio et al. (2007). Every
network is built twice from the same seed (the same random weights):

- *random init*: trained directly;
- *pre-trained*: first ``Sequential.pretrain`` (each hidden layer a denoising
  autoencoder with a tied decoder, cross-entropy reconstruction, masking
  noise ``corruption``, SGD, unlabelled training images), then the same
  training. The output layer keeps its random weights.

Fine-tuning (the supervised training) uses Nielsen's settings (see
``fastnn.experiments.depth``: batches of 10, eta 0.1, L2 lambda 5 over the
training images) and the same shuffles in both arms (pre-training draws from
a stream of its own). Measured: validation accuracy after every fine-tuning
epoch, final test accuracy, and ``fastnn.GradientNorms`` on the first
``n_grad`` training images: ||delta^(l)|| = ||dC/db^(l)|| per layer at the
start of fine-tuning (index 0: the random or the pre-trained weights) and
after every epoch.
"""

import time

import numpy as np

from ..diagnostics import GradientNorms
from ..optimizers import SGD
from . import plotting
from .common import (NIELSEN, build_mlp, format_table, layer_sizes, mean_curve, percent,
                     run_columns, seed_stats, train_model, train_grid)
from .driver import runner
from .options import experiment_options, hidden_sizes, nonempty_int_list, positive_int

NAME = "pretraining"
TITLE = ("deep sigmoid networks (30-unit layers at depths 4-6, 784-500-500-500-10) from "
         "random weights or greedy autoencoder pre-training")


def _corruption(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"corruption must be a number in [0, 1), got {value!r}")
    return float(value)


FULL = {**NIELSEN, "epochs": 10, "depths": [4, 5, 6], "wide": [500, 500, 500],
        "wide_epochs": 5, "n_grad": 1000, "pretrain_epochs": 1, "pretrain_lr": 0.05,
        "pretrain_batch_size": 10, "corruption": 0.2}
QUICK = {**FULL, "n_train": 2000, "n_eval": 2000, "epochs": 2, "wide": [100, 100, 100],
         "wide_epochs": 2, "n_grad": 500}

OPTIONS = experiment_options(depths=nonempty_int_list("depths", low=1, high=20),
                             wide=hidden_sizes, wide_epochs=positive_int("wide_epochs"),
                             n_grad=positive_int("n_grad"),
                             pretrain_epochs=positive_int("pretrain_epochs"),
                             pretrain_batch_size=positive_int("pretrain_batch_size"),
                             corruption=_corruption)


def networks(config):
    """(hidden sizes, fine-tuning epochs) of every network compared."""
    return ([([config["hidden"]] * depth, config["epochs"]) for depth in config["depths"]]
            + [(list(config["wide"]), config["wide_epochs"])])


def _ratio(norms, hidden):
    """||delta|| of the last hidden layer over the first's."""
    return norms[hidden - 1] / norms[0] if norms[0] > 0 else float("inf")


def compute(config, data, seeds, log):
    """Train every (network, arm, seed).

    Returns
    -------
    dict
        ``rows``: one per (network, arm) with ``hidden``, ``layers``,
        ``pretrained``, ``epochs``, ``val_accuracy``, ``test_accuracy``,
        ``first_epoch_accuracy`` (``seed_stats``), ``val_accuracy_curve``
        (mean over seeds, index 0 = start of fine-tuning), ``delta_start``,
        ``delta_end`` (mean ||delta^(l)|| per layer, output last, at the
        start and the end of fine-tuning), ``ratio_start`` (``seed_stats``
        of last hidden / first hidden at the start), ``pretrain_loss`` (mean
        final reconstruction loss per hidden layer; empty for random init),
        ``pretrain_seconds``, ``seconds`` (fine-tuning), ``diverged``.
    """
    n_grad = min(config["n_grad"], data.X_train.shape[0])
    Xg, yg = data.X_train[:n_grad], data.y_train[:n_grad]
    weight_decay = config["lmbda"] / data.X_train.shape[0]

    def train_one(arm, seed):
        hidden, epochs, pretrained = arm
        model = build_mlp(hidden, config["activation"], config["init"], seed=seed)
        start = time.perf_counter()
        losses = []
        if pretrained:
            losses = model.pretrain(
                data.X_train, epochs=config["pretrain_epochs"],
                batch_size=config["pretrain_batch_size"],
                optimizer=SGD(lr=config["pretrain_lr"]),
                corruption=config["corruption"], verbose=0)
        pretrain_seconds = time.perf_counter() - start
        norms = GradientNorms(Xg, yg)
        record = train_model(model, data, epochs, config["batch_size"],
                             SGD(lr=config["lr"], weight_decay=weight_decay),
                             callbacks=[norms])
        record.update(norms=norms.delta_norms, pretrain_seconds=pretrain_seconds,
                      pretrain_loss=[curve[-1] for curve in losses])
        return record

    def describe(arm, seed, run):
        hidden, _, pretrained = arm
        return (f"{layer_sizes(hidden)} {'pre-trained' if pretrained else 'random init'}, "
                f"seed {seed}: ||delta|| at start "
                + " ".join(f"{v:.3g}" for v in run["norms"][0][:len(hidden)])
                + f"; validation after epoch 1 {100 * run['val_accuracy'][1]:.2f}%, at end "
                f"{100 * run['val_accuracy_final']:.2f}%"
                + (f" (pre-training {run['pretrain_seconds']:.1f} s)" if pretrained else ""))

    arms = [(hidden, epochs, pretrained) for hidden, epochs in networks(config)
            for pretrained in (False, True)]
    rows = []
    for (hidden, epochs, pretrained), runs in zip(arms, train_grid(arms, seeds, train_one,
                                                                   describe, log)):
        starts = np.array([r["norms"][0] for r in runs], dtype=np.float64)
        ends = np.array([r["norms"][-1] for r in runs], dtype=np.float64)
        nan = float("nan")
        rows.append({
            "hidden": hidden,
            "layers": layer_sizes(hidden),
            "pretrained": pretrained,
            "epochs": epochs,
            "val_accuracy": seed_stats(r["val_accuracy_final"] for r in runs),
            "test_accuracy": seed_stats(r["test_accuracy"] for r in runs),
            "first_epoch_accuracy": seed_stats(
                r["val_accuracy"][1] if len(r["val_accuracy"]) > 1 else nan for r in runs),
            "val_accuracy_curve": mean_curve([r["val_accuracy"] for r in runs]),
            "delta_start": starts.mean(axis=0).tolist(),
            "delta_end": ends.mean(axis=0).tolist(),
            "ratio_start": seed_stats(_ratio(n, len(hidden)) for n in starts),
            "pretrain_loss": np.mean([r["pretrain_loss"] for r in runs],
                                     axis=0).tolist() if pretrained else [],
            "pretrain_seconds": [r["pretrain_seconds"] for r in runs],
            **run_columns(runs),
        })
    return {"rows": rows, "n_grad": n_grad, "weight_decay": weight_decay}


def _norms_text(values, count):
    return " ".join(f"{v:.2g}" for v in values[:count])


def table(results, config):
    """Per (network, arm): validation accuracy after the first and the last
    fine-tuning epoch, test accuracy, ||delta^(l)|| of the hidden layers at
    the start of fine-tuning; then the validation accuracy after every epoch."""
    rows, curves = [], []
    for row in results["rows"]:
        count = len(row["hidden"])
        arm = "pre-trained" if row["pretrained"] else "random init"
        seconds = np.mean(row["seconds"]) + np.mean(row["pretrain_seconds"])
        rows.append([row["layers"], arm, percent(row["first_epoch_accuracy"]),
                     percent(row["val_accuracy"]), percent(row["test_accuracy"]),
                     _norms_text(row["delta_start"], count),
                     f"{row['ratio_start']['mean']:.1f}", f"{seconds:.1f}"])
        curves.append([row["layers"], arm,
                       " ".join(f"{100 * v:.1f}" for v in row["val_accuracy_curve"][1:])])
    head = (f"fine-tuning: batch {config['batch_size']}, lr {config['lr']}, lambda "
            f"{config['lmbda']}, {config['epochs']} epochs ({config['wide_epochs']} for "
            f"{layer_sizes(config['wide'])}) on {config['n_train']:,} images; pre-training: "
            f"{config['pretrain_epochs']} epoch(s) per layer, batch "
            f"{config['pretrain_batch_size']}, lr {config['pretrain_lr']}, corruption "
            f"{config['corruption']}, tied decoder\n||delta^(l)|| = ||dC/db^(l)|| at the start "
            f"of fine-tuning, batch mean over {results['n_grad']} training images, hidden "
            f"layers l = 1..L; ratio = layer L / layer 1")
    main = format_table(["network", "start", "validation % after epoch 1",
                         "validation % at end", "test %", "||delta^(l)|| at start", "ratio",
                         "s/run"], rows)
    per_epoch = format_table(["network", "start", "validation % after each fine-tuning epoch"],
                             curves)
    return f"{head}\n{main}\n\n{per_epoch}"


def plot(record, out):
    """pretraining.png: validation accuracy per fine-tuning epoch (left
    panels, one per network) and ||delta^(l)|| per hidden layer at the start
    of fine-tuning (right), random init against pre-trained."""
    rows = record["results"]["rows"]
    names = list(dict.fromkeys(r["layers"] for r in rows))
    fig, axes = plotting.figure(ncols=2, nrows=len(names), width=5.2, height=3.2)
    styles = {False: {"color": "tab:red", "label": "random init"},
              True: {"color": "tab:blue", "label": "pre-trained"}}
    for r in rows:
        acc, grad = axes[names.index(r["layers"])]
        curve = plotting.to_percent(r["val_accuracy_curve"])
        acc.plot(range(len(curve)), curve, marker=".", **styles[r["pretrained"]])
        count = len(r["hidden"])
        grad.plot(range(1, count + 1), r["delta_start"][:count], marker="o",
                  **styles[r["pretrained"]])
        grad.set_yscale("log")
        plotting.label(acc, "fine-tuning epoch (0 = start)", "validation accuracy (%)",
                       r["layers"])
        plotting.label(grad, "hidden layer l", "||delta^(l)|| at the start of fine-tuning",
                       r["layers"])
        for ax in (acc, grad):
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=8)
    plotting.suptitle(fig, record, "Greedy layer-wise pre-training vs random initialisation "
                                   "(sigmoid hidden layers)")
    return [plotting.save(fig, out, "pretraining.png")]


#: ``run(quick=False, seeds=1, out=None, **kwargs)``: see ``driver.execute``.
run = runner(__name__)
