"""Machinery shared by the experiments: data, networks, training records,
statistics over seeds and tables (the driver that runs an experiment and writes
``results.json`` is ``fastnn.experiments.driver``).

An experiment module defines

``NAME``, ``TITLE``
    Its command-line name and a one-line description.
``FULL``, ``QUICK``
    Settings dicts: the real reproduction and a reduced version that runs in
    seconds (for the README and CI). Both hold at least ``n_train`` and
    ``epochs``; ``n_eval`` (if present and not None) cuts the validation and
    test sets to their first ``n_eval`` images.
``OPTIONS``
    ``{name: validator}`` of the settings a caller may override.
``compute(config, data, seeds, log) -> dict``
    Runs the experiment and returns its JSON-able results.
``table(results, config) -> str``
    The printed summary.
``plot(record, out) -> list of Path``
    Writes its PNG figures into ``out`` (helpers in ``plotting``).
``run(quick=False, seeds=1, out=None, ...)``
    ``fastnn.experiments.driver.execute(<module>, ...)``.
"""

import concurrent.futures
import contextlib
import contextvars
import functools
import math
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .. import blas_threads
from ..callbacks import Callback
from ..datasets import load_fashion_mnist, load_mnist
from ..layers import Dense, Dropout
from ..losses import get_loss
from ..sequential import Sequential
from ..training import TrainingDivergedError
from ..validation import check_positive_int

__all__ = [
    "DATASETS", "NIELSEN", "Data", "load_data", "resolve_data_dir", "build_mlp", "layer_sizes",
    "train_model", "train_grid", "concurrent_runs", "run_columns", "accuracy_probe",
    "seed_stats", "mean_curve", "mean_curves", "format_table", "percent", "seconds_per_run",
]

#: Loaders by the dataset names the command line accepts.
DATASETS = {"mnist": load_mnist, "fashion-mnist": load_fashion_mnist}

#: Nielsen's settings ("Neural Networks and Deep Learning", chapter 5): sigmoid
#: layers of 30, mini-batches of 10, eta = 0.1, L2 lambda = 5.0 (weight decay
#: lambda / n per update for n training images), 30 epochs, W ~ N(0, 1/sqrt(n_in)).
NIELSEN = {"hidden": 30, "activation": "sigmoid", "init": "normal", "batch_size": 10,
           "lr": 0.1, "lmbda": 5.0, "epochs": 30, "n_train": 50_000}


# ------------------------------------------------------------------ data ---

class Data(NamedTuple):
    """A dataset split as the experiments use it: X arrays (n, 784) in [0, 1],
    y int64 labels (n,). ``X_train`` may be the first ``n_train`` images only."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def resolve_data_dir(dataset, data_dir):
    """The directory to hand to the loader as ``path=``.

    ``data_dir`` may be the directory holding the four IDX files or, like
    ``$FASTNN_DATA``, a parent holding ``mnist/`` and ``fashion-mnist/``.
    None means the loader's own search ($FASTNN_DATA, the user cache, ...).
    """
    if data_dir is None:
        return None
    path = Path(data_dir).expanduser()
    nested = path / dataset
    return nested if nested.is_dir() else path


@functools.lru_cache(maxsize=2)
def _load_cached(dataset, path, dtype, download):
    splits = DATASETS[dataset](path=path, dtype=dtype, download=download)
    arrays = [a for split in splits for a in split]
    for a in arrays:  # shared between callers: nobody may write into them
        a.setflags(write=False)
    return arrays


def load_data(dataset="mnist", data_dir=None, dtype="float32", n_train=None, n_eval=None,
              download=True):
    """Load MNIST or Fashion-MNIST as 50,000 train / 10,000 validation / 10,000 test.

    Parameters
    ----------
    dataset : "mnist" or "fashion-mnist"
    data_dir : path or None
        See ``resolve_data_dir``.
    dtype : "float32" or "float64"
    n_train : int or None
        Keep only the first ``n_train`` training images (all 50,000 if None).
    n_eval : int or None
        Keep only the first ``n_eval`` validation and test images (all 10,000
        if None); the quick runs use this to save time.
    download : bool
        Let the loader download missing files into the user cache.

    Returns
    -------
    Data
        Read-only arrays: one decoded copy per (dataset, directory, dtype) is
        kept in memory (at most two) and shared by later calls.
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {dataset!r}")
    path = resolve_data_dir(dataset, data_dir)
    arrays = _load_cached(dataset, None if path is None else str(path), str(dtype),
                          bool(download))
    X_train, y_train, X_val, y_val, X_test, y_test = arrays
    if n_train is not None:
        n_train = check_positive_int("n_train", n_train)
        if n_train > X_train.shape[0]:
            raise ValueError(f"n_train must be at most {X_train.shape[0]} (the training "
                             f"split of {dataset}), got {n_train}")
        X_train, y_train = X_train[:n_train], y_train[:n_train]
    if n_eval is not None:
        n_eval = check_positive_int("n_eval", n_eval)
        X_val, y_val, X_test, y_test = X_val[:n_eval], y_val[:n_eval], X_test[:n_eval], \
            y_test[:n_eval]
    return Data(dataset, X_train, y_train, X_val, y_val, X_test, y_test)


