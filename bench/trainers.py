"""The contenders: one trainer class per implementation, with one interface.

``Trainer(spec, X, y, batch, weights)`` prepares a network (``spec``, a
``workloads.NetSpec``) from the initial ``weights`` (fastnn's, so every
implementation starts from the same parameters) on data ``X`` (n, 784) and
labels ``y``, in X's dtype. ``run(start, n)`` trains on the ``n`` examples
``X[start:start + n]`` in shuffled mini-batches of ``batch`` (one epoch over
that window) and returns ``(seconds, examples)``: the time of the training
loop only. Work that a user would do once per ``fit`` rather than per epoch
(building the model, converting the data, drawing the permutation for the
peers that take pre-shuffled index batches) is outside the timed part.

``predictor(...)`` returns a function ``X -> probabilities`` for the
prediction benchmark.

Only fastnn and NumPy are needed; PyTorch and scikit-learn are imported on
first use, and ``missing_peers()`` tells which are not installed.
"""

import ctypes
import importlib
import time

import numpy as np

from workloads import gemm_calls  # first: puts the checkout on sys.path
from fastnn import SGD, Dense, Sequential, _blas, training
from fastnn.callbacks import Callback
from numpy_mlp import NumpyMLP

__all__ = ["FastnnTrainer", "WholeEpochTrainer", "TorchTrainer", "SklearnTrainer", "NumpyTrainer", "BlasCeiling",
           "TRAINERS", "PEERS", "missing_peers", "initial_weights", "predictor"]

PEERS = ("torch", "sklearn", "numpy")


def missing_peers(peers=PEERS):
    """{peer: reason} for those of ``peers`` that cannot be imported (numpy,
    which fastnn needs, never is). Only these are imported: torch and
    scikit-learn take seconds."""
    missing = {}
    for name, module in (("torch", "torch"), ("sklearn", "sklearn.neural_network")):
        if name not in peers:
            continue
        try:
            importlib.import_module(module)
        except Exception as exc:  # an ImportError, or a broken install
            missing[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return missing


def fastnn_model(spec, dtype, seed=0):
    """A fastnn Sequential for ``spec`` (softmax + cross-entropy output)."""
    layers = []
    for l, (n_in, n_out) in enumerate(spec.layers):
        last = l == len(spec.layers) - 1
        layers.append(Dense(n_in, n_out, "softmax" if last else spec.activation))
    return Sequential(layers, loss="cross_entropy", dtype=dtype, seed=seed)


def initial_weights(spec, dtype, seed=0):
    """[(W, b), ...] of a freshly initialised fastnn model: every contender starts there."""
    model = fastnn_model(spec, dtype, seed)
    return [(layer.W.copy(), layer.b.copy()) for layer in model.dense_layers]


def _batches(rng, start, n, batch):
    perm = start + rng.permutation(n)
    return [perm[i:i + batch] for i in range(0, n, batch)]


class EpochTimer(Callback):
    """A fastnn callback timing each epoch from on_epoch_begin to on_epoch_end."""

    def __init__(self):
        self.seconds = []
        self._t0 = None

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._t0)


class FastnnTrainer:
    """fastnn: ``Sequential.fit(X[window], y[window], epochs=1, batch_size, SGD(lr))``.

    The time is that of the epoch itself (from the epoch-begin to the
    epoch-end callback: shuffle, gather, forward, backward, update, the
    per-epoch weight snapshot), not the once-per-fit validation of X and the
    building of the compiled network, which ``fit(epochs=k)`` pays once.
    ``fit_overheads`` keeps, per call, the call's time minus the epoch's.
    """

    name = "fastnn"

    def __init__(self, spec, X, y, batch, weights, seed=0):
        self.model = fastnn_model(spec, X.dtype, seed)
        self.model.set_weights([a for pair in weights for a in pair])
        self.optimizer = SGD(lr=spec.lr)
        self.X, self.y, self.batch = X, y, batch
        self.timer = EpochTimer()
        self.fit_overheads = []

    def run(self, start, n):
        t0 = time.perf_counter()
        self.model.fit(self.X[start:start + n], self.y[start:start + n], epochs=1,
                       batch_size=self.batch, optimizer=self.optimizer, shuffle=True,
                       verbose=0, callbacks=[self.timer])
        total = time.perf_counter() - t0
        self.fit_overheads.append(total - self.timer.seconds[-1])
        return self.timer.seconds[-1], n


