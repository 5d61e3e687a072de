"""Sparse inputs: scipy.sparse CSR/CSC matrices and arrays give the dense
input's results, and are never densified."""

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

from fastnn import LBFGS, SGD, Adam, Dense, Dropout, Sequential
from fastnn.validation import CSR, check_X

N, D, K = 60, 12, 3


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    X = sp.random(N, D, density=0.25, random_state=seed, format="csr") * 3
    X.data[X.indptr[5]:X.indptr[6]] = 0           # an empty row
    X.eliminate_zeros()
    y = rng.integers(0, K, N)
    return X, y


def make_model(dtype, seed=1, dropout=False):
    layers = [Dense(D, 7, "tanh"), Dense(7, K, "softmax")]
    if dropout:
        layers.insert(0, Dropout(0.2))
    return Sequential(layers, dtype=dtype, seed=seed)


def assert_close(a, b, dtype):
    rtol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * 1e-2)


FORMATS = {"csr": lambda X: X.tocsr(), "csc": lambda X: X.tocsc(),
           "csr_array": lambda X: sp.csr_array(X), "csc_array": lambda X: sp.csc_array(X)}


# Without dropout on its input the first layer multiplies the CSR rows as they
# are (csrc/sparse.pxd); with it, the rows are scattered into a dense batch.
# Plain SGD with weight decay is folded into the sparse update; Adam reads gW.
OPTIMIZERS = {"adam": lambda: Adam(lr=0.01), "sgd+decay": lambda: SGD(lr=0.1, weight_decay=0.01)}


@pytest.mark.parametrize("fmt, dropout, optimizer",
                         [(fmt, False, "adam") for fmt in sorted(FORMATS)]
                         + [("csr", False, "sgd+decay"), ("csr", True, "adam"),
                            ("csc", True, "sgd+decay")])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sparse_input_gives_the_dense_results(fmt, dropout, optimizer, dtype):
    X, y = make_data()
    Xs, Xd = FORMATS[fmt](X), X.toarray()
    results = []
    for data in (Xs, Xd):
        model = make_model(dtype, dropout=dropout)
        history = model.fit(data, y, epochs=2, batch_size=7, optimizer=OPTIMIZERS[optimizer](),
                            shuffle=True, verbose=0, validation_data=(data, y))
        results.append((model.get_weights(), history.history, model.predict_proba(data),
                        model.predict(data), model.evaluate(data, y),
                        model.gradients(data, y)))
    (w_s, h_s, p_s, c_s, e_s, g_s), (w_d, h_d, p_d, c_d, e_d, g_d) = results
    for a, b in zip(w_s, w_d):
        assert_close(a, b, dtype)
    for key in h_d:
        assert_close(h_s[key], h_d[key], dtype)
    assert_close(p_s, p_d, dtype)
    np.testing.assert_array_equal(c_s, c_d)
    assert e_s["accuracy"] == e_d["accuracy"]
    assert e_s["loss"] == pytest.approx(e_d["loss"], rel=1e-6 if dtype == "float32" else 1e-13)
    for (a, b), (c, d) in zip(g_s, g_d):
        assert_close(a, c, dtype)
        assert_close(b, d, dtype)


@pytest.mark.parametrize("optimizer", [lambda: Adam(lr=0.01),
                                       lambda: SGD(lr=0.05, momentum=0.9, weight_decay=0.01)])
