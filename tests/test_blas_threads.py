"""The per-GEMM BLAS thread policy leaves the caller's thread setting as it was."""

import numpy as np
import pytest

import fastnn
from fastnn import blas_threads


def _fit_once(**policy):
    rng = np.random.default_rng(0)
    X = rng.random((300, 64), dtype=np.float32)
    y = rng.integers(0, 3, size=300)
    model = fastnn.Sequential([fastnn.Dense(64, 256, "relu"), fastnn.Dense(256, 3, "softmax")],
                              seed=0)
    model.fit(X, y, epochs=1, batch_size=100, verbose=0)
    return model


@pytest.fixture
def restore_policy():
    st = blas_threads._load()
    saved = st["max_threads"], st["min_work"]
    yield
    blas_threads.set_policy(max_threads=saved[0], min_work=saved[1])


def test_scipy_openblas_thread_control_is_found():
    info = blas_threads.blas_info()
    assert info["library"] is not None
    # SciPy >= 1.13 wheels ship OpenBLAS >= 0.3.27, which has the thread-local setter.
    assert info["thread_control"], info
    address, max_threads, min_work = blas_threads.policy()
    assert address != 0 and max_threads >= 1 and min_work >= 0


@pytest.mark.parametrize("min_work", [0.0, 1e4, float("inf")])
def test_fit_restores_the_threads_setting(restore_policy, min_work):
    before = blas_threads.blas_info()["num_threads"]
    blas_threads.set_policy(min_work=min_work)
    _fit_once()
    assert blas_threads.blas_info()["num_threads"] == before


def test_thread_policy_does_not_change_results_beyond_rounding(restore_policy):
    blas_threads.set_policy(min_work=float("inf"))
    single = _fit_once().get_weights()
    blas_threads.set_policy(min_work=0.0)
    multi = _fit_once().get_weights()
    for a, b in zip(single, multi):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kwargs, match", [
    ({"max_threads": 0}, "max_threads must be a positive integer or None, got 0"),
    ({"max_threads": 1.5}, "max_threads must be a positive integer or None, got 1.5"),
    ({"min_work": -1}, "min_work must be a number >= 0, got -1"),
    ({"min_work": "x"}, "min_work must be a number >= 0, got 'x'"),
])
def test_bad_policy_values_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        blas_threads.set_policy(**kwargs)


def test_the_graph_path_twins_follow_the_policy_and_restore_the_setting(restore_policy):
    from fastnn import _blas

    before = blas_threads.blas_info()["num_threads"]
    A = np.ones((300, 300), dtype=np.float32)
    for min_work in (0.0, float("inf")):
        blas_threads.set_policy(min_work=min_work)
        np.testing.assert_allclose(_blas.gemm(A, A), A @ A)
        np.testing.assert_allclose(_blas.gemv(A, A[0]), A @ A[0])
        assert blas_threads.blas_info()["num_threads"] == before
