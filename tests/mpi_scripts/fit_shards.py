"""Run under mpiexec by tests/test_distributed.py: for each of a list of
settings, each rank fits one model on its shard of a seeded data set with
``comm=MPI.COMM_WORLD`` and writes what it ended with to
``<out>/<case>-rank<r>.npz`` (weights, history) or ``<out>/<case>-rank<r>.err``.
One mpiexec start serves several cases (the start is most of the cost); the
exit status is 3 when any case failed.

argv: out_dir, then a JSON list of settings objects (see ``SETTINGS``).
"""

import json
import sys
from pathlib import Path

import numpy as np

import fastnn

SETTINGS = {
    "n_per_rank": [24], "features": 5, "hidden": [7], "classes": 3, "dtype": "float64",
    "epochs": 3, "batch_size": 4, "shuffle": False, "optimizer": "sgd", "lr": 0.1,
    "weight_decay": 0.0, "dropout": 0.0, "seed": 3, "fail_rank": -1, "fail_in": "",
    "validation": False, "weighted": False, "sync_every": 1,
    "activation": "tanh", "backup": "", "crash_epoch": -1,
    "rank0_checkpoint": "", "sparse": False,
}


def shard_data(settings, rank, size):
    """The rank's rows of one seeded global set: rank r holds the r-th block,
    of n_per_rank[r] rows (the list repeats its last entry)."""
    counts = [settings["n_per_rank"][min(r, len(settings["n_per_rank"]) - 1)]
              for r in range(size)]
    rng = np.random.default_rng(12345)
    X = rng.normal(size=(sum(counts), settings["features"]))
    if settings["sparse"]:             # fit_case passes it as CSR
        X[np.abs(X) < 0.8] = 0
    y = rng.integers(0, settings["classes"], size=sum(counts))
    w = rng.uniform(0.5, 2.0, size=sum(counts)) if settings["weighted"] else None
    start = sum(counts[:rank])
    shard = slice(start, start + counts[rank])
    return X[shard], y[shard], None if w is None else w[shard], counts


def build_model(settings):
    layers, n_in = [], settings["features"]
    for h in settings["hidden"]:
        layers.append(fastnn.Dense(n_in, h, activation=settings["activation"]))
        if settings["dropout"]:
            layers.append(fastnn.Dropout(settings["dropout"]))
        n_in = h
    layers.append(fastnn.Dense(n_in, settings["classes"], activation="softmax"))
    return fastnn.Sequential(layers, dtype=settings["dtype"], seed=settings["seed"])


def build_optimizer(settings):
    name, lr, decay = settings["optimizer"], settings["lr"], settings["weight_decay"]
    if name == "sgd":
        return fastnn.SGD(lr=lr, weight_decay=decay)
    if name == "momentum":
        return fastnn.SGD(lr=lr, momentum=0.9, weight_decay=decay)
    if name == "nesterov":
        return fastnn.SGD(lr=lr, momentum=0.9, nesterov=True, weight_decay=decay)
    if name == "adagrad":
        return fastnn.Adagrad(lr=lr, weight_decay=decay)
    return fastnn.Adam(lr=lr, weight_decay=decay)


class FailAt(fastnn.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise RuntimeError("callback failed on purpose")


class FirstEpoch(fastnn.Callback):
    """Records the first epoch this fit trains (later than 0 when resumed)."""

    first = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.first is None:
            self.first = epoch


class CrashAt(fastnn.Callback):
    """Ends the fit on every rank when epoch ``epoch`` ends, before the
    backup of that epoch (BackupAndRestore runs after the other callbacks)."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError(f"crash after epoch {epoch}")


def main():
    from mpi4py import MPI      # here: the tests import this module without MPI

    out = Path(sys.argv[1])
    comm = MPI.COMM_WORLD
    failed = False
    for case, overrides in enumerate(json.loads(sys.argv[2])):
        # A failure is agreed on by every rank, so the next case starts clean.
        failed |= not fit_case(out / f"{case}-rank{comm.Get_rank()}",
                               dict(SETTINGS, **overrides), comm)
    if failed:
        sys.exit(3)


def fit_case(stem, settings, comm):
    """Fit one case on this rank; False when it raised (written to stem.err)."""
    rank, size = comm.Get_rank(), comm.Get_size()
    X, y, w, _ = shard_data(settings, rank, size)
    failing = rank == settings["fail_rank"]
    if failing and settings["fail_in"] == "data":
        X = X.copy()
        X[0, 0] = np.nan
    if failing and settings["fail_in"] == "overflow":   # finite rows, inf outputs (relu)
        X = X * 1e200
    if settings["sparse"]:             # a feature-major first layer reading CSR batches
        import scipy.sparse
        X = scipy.sparse.csr_matrix(X)
    callbacks = [FailAt()] if failing and settings["fail_in"] == "callback" else []
    if settings["crash_epoch"] >= 0:
        callbacks.append(CrashAt(settings["crash_epoch"]))
    first = FirstEpoch()
    callbacks.append(first)
    if settings["rank0_checkpoint"] and rank == 0:      # a callback of rank 0's own
        callbacks.append(fastnn.ModelCheckpoint(stem.parent / settings["rank0_checkpoint"],
                                                monitor="loss"))
    if settings["backup"]:
        callbacks.append(fastnn.BackupAndRestore(stem.parent / settings["backup"]))
    model = build_model(settings)
    optimizer = build_optimizer(settings)
    validation = (X, y) if settings["validation"] else None
    try:
        model.fit(X, y, epochs=settings["epochs"], batch_size=settings["batch_size"],
                  shuffle=settings["shuffle"], optimizer=optimizer, verbose=0,
                  callbacks=callbacks, validation_data=validation, comm=comm,
                  sample_weight=w, sync_every=settings["sync_every"])
    except Exception as exc:   # noqa: BLE001 -- reported to the test
        stem.with_suffix(".err").write_text(f"{type(exc).__name__}: {exc}")
        return False
    np.savez(stem.with_suffix(".npz"), *model.get_weights(),
             history=json.dumps(model.history.history), first_epoch=first.first)
    return True

if __name__ == "__main__":
    main()
