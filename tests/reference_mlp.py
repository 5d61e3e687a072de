"""A plain NumPy multi-layer perceptron written from the lecture's equations.

This is the tests' oracle for ``fastnn.Sequential`` (a test helper, not part of
the package). It is deliberately naive: it works one example at a time on
column vectors, exactly as the lecture writes back-propagation, always in
float64, and shares no code with fastnn.

Per Dense layer l (1..L) it keeps W^(l) (n_out, n_in), b^(l) (n_out,), the
activation f^(l) and, for one example, the input x^(l) (after the dropout
mask m^(l)), a^(l) = W^(l) x^(l) + b^(l), y^(l) = f^(l)(a^(l)) and
delta^(l) = dl/da^(l):

    forward    x^(1) = x,  x^(l+1) = y^(l) o m^(l+1)
    output     delta^(L) = y - t          softmax + log-loss, sigmoid + BCE
               delta^(L) = J_f(a)^T (y - t)   mse (f'(a) o (y - t) elementwise)
    backward   delta^(l-1) = f'(a^(l-1)) o (m^(l) o (W^(l)T delta^(l)))
    gradient   grad W^(l) = delta^(l) x^(l)T,  grad b^(l) = delta^(l)

The gradient of a mini-batch is the MEAN of the per-example gradients. Every
W^(l)T delta^(l) is computed from the weights before the update (the whole
backward pass runs before any parameter changes). Updates, with g the batch
gradient plus ``lam W`` for weight matrices (never for biases):

    SGD        W <- W - eta g;  momentum: v <- mu v + g, W <- W - eta v;
               Nesterov: W <- W - eta (g + mu v)
    Adagrad    S <- S + g^2, W <- W - eta g / (sqrt(S) + eps)
    Adam       m <- b1 m + (1 - b1) g, v <- b2 v + (1 - b2) g^2,
               W <- W - eta (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
               (PyTorch's formulation, t counted from 1)

Learning-rate schedules (update t counted from 0 over all epochs):
``"constant"`` eta_t = eta_0; ``"inverse_time"`` eta_t = eta_0 / (1 + t / tau)
with tau = the number of updates per epoch (or ``("inverse_time", tau)``);
``("step", size, gamma)`` eta = eta_0 gamma^floor(epoch / size).

Labels are integers c; the target t is onehot(c), or c itself in {0, 1} for a
single output unit.
"""

import numpy as np

__all__ = ["ReferenceMLP", "ReferenceOptimizer", "activation", "activation_derivative",
           "example_loss"]


# ------------------------------------------------------------ activations ---

def activation(name, a):
    """y = f(a) for one example's pre-activation vector a."""
    if name == "identity":
        return a.copy()
    if name == "sigmoid":
        # 1 / (1 + e^-a) written as exp(-log(1 + e^-a)) so it never overflows.
        return np.exp(-np.logaddexp(0.0, -a))
    if name == "tanh":
        return np.tanh(a)
    if name == "relu":
        return np.where(a > 0, a, 0.0)
    if name == "softmax":
        e = np.exp(a - a.max())
        return e / e.sum()
    raise ValueError(f"unknown activation {name!r}")


def activation_derivative(name, a):
    """f'(a) for an elementwise f, written from the pre-activation a."""
    if name == "identity":
        return np.ones_like(a)
    if name == "sigmoid":
        s = activation("sigmoid", a)
        return s * (1 - s)
    if name == "tanh":
        return 1 - np.tanh(a) ** 2
    if name == "relu":
        return (a > 0).astype(np.float64)
    raise ValueError(f"activation {name!r} has no elementwise derivative")


def _target(label, n_outputs):
    if n_outputs == 1:
        return np.array([float(label)])
    t = np.zeros(n_outputs)
    t[int(label)] = 1.0
    return t


def example_loss(loss, y, label):
    """Loss of one example given the network output y (n_outputs,)."""
    t = _target(label, y.shape[0])
    if loss == "cross_entropy":
        return -np.log(y[int(label)])
    if loss == "binary_cross_entropy":
        return -np.sum(t * np.log(y) + (1 - t) * np.log(1 - y))
    if loss == "mse":
        return 0.5 * np.sum((y - t) ** 2)
    raise ValueError(f"unknown loss {loss!r}")


# -------------------------------------------------------------- optimizer ---

