"""fastnn.sklearn beside scikit-learn: the same estimator call, side by side.

    python bench/sklearn_dropin.py               # 20,000 MNIST images, float32, 3 seeds
    python bench/sklearn_dropin.py --n 2000 --seeds 1 --epochs-scale 0.2   # a quick look

For each setting of the README's speed table, fits
``sklearn.neural_network.MLPClassifier(**params)`` and
``fastnn.sklearn.MLPClassifier(**params)`` with the same parameters and
random_state on the same float32 data, and prints the wall-clock time of
``fit`` (median over the seeds), the speed-up, and the test accuracy of each
(mean and spread over the seeds: the spread between seeds is the yardstick for
"the same accuracy"). The lbfgs rows run on sklearn's digits and on an MNIST
subset; the bow row on a sparse bag of words (bench/sparse_input.py: CSR,
100,000 features at 0.1% density). Benchmarks are not tests: nothing here
asserts a time.
"""

import argparse
import statistics
import sys
import time
import warnings

import numpy as np

from workloads import ROOT  # noqa: F401  (first: puts the checkout's in-place build on sys.path)
from timing import settle  # noqa: E402

#: (key, title, data, parameters). max_iter fixes the epochs (tol=0 and the
#: default n_iter_no_change = 10 never stop earlier than that when max_iter <= 11).
SETTINGS = [
    ("lecture", "(30,) logistic, sgd, batch 10", "mnist",
     dict(hidden_layer_sizes=(30,), activation="logistic", solver="sgd", batch_size=10,
          learning_rate_init=0.01, max_iter=10, tol=0.0)),
    ("relu100", "(100,) relu, sgd, batch 10", "mnist",
     dict(hidden_layer_sizes=(100,), solver="sgd", batch_size=10, learning_rate_init=0.01,
          max_iter=10, tol=0.0)),
    ("defaults", "scikit-learn's defaults: (100,) relu, adam, batch 200", "mnist",
     dict(max_iter=10, tol=0.0)),
    ("lbfgs-digits", "lbfgs on digits (1,797 x 64, 3/4 to train)", "digits",
     dict(solver="lbfgs", max_iter=200)),
    ("lbfgs-mnist", "lbfgs on an MNIST subset", "mnist-subset",
     dict(solver="lbfgs", max_iter=100)),
    ("bow", "defaults on a sparse bag of words (100,000 features)", "bow",
     dict(max_iter=3, tol=0.0)),
]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--n", type=int, default=20000, help="MNIST training images")
    p.add_argument("--n-test", type=int, default=10000, help="MNIST test images scored")
    p.add_argument("--n-lbfgs", type=int, default=5000,
                   help="images of the lbfgs MNIST subset (and at most that many digits)")
    p.add_argument("--n-bow", type=int, default=5000,
                   help="documents of the bag of words (bench/sparse_input.py) to train on, "
                        "a fifth more to test")
    p.add_argument("--seeds", type=int, default=3, help="random_state 0 .. seeds-1")
    p.add_argument("--epochs-scale", type=float, default=1.0,
                   help="multiplies every max_iter (at least 1)")
    p.add_argument("--settings", nargs="+", default=[s[0] for s in SETTINGS],
                   choices=[s[0] for s in SETTINGS])
    p.add_argument("--data", default=None, help="directory with the MNIST IDX files")
    return p.parse_args(argv)


def load(args):
    """{"mnist": (X, y, X_test, y_test), "digits": ..., "mnist-subset": ..., "bow": ...},
    float32."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from fastnn.datasets import load_mnist
    (X, y), (X_test, y_test) = load_mnist(path=args.data, split="train_test", dtype="float32",
                                          download=False)
    X, y = X[:args.n], y[:args.n]
    X_test, y_test = X_test[:args.n_test], y_test[:args.n_test]
    Xd, yd = load_digits(return_X_y=True)
    Xd, yd = Xd[:max(args.n_lbfgs, 100)], yd[:max(args.n_lbfgs, 100)]
    Xd, Xd_test, yd, yd_test = train_test_split((Xd / 16).astype(np.float32), yd,
                                                test_size=0.25, random_state=0, stratify=yd)
    from sparse_input import bag_of_words      # 0.1% dense CSR, a planted rule
    Xb, yb = bag_of_words(args.n_bow + args.n_bow // 5)
    return {"mnist": (X, y, X_test, y_test), "digits": (Xd, yd, Xd_test, yd_test),
            "mnist-subset": (X[:args.n_lbfgs], y[:args.n_lbfgs], X_test, y_test),
            "bow": (Xb[:args.n_bow], yb[:args.n_bow], Xb[args.n_bow:], yb[args.n_bow:])}


def run_one(cls, params, data, seed):
    """(fit seconds, test accuracy) of ``cls(**params, random_state=seed)``."""
    X, y, X_test, y_test = data
    est = cls(**params, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")       # ConvergenceWarning at the fixed max_iter
        settle()                              # the last score's BLAS threads go idle
        t0 = time.perf_counter()
        est.fit(X, y)
        seconds = time.perf_counter() - t0
    return seconds, est.score(X_test, y_test)


def spread(values):
    return f"{statistics.mean(values):.4f} ± {(max(values) - min(values)) / 2:.4f}"


def main(argv=None):
    args = parse_args(argv)
    from sklearn.neural_network import MLPClassifier as SklearnMLP

    from fastnn.sklearn import MLPClassifier as FastnnMLP
    datasets = load(args)
    # Warm both up (fastnn resolves SciPy's BLAS at its first compiled call,
    # about 0.25 s that belongs to no fit): time steady-state fits only.
    X, y = datasets["digits"][:2]
    for cls in (SklearnMLP, FastnnMLP):
        run_one(cls, {"hidden_layer_sizes": (4,), "max_iter": 1}, (X, y, X, y), 0)
    print(f"fastnn.sklearn vs scikit-learn, float32, {args.n} MNIST training images "
          f"({args.n_lbfgs} for lbfgs), {args.n_test} test images, seeds 0..{args.seeds - 1}")
    header = (f"{'setting':<54} {'sklearn s':>10} {'fastnn s':>10} {'speed-up':>9}  "
              f"{'sklearn accuracy':>17}  {'fastnn accuracy':>17}")
    print(header)
    print("-" * len(header))
    rows = []
    for key, title, data_key, params in SETTINGS:
        if key not in args.settings:
            continue
        params = dict(params, max_iter=max(1, round(params["max_iter"] * args.epochs_scale)))
        # Interleaved, seed by seed, the order alternating: a slow spell of
        # the shared machine hits both libraries alike.
        runs = {"sklearn": [], "fastnn": []}
        pair = [("sklearn", SklearnMLP), ("fastnn", FastnnMLP)]
        for seed in range(args.seeds):
            for name, cls in (pair if seed % 2 == 0 else pair[::-1]):
                runs[name].append(run_one(cls, params, datasets[data_key], seed))
        results = {name: ([r[0] for r in rs], [r[1] for r in rs]) for name, rs in runs.items()}
        t_sk, t_fn = (statistics.median(results[name][0]) for name in ("sklearn", "fastnn"))
        row = (f"{title:<54} {t_sk:>10.3f} {t_fn:>10.3f} {t_sk / t_fn:>8.1f}x  "
               f"{spread(results['sklearn'][1]):>17}  {spread(results['fastnn'][1]):>17}")
        print(row, flush=True)
        rows.append((key, t_sk, t_fn, results))
    return rows


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
