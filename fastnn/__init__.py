"""fastnn: small fully connected networks trained fast on the CPU.

The lecture "Deep-Learning: the basics" (A. Allauzen) as a library: Dense
layers with sigmoid/tanh/relu/softmax, the log-loss, SGD with schedules,
momentum, Adagrad and Adam, weight decay and dropout, trained by
back-propagation in typed Cython over BLAS, one compiled call per epoch.
"""

from . import blas_threads
from .activations import ACTIVATIONS
from .callbacks import Callback, EarlyStopping, History
from .diagnostics import GradientNorms
from .initializers import INITIALIZERS
from .layers import Dense, Dropout
from .losses import LOSSES
from .sequential import Sequential
from .training import TrainingDivergedError
from .optimizers import SGD, Adagrad, Adam, InverseTimeDecay, StepDecay
from .solvers import LBFGS, ConjugateGradient, ConvergenceWarning
from .tensor import Tensor
from .autograd import Context, Function, enable_grad, grad, is_grad_enabled, no_grad
from .functional import (activation, binary_cross_entropy, concatenate, cross_entropy, dropout,
                         exp, linear, log, log_softmax, matmul, maximum, mean, mse, relu,
                         reshape, sigmoid, softmax, sum, tanh, transpose)
from .model import Model, train_step
from .checkpoints import BackupAndRestore, CheckpointError, ModelCheckpoint
from .ops import Rng


def _version():
    """The installed distribution's version (its metadata, set by pyproject.toml);
    for a checkout built in place, which has no metadata, the checkout's
    pyproject.toml version with the local label ``+inplace``."""
    from importlib import metadata
    from pathlib import Path

    here = Path(__file__).resolve().parent
    try:
        dist = metadata.distribution("fastnn")
        # The metadata must describe this copy of the package, not another
        # fastnn installed elsewhere on the path.
        if Path(dist.locate_file("fastnn/__init__.py")).resolve().parent == here:
            return dist.version
    except metadata.PackageNotFoundError:
        pass
    pyproject = here.parent / "pyproject.toml"
    if pyproject.is_file():
        import re

        found = re.search(r'^version\s*=\s*"([^"]+)"', pyproject.read_text(), re.MULTILINE)
        if found:
            return f"{found.group(1)}+inplace"
    return "0+unknown"


#: Submodules imported on first use: fastnn.onnx needs onnx, fastnn.sklearn
#: scikit-learn (optional extras), so a plain ``import fastnn`` pays for neither.
_LAZY_SUBMODULES = ("onnx", "sklearn")


def __getattr__(name):
    # The version reads the package metadata (a few ms): on first use too.
    if name == "__version__":
        value = globals()["__version__"] = _version()
        return value
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'fastnn' has no attribute {name!r}")


__all__ = [
    "ACTIVATIONS", "INITIALIZERS", "LOSSES",
    "Dense", "Dropout", "Sequential", "TrainingDivergedError",
    "SGD", "Adagrad", "Adam", "InverseTimeDecay", "StepDecay",
    "LBFGS", "ConjugateGradient", "ConvergenceWarning",
    "Callback", "EarlyStopping", "History", "GradientNorms",
    "BackupAndRestore", "ModelCheckpoint", "CheckpointError",
    # computation graph (fastnn.tensor, fastnn.autograd, fastnn.functional, fastnn.model)
    "Tensor", "Function", "Context", "no_grad", "enable_grad", "is_grad_enabled", "grad",
    "activation", "binary_cross_entropy", "concatenate", "cross_entropy", "dropout", "exp",
    "linear", "log", "log_softmax", "matmul", "maximum", "mean", "mse", "relu", "reshape",
    "sigmoid", "softmax", "sum", "tanh", "transpose",
    "Model", "train_step", "Rng",
]
