"""The one vocabulary of array operations that layers and the graph speak.

``NumpyOps``
    The base class and the specification: plain NumPy, written to read like
    the lecture's equations. Slow, obvious, and the reference every test
    compares against.
``CompiledOps(NumpyOps)``
    Overrides every operation that has a compiled kernel (``fastnn._blas``,
    ``fastnn._kernels``) with exactly the machine code the fast training loop
    runs; an operation it does not override is the reference's. Docstrings are
    the base's (``inspect.getdoc`` and ``help`` inherit them).

The NumPy references of the losses (``softmax_cross_entropy_reference``,
``sigmoid_binary_cross_entropy_reference``, ``squared_error_reference``) and
their ``targets`` live here too, beside the ops that use them.

Conventions: arrays are C-contiguous and share one float dtype; methods that
write in place also return their output. ``labels`` are int64 class indices.
``scale`` multiplies loss gradients (pass ``1 / batch_size`` for batch means).
"""

import numpy as np

from . import _blas, _kernels
from .activations import get_activation

__all__ = ["NumpyOps", "CompiledOps", "ops", "Rng", "targets",
           "softmax_cross_entropy_reference", "sigmoid_binary_cross_entropy_reference",
           "squared_error_reference"]

Rng = _kernels.Rng


def _flat(a):
    return a.reshape(-1)


# ------------------------------------------------------ loss references ---
# They take the output layer's pre-activation a (rows, K), except the squared
# error, which takes its output y, and return (summed loss, gradient).

def targets(labels, n_outputs, dtype):
    """Target matrix t (n, n_outputs): one-hot rows, or the 0/1 label itself
    for a single output unit."""
    labels = np.asarray(labels)
    if n_outputs == 1:
        return labels.astype(dtype).reshape(-1, 1)
    t = np.zeros((labels.shape[0], n_outputs), dtype=dtype)
    t[np.arange(labels.shape[0]), labels] = 1
    return t


def softmax_cross_entropy_reference(a, labels, scale):
    """(sum_i logsumexp(a_i) - a_i[c_i], scale * (softmax(a) - onehot))."""
    top = a.max(axis=1, keepdims=True)
    lse = np.log(np.exp(a - top).sum(axis=1, keepdims=True)) + top
    rows = np.arange(a.shape[0])
    loss = float(np.sum(lse[:, 0] - a[rows, labels]))
    p = get_activation("softmax").forward(a)
    return loss, scale * (p - targets(labels, a.shape[1], a.dtype))


def sigmoid_binary_cross_entropy_reference(a, labels, scale):
    """(sum of max(a,0) - a t + log(1 + e^{-|a|}), scale * (sigmoid(a) - t))."""
    t = targets(labels, a.shape[1], a.dtype)
    loss = float(np.sum(np.maximum(a, 0) - a * t + np.log1p(np.exp(-np.abs(a)))))
    return loss, scale * (get_activation("sigmoid").forward(a) - t)


def squared_error_reference(y, labels, scale):
    """(1/2 sum (y - t)^2, scale * (y - t)); the caller applies f'(a)."""
    diff = y - targets(labels, y.shape[1], y.dtype)
    return float(0.5 * np.sum(diff.astype(np.float64) ** 2)), scale * diff


