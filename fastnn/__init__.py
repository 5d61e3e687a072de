"""fastnn: small fully connected networks trained fast on the CPU.

The lecture "Deep-Learning: the basics" (A. Allauzen) as a library: Dense
layers with sigmoid/tanh/relu/softmax, the log-loss, SGD with schedules,
momentum, Adagrad and Adam, weight decay and dropout, trained by
back-propagation in typed Cython over BLAS, one compiled call per epoch.
"""

from .activations import ACTIVATIONS
from .callbacks import Callback, EarlyStopping, History
from .initializers import INITIALIZERS
from .layers import Dense, Dropout
from .losses import LOSSES
from .model import Sequential, TrainingDivergedError
from .optimizers import SGD, Adagrad, Adam, InverseTimeDecay, StepDecay

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS", "INITIALIZERS", "LOSSES",
    "Dense", "Dropout", "Sequential", "TrainingDivergedError",
    "SGD", "Adagrad", "Adam", "InverseTimeDecay", "StepDecay",
    "Callback", "EarlyStopping", "History",
]
