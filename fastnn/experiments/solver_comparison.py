"""Solvers: softmax regression (the lecture's maxent model) on MNIST by
full-batch L-BFGS and nonlinear conjugate gradient against stochastic
gradient descent, all on the same objective

    J(W, b) = (1/n) sum_i -log p(c_i | x_i) + (lambda/2) ||W||_F^2

(biases not decayed; ``SGD(weight_decay=lambda)`` follows the gradient of
exactly this J, one mini-batch mean at a time). In float64, from the same
initial weights:

================ ===============================================================
L-BFGS           ``fastnn.LBFGS`` (scipy's L-BFGS-B, 10 correction pairs)
CG               ``fastnn.ConjugateGradient`` (Polak-Ribiere+, Wolfe line search)
SGD              constant eta
SGD 1/t          eta_t = eta_0 / (1 + t / tau), tau = one epoch of updates
Adagrad          eta / (sqrt(sum of squared gradients) + eps)
================ ===============================================================

J is recorded at the start and after every iteration (full-batch) or epoch
(SGD), against *passes over the data* (function evaluations of the
full-batch solvers, each a full forward and backward pass; epochs of SGD) and
against wall time (the measurement of J itself excluded). The reference
optimum J* is scikit-learn's ``LogisticRegression(C=1/(lambda n))`` (the same
J times n), solved to a tight tolerance, when scikit-learn is installed;
otherwise the lowest J found. The table gives, per method, the passes and
seconds it needs to come within 1e-1 ... 1e-5 of J*: SGD gets to a rough
solution in a pass or two, when the full-batch solvers have barely started;
close to the optimum the quasi-Newton steps win, and SGD with a constant
rate stalls at its noise level.
"""

import time
import warnings

import numpy as np

from ..callbacks import Callback
from ..layers import Dense
from ..optimizers import SGD, Adagrad
from ..sequential import Sequential
from ..solvers import LBFGS, ConjugateGradient, ConvergenceWarning
from . import plotting
from .common import format_table, percent, seed_stats
from .driver import runner
from .options import experiment_options, positive_int

NAME = "solvers"
TITLE = ("softmax regression on MNIST: L-BFGS and conjugate gradient vs SGD (constant, 1/t) "
         "and Adagrad on the same L2-regularised objective")

#: Distances to the optimum at which the passes and seconds are reported.
GAPS = [1e-1, 1e-2, 1e-3, 1e-4, 1e-5]

#: label -> (settings, kind, factory(config) -> Optimizer); kind "full" or "sgd".
METHODS = {
    "L-BFGS": ("history 10, gtol 1e-6", "full",
               lambda c: LBFGS(max_iter=c["max_iter"], tol=1e-6, weight_decay=c["lmbda"])),
    "CG": ("Polak-Ribiere+, gtol 1e-6", "full",
           lambda c: ConjugateGradient(max_iter=c["max_iter"], tol=1e-6,
                                       weight_decay=c["lmbda"])),
    "SGD": ("eta 0.1", "sgd", lambda c: SGD(lr=0.1, weight_decay=c["lmbda"])),
    "SGD 1/t": ("eta 0.5 / (1 + t / epoch)", "sgd",
                lambda c: SGD(lr=0.5, weight_decay=c["lmbda"], schedule="inverse_time")),
    "Adagrad": ("eta 0.05", "sgd", lambda c: Adagrad(lr=0.05, weight_decay=c["lmbda"])),
}

FULL = {"n_train": 50_000, "lmbda": 1e-4, "batch_size": 10, "epochs": 100, "max_iter": 600,
        "sklearn_tol": 1e-8}
QUICK = {**FULL, "n_train": 2000, "n_eval": 2000, "lmbda": 1e-2, "epochs": 3, "max_iter": 40,
         "sklearn_tol": 1e-5}

OPTIONS = experiment_options(max_iter=positive_int("max_iter"),
                             batch_size=positive_int("batch_size"))


def objective(model, X, labels, lam):
    """J of the module docstring for a softmax-regression Sequential."""
    W = model.dense_layers[0].W
    return model.evaluate(X, labels)["loss"] + 0.5 * lam * float(np.sum(W * W))


class _Trace(Callback):
    """J, passes and training seconds at the start and after every epoch
    (one SGD epoch, or one solver iteration); J's own measurement is not timed."""

    def __init__(self, X, labels, lam, passes):
        self.X, self.labels, self.lam, self.passes = X, labels, lam, passes
        self.points = []

    def on_train_begin(self, logs=None):
        self.points = [(0, 0.0, objective(self.model, self.X, self.labels, self.lam))]
        self.clock, self._last = 0.0, time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.clock += time.perf_counter() - self._last
        value = objective(self.model, self.X, self.labels, self.lam)
        self.points.append((self.passes(epoch), self.clock, value))
        self._last = time.perf_counter()