class WholeEpochTrainer(FastnnTrainer):
    """fastnn with every epoch in one compiled call (``fastnn.training.CHUNK_SECONDS =
    None``): the reference for the cost of returning to Python every ~0.2 s."""

    name = "fastnn-1call"

    def run(self, start, n):
        saved = training.CHUNK_SECONDS
        training.CHUNK_SECONDS = None
        try:
            return super().run(start, n)
        finally:
            training.CHUNK_SECONDS = saved


class TorchTrainer:
    """PyTorch CPU: ``torch.nn`` layers, ``CrossEntropyLoss`` (mean over the
    batch), ``torch.optim.SGD(lr, momentum=0)``, a plain Python loop over
    pre-shuffled index batches (gather ``X[idx]``, zero_grad, forward, loss,
    backward, step). The caller sets ``torch.set_num_threads``."""

    name = "torch"

    def __init__(self, spec, X, y, batch, weights, seed=0):
        import torch
        self.torch = torch
        dtype = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[
            X.dtype]
        modules = []
        for l, (W, b) in enumerate(weights):
            linear = torch.nn.Linear(W.shape[1], W.shape[0], dtype=dtype)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(W))
                linear.bias.copy_(torch.from_numpy(b))
            modules.append(linear)
            if l < len(weights) - 1:
                modules.append(torch.nn.Sigmoid() if spec.activation == "sigmoid"
                               else torch.nn.ReLU() if spec.activation == "relu"
                               else torch.nn.Tanh())
        self.model = torch.nn.Sequential(*modules)
        self.loss = torch.nn.CrossEntropyLoss()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=spec.lr, momentum=0.0)
        self.X = torch.from_numpy(X)          # shares memory with the NumPy array
        self.y = torch.from_numpy(y)
        self.batch = batch
        self.rng = np.random.default_rng(seed)

    def run(self, start, n):
        torch = self.torch
        batches = [torch.from_numpy(idx) for idx in _batches(self.rng, start, n, self.batch)]
        X, y, model, loss_fn, opt = self.X, self.y, self.model, self.loss, self.optimizer
        t0 = time.perf_counter()
        for idx in batches:
            xb = X[idx]
            yb = y[idx]
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
        return time.perf_counter() - t0, n


class SklearnTrainer:
    """scikit-learn: ``MLPClassifier(solver="sgd", batch_size, learning_rate_init=lr,
    learning_rate="constant", momentum=0, nesterovs_momentum=False, alpha=0)``
    and one ``partial_fit`` per epoch (window), on float32 or float64 as given.

    sklearn's own conventions: it minimises the mean log-loss plus
    ``alpha / (2 B) ||W||^2`` (alpha = 0 here, but it still computes the
    penalty's sum of squares every step), clips probabilities away from 0,
    stores W as (n_in, n_out), and ``partial_fit`` re-validates X and
    re-binarises the labels on every call and shuffles inside it, so its time
    includes all of that. With softmax output and alpha = 0 its update is the
    same SGD step as the others'.
    """

    name = "sklearn"

    def __init__(self, spec, X, y, batch, weights, seed=0):
        from sklearn.neural_network import MLPClassifier
        hidden = tuple(spec.sizes[1:-1])
        self.clf = MLPClassifier(
            hidden_layer_sizes=hidden,
            activation={"sigmoid": "logistic"}.get(spec.activation, spec.activation),
            solver="sgd", batch_size=batch, learning_rate="constant",
            learning_rate_init=spec.lr, momentum=0.0, nesterovs_momentum=False, alpha=0.0,
            shuffle=True, random_state=seed, max_iter=1, tol=0.0, n_iter_no_change=10 ** 9,
            early_stopping=False)
        # partial_fit initialises the network; then start from fastnn's weights.
        self.clf.partial_fit(X[:batch], y[:batch], classes=np.arange(spec.sizes[-1]))
        set_sklearn_weights(self.clf, weights)
        self.X, self.y = X, y

    def run(self, start, n):
        t0 = time.perf_counter()
        self.clf.partial_fit(self.X[start:start + n], self.y[start:start + n])
        return time.perf_counter() - t0, n


def set_sklearn_weights(clf, weights):
    """Copy fastnn-layout [(W (out, in), b)] into an MLPClassifier, in place."""
    for i, (W, b) in enumerate(weights):
        clf.coefs_[i][...] = W.T
        clf.intercepts_[i][...] = b


