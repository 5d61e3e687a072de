"""Shared fixtures for the fastnn test suite.

Keep this file small and generic: fixtures that only one test module needs
belong in that module.

``dtype``
    Parametrises a test over the two float dtypes the kernels are compiled for.
``tol``
    ``{"rtol": ..., "atol": ...}`` for comparing two computations of the same
    quantity in ``dtype`` (pass as ``np.testing.assert_allclose(x, y, **tol)``).
    Relative tolerances are ~1e-5 for float32 and ~1e-12 for float64; the
    absolute ones are for values of order one that may cancel to zero.
``ops_impl``
    Parametrises a test over ``NumpyOps()`` (the reference) and ``CompiledOps()``.
``rng``
    A freshly seeded ``numpy.random.Generator`` (never the global numpy.random).
``chunks``
    ``chunks(k)``: every following fit in the test trains in chunks of k steps
    (a ``FixedClock`` in place of ``fastnn.training.ChunkClock``).
"""

import os

import numpy as np
import pytest

from fastnn import training
from fastnn.ops import CompiledOps, NumpyOps

#: rtol / atol per dtype, for values of order one.
TOLERANCES = {
    np.dtype(np.float32): {"rtol": 1e-5, "atol": 1e-6},
    np.dtype(np.float64): {"rtol": 1e-12, "atol": 1e-13},
}


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def dtype(request):
    """A float dtype the compiled kernels support."""
    return np.dtype(request.param)


@pytest.fixture
def tol(dtype):
    """Comparison tolerances for ``dtype`` (see ``TOLERANCES``)."""
    return dict(TOLERANCES[dtype])


@pytest.fixture(params=[NumpyOps, CompiledOps], ids=["numpy", "compiled"])
def ops_impl(request):
    """Each implementation of the ops vocabulary."""
    return request.param()


@pytest.fixture
def rng():
    """A seeded NumPy generator; each test gets the same, fresh stream."""
    return np.random.default_rng(20170509)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With FASTNN_STRICT_SKIPS=1 (set by .ci/run) a skip is a failure: CI
    must not pass with tests silently skipped (e.g. an optional oracle that
    failed to install)."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("FASTNN_STRICT_SKIPS", "0") not in ("", "0"):
        report.outcome = "failed"
        report.longrepr = (f"skipped under FASTNN_STRICT_SKIPS=1 (CI must run every test): "
                           f"{report.longrepr}")


class FixedClock:
    """Chunks of a fixed number of steps (stands in for ChunkClock)."""

    def __init__(self, size):
        self.size = size

    def record(self, steps, elapsed):
        pass


@pytest.fixture
def chunks(monkeypatch):
    """chunks(k): every following fit trains in chunks of k steps."""
    def use(size):
        monkeypatch.setattr(training, "ChunkClock", lambda *args, **kwargs: FixedClock(size))
    return use
