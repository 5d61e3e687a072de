"""A plain NumPy multi-layer perceptron: the lecture's equations, one mini-batch at a time.

This is the "what NumPy alone gives you" peer of the benchmark suite. It is
written to read like the lecture ("Deep-Learning: the basics"), vectorised over
the rows of a mini-batch, with no tricks beyond what a careful NumPy user would
write.

For a batch X (B x n_0) and layers l = 1..L with W^(l) (n_l x n_{l-1}) and
b^(l) (n_l,):

Forward
    x^(1) = X;  a^(l) = x^(l) W^(l)T + b^(l);  y^(l) = f^(l)(a^(l));  x^(l+1) = y^(l)
    with f^(L) = softmax.
Loss (the log-loss, mean over the batch)
    l = -(1/B) sum_i log y^(L)_{i, c_i}
Backward
    delta^(L) = (y^(L) - onehot(c)) / B                      (softmax + log-loss)
    delta^(l-1) = f'^(l-1)(y^(l-1)) o (delta^(l) W^(l))       (f' written from the output y)
    W^(l) <- W^(l) - eta delta^(l)T x^(l);   b^(l) <- b^(l) - eta sum_i delta^(l)_i
with delta^(l-1) computed from W^(l) before W^(l) is updated (the lecture's
order; for plain SGD it equals computing every gradient first).
"""

import numpy as np

__all__ = ["NumpyMLP"]


def _sigmoid(a):
    # In place, stable for large |a|: exp(-|a|) never overflows.
    e = np.exp(-np.abs(a))
    np.divide(np.where(a >= 0, 1, e), 1 + e, out=a)
    return a


def _relu(a):
    np.maximum(a, 0, out=a)
    return a


def _tanh(a):
    np.tanh(a, out=a)
    return a


_FORWARD = {"sigmoid": _sigmoid, "relu": _relu, "tanh": _tanh}

# f'(a) from y = f(a), multiplied into the incoming gradient g in place.
_BACKWARD = {
    "sigmoid": lambda y, g: np.multiply(g, y * (1 - y), out=g),
    "relu": lambda y, g: np.multiply(g, y > 0, out=g),
    "tanh": lambda y, g: np.multiply(g, 1 - y * y, out=g),
}


class NumpyMLP:
    """Fully connected network with hidden ``activation`` and a softmax output,
    trained by plain mini-batch SGD on the mean log-loss.

    Parameters
    ----------
    weights : list of (W, b)
        W of shape (n_out, n_in), b of shape (n_out,), one pair per layer, in
        the dtype to compute in (copied).
    activation : "sigmoid", "relu" or "tanh"
        f of every hidden layer.
    lr : float
        eta, the learning rate.
    """

    def __init__(self, weights, activation, lr):
        if activation not in _FORWARD:
            raise ValueError(f"activation must be one of {sorted(_FORWARD)}, got {activation!r}")
        self.W = [np.array(W, copy=True) for W, _ in weights]
        self.b = [np.array(b, copy=True) for _, b in weights]
        self.dtype = self.W[0].dtype
        self.activation = activation
        self.lr = self.dtype.type(lr)

    def forward(self, X):
        """Return the list of layer outputs [y^(1), ..., y^(L)] for X (B x n_0)."""
        f = _FORWARD[self.activation]
        ys = []
        x = X
        last = len(self.W) - 1
        for l, (W, b) in enumerate(zip(self.W, self.b)):
            a = x @ W.T
            a += b
            if l < last:
                x = f(a)
            else:
                a -= a.max(axis=1, keepdims=True)
                np.exp(a, out=a)
                a /= a.sum(axis=1, keepdims=True)
                x = a
            ys.append(x)
        return ys

    def predict_proba(self, X):
        """Softmax outputs, shape (B, n_L)."""
        return self.forward(X)[-1]

    def step(self, X, labels):
        """One SGD step on the batch (X, labels); returns the summed log-loss."""
        B = X.shape[0]
        ys = self.forward(X)
        p = ys[-1]
        rows = np.arange(B)
        loss = -float(np.log(p[rows, labels]).sum())
        delta = p                      # softmax + log-loss: delta = (p - onehot) / B
        delta[rows, labels] -= 1
        delta /= B
        backward = _BACKWARD[self.activation]
        for l in range(len(self.W) - 1, -1, -1):
            x = ys[l - 1] if l > 0 else X
            W = self.W[l]
            if l > 0:
                delta_prev = backward(x, delta @ W)
            W -= self.lr * (delta.T @ x)
            self.b[l] -= self.lr * delta.sum(axis=0)
            if l > 0:
                delta = delta_prev
        return loss

    def train(self, X, labels, batches):
        """One pass over ``batches`` (a list of index arrays into X and labels):
        gather each batch, then ``step``. Returns the summed loss."""
        total = 0.0
        for idx in batches:
            total += self.step(X[idx], labels[idx])
        return total