def test_sparse_training_in_chunks_is_bitwise_one_call(optimizer, chunks):
    # The feature-major first layer keeps its state between compiled calls
    # (gW^T's cleared rows, the optimizer's state carried to a second fit):
    # a fit in chunks of 2 steps must give bitwise the single call's.
    X, y = make_data(2)
    results = []
    for size in (None, 2):
        if size is not None:
            chunks(size)
        model = make_model("float32", seed=3)
        opt = optimizer()
        model.fit(X, y, epochs=3, batch_size=5, optimizer=opt, verbose=0)
        model.fit(X, y, epochs=1, batch_size=5, optimizer=opt, verbose=0)  # state carried on
        results.append(model.get_weights())
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sparse_input_with_weights_regression_and_a_solver(dtype):
    X, y = make_data(1)
    rng = np.random.default_rng(1)
    w = rng.random(N)
    t = rng.normal(size=N)
    for optimizer in (lambda: SGD(lr=0.05, momentum=0.5), lambda: LBFGS(max_iter=5)):
        weights = []
        for data in (X, X.toarray()):
            model = Sequential([Dense(D, 5, "relu"), Dense(5, 1, "identity")], loss="mse",
                               dtype=dtype, seed=2)
            model.fit(data, t, epochs=3, batch_size=9, optimizer=optimizer(), verbose=0,
                      sample_weight=w)
            weights.append(model.get_weights())
            if len(weights) == 1:
                pred = model.predict(data)
        assert_close(pred, model.predict(X.toarray()), dtype)
        for a, b in zip(*weights):
            np.testing.assert_allclose(a, b, rtol=1e-4 if dtype == "float32" else 1e-9,
                                       atol=1e-6 if dtype == "float32" else 1e-12)


def test_non_canonical_matrices_mean_their_summed_entries():
    X, y = make_data()
    coo = X.tocoo()
    # Every entry split into two halves, columns in decreasing order: duplicates, unsorted.
    rows = np.concatenate([coo.row, coo.row])
    cols = np.concatenate([coo.col, coo.col])
    vals = np.concatenate([coo.data / 4, coo.data * 3 / 4])
    order = np.lexsort((-cols, rows))
    messy = sp.csr_matrix((vals[order], cols[order], _indptr(rows)), shape=(N, D))
    assert not messy.has_canonical_format
    model = make_model("float64")
    np.testing.assert_allclose(model.predict_proba(messy), model.predict_proba(X.toarray()),
                               rtol=1e-13)
    assert not messy.has_canonical_format           # the user's matrix is left alone


def _indptr(rows):
    counts = np.bincount(rows, minlength=N)
    return np.concatenate([[0], np.cumsum(counts)])


def test_check_X_converts_once_and_keeps_the_matrix_sparse():
    X, _ = make_data()
    out = check_X(X.astype(np.float32), D, np.dtype(np.float32))
    assert isinstance(out, CSR) and out.shape == (N, D) and out.nnz == X.nnz
    assert out.indices.dtype == np.int64 and out.indptr.dtype == np.int64
    assert out.data.dtype == np.float32
    assert check_X(out, D, np.dtype(np.float32)) is out