# -------------------------------------------------------------- networks ---

def build_mlp(hidden, activation="sigmoid", init="normal", loss="cross_entropy",
              dropout=0.0, n_in=784, n_out=10, dtype="float32", seed=None):
    """A fully connected network n_in - hidden[0] - ... - n_out.

    Parameters
    ----------
    hidden : sequence of int
        Sizes of the hidden layers; empty for no hidden layer (softmax or
        logistic regression).
    activation : str
        Activation of every hidden layer.
    init : str
        Weight recipe of every layer, output included (``fastnn.initializers``).
    loss : "cross_entropy", "binary_cross_entropy" or "mse"
        The output activation is the one the loss requires
        (``fastnn.losses.get_loss(loss).output_activation``: softmax for the
        log-loss, sigmoid for the binary cross-entropy, Nielsen's variant);
        sigmoid for the mean squared error, which takes any.
    dropout : float in [0, 1)
        Dropout probability on the units of every hidden layer (the input of
        the next Dense layer), inverted scaling. 0 for none.
    dtype, seed
        As for ``Sequential``.

    Returns
    -------
    Sequential
    """
    sizes = [n_in, *hidden]
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers.append(Dense(a, b, activation, init=init))
        if dropout:
            layers.append(Dropout(dropout))
    # sigmoid keeps the mean squared error's outputs in [0, 1], like its one-hot targets
    output = get_loss(loss).output_activation or "sigmoid"
    layers.append(Dense(sizes[-1], n_out, output, init=init))
    return Sequential(layers, loss=loss, dtype=dtype, seed=seed)


def layer_sizes(hidden, n_in=784, n_out=10):
    """'784-30-10': the layer sizes of ``build_mlp(hidden)``, for tables and titles."""
    return "-".join(str(n) for n in [n_in, *hidden, n_out])


class _Probes(Callback):
    """Evaluates extra measurements after every epoch."""

    def __init__(self, probes, values):
        self.probes = probes
        self.values = values

    def on_epoch_end(self, epoch, logs=None):
        for name, probe in self.probes.items():
            self.values[name].append(probe(self.model))


def train_model(model, data, epochs, batch_size, optimizer, probes=None, callbacks=()):
    """Train ``model`` on ``data.X_train`` and record what the plots need.

    Parameters
    ----------
    model : Sequential
    data : Data
    epochs, batch_size : int
    optimizer : Optimizer
    probes : dict of name -> callable(model) or None
        Measured at initialisation and after every epoch.
    callbacks : sequence of Callback
        More callbacks for ``fit`` (after the probes'), e.g.
        ``fastnn.GradientNorms``.

    Returns
    -------
    dict
        ``val_accuracy``, ``val_loss`` and every probe: lists of length
        ``epochs + 1`` (index 0 = initialisation, index e = after epoch e);
        ``train_loss``, ``train_accuracy_running``: length ``epochs`` (means
        over each epoch's mini-batches, measured while training, dropout on);
        ``val_accuracy_final``, ``test_accuracy``, ``test_loss`` at the end;
        ``seconds`` of training; ``diverged`` None or the error message (the
        curves then stop at the last finite epoch, whose weights are kept).
    """
    probes = dict(probes or {})
    start_val = model.evaluate(data.X_val, data.y_val)
    values = {name: [probe(model)] for name, probe in probes.items()}
    diverged = None
    start = time.perf_counter()
    try:
        model.fit(data.X_train, data.y_train, epochs=epochs, batch_size=batch_size,
                  optimizer=optimizer, validation_data=(data.X_val, data.y_val), verbose=0,
                  callbacks=[_Probes(probes, values), *callbacks])
    except TrainingDivergedError as exc:
        diverged = str(exc)
    seconds = time.perf_counter() - start
    hist = model.history.history
    val = model.evaluate(data.X_val, data.y_val)
    test = model.evaluate(data.X_test, data.y_test)
    record = {
        "val_accuracy": [start_val["accuracy"], *hist.get("val_accuracy", [])],
        "val_loss": [start_val["loss"], *hist.get("val_loss", [])],
        "train_loss": list(hist.get("loss", [])),
        "train_accuracy_running": list(hist.get("accuracy", [])),
        "val_accuracy_final": val["accuracy"],
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "seconds": seconds,
        "diverged": diverged,
    }
    record.update(values)
    return record


#: How many runs ``train_grid`` trains at once (``concurrent_runs``).
_WORKERS = contextvars.ContextVar("fastnn_experiment_workers", default=1)


