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
write in place also return their output. ``labels`` are int64 class indices;
the losses also take dense ``targets`` (rows, K) instead (``labels=None``) and
per-row ``weights``. ``scale`` multiplies loss gradients (pass ``1 / batch_size``,
or ``1 / sum(weights)``, for batch means).
"""

import numpy as np

from . import _blas, _kernels
from .activations import get_activation

__all__ = ["NumpyOps", "CompiledOps", "ops", "Rng", "targets",
           "softmax_cross_entropy_reference", "sigmoid_binary_cross_entropy_reference",
           "squared_error_reference", "exp_poisson_reference", "count_correct_reference"]

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


def _targets_and_weights(labels, T, weights, shape, dtype):
    """(t (rows, K), w (rows, 1)) of either target kind; w = 1 without weights."""
    t = targets(labels, shape[1], dtype) if T is None else np.asarray(T, dtype=dtype)
    w = np.ones((shape[0], 1)) if weights is None else np.asarray(weights, float).reshape(-1, 1)
    return t, w


def _row_scale(scale, weights, dtype):
    """scale w_i as a (rows, 1) column of dtype, or the scalar scale without weights."""
    if weights is None:
        return scale
    return (np.asarray(weights, dtype=dtype) * np.asarray(scale, dtype=dtype)).reshape(-1, 1)


def softmax_cross_entropy_reference(a, labels, scale, T=None, weights=None):
    """(sum_i w_i sum_j t_ij (logsumexp(a_i) - a_ij), scale w_i (s_i softmax(a_i) - t_i))
    with t = onehot(labels) or the dense targets T, s_i = sum_j t_ij."""
    t, w = _targets_and_weights(labels, T, weights, a.shape, a.dtype)
    top = a.max(axis=1, keepdims=True)
    lse = np.log(np.exp(a - top).sum(axis=1, keepdims=True)) + top
    per_row = np.sum(t.astype(np.float64) * (lse - a), axis=1)
    p = get_activation("softmax").forward(a)
    delta = _row_scale(scale, weights, a.dtype) * (t.sum(axis=1, keepdims=True) * p - t)
    return float(np.sum(w[:, 0] * per_row)), delta.astype(a.dtype, copy=False)


def sigmoid_binary_cross_entropy_reference(a, labels, scale, T=None, weights=None):
    """(sum_i w_i sum_j max(a,0) - a t + log(1 + e^{-|a|}), scale w_i (sigmoid(a) - t))."""
    t, w = _targets_and_weights(labels, T, weights, a.shape, a.dtype)
    per_row = np.sum(np.maximum(a, 0) - a * t + np.log1p(np.exp(-np.abs(a))), axis=1,
                     dtype=np.float64)
    delta = _row_scale(scale, weights, a.dtype) * (get_activation("sigmoid").forward(a) - t)
    return float(np.sum(w[:, 0] * per_row)), delta.astype(a.dtype, copy=False)


def squared_error_reference(y, labels, scale, T=None, weights=None):
    """(sum_i w_i 1/2 ||y_i - t_i||^2, scale w_i (y - t)); the caller applies f'(a)."""
    t, w = _targets_and_weights(labels, T, weights, y.shape, y.dtype)
    diff = y - t
    per_row = 0.5 * np.sum(diff.astype(np.float64) ** 2, axis=1)
    delta = _row_scale(scale, weights, y.dtype) * diff
    return float(np.sum(w[:, 0] * per_row)), delta.astype(y.dtype, copy=False)


def exp_poisson_reference(a, labels, scale, T=None, weights=None):
    """(sum_i w_i sum_j e^a - t a + t log t - t, scale w_i (e^a - t)): half the
    Poisson deviance of y = e^a, fused with its canonical exp link."""
    t, w = _targets_and_weights(labels, T, weights, a.shape, a.dtype)
    y = np.exp(a)
    t64 = t.astype(np.float64)
    tlogt = np.where(t64 > 0, t64 * np.log(np.where(t64 > 0, t64, 1)), 0)
    per_row = np.sum(y.astype(np.float64) - t64 * a + tlogt - t64, axis=1)
    delta = _row_scale(scale, weights, a.dtype) * (y - t)
    return float(np.sum(w[:, 0] * per_row)), delta.astype(a.dtype, copy=False)