def test_fit_never_densifies_a_large_sparse_matrix():
    rng = np.random.default_rng(0)
    n, d = 8000, 3000
    X = sp.random(n, d, density=0.001, random_state=0, format="csr", dtype=np.float32)
    y = rng.integers(0, 2, n)
    model = Sequential([Dense(d, 2, "softmax")], seed=0)
    dense_bytes = n * d * 4
    tracemalloc.start()
    try:
        model.fit(X, y, epochs=1, batch_size=50, verbose=0)
        model.predict(X)
        model.evaluate(X, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < dense_bytes / 10, f"peak {peak} bytes for a {dense_bytes}-byte dense X"


BAD = {
    "coo": (lambda X: X.tocoo(), TypeError,
            r"X is a scipy\.sparse coo matrix; fastnn takes CSR or CSC \(convert it with "
            r"X\.tocsr\(\)\)"),
    "width": (lambda X: sp.csr_matrix((N, D + 1)), ValueError,
              r"X has 13 features \(shape \(60, 13\)\) but the first Dense layer expects "
              r"n_in=12"),
    "empty": (lambda X: sp.csr_matrix((0, D)), ValueError, r"X is empty: shape \(0, 12\)"),
    "nan": (lambda X: _with_value(X, np.nan), ValueError,
            r"X contains NaN or inf: X\[\d+, \d+\] = nan"),
    "index out of range": (lambda X: _bad_index(X), ValueError,
                           r"X is not a valid sparse csr matrix: .*"),
    "complex": (lambda X: X.astype(np.complex128), TypeError,
                r"X must hold real numbers, got a sparse matrix of dtype complex128"),
}


def _with_value(X, value):
    X = X.copy()
    X.data[3] = value
    return X


def _bad_index(X):
    X = X.copy()
    X.indices[2] = D + 5
    return X


@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize("entry", ["fit", "predict", "evaluate"])
def test_bad_sparse_input_is_refused(case, entry):
    X, y = make_data()
    bad = BAD[case][0](X)
    model = make_model("float32")
    before = model.get_weights()
    call = {"fit": lambda: model.fit(bad, y, verbose=0),
            "predict": lambda: model.predict(bad),
            "evaluate": lambda: model.evaluate(bad, y)}[entry]
    with pytest.raises(BAD[case][1], match=BAD[case][2]):
        call()
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_sparse_fit_stores_the_first_layer_feature_major(tmp_path):
    # fit on CSR stores the first W feature-major (once; the optimizer's
    # state moves with it); every other use of the model is unchanged.
    from fastnn.serialization import load, save
    X, y = make_data(3)
    Xd = X.toarray()
    twins = []
    for second in (X, Xd):
        model = make_model("float64", seed=4)
        opt = SGD(lr=0.05, momentum=0.9)
        model.fit(Xd, y, epochs=2, batch_size=6, optimizer=opt, verbose=0)
        assert not model.layers[0].feature_major
        model.fit(second, y, epochs=2, batch_size=6, optimizer=opt, verbose=0)
        twins.append(model)
    sparse_model, dense_model = twins
    first = sparse_model.layers[0]
    assert first.feature_major and first.W.T.flags.c_contiguous
    assert not dense_model.layers[0].feature_major
    # The momentum carried over: the same weights as the dense fits'.
    for a, b in zip(sparse_model.get_weights(), dense_model.get_weights()):
        assert_close(a, b, "float64")
    want = dense_model.predict_proba(Xd)
    for got in (sparse_model.predict_proba(Xd), sparse_model.predict_proba(X),
                sparse_model.layers[1](first(Xd))):
        assert_close(got, want, "float64")
    grads = zip(sparse_model.gradients(X[:6], y[:6]), dense_model.gradients(Xd[:6], y[:6]))
    for (a, b), (c, d) in grads:
        assert_close(a, c, "float64")
        assert_close(b, d, "float64")
    save(sparse_model, tmp_path / "m.npz")
    assert_close(load(tmp_path / "m.npz").predict_proba(X), want, "float64")
    # Dense fits keep the layout; the graph path stores W row-major again.
    sparse_model.fit(Xd, y, epochs=1, batch_size=6, verbose=0)
    assert first.feature_major
    W = first.W.copy()
    assert first.W_param.data.flags.c_contiguous and not first.feature_major
    np.testing.assert_array_equal(first.W, W)
    # pretrain stores it row-major again too.
    sparse_model.fit(X, y, epochs=1, batch_size=6, verbose=0)
    assert first.feature_major
    sparse_model.pretrain(Xd, epochs=1, verbose=0)
    assert not first.feature_major and first.W.flags.c_contiguous


def test_a_wide_sparse_input_needs_no_dense_batch_buffer():
    # A CSR batch read as it is needs no batch x n_features buffer: predicting
    # 100,000-feature rows must not allocate the 256 x 100,000 one (100 MB).
    rng = np.random.default_rng(0)
    X = sp.random(300, 100_000, density=1e-4, random_state=0, format="csr", dtype=np.float32)
    y = rng.integers(0, 2, 300)
    model = Sequential([Dense(100_000, 4, "relu"), Dense(4, 2, "softmax")], seed=0)
    model.fit(X, y, epochs=1, batch_size=30, verbose=0)
    tracemalloc.start()
    try:
        model.predict_proba(X)
        model.evaluate(X, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20, f"peak {peak} bytes"