@contextlib.contextmanager
def concurrent_runs(workers):
    """Within: ``train_grid`` trains up to ``workers`` runs at once, one per
    thread (the compiled epochs release the GIL), with every GEMM on one BLAS
    thread while it does, so that the runs share the cores without
    oversubscribing them. The runs are independent models, so the results
    are those of a serial run (tested); only the seconds change."""
    token = _WORKERS.set(check_positive_int("jobs", workers))
    try:
        yield
    finally:
        _WORKERS.reset(token)


def train_grid(configs, seeds, train_one, describe, log):
    """Train one network per (configuration, seed) of an experiment.

    Within ``concurrent_runs`` every run goes to one pool of workers, so that
    the cores stay busy across configurations (3 seeds on 2 cores do not
    leave one idle at each configuration's end).

    Parameters
    ----------
    configs : list
        The experiment's settings, one per row of its table (a depth, a
        dropout probability, a tuple...).
    seeds : list of int
    train_one : callable(config, seed) -> dict
        Builds and trains a network, returns its ``train_model`` record.
    describe : callable(config, seed, record) -> str
        The progress line of one run; its time and, if it diverged, why are
        appended.
    log : callable

    Returns
    -------
    list of list of dict
        The records, per configuration, in the order of ``seeds``.
    """
    tasks = [(config, seed) for config in configs for seed in seeds]
    workers = min(_WORKERS.get(), len(tasks))
    records = []
    with contextlib.ExitStack() as stack:
        if workers > 1:
            stack.enter_context(blas_threads.limited(1))
            pool = stack.enter_context(concurrent.futures.ThreadPoolExecutor(workers))
            runs = pool.map(lambda task: train_one(*task), tasks)
        else:
            runs = (train_one(*task) for task in tasks)
        for (config, seed), run in zip(tasks, runs):     # logged in order as they finish
            records.append(run)
            log(f"  {describe(config, seed, run)}  ({run['seconds']:.1f} s)"
                + (f"  DIVERGED: {run['diverged']}" if run["diverged"] else ""))
    return [records[i:i + len(seeds)] for i in range(0, len(records), len(seeds))]


def run_columns(runs):
    """``seconds`` and ``diverged`` (None or the message) of each run: every row has them."""
    return {"seconds": [r["seconds"] for r in runs], "diverged": [r["diverged"] for r in runs]}


def accuracy_probe(X, y):
    """A probe: accuracy of the model (dropout off) on (X, y)."""
    return lambda model: model.evaluate(X, y)["accuracy"]


# ------------------------------------------------------------ statistics ---

def seed_stats(values):
    """Mean and spread of one measurement over seeds.

    Returns
    -------
    dict
        ``mean``, ``std`` (sample standard deviation, ddof = 1; 0 for a single
        seed), ``min``, ``max``, ``values`` (NaNs, from diverged runs, are left
        out of the statistics but kept in ``values``).
    """
    values = [float(v) for v in values]
    finite = np.array([v for v in values if math.isfinite(v)], dtype=np.float64)
    if finite.size == 0:
        nan = float("nan")
        return {"mean": nan, "std": nan, "min": nan, "max": nan, "values": values}
    return {"mean": float(finite.mean()),
            "std": float(finite.std(ddof=1)) if finite.size > 1 else 0.0,
            "min": float(finite.min()), "max": float(finite.max()), "values": values}


def mean_curve(curves):
    """Element-wise mean of curves of possibly different lengths (shorter
    ones, from diverged runs, are padded with NaN)."""
    length = max(len(c) for c in curves)
    table = np.full((len(curves), length), np.nan)
    for i, c in enumerate(curves):
        table[i, :len(c)] = c
    with np.errstate(invalid="ignore"):
        counts = np.sum(~np.isnan(table), axis=0)
        sums = np.nansum(table, axis=0)
        return [float(s / c) if c else float("nan") for s, c in zip(sums, counts)]


def mean_curves(runs, *keys):
    """``{key + "_curve": mean_curve of that curve over the runs}`` for each key."""
    return {f"{key}_curve": mean_curve([r[key] for r in runs]) for key in keys}


def percent(stats, digits=2):
    """'96.50 ± 0.12' from ``seed_stats`` of fractions (± omitted for one seed)."""
    if not math.isfinite(stats["mean"]):
        return "diverged"
    text = f"{100 * stats['mean']:.{digits}f}"
    if len(stats["values"]) > 1:
        text += f" ± {100 * stats['std']:.{digits}f}"
    return text


def seconds_per_run(row):
    """'12.3': the mean training time of a row's runs, in seconds."""
    return f"{sum(row['seconds']) / len(row['seconds']):.1f}"


def format_table(headers, rows):
    """Plain-text table with columns padded to their widest cell."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