def count_correct_reference(P, labels, T=None, weights=None, loss="cross_entropy"):
    """sum_i w_i [row i right]: argmax (p > 0.5 for one unit) equal to the label;
    for dense targets T, binary cross-entropy: every unit's p > 0.5 equals
    t > 0.5; cross-entropy: argmax p = argmax t; squared error: 0."""
    w = np.ones(P.shape[0]) if weights is None else np.asarray(weights, float)
    if T is None:
        pred = (P[:, 0] > 0.5).astype(np.int64) if P.shape[1] == 1 else P.argmax(axis=1)
        right = pred == labels
    elif loss == "binary_cross_entropy":
        right = ((P > 0.5) == (T > 0.5)).all(axis=1)
    elif loss == "cross_entropy":
        right = P.argmax(axis=1) == T.argmax(axis=1)
    else:
        right = np.zeros(P.shape[0], dtype=bool)
    return int(right.sum()) if weights is None else float(np.sum(w[right]))


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

    def csr_times_wt(self, X, WT, out):
        """out = X WT: a CSR batch X (rows x n_in) through the feature-major
        weights WT = W^T (n_in x n_out) of the sparse first layer."""
        out[...] = X @ WT
        return out

    def add_csr_outer(self, X, D, GT, alpha=1.0):
        """GT += alpha X^T D for a CSR batch X (rows x n_in), D (rows x n_out):
        the sparse first layer's weight gradient in its feature-major layout
        (rows of features absent from X keep their values)."""
        GT += (alpha * (X.T @ D)).astype(GT.dtype)
        return GT

    def zero_csr_rows(self, X, GT):
        """GT[j, :] = 0 for every feature j that the CSR batch X holds."""
        GT[np.unique(X.indices)] = 0
        return GT

    def activation_forward(self, Y, name):
        """Y = f(Y) in place."""
        Y[...] = get_activation(name).forward(Y)
        return Y

    def activation_backward(self, Y, G, name):
        """G = f'(a) * G in place (softmax: its Jacobian-vector product), from Y = f(a)."""
        G[...] = get_activation(name).backward(Y, G)
        return G

    # The losses take labels (int64 (rows,)) or, with labels=None, dense
    # targets T (rows, K); weights (rows,) scale each row (None: 1).
    def softmax_cross_entropy(self, A, labels, scale, targets=None, weights=None):
        """A (logits) becomes softmax(A); returns (sum_i w_i l_i, scale w (s p - t))."""
        loss, delta = softmax_cross_entropy_reference(A, labels, scale, targets, weights)
        A[...] = get_activation("softmax").forward(A)
        return loss, delta

    def sigmoid_binary_cross_entropy(self, A, labels, scale, targets=None, weights=None):
        """A (logits) becomes sigmoid(A); returns (sum_i w_i l_i, scale w (p - t))."""
        loss, delta = sigmoid_binary_cross_entropy_reference(A, labels, scale, targets,
                                                             weights)
        A[...] = get_activation("sigmoid").forward(A)
        return loss, delta

    def squared_error(self, Y, labels, scale, targets=None, weights=None):
        """Returns (sum_i w_i 1/2 ||y_i - t_i||^2, scale w (y - t))."""
        return squared_error_reference(Y, labels, scale, targets, weights)

    def exp_poisson(self, A, labels, scale, targets=None, weights=None):
        """A (logits) becomes exp(A); returns (sum_i w_i l_i, scale w (y - t))."""
        loss, delta = exp_poisson_reference(A, labels, scale, targets, weights)
        A[...] = np.exp(A)
        return loss, delta

    def count_correct(self, P, labels, targets=None, weights=None, loss="cross_entropy"):
        """sum_i w_i [row i predicted right] (``count_correct_reference``)."""
        return count_correct_reference(P, labels, targets, weights, loss)

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

    @staticmethod
    def _csr(X):
        """A scipy CSR matrix's (data, indices, indptr), the indices as int64."""
        return X.data, X.indices.astype(np.int64), X.indptr.astype(np.int64)

    def csr_times_wt(self, X, WT, out):
        _kernels.csr_times_wt(*self._csr(X), WT, out)
        return out

    def add_csr_outer(self, X, D, GT, alpha=1.0):
        _kernels.add_csr_outer(*self._csr(X), D, GT, alpha)
        return GT

    def zero_csr_rows(self, X, GT):
        _kernels.zero_csr_rows(*self._csr(X)[1:], GT, X.shape[0])
        return GT

    def activation_forward(self, Y, name):
        _kernels.activation_forward(Y, get_activation(name).code)
        return Y

    def activation_backward(self, Y, G, name):
        _kernels.activation_backward(Y, G, get_activation(name).code)
        return G

    def softmax_cross_entropy(self, A, labels, scale, targets=None, weights=None):
        return self._loss("cross_entropy", A, labels, scale, targets, weights)

    def sigmoid_binary_cross_entropy(self, A, labels, scale, targets=None, weights=None):
        return self._loss("binary_cross_entropy", A, labels, scale, targets, weights)

    def squared_error(self, Y, labels, scale, targets=None, weights=None):
        return self._loss("mse", Y, labels, scale, targets, weights)

    def exp_poisson(self, A, labels, scale, targets=None, weights=None):
        return self._loss("poisson", A, labels, scale, targets, weights)

    @staticmethod
    def _loss(name, out, labels, scale, targets, weights):
        delta = np.empty_like(out)
        return _kernels.output_delta(_kernels.LOSS_CODES[name], out, labels, scale, delta,
                                     targets, weights), delta

    def count_correct(self, P, labels, targets=None, weights=None, loss="cross_entropy"):
        return _kernels.count_correct(P, labels, targets, weights, _kernels.LOSS_CODES[loss])

    def dropout_mask(self, rng, shape, p, keep_value, dtype):
        mask = np.empty(shape, dtype=dtype)
        rng.dropout_mask(_flat(mask), p, keep_value)
        return mask

    def sgd_update(self, W, G, V, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        _kernels.sgd_update(W, G, V, lr, momentum, nesterov, weight_decay)
        return W

    def adagrad_update(self, W, G, S, lr, eps, weight_decay=0.0):
        _kernels.adagrad_update(W, G, S, lr, eps, weight_decay)
        return W

    def adam_update(self, W, G, M, V, lr, beta1, beta2, eps, t, weight_decay=0.0):
        _kernels.adam_update(W, G, M, V, lr, beta1, beta2, eps, t, weight_decay)
        return W


#: The default implementation used by layers and the graph.
ops = CompiledOps()