class ReferenceOptimizer:
    """The update rules of the module docstring, one parameter array at a time.

    Parameters
    ----------
    kind : "sgd", "adagrad" or "adam"
    lr : float
        eta_0.
    momentum, nesterov : SGD's mu and look-ahead flag.
    weight_decay : float
        lam, added as lam * W to the gradient of weight matrices only.
    eps : float
        Adagrad's / Adam's epsilon.
    betas : (float, float)
        Adam's (b1, b2).
    schedule : None, "constant", "inverse_time", ("inverse_time", tau) or
        ("step", size, gamma)
    """

    def __init__(self, kind="sgd", lr=0.1, momentum=0.0, nesterov=False, weight_decay=0.0,
                 eps=1e-10, betas=(0.9, 0.999), schedule=None):
        self.kind = kind
        self.lr = lr
        self.momentum = momentum
        self.nesterov = nesterov
        self.weight_decay = weight_decay
        self.eps = eps
        self.betas = betas
        self.schedule = schedule
        self.t = 0                 # updates made so far
        self.state = {}

    def rate(self, epoch, steps_per_epoch):
        """eta of the next update (number self.t, 0-based) in ``epoch``."""
        if self.schedule in (None, "constant"):
            return self.lr
        if self.schedule == "inverse_time":
            return self.lr / (1 + self.t / steps_per_epoch)
        if isinstance(self.schedule, tuple) and self.schedule[0] == "inverse_time":
            return self.lr / (1 + self.t / self.schedule[1])
        if isinstance(self.schedule, tuple) and self.schedule[0] == "step":
            _, size, gamma = self.schedule
            return self.lr * gamma ** (epoch // size)
        raise ValueError(f"unknown schedule {self.schedule!r}")

    def update(self, key, value, grad, is_weight, eta):
        """Return the updated copy of ``value`` given its batch gradient."""
        g = grad + (self.weight_decay * value if is_weight else 0.0)
        if self.kind == "sgd":
            if self.momentum == 0:
                return value - eta * g
            v = self.momentum * self.state.get(key, np.zeros_like(value)) + g
            self.state[key] = v
            step = g + self.momentum * v if self.nesterov else v
            return value - eta * step
        if self.kind == "adagrad":
            s = self.state.get(key, np.zeros_like(value)) + g * g
            self.state[key] = s
            return value - eta * g / (np.sqrt(s) + self.eps)
        if self.kind == "adam":
            b1, b2 = self.betas
            m, v = self.state.get(key, (np.zeros_like(value), np.zeros_like(value)))
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            self.state[key] = (m, v)
            t = self.t + 1
            m_hat = m / (1 - b1 ** t)
            v_hat = v / (1 - b2 ** t)
            return value - eta * m_hat / (np.sqrt(v_hat) + self.eps)
        raise ValueError(f"unknown optimizer {self.kind!r}")


# ------------------------------------------------------------------ model ---

class ReferenceMLP:
    """The lecture's feed-forward network, in float64, one example at a time.

    Parameters
    ----------
    weights : list of (W, b)
        Per Dense layer: W (n_out, n_in) and b (n_out,) or None (no bias).
        Copied to float64.
    activations : list of str
        f^(l) per Dense layer: "identity", "sigmoid", "tanh", "relu", "softmax".
    loss : "cross_entropy", "binary_cross_entropy" or "mse"
    dropout : list of (p, scale) or None, optional
        Per Dense layer, dropout on its input: probability p and "train"
        (kept units are multiplied by 1/(1-p) while training) or "test" (kept
        units pass unscaled; at test time inputs are multiplied by 1-p).
    """

    def __init__(self, weights, activations, loss, dropout=None):
        self.W = [np.array(W, dtype=np.float64) for W, _ in weights]
        self.b = [None if b is None else np.array(b, dtype=np.float64) for _, b in weights]
        self.activations = list(activations)
        self.loss = loss
        self.dropout = list(dropout) if dropout is not None else [None] * len(self.W)

    @classmethod
    def from_model(cls, model):
        """Copy the architecture and current weights of a fastnn Sequential
        (read through its public attributes only)."""
        weights, activations, dropout, pending = [], [], [], None
        for layer in model.layers:
            if hasattr(layer, "W"):
                weights.append((layer.W.copy(), None if layer.b is None else layer.b.copy()))
                activations.append(layer.activation)
                dropout.append(pending if pending is not None and pending[0] > 0 else None)
                pending = None
            else:
                pending = (layer.p, layer.scale)
        return cls(weights, activations, model.loss, dropout)

    def get_weights(self):
        """[W1, b1, W2, b2, ...] (b omitted without bias), like Sequential.get_weights."""
        out = []
        for W, b in zip(self.W, self.b):
            out.append(W.copy())
            if b is not None:
                out.append(b.copy())
        return out

    # ---------------------------------------------------------- one example ---
    def forward_example(self, x, masks=None, training=False):
        """Forward pass of one example x (n_features,).

        ``masks[l]`` is the dropout mask of layer l's input (values 0 or the
        kept value) or None. Returns the per-layer caches [(x, a, y), ...].
        """
        caches = []
        for l, (W, b, f) in enumerate(zip(self.W, self.b, self.activations)):
            drop = self.dropout[l]
            if drop is not None:
                p, scale = drop
                if training:
                    x = x * masks[l]
                elif scale == "test":
                    x = x * (1 - p)
            a = W @ x + (b if b is not None else 0.0)
            y = activation(f, a)
            caches.append((x, a, y))
            x = y
        return caches

    def backward_example(self, caches, label, masks=None):
        """Per-example gradients [(grad W, grad b), ...] from the caches."""
        L = len(self.W)
        _, a_out, y_out = caches[-1]
        t = _target(label, y_out.shape[0])
        f_out = self.activations[-1]
        if self.loss in ("cross_entropy", "binary_cross_entropy"):
            # softmax + log-loss and sigmoid + BCE: the lecture's delta = y - t.
            delta = y_out - t
        elif f_out == "softmax":
            # mse through a softmax: J^T (y - t) with J = diag(y) - y y^T.
            g = y_out - t
            delta = y_out * g - y_out * np.dot(y_out, g)
        else:
            delta = activation_derivative(f_out, a_out) * (y_out - t)
        grads = [None] * L
        for l in range(L - 1, -1, -1):
            x, _, _ = caches[l]
            grads[l] = (np.outer(delta, x), delta.copy())
            if l > 0:
                back = self.W[l].T @ delta               # W^(l)T delta^(l), old W
                if self.dropout[l] is not None:
                    back = back * masks[l]
                _, a_prev, _ = caches[l - 1]
                delta = activation_derivative(self.activations[l - 1], a_prev) * back
        return grads

    # -------------------------------------------------------------- batches ---
    def predict_proba(self, X):
        """Network outputs (n, n_outputs) at test time (no dropout mask)."""
        return np.array([self.forward_example(x)[-1][2] for x in np.asarray(X, np.float64)])

    def mean_loss(self, X, labels):
        """Mean over the examples of the per-example loss, at test time."""
        Y = self.predict_proba(X)
        return float(np.mean([example_loss(self.loss, y, c) for y, c in zip(Y, labels)]))

    def predict(self, X):
        """Predicted classes (n,): argmax of the outputs, or y > 0.5 for one unit."""
        Y = self.predict_proba(X)
        return (Y[:, 0] > 0.5).astype(np.int64) if Y.shape[1] == 1 else Y.argmax(axis=1)

    def _draw_masks(self, rows, draw_mask):
        masks = [None] * len(self.W)
        for l, drop in enumerate(self.dropout):
            if drop is not None:
                p, scale = drop
                keep = 1 / (1 - p) if scale == "train" else 1.0
                masks[l] = np.asarray(draw_mask(rows, self.W[l].shape[1], p, keep),
                                      dtype=np.float64)
        return masks

    def gradients(self, X, labels, draw_mask=None):
        """Batch gradients: the MEAN of the per-example gradients.

        ``draw_mask(rows, n_in, p, keep_value) -> (rows, n_in)`` supplies the
        dropout masks, called layer by layer in forward order.
        Returns (grads, mean loss, number of correct predictions) with grads
        [(grad W, grad b), ...]; a prediction is the argmax of the output, or
        ``y > 0.5`` for a single output unit.
        """
        X = np.asarray(X, dtype=np.float64)
        rows = X.shape[0]
        masks = self._draw_masks(rows, draw_mask)
        total = [(np.zeros_like(W), np.zeros(W.shape[0])) for W in self.W]
        loss, correct = 0.0, 0
        for i in range(rows):
            example_masks = [None if m is None else m[i] for m in masks]
            caches = self.forward_example(X[i], example_masks, training=True)
            y = caches[-1][2]
            loss += example_loss(self.loss, y, labels[i])
            predicted = int(y[0] > 0.5) if y.shape[0] == 1 else int(np.argmax(y))
            correct += predicted == int(labels[i])
            for l, (gW, gb) in enumerate(self.backward_example(caches, labels[i],
                                                               example_masks)):
                total[l][0][...] += gW
                total[l][1][...] += gb
        return [(gW / rows, gb / rows) for gW, gb in total], loss / rows, correct

    def train_epoch(self, X, labels, batch_size, optimizer, epoch=0, draw_mask=None):
        """One epoch of mini-batch training over X in order (no shuffling; the
        last batch may be smaller). Returns (mean loss, accuracy) over the
        epoch, each example measured with the weights before its batch's update."""
        X = np.asarray(X, dtype=np.float64)
        labels = np.asarray(labels)
        n = X.shape[0]
        steps = -(-n // batch_size)
        loss_sum, correct = 0.0, 0
        for start in range(0, n, batch_size):
            xb, yb = X[start:start + batch_size], labels[start:start + batch_size]
            grads, loss, batch_correct = self.gradients(xb, yb, draw_mask)
            loss_sum += loss * xb.shape[0]
            correct += batch_correct
            eta = optimizer.rate(epoch, steps)
            for l, (gW, gb) in enumerate(grads):
                self.W[l] = optimizer.update(("W", l), self.W[l], gW, True, eta)
                if self.b[l] is not None:
                    self.b[l] = optimizer.update(("b", l), self.b[l], gb, False, eta)
            optimizer.t += 1
        return loss_sum / n, correct / n

    def fit(self, X, labels, epochs, batch_size, optimizer, draw_mask=None):
        """``epochs`` calls of train_epoch; returns the per-epoch (loss, accuracy)."""
        return [self.train_epoch(X, labels, batch_size, optimizer, e, draw_mask)
                for e in range(epochs)]
