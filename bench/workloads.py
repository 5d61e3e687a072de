"""What the benchmark suite measures: the networks, the data, the BLAS in use.

Shared by ``run.py`` (the suite), ``memory_probe.py`` (peak memory of one
epoch, run in a subprocess), ``profile_step.py`` and the pytest benchmarks.
"""

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
#: The checkout's fastnn/ when it holds an in-place build; otherwise (after a
#: plain ``pip install .``) the installed package is used.
IN_PLACE = any((ROOT / "fastnn").glob("_train*.so")) or any((ROOT / "fastnn").glob("_train*.pyd"))
if IN_PLACE and str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

__all__ = ["NetSpec", "NETS", "BATCHES", "N_CLASSES", "load_data", "blas_libraries",
           "fastnn_home", "fastnn_blas", "gemm_calls", "gemm_flops"]

N_CLASSES = 10
BATCHES = (1, 10, 32, 128, 512)


@dataclass(frozen=True)
class NetSpec:
    """A fully connected network: ``sizes`` from input to output, ``activation``
    on every hidden layer, softmax + cross-entropy at the output, trained with
    plain SGD at learning rate ``lr``."""

    key: str
    sizes: tuple
    activation: str
    lr: float

    @property
    def name(self):
        return f"{'-'.join(map(str, self.sizes))} {self.activation}"

    @property
    def layers(self):
        """(n_in, n_out) of each Dense layer."""
        return list(zip(self.sizes[:-1], self.sizes[1:]))

    @property
    def n_weights(self):
        return sum(i * o for i, o in self.layers)

    @property
    def n_params(self):
        return sum(i * o + o for i, o in self.layers)


# lr only has to keep every run finite (throughput does not depend on it):
# the relu networks get a smaller one so that batch 1 never diverges.
NETS = {
    "lecture": NetSpec("lecture", (784, 30, 10), "sigmoid", 0.1),
    "relu100": NetSpec("relu100", (784, 100, 10), "relu", 0.01),
    "big": NetSpec("big", (784, 1024, 1024, 10), "relu", 0.01),
}


def load_data(path=None, dtype="float32", n_random=60000, seed=0):
    """The 60,000 MNIST training images (n, 784) in [0, 1] and int64 labels.

    Looks in ``path`` (a directory with the IDX files) or, when None, where
    ``fastnn.datasets.load_mnist`` looks (``$FASTNN_DATA/mnist``, the user
    cache, the system directory) without downloading. When MNIST is not found
    (or fastnn.datasets is missing), returns uniform random data of the same
    shape instead; ``source`` says which.

    Returns
    -------
    X : ndarray, shape (n, 784), C-contiguous, ``dtype``
    y : ndarray, shape (n,), int64 in 0..9
    source : str
    """
    reason = None
    try:
        from fastnn.datasets import load_mnist
        (X, y), _ = load_mnist(path=path, split="train_test", dtype=dtype, download=False)
        where = path if path is not None else os.environ.get("FASTNN_DATA", "default search")
        return (np.ascontiguousarray(X), np.ascontiguousarray(y, dtype=np.int64),
                f"MNIST training images ({X.shape[0]} x {X.shape[1]}, from {where})")
    except ImportError as exc:
        reason = f"fastnn.datasets unavailable: {exc}"
    except (OSError, ValueError) as exc:
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    rng = np.random.default_rng(seed)
    X = rng.random((n_random, 784), dtype=np.float64).astype(dtype)
    y = rng.integers(0, N_CLASSES, size=n_random, dtype=np.int64)
    return X, y, (f"RANDOM data of MNIST's shape ({n_random} x 784, uniform [0, 1)): "
                  f"MNIST not found ({reason}); set FASTNN_DATA or pass --data")


def blas_libraries():
    """threadpoolctl's view of the loaded BLAS/OpenMP libraries (list of dicts),
    or None when threadpoolctl is not installed."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    return threadpool_info()


def fastnn_home():
    """The directory holding the ``fastnn`` package this process imports: the
    checkout when it holds an in-place build (see ``IN_PLACE``), else where
    pip installed it. A child interpreter given it first on ``sys.path``
    imports the same fastnn."""
    import fastnn
    return str(Path(fastnn.__file__).resolve().parent.parent)


# sys.path[0] of ``python -c`` is the current directory; it is replaced by the
# home of the parent's fastnn, so that a child started in a checkout without an
# in-place build imports the installed fastnn, not the uncompiled source tree.
_DETECT = """
import json, sys
sys.path[0] = sys.argv[1]
import numpy
from threadpoolctl import threadpool_info
before = {lib["filepath"] for lib in threadpool_info()}
import fastnn._blas
after = [lib["filepath"] for lib in threadpool_info() if lib["user_api"] == "blas"]
print(json.dumps({"new": [p for p in after if p not in before], "all": after}))
"""


def fastnn_blas():
    """The BLAS library fastnn calls (SciPy's, through scipy.linalg.cython_blas).

    Found in a fresh interpreter as the BLAS that importing ``fastnn._blas``
    adds on top of NumPy's (if it adds none, fastnn shares NumPy's), then
    looked up in this process for its current settings. Returns a
    threadpoolctl info dict, or None without threadpoolctl.
    """
    import json
    import subprocess
    import tempfile
    import fastnn._blas  # noqa: F401  (loads fastnn's BLAS into this process)
    libs = blas_libraries()
    if libs is None:
        return None
    out = subprocess.run([sys.executable, "-c", _DETECT, fastnn_home()], capture_output=True,
                         text=True, cwd=tempfile.gettempdir())
    if out.returncode != 0:
        raise RuntimeError(f"detecting fastnn's BLAS failed in a child interpreter:\n{out.stderr}")
    found = json.loads(out.stdout)
    paths = found["new"] or found["all"][:1]
    for lib in libs:
        if lib["filepath"] in paths:
            return lib
    return None


def gemm_calls(spec, batch):
    """The GEMMs of one training step of fastnn's compiled loop, in order.

    Returns a list of (label, m, n, k, trans_a, trans_b) in fastnn's row-major
    convention C (m x n) = op(A) (m x k) op(B) (k x n): per layer the forward
    ``Y = X W^T``, then backward from the last layer ``grad_X = delta W``
    (skipped for the first layer, whose input needs no gradient) and
    ``W -= lr delta^T X`` (plain SGD is folded into this GEMM with beta = 1).
    """
    calls = []
    for l, (n_in, n_out) in enumerate(spec.layers):
        calls.append((f"fwd{l + 1} X.W{l + 1}^T", batch, n_out, n_in, False, True))
    for l in range(len(spec.layers) - 1, -1, -1):
        n_in, n_out = spec.layers[l]
        if l > 0:
            calls.append((f"bwd{l + 1} delta.W{l + 1}", batch, n_in, n_out, False, False))
        calls.append((f"dW{l + 1} delta^T.X", n_out, n_in, batch, True, False))
    return calls


def gemm_flops(spec, batch):
    """Floating-point operations of the GEMMs of one step (2 m n k each)."""
    return sum(2 * m * n * k for _, m, n, k, _, _ in gemm_calls(spec, batch))
