"""A randomized hyper-parameter search of fastnn.sklearn.MLPClassifier on Dask.

    pip install "fastnn[dask,sklearn]"
    python examples/dask_search.py                       # a LocalCluster: a worker per core
    python examples/dask_search.py --scheduler tcp://HOST:8786     # an existing cluster
    python examples/dask_search.py --quick               # 4 short candidates (the test's run)

scikit-learn's RandomizedSearchCV samples --candidates settings of the hidden
layers, alpha, the learning rate and the batch size, and cross-validates each
(--folds) on three quarters of scikit-learn's digits (8x8 images, 10
classes). The search runs twice: serially in this process, then on the
cluster through joblib's dask backend, which runs the fits as tasks on the
workers. X and y are scattered to every worker once, before the first task
(``scatter=``); each task then refers to them by key. Each worker runs its
fits on one thread (the LocalCluster has one single-threaded worker process
per core, and the nanny starts workers with OPENBLAS_NUM_THREADS=1, which
fastnn follows), so the fits share the machine without oversubscribing it.
Each fit is deterministic given random_state, so the two searches agree
exactly: the script checks that (exit status 1 if not), then prints the best
parameters, their cross-validated and held-out accuracies, and both times
(the dask time includes the scatter, not the cluster's start).

The workers of an existing cluster need fastnn installed (they unpickle the
estimators).
"""

import argparse
import contextlib
import importlib
import os
import time
import warnings

from distributed import Client, LocalCluster
from joblib import parallel_config
from scipy.stats import loguniform
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import RandomizedSearchCV, train_test_split

from fastnn.sklearn import MLPClassifier

#: The cv_results_ fields both searches must agree on.
SCORE_FIELDS = ("params", "mean_test_score", "std_test_score", "rank_test_score")


def new_search(candidates, folds, max_iter, seed):
    """A RandomizedSearchCV of MLPClassifier, the same for both runs."""
    distributions = {"hidden_layer_sizes": [(32,), (64,), (128,), (64, 32)],
                     "alpha": loguniform(1e-5, 1e-1),
                     "learning_rate_init": loguniform(1e-4, 1e-2),
                     "batch_size": [32, 64, 128]}
    return RandomizedSearchCV(MLPClassifier(max_iter=max_iter, random_state=seed),
                              distributions, n_iter=candidates, cv=folds, random_state=seed)


def timed_fit(search, X, y):
    """Fit ``search``; return it and the seconds it took."""
    start = time.perf_counter()
    with warnings.catch_warnings():
        # Fits that end at max_iter are expected here; scikit-learn passes
        # this filter on to the workers with each task.
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    return search, time.perf_counter() - start


def connect(stack, scheduler):
    """A Client of the cluster at ``scheduler``, or of a new LocalCluster with
    one single-threaded worker process per core; closed with ``stack``."""
    if scheduler:
        return stack.enter_context(Client(scheduler))
    cluster = stack.enter_context(LocalCluster(n_workers=os.cpu_count(), threads_per_worker=1,
                                               processes=True, dashboard_address=None))
    return stack.enter_context(Client(cluster))


def same_results(a, b):
    """Whether two fitted searches have the same scores and best parameters."""
    return (a.best_params_ == b.best_params_ and
            all(list(a.cv_results_[field]) == list(b.cv_results_[field])
                for field in SCORE_FIELDS))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="an existing cluster's scheduler (default: start a LocalCluster)")
    parser.add_argument("--candidates", type=int, default=16)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--max-iter", type=int, default=60, help="epochs per fit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        help="4 candidates of 5 epochs (a smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.candidates, args.max_iter = 4, 5

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.25,
                                                        stratify=y, random_state=args.seed)
    fits = args.candidates * args.folds
    serial, serial_seconds = timed_fit(new_search(args.candidates, args.folds, args.max_iter,
                                                  args.seed), X_train, y_train)
    print(f"serial: {fits} fits in {serial_seconds:.1f} s")

    with contextlib.ExitStack() as stack:
        start = time.perf_counter()
        client = connect(stack, args.scheduler)
        client.wait_for_workers(1)
        # Each worker imports fastnn now (not within the first timed fit), and
        # a worker without fastnn fails here, saying so.
        client.run(importlib.import_module, "fastnn.sklearn")
        threads = client.nthreads()
        print(f"cluster: {len(threads)} workers, {sum(threads.values())} threads "
              f"(connected in {time.perf_counter() - start:.1f} s)")
        start = time.perf_counter()
        with parallel_config(backend="dask", client=client, scatter=[X_train, y_train]):
            on_dask, _ = timed_fit(new_search(args.candidates, args.folds, args.max_iter,
                                              args.seed), X_train, y_train)
        print(f"dask: {fits} fits in {time.perf_counter() - start:.1f} s (with the scatter)")

    agree = same_results(serial, on_dask)
    print(f"the same scores and best parameters: {'yes' if agree else 'NO'}")
    best = ", ".join(f"{name}={value:.3g}" if isinstance(value, float) else f"{name}={value}"
                     for name, value in on_dask.best_params_.items())
    print(f"best parameters: {best}")
    print(f"cross-validated accuracy {on_dask.best_score_:.4f}, "
          f"held-out accuracy {on_dask.score(X_test, y_test):.4f}")
    return 0 if agree else 1


if __name__ == "__main__":
    raise SystemExit(main())
