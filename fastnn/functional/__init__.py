"""The graph's primitives: one ``Function`` per operation, each with its local
gradient beside it, and their functional names (``fastnn.relu(t)``, ...).

=============  ==========================================================
arithmetic     + - * / negation, powers, exp, log, maximum (NumPy; a bias
               added to a matrix is nn's AddBias)
shape          broadcast_to, sum, mean, transpose, reshape, indexing,
               concatenate (NumPy)
nn             matmul, linear, the bias add, activations, softmax, log_softmax, dropout
               (the compiled kernels, through ``fastnn.ops``)
loss           cross_entropy, binary_cross_entropy, mse (fused kernels)
=============  ==========================================================

Dtype rule (``fastnn.tensor``): floating arrays and Tensors in one op share
one dtype; Python numbers, integer and bool arrays take the tensor's dtype.
"""

# Tensor first: its operators import the primitives below, which are built on
# Tensor (see the end of fastnn/tensor.py).
from ..tensor import Tensor  # noqa: F401  (isort: skip)
from .arithmetic import (Add, Div, Exp, Log, Maximum, Mul, Neg, Pow, Sub, exp, log,
                         maximum)
from .loss import (MSE, BinaryCrossEntropy, CrossEntropy, binary_cross_entropy,
                   cross_entropy, mse)
from .nn import (Activation, AddBias, DropoutMask, Linear, LogSoftmax, MatMul, Softmax, activation,
                 as_rng, dropout, linear, log_softmax, matmul, relu, sigmoid, softmax, tanh)
from .shape import (BroadcastTo, Concatenate, Index, Mean, Reshape, Sum, Transpose,
                    broadcast_to, concatenate, mean, reshape, sum, transpose)

__all__ = [
    "Add", "Sub", "Mul", "Div", "Neg", "Pow", "Exp", "Log", "Maximum",
    "BroadcastTo", "Sum", "Mean", "Transpose", "Reshape", "Index", "Concatenate",
    "MatMul", "Linear", "AddBias", "Activation", "Softmax", "LogSoftmax", "DropoutMask",
    "CrossEntropy", "BinaryCrossEntropy", "MSE",
    "exp", "log", "maximum", "broadcast_to", "sum", "mean", "transpose", "reshape",
    "concatenate", "matmul", "linear", "activation", "sigmoid", "tanh", "relu", "softmax",
    "log_softmax", "dropout", "as_rng", "cross_entropy", "binary_cross_entropy", "mse",
]