def _with_counted_passes(solver):
    """``solver`` whose runner leaves its objective (and so its count of
    evaluations, each one pass over the data) in ``solver.objective``."""
    make = solver.runner

    def counted(model, X, labels):
        made = make(model, X, labels)
        solver.objective = made.objective
        return made

    solver.runner = counted
    return solver


def _sklearn_optimum(X, y, lam, tol):
    """(J*, W*, seconds) of scikit-learn's LogisticRegression on the same J,
    or None without scikit-learn."""
    try:
        from sklearn.linear_model import LogisticRegression
        from threadpoolctl import threadpool_limits     # a dependency of scikit-learn
    except ImportError:
        return None
    start = time.perf_counter()
    reference = LogisticRegression(C=1 / (lam * X.shape[0]), tol=tol, max_iter=100_000)
    with threadpool_limits(1):          # one core, like the methods it is compared with
        reference.fit(X, y)
    seconds = time.perf_counter() - start
    model = _softmax_regression(0)
    model.dense_layers[0].W[...] = reference.coef_
    model.dense_layers[0].b[...] = reference.intercept_
    return objective(model, X, y, lam), reference.coef_, seconds


def _softmax_regression(seed):
    return Sequential([Dense(784, 10, "softmax")], loss="cross_entropy", dtype="float64",
                      seed=seed)


def _first_within(points, target):
    """(passes, seconds) of the first point with J <= target, or (None, None)."""
    for passes, seconds, value in points:
        if value <= target:
            return passes, seconds
    return None, None


def compute(config, data, seeds, log):
    """Run every (method, seed) from the seed's initial weights.

    Returns
    -------
    dict
        ``optimum`` (J*, its source, scikit-learn's seconds), ``rows``: one per
        method with ``method``, ``settings``, ``kind``, ``points`` (per seed,
        lists of [passes, seconds, J]), ``final_gap`` (``seed_stats`` of J - J*
        at the end), ``reach`` ({gap: [passes, seconds] of seed 0, None when
        never reached}), ``val_accuracy``, ``test_accuracy``, ``weight_distance`` (``seed_stats``
        of ||W - W*|| / ||W*|| against scikit-learn's W*, None without it),
        ``seconds``, ``diverged``, ``status`` (scipy's message of a
        full-batch solver, None for SGD).
    """
    X = np.ascontiguousarray(data.X_train, dtype=np.float64)
    y = data.y_train
    X_test = np.ascontiguousarray(data.X_test, dtype=np.float64)
    X_val = np.ascontiguousarray(data.X_val, dtype=np.float64)
    lam = config["lmbda"]
    reference = _sklearn_optimum(X, y, lam, config["sklearn_tol"])
    if reference is not None:
        log(f"  scikit-learn LogisticRegression(C=1/(lambda n)): J* = {reference[0]:.10f} "
            f"({reference[2]:.1f} s)")
    rows = []
    for label, (settings, kind, factory) in METHODS.items():
        runs = []
        for seed in seeds:
            model = _softmax_regression(seed)
            optimizer = factory(config)
            if kind == "full":
                _with_counted_passes(optimizer)
                trace = _Trace(X, y, lam, lambda epoch: optimizer.objective.evaluations)
                epochs = config["max_iter"]
            else:
                trace = _Trace(X, y, lam, lambda epoch: epoch + 1)
                epochs = config["epochs"]
            diverged = None
            start = time.perf_counter()
            try:
                with warnings.catch_warnings():
                    # stopping at max_iter is recorded below (status), not warned
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    model.fit(X, y, epochs=epochs, batch_size=config["batch_size"],
                              optimizer=optimizer, verbose=0, callbacks=[trace])
            except FloatingPointError as exc:
                diverged = str(exc)
            seconds = time.perf_counter() - start
            result = getattr(optimizer, "result", None)
            status = None if result is None else f"{result.message} (nit {result.nit})"
            test = model.evaluate(X_test, data.y_test)["accuracy"]
            val = model.evaluate(X_val, data.y_val)["accuracy"]
            W = model.dense_layers[0].W
            distance = (float(np.linalg.norm(W - reference[1]) / np.linalg.norm(reference[1]))
                        if reference is not None else None)
            runs.append({"points": [list(p) for p in trace.points], "test_accuracy": test,
                         "val_accuracy": val,
                         "weight_distance": distance, "seconds": seconds,
                         "diverged": diverged, "status": status})
            log(f"  {label}, seed {seed}: J = {trace.points[-1][2]:.8f} after "
                f"{trace.points[-1][0]} passes, {trace.points[-1][1]:.1f} s of training; test "
                f"{100 * test:.2f}%" + (f"  DIVERGED: {diverged}" if diverged else ""))
        rows.append({"method": label, "settings": settings, "kind": kind, "runs": runs})
    best = min(p[2] for row in rows for r in row["runs"] for p in r["points"])
    j_star, source = (reference[0], "scikit-learn") if reference is not None else \
        (best, "lowest J found")
    for row in rows:
        runs = row.pop("runs")
        row.update({
            "points": [r["points"] for r in runs],
            "final_gap": seed_stats(r["points"][-1][2] - j_star for r in runs),
            "reach": {str(gap): list(_first_within(runs[0]["points"], j_star + gap))
                      for gap in GAPS},
            "val_accuracy": seed_stats(r["val_accuracy"] for r in runs),
            "test_accuracy": seed_stats(r["test_accuracy"] for r in runs),
            "weight_distance": (seed_stats(r["weight_distance"] for r in runs)
                                if reference is not None else None),
            "seconds": [r["seconds"] for r in runs],
            "diverged": [r["diverged"] for r in runs],
            "status": [r["status"] for r in runs],
        })
    return {"rows": rows, "optimum": {"J": j_star, "source": source,
                                      "sklearn_seconds": reference[2] if reference else None,
                                      "lowest_found": best}}


