"""A bag-of-words benchmark for the sparse first layer.

``bag_of_words`` builds a seeded text-like data set: documents of Zipf-
distributed words from a vocabulary of 100,000, log(1 + count) features in a
CSR matrix at about 0.1% density, and labels from a planted linear rule, so
that accuracy is measurable. ``sparse_section`` (``bench/run.py``'s "sparse"
section; ``python bench/sparse_input.py`` alone) trains a
100,000-100-3 relu net with plain SGD on it, side by side in one interleaved
run:

- fastnn on the CSR matrix (its feature-major first layer multiplies the CSR
  rows as they are and updates only the weights of the features each batch
  holds),
- fastnn on the same rows densified (a dense (n, 100,000) float32 array),
- scikit-learn's MLPClassifier(solver="sgd", momentum 0, alpha 0) on the CSR
  matrix (``trainers.SklearnTrainer``),

and reports examples per second with the ratios, plus the test accuracy that
fastnn reaches on the planted rule.
"""

import argparse
import os
import sys

import numpy as np

from workloads import NetSpec  # first: puts the checkout on sys.path

__all__ = ["bag_of_words", "sparse_section", "BOW_NET"]

#: The benchmark's net: the bag-of-words input, 100 relu units (scikit-learn's
#: default hidden layer), three classes (softmax output for every contender;
#: scikit-learn gives two classes a single logistic unit).
BOW_NET = NetSpec("bow", (100_000, 100, 3), "relu", 0.05)


def bag_of_words(n_docs, n_features=100_000, density=0.001, n_classes=3, zipf=1.1,
                 seed=0, dtype=np.float32):
    """A seeded bag-of-words data set with a planted linear rule.

    Each document draws its words independently from a Zipf law over the
    vocabulary (p(rank r) proportional to r^-zipf; ranks mapped to word
    indices by a seeded permutation, as a vectoriser's alphabetical columns
    would be), as many draws as give about ``density * n_features`` distinct
    words per document on average. X[d, j] = log(1 + count of word j in d)
    (CSR, canonical, ``dtype``). The labels: a seeded Gaussian weight per word
    and class, y = argmax_k X w_k (for 2 classes, the sign of the score's
    deviation from its median, so the classes are balanced).

    Returns (X (n_docs, n_features) CSR, y int64 (n_docs,)).
    """
    import scipy.sparse as sp
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, n_features + 1, dtype=np.float64)
    p = ranks ** -zipf
    p /= p.sum()
    word_of_rank = rng.permutation(n_features)
    want = density * n_features
    # Draws per document that give `want` distinct words in expectation:
    # E[distinct] = sum_r 1 - (1 - p_r)^m, increasing in m; bisect on m.
    low, high = want, 50 * want
    for _ in range(40):
        m = (low + high) / 2
        if np.sum(-np.expm1(m * np.log1p(-p))) < want:
            low = m
        else:
            high = m
    lengths = rng.poisson(m, size=n_docs)
    docs = np.repeat(np.arange(n_docs), lengths)
    words = word_of_rank[np.searchsorted(np.cumsum(p), rng.random(docs.size), side="right")
                         .clip(max=n_features - 1)]
    counts = sp.coo_matrix((np.ones(docs.size), (docs, words)),
                           shape=(n_docs, n_features)).tocsr()   # duplicates summed
    counts.data = np.log1p(counts.data)
    X = counts.astype(dtype)
    W_true = rng.standard_normal((n_features, n_classes))
    scores = X @ W_true
    if n_classes == 2:
        d = scores[:, 1] - scores[:, 0]
        y = (d > np.median(d)).astype(np.int64)
    else:
        y = np.argmax(scores, axis=1).astype(np.int64)
    return X, y


def _accuracy_run(X, y, batch, epochs=5, seed=0):
    """Test accuracy of fastnn on the planted rule (80/20 split)."""
    from trainers import fastnn_model
    from fastnn import SGD
    n_train = int(0.8 * X.shape[0])
    model = fastnn_model(BOW_NET, X.dtype, seed)
    model.fit(X[:n_train], y[:n_train], epochs=epochs, batch_size=batch,
              optimizer=SGD(lr=BOW_NET.lr), verbose=0)
    return model.evaluate(X[n_train:], y[n_train:])["accuracy"]


def sparse_section(args, settings, out, n_docs=5000, batches=(32, 200), peers=("sklearn",)):
    """Train BOW_NET on bag_of_words(n_docs) as CSR, densified and with
    scikit-learn, interleaved (bench/timing.py); returns the record."""
    from timing import fmt_rate, measure, paired_ratio
    from trainers import FastnnTrainer, SklearnTrainer, initial_weights, missing_peers
    X, y = bag_of_words(n_docs)
    density = X.nnz / (X.shape[0] * X.shape[1])
    out()
    out(f"sparse first layer: bag of words {X.shape[0]} x {X.shape[1]:,}, "
        f"{100 * density:.3f}% non-zero ({X.nnz / X.shape[0]:.0f} per row), "
        f"net {BOW_NET.name}, plain SGD lr {BOW_NET.lr}, float32")
    dense = X.toarray()
    out(f"  densified: {dense.nbytes / 2**30:.2f} GiB; CSR: "
        f"{(X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 2**20:.1f} MiB")
    weights = initial_weights(BOW_NET, np.float32)
    use_sklearn = "sklearn" in peers and not missing_peers(["sklearn"])
    record = {"shape": X.shape, "nnz": X.nnz, "net": BOW_NET.name, "rows": []}
    out(f"  {'batch':>5}  {'fastnn CSR':>11}  {'densified':>10}  {'sklearn CSR':>11}  "
        f"{'vs densified':>12}  {'vs sklearn':>10}")
    for batch in batches:
        contenders = {"csr": FastnnTrainer(BOW_NET, X, y, batch, weights),
                      "dense": FastnnTrainer(BOW_NET, dense, y, batch, weights)}
        if use_sklearn:
            contenders["sklearn"] = SklearnTrainer(BOW_NET, X, y, batch, weights)
        results = measure(contenders, X.shape[0], batch, settings)
        rates = {k: r.median if r.ok else float("nan") for k, r in results.items()}
        ratio = {k: paired_ratio(results["csr"], r) for k, r in results.items() if k != "csr"}
        out(f"  {batch:>5}  {fmt_rate(rates['csr']):>11}  {fmt_rate(rates['dense']):>10}  "
            f"{fmt_rate(rates.get('sklearn')):>11}  {ratio.get('dense', float('nan')):>11.1f}x  "
            f"{ratio.get('sklearn', float('nan')):>9.1f}x")
        record["rows"].append({"batch": batch, "results": {k: r.to_dict()
                                                           for k, r in results.items()},
                               "ratios": ratio})
        del contenders
    del dense
    X_acc, y_acc = bag_of_words(20000, seed=1)
    accuracy = _accuracy_run(X_acc, y_acc, 32)
    out(f"  planted rule: fastnn test accuracy {100 * accuracy:.1f}% after 5 epochs on "
        f"16,000 documents (chance about 33%)")
    record["accuracy"] = accuracy
    return record


def main(argv=None):
    from timing import Settings
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--docs", type=int, default=5000)
    p.add_argument("--batches", type=int, nargs="+", default=[32, 200])
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f}", file=sys.stderr)
    sparse_section(args, Settings(repeats=args.repeats), print, args.docs, args.batches)


if __name__ == "__main__":
    main()