class NumpyTrainer:
    """Plain NumPy (``numpy_mlp.NumpyMLP``): the lecture's equations vectorised
    per mini-batch, over pre-shuffled index batches."""

    name = "numpy"

    def __init__(self, spec, X, y, batch, weights, seed=0):
        self.net = NumpyMLP(weights, spec.activation, spec.lr)
        self.X, self.y, self.batch = X, y, batch
        self.rng = np.random.default_rng(seed)

    def run(self, start, n):
        batches = _batches(self.rng, start, n, self.batch)
        t0 = time.perf_counter()
        self.net.train(self.X, self.y, batches)
        return time.perf_counter() - t0, n


def _thread_policy():
    """fastnn's per-GEMM BLAS thread policy, as ``(set_local, max_threads, min_work)``
    with ``set_local`` a callable ``int -> int`` (OpenBLAS's
    ``openblas_set_num_threads_local``), or None where fastnn has none (an
    older fastnn, or a BLAS without per-thread control)."""
    try:
        from fastnn import blas_threads
        address, max_threads, min_work = blas_threads.policy()
    except (ImportError, AttributeError, ValueError):
        return None
    if not address:
        return None
    return ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)(address), max_threads, min_work


class BlasCeiling:
    """The GEMMs of fastnn's training step alone, through ``fastnn._blas.gemm``
    (the same BLAS and the same calls, see ``workloads.gemm_calls``), on
    resident buffers: the throughput a step made only of its GEMMs would reach.

    Where fastnn picks the BLAS thread count per GEMM (``fastnn.blas_threads``:
    one thread below ``min_work`` = m n k, else ``max_threads``), the ceiling
    does the same, switching only when the count changes, as the compiled loop
    does. ``run(start, n)`` runs ceil(n / batch) steps; the examples count is
    steps x batch. Each call also pays the Python twin's overhead (~1-3 us),
    which matters only for the smallest shapes.
    """

    name = "blas"

    def __init__(self, spec, X, y, batch, weights, seed=0):
        self.gemm = _blas.gemm
        rng = np.random.default_rng(seed)
        dtype = X.dtype
        self.batch = batch
        self.policy = _thread_policy()
        self.calls = []
        for label, m, n, k, ta, tb in gemm_calls(spec, batch):
            A = (rng.random((k, m) if ta else (m, k)) * 0.1).astype(dtype)
            B = (rng.random((n, k) if tb else (k, n)) * 0.1).astype(dtype)
            C = np.zeros((m, n), dtype=dtype)
            update = label.startswith("dW")
            threads = 0
            if self.policy is not None:
                threads = 1 if m * n * k < self.policy[2] else self.policy[1]
            # dW: W = 1 * W - tiny * delta^T X, like fastnn's folded SGD update.
            self.calls.append((A, B, C, ta, tb, -1e-6 if update else 1.0,
                               1.0 if update else 0.0, threads))
        self.flops_per_step = 2 * sum(m * n * k for _, m, n, k, _, _ in gemm_calls(spec, batch))

    def run(self, start, n):
        steps = -(-n // self.batch)
        gemm, calls = self.gemm, self.calls
        set_local = self.policy[0] if self.policy is not None else None
        current, prior = 0, None
        t0 = time.perf_counter()
        for _ in range(steps):
            for A, B, C, ta, tb, alpha, beta, threads in calls:
                if set_local is not None and threads != current:
                    previous = set_local(threads)
                    if prior is None:
                        prior = previous
                    current = threads
                gemm(A, B, C, ta, tb, alpha, beta)
        seconds = time.perf_counter() - t0
        if prior is not None:
            set_local(prior)
        return seconds, steps * self.batch


TRAINERS = {"fastnn": FastnnTrainer, "torch": TorchTrainer, "sklearn": SklearnTrainer,
            "numpy": NumpyTrainer, "blas": BlasCeiling}


def predictor(name, spec, weights, X_init, y_init):
    """A function X -> class probabilities (n, 10) for implementation ``name``,
    with the network's parameters set to ``weights``."""
    if name == "fastnn":
        model = fastnn_model(spec, X_init.dtype)
        model.set_weights([a for pair in weights for a in pair])
        return model.predict_proba
    if name == "numpy":
        return NumpyMLP(weights, spec.activation, spec.lr).predict_proba
    if name == "torch":
        trainer = TorchTrainer(spec, X_init, y_init, 1, weights)
        torch, model = trainer.torch, trainer.model

        def predict(X):
            with torch.inference_mode():
                return torch.softmax(model(torch.from_numpy(X)), dim=1)
        return predict
    if name == "sklearn":
        return SklearnTrainer(spec, X_init, y_init, 16, weights).clf.predict_proba
    raise ValueError(f"unknown implementation {name!r}")