def _reach_text(entry):
    passes, seconds = entry
    return "-" if passes is None else f"{passes} / {seconds:.1f}s"


def table(results, config):
    """Per method: J - J* at the end, passes and seconds used, passes / seconds
    to come within each gap of J*, test accuracy, distance to scikit-learn's W*."""
    optimum = results["optimum"]
    rows = []
    for row in results["rows"]:
        last = row["points"][0][-1]
        distance = row["weight_distance"]
        rows.append([row["method"], row["settings"], f"{row['final_gap']['mean']:.2e}",
                     last[0], f"{last[1]:.1f}",
                     *[_reach_text(row["reach"][str(gap)]) for gap in GAPS],
                     percent(row["test_accuracy"]),
                     "-" if distance is None else f"{distance['mean']:.1e}"])
    head = (f"softmax regression 784-10, float64, {config['n_train']:,} images, lambda "
            f"{config['lmbda']}; SGD/Adagrad: batch {config['batch_size']}, "
            f"{config['epochs']} epochs; full-batch: at most {config['max_iter']} iterations\n"
            f"J* = {optimum['J']:.10f} ({optimum['source']}"
            + (f", {optimum['sklearn_seconds']:.1f} s" if optimum["sklearn_seconds"] else "")
            + f"); lowest J found {optimum['lowest_found']:.10f}; a pass = one forward and "
            f"backward sweep over the data (an SGD epoch, a solver's function evaluation)")
    return head + "\n" + format_table(
        ["method", "settings", "J - J* at end", "passes", "s",
         *[f"passes / s to J* + {gap:g}" for gap in GAPS], "test %",
         "||W - W*|| / ||W*|| (sklearn)"], rows)


def plot(record, out):
    """solvers.png: J - J* against passes over the data and against seconds."""
    results = record["results"]
    j_star = results["optimum"]["J"]
    fig, axes = plotting.figure(ncols=2)
    by_passes, by_time = axes[0, 0], axes[0, 1]
    for row in results["rows"]:
        points = np.array(row["points"][0], dtype=float)
        gap = np.maximum(points[:, 2] - j_star, 1e-12)
        label = f"{row['method']} ({row['settings']})"
        line, = by_passes.plot(points[:, 0], gap, marker="." if len(points) < 40 else None,
                               label=label)
        by_time.plot(points[:, 1], gap, color=line.get_color(),
                     marker="." if len(points) < 40 else None, label=label)
    for ax, xlabel in ((by_passes, "passes over the data"), (by_time, "training seconds")):
        ax.set_yscale("log")
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlim(left=0)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
        plotting.label(ax, xlabel, "J - J* (log)", f"objective against {xlabel}")
    plotting.suptitle(fig, record, f"Softmax regression, lambda {record['config']['lmbda']}: "
                                   f"J* from {results['optimum']['source']}")
    return [plotting.save(fig, out, "solvers.png")]


#: ``run(quick=False, seeds=1, out=None, **kwargs)``: see ``driver.execute``.
run = runner(__name__)
