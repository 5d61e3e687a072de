"""The per-GEMM BLAS thread policy leaves the caller's thread setting as it was."""

import gc
import os

import numpy as np
import pytest

import fastnn

from children import CHILD_CWD, child_env  # noqa: E402
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


def _cut_fit(batch_size):
    """A 784-30-10 net at a batch whose first-layer GEMMs are cut into pieces
    (m*n*k over OpenBLAS's small-kernel limit), fitted for one epoch."""
    rng = np.random.default_rng(1)
    X = rng.random((640, 784), dtype=np.float32)
    y = rng.integers(0, 10, size=640)
    model = fastnn.Sequential([fastnn.Dense(784, 30, "sigmoid"), fastnn.Dense(30, 10, "softmax")],
                              seed=0)
    model.fit(X, y, epochs=1, batch_size=batch_size, verbose=0)
    return model.get_weights()


def _threads_of_this_process():
    return len(os.listdir("/proc/self/task"))


@pytest.mark.parametrize("batch_size", [128, 320])
def test_the_team_gives_bitwise_the_one_thread_result(restore_policy, batch_size):
    # With two threads the pieces of a cut GEMM are shared by the calling
    # thread and a helper; every piece is its own block of the output, so the
    # weights are bitwise those of one thread (at 320 the GEMMs are past
    # min_work too, so the policy asks for two threads either way).
    blas_threads.set_policy(max_threads=1)
    single = _cut_fit(batch_size)
    blas_threads.set_policy(max_threads=2)
    team = _cut_fit(batch_size)
    for a, b in zip(single, team):
        np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"),
                    reason="counts the process's threads in /proc (Linux)")
def test_the_team_helper_is_joined_with_its_net(restore_policy):
    blas_threads.set_policy(max_threads=2)
    _cut_fit(128)             # the BLAS's own pool, if any, exists from here on
    gc.collect()
    before = _threads_of_this_process()
    _cut_fit(128)             # its compiled net, and the net's helper, are gone after fit
    gc.collect()
    assert _threads_of_this_process() == before


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_trains_with_a_helper_of_its_own(restore_policy):
    # The parent's net has a sleeping helper when the child is forked; the
    # child's copy of the net must not wait for a thread it does not have.
    blas_threads.set_policy(max_threads=2)
    rng = np.random.default_rng(1)
    X = rng.random((640, 784), dtype=np.float32)
    model = fastnn.Sequential([fastnn.Dense(784, 30, "sigmoid"), fastnn.Dense(30, 10, "softmax")],
                              seed=0)
    want = model.predict_proba(X)            # the inference net starts its helper
    pid = os.fork()
    if pid == 0:                             # the child: predict, report by exit code
        try:
            os._exit(0 if np.array_equal(model.predict_proba(X), want) else 1)
        finally:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


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


def _run_python(code, env=None):
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=child_env(**(env or {})), cwd=CHILD_CWD, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_import_fastnn_loads_no_scipy_and_no_blas():
    # SciPy's BLAS is resolved at the first compiled call (csrc/blas_pointers.h),
    # scipy.optimize when a full-batch solver runs: `import fastnn` needs neither.
    out = _run_python(
        "import sys, fastnn\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'scipy'))\n"
        "import numpy as np\n"
        "X = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)\n"
        "m = fastnn.Sequential([fastnn.Dense(3, 2, activation='softmax')], seed=0)\n"
        "m.fit(X, (X[:, 0] > 0).astype(int), epochs=2, verbose=0)\n"
        "print('scipy.linalg' in sys.modules, fastnn.blas_threads.policy()[0] != 0)\n")
    before, after = out.splitlines()
    assert before == "[]"
    assert after.split()[0] == "True"


def test_policy_set_before_the_first_compiled_call_is_kept():
    # The environment's values are the defaults; a set_policy made before the
    # BLAS is loaded must not be overwritten when it is.
    out = _run_python(
        "import fastnn\n"
        "fastnn.blas_threads.set_policy(max_threads=1, min_work=123.0)\n"
        "print(fastnn.blas_threads.policy()[1:])\n",
        env={"FASTNN_GEMM_MIN_WORK": "999", "FASTNN_NUM_THREADS": "2"})
    assert out.strip() == "(1, 123.0)"


def test_graph_path_gets_the_thread_policy_without_a_sequential_first():
    out = _run_python(
        "import numpy as np, fastnn\n"
        "from fastnn import _blas\n"
        "_blas.gemm(np.ones((2, 2)), np.ones((2, 2)))\n"
        "print(fastnn.blas_threads._state['loaded'])\n")
    assert out.strip() == "True"
