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
from .ops import Rng

__version__ = "0.1.0"

blas_threads.policy()      # load the BLAS thread policy (fastnn/blas_threads.py)

__all__ = [
    "ACTIVATIONS", "INITIALIZERS", "LOSSES",
    "Dense", "Dropout", "Sequential", "TrainingDivergedError",
    "SGD", "Adagrad", "Adam", "InverseTimeDecay", "StepDecay",
    "LBFGS", "ConjugateGradient", "ConvergenceWarning",
    "Callback", "EarlyStopping", "History", "GradientNorms",
    # computation graph (fastnn.tensor, fastnn.autograd, fastnn.functional, fastnn.model)
    "Tensor", "Function", "Context", "no_grad", "enable_grad", "is_grad_enabled", "grad",
    "activation", "binary_cross_entropy", "concatenate", "cross_entropy", "dropout", "exp",
    "linear", "log", "log_softmax", "matmul", "maximum", "mean", "mse", "relu", "reshape",
    "sigmoid", "softmax", "sum", "tanh", "transpose",
    "Model", "train_step", "Rng",
]