class NumpyOps:
    """Reference implementation in plain NumPy."""

    name = "numpy"

    # ------------------------------------------------------------ BLAS ---
    def gemm(self, A, B, C=None, trans_a=False, trans_b=False, alpha=1.0, beta=0.0):
        """C = alpha op(A) op(B) + beta C."""
        prod = (A.T if trans_a else A) @ (B.T if trans_b else B)
        if C is None:
            return (alpha * prod).astype(A.dtype, copy=False)
        C[...] = alpha * prod + (beta * C if beta != 0 else 0)
        return C

    def gemv(self, A, x, y=None, trans_a=False, alpha=1.0, beta=0.0):
        """y = alpha op(A) x + beta y."""
        prod = (A.T if trans_a else A) @ x
        if y is None:
            return (alpha * prod).astype(A.dtype, copy=False)
        y[...] = alpha * prod + (beta * y if beta != 0 else 0)
        return y

    def axpy(self, alpha, x, y):
        """y += alpha x."""
        y += alpha * x
        return y

    def scal(self, alpha, x):
        """x *= alpha."""
        x *= alpha
        return x

    def dot(self, x, y):
        """sum_i x_i y_i."""
        return float(np.dot(x, y))

    # --------------------------------------------------------- kernels ---
    def bias_add(self, Y, b):
        """Y[i, :] += b."""
        Y += b
        return Y

    def add_column_sums(self, D, out, alpha=1.0, beta=0.0):
        """out = beta out + alpha sum_i D[i, :] (a batch's bias gradient)."""
        total = alpha * D.sum(axis=0)
        out[...] = total + (beta * out if beta != 0 else 0)
        return out

    def activation_forward(self, Y, name):
        """Y = f(Y) in place."""
        Y[...] = get_activation(name).forward(Y)
        return Y

    def activation_backward(self, Y, G, name):
        """G = f'(a) * G in place (softmax: its Jacobian-vector product), from Y = f(a)."""
        G[...] = get_activation(name).backward(Y, G)
        return G

    def softmax_cross_entropy(self, A, labels, scale):
        """A (logits) becomes softmax(A); returns (summed loss, scale (p - onehot))."""
        loss, delta = softmax_cross_entropy_reference(A, labels, scale)
        A[...] = get_activation("softmax").forward(A)
        return loss, delta.astype(A.dtype, copy=False)

    def sigmoid_binary_cross_entropy(self, A, labels, scale):
        """A (logits) becomes sigmoid(A); returns (summed loss, scale (p - t))."""
        loss, delta = sigmoid_binary_cross_entropy_reference(A, labels, scale)
        A[...] = get_activation("sigmoid").forward(A)
        return loss, delta.astype(A.dtype, copy=False)

    def squared_error(self, Y, labels, scale):
        """Returns (summed 1/2 ||y - t||^2, scale (y - t))."""
        loss, grad = squared_error_reference(Y, labels, scale)
        return loss, grad.astype(Y.dtype, copy=False)

    def count_correct(self, P, labels):
        """Rows whose prediction (argmax, or p > 0.5 for one column) equals the label."""
        pred = (P[:, 0] > 0.5).astype(np.int64) if P.shape[1] == 1 else P.argmax(axis=1)
        return int(np.sum(pred == labels))

    def dropout_mask(self, rng, shape, p, keep_value, dtype):
        """Mask of ``shape``: 0 where a uniform draw u < p, keep_value elsewhere."""
        u = rng.uniform(int(np.prod(shape))).reshape(shape)
        return np.where(u >= p, keep_value, 0).astype(dtype)

    # --------------------------------------------------------- updates ---
    def sgd_update(self, W, G, V, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        """g = G + wd W; v = mu v + g; W -= lr (g + mu v if nesterov else v)."""
        g = G + weight_decay * W
        if momentum == 0:
            W -= lr * g
            return W
        V[...] = momentum * V + g
        W -= lr * (g + momentum * V if nesterov else V)
        return W

    def adagrad_update(self, W, G, S, lr, eps, weight_decay=0.0):
        """g = G + wd W; S += g^2; W -= lr g / (sqrt(S) + eps)."""
        g = G + weight_decay * W
        S += g * g
        W -= lr * g / (np.sqrt(S) + eps)
        return W

    def adam_update(self, W, G, M, V, lr, beta1, beta2, eps, t, weight_decay=0.0):
        """Adam step t (PyTorch's formulation, bias-corrected)."""
        g = G + weight_decay * W
        M[...] = beta1 * M + (1 - beta1) * g
        V[...] = beta2 * V + (1 - beta2) * g * g
        bc1, bc2 = 1 - beta1 ** t, 1 - beta2 ** t
        W -= (lr / bc1) * M / (np.sqrt(V) / np.sqrt(bc2) + eps)
        return W


class CompiledOps(NumpyOps):
    """The compiled kernels behind the interface of ``NumpyOps``."""

    name = "compiled"

    def gemm(self, A, B, C=None, trans_a=False, trans_b=False, alpha=1.0, beta=0.0):
        return _blas.gemm(A, B, C, trans_a, trans_b, alpha, beta)

    def gemv(self, A, x, y=None, trans_a=False, alpha=1.0, beta=0.0):
        return _blas.gemv(A, x, y, trans_a, alpha, beta)

    def axpy(self, alpha, x, y):
        return _blas.axpy(alpha, x, y)

    def scal(self, alpha, x):
        return _blas.scal(alpha, x)

    def dot(self, x, y):
        return _blas.dot(x, y)

    def bias_add(self, Y, b):
        _kernels.bias_add(Y, b)
        return Y

    def add_column_sums(self, D, out, alpha=1.0, beta=0.0):
        _kernels.add_column_sums(D, out, alpha, beta)
        return out

    def activation_forward(self, Y, name):
        _kernels.activation_forward(Y, get_activation(name).code)
        return Y

    def activation_backward(self, Y, G, name):
        _kernels.activation_backward(Y, G, get_activation(name).code)
        return G

    def softmax_cross_entropy(self, A, labels, scale):
        return self._loss("cross_entropy", A, labels, scale)

    def sigmoid_binary_cross_entropy(self, A, labels, scale):
        return self._loss("binary_cross_entropy", A, labels, scale)

    def squared_error(self, Y, labels, scale):
        return self._loss("mse", Y, labels, scale)

    @staticmethod
    def _loss(name, out, labels, scale):
        delta = np.empty_like(out)
        return _kernels.output_delta(_kernels.LOSS_CODES[name], out, labels, scale, delta), delta

    def count_correct(self, P, labels):
        return _kernels.count_correct(P, labels)

    def dropout_mask(self, rng, shape, p, keep_value, dtype):
        mask = np.empty(shape, dtype=dtype)
        rng.dropout_mask(_flat(mask), p, keep_value)
        return mask

    def sgd_update(self, W, G, V, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        _kernels.sgd_update(_flat(W), _flat(G), _flat(V) if V is not None else W[:0].reshape(-1),
                            lr, momentum, nesterov, weight_decay)
        return W

    def adagrad_update(self, W, G, S, lr, eps, weight_decay=0.0):
        _kernels.adagrad_update(_flat(W), _flat(G), _flat(S), lr, eps, weight_decay)
        return W

    def adam_update(self, W, G, M, V, lr, beta1, beta2, eps, t, weight_decay=0.0):
        _kernels.adam_update(_flat(W), _flat(G), _flat(M), _flat(V), lr, beta1, beta2, eps,
                             t, weight_decay)
        return W


#: The default implementation used by layers and the graph.
ops = CompiledOps()
