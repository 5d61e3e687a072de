"""Custom models on the computation graph: the ``Model`` base class and its
training helpers.

A ``Sequential`` is a chain; anything else (a skip connection, two input
branches, a layer used twice, a loss on a hidden layer) is a ``Model``
subclass whose ``forward`` calls layers and graph ops on Tensors::

    class ResidualMLP(fastnn.Model):
        def __init__(self, seed=None):
            super().__init__(seed=seed)
            self.inp = Dense(784, 100, "relu")
            self.block = Dense(100, 100, "relu")
            self.out = Dense(100, 10)

        def forward(self, x):
            h = self.inp(x)
            h = h + self.block(h)            # y = h + f(W h + b)
            return self.out(h)               # logits for cross_entropy

    model = ResidualMLP(seed=0)
    model.fit(X, y, loss="cross_entropy", epochs=2, optimizer=SGD(lr=0.1))

Training runs the graph one mini-batch at a time: forward (recording the
graph), ``grad(loss, params)``, then ``optimizer.step`` updates the parameter
arrays in place with the same compiled kernels as the fast path. Weight decay
applies to weight matrices only: parameters with two or more dimensions.
"""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from .autograd import grad, no_grad
from .layers import Dense, Dropout
from .losses import LOSSES, get_loss
from .ops import Rng
from .optimizers import Optimizer
from .solvers import FullBatchSolver
from .tensor import Tensor
from .training import (EpochRunner, EpochStats, TrainingLoop, UseGuard, check_fit_arguments,
                       check_validation_pair, fit_seed)
from .validation import check_bool, check_dtype, check_param, check_positive_int, check_seed

if TYPE_CHECKING:
    from typing import TypeAlias

    from numpy.typing import ArrayLike, DTypeLike

    from .callbacks import Callback, History
    from .losses import LossName

    #: ``loss=`` of the graph path: a name, or ``loss(output, y_batch) -> scalar Tensor``.
    GraphLoss: TypeAlias = LossName | Callable[[Tensor, Any], Tensor]

__all__ = ["Model", "train_step"]


def _is_weight(param):
    return param.data.ndim >= 2


def train_step(loss: Tensor, params: list[Tensor], optimizer: Optimizer, epoch: int | None = None,
               steps_per_epoch: int = 1) -> float:
    """One update: ``grad(loss, params)`` then ``optimizer.step`` on the arrays.

    Parameters
    ----------
    loss : Tensor
        One-element tensor computed from ``params`` (its graph is freed).
    params : list of Tensor
        Leaves with ``requires_grad`` whose C-contiguous arrays are updated in
        place (weight decay only where ``ndim >= 2``).
    optimizer : Optimizer
        ``SGD``, ``Adagrad`` or ``Adam``; its schedule sees ``epoch`` (default
        ``optimizer.epoch``, the epochs completed by ``fit``) and
        ``steps_per_epoch``.

    Returns
    -------
    float
        The loss value before the update.
    """
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be an Optimizer (SGD, Adagrad, Adam), got "
                        f"{optimizer!r}")
    if not isinstance(loss, Tensor) or loss.data.size != 1:
        got = f"a Tensor of shape {loss.shape}" if isinstance(loss, Tensor) else repr(loss)
        raise TypeError(f"loss must be a one-element Tensor computed from params (a graph "
                        f"to differentiate), got {got}")
    if isinstance(params, (Tensor, str, np.ndarray)) or not hasattr(params, "__iter__"):
        raise TypeError(f"params must be a list of Tensors, got {type(params).__name__}")
    params = list(params)
    for i, p in enumerate(params):
        if not isinstance(p, Tensor) or not p.data.flags.c_contiguous \
                or not p.data.flags.writeable:
            raise ValueError(f"params[{i}] must be a Tensor over a writable C-contiguous array "
                             f"(updated in place), got {p!r}")
    value = float(loss.data)
    _update(loss, params, [_is_weight(p) for p in params], optimizer,
            optimizer.epoch if epoch is None else epoch, steps_per_epoch)
    return value


def _update(loss, params, is_weight, optimizer, epoch, steps_per_epoch):
    """grad(loss, params), then one optimizer step on the parameter arrays."""
    grads = grad(loss, params)
    optimizer.step(list(zip((p.data for p in params), grads, is_weight)), epoch,
                   steps_per_epoch)


def _as_inputs(X, dtype, name):
    """X (one array, or a tuple/list of arrays for several inputs) as a tuple of
    C-contiguous finite arrays of ``dtype`` with the same number of rows."""
    arrays = X if isinstance(X, (tuple, list)) else (X,)
    out = []
    for i, a in enumerate(arrays):
        label = name if len(arrays) == 1 else f"{name}[{i}]"
        if isinstance(a, Tensor):
            a = a.data
        raw = np.asarray(a)
        if raw.dtype.kind not in "biuf":
            raise TypeError(f"{label} must hold real numbers, got dtype {raw.dtype}")
        if raw.ndim == 0 or raw.shape[0] == 0:
            raise ValueError(f"{label} must have at least one row, got shape {raw.shape}")
        arr = np.ascontiguousarray(raw, dtype=dtype)
        if not np.isfinite(arr).all():
            idx = tuple(int(j) for j in np.argwhere(~np.isfinite(arr))[0])
            raise ValueError(f"{label} contains NaN or inf at index {idx}")
        out.append(arr)
    rows = {a.shape[0] for a in out}
    if len(rows) != 1:
        raise ValueError(f"the inputs of {name} have different numbers of rows: "
                         f"{[a.shape[0] for a in out]}")
    return tuple(out)


def _as_targets(y, n, named_loss, name):
    y = y.data if isinstance(y, Tensor) else y
    y = np.asarray(y)
    if y.ndim == 0 or y.shape[0] != n:
        raise ValueError(f"X and {name} have different lengths: {n} and "
                         f"{y.shape[0] if y.ndim else 'a scalar'}")
    if named_loss:
        if y.dtype.kind not in "iu" or y.ndim != 1:
            raise ValueError(f"{name} must be integer class labels of shape ({n},), got dtype "
                             f"{y.dtype} and shape {y.shape}; the graph path's named losses "
                             f"take class labels only (soft, multi-label and regression "
                             f"targets: Sequential.fit, or a callable loss)")
        return np.ascontiguousarray(y, dtype=np.int64)
    return y


def _loss(loss):
    """(loss function, one-unit decision threshold, is it a named loss)."""
    if callable(loss):
        return loss, 0.5, False
    if isinstance(loss, str) and loss in LOSSES:
        entry = get_loss(loss)
        return entry.graph, entry.decision_threshold, True
    raise ValueError(f"loss must be one of {sorted(LOSSES)} or a callable "
                     f"loss(output, y) -> scalar Tensor, got {loss!r}")


def _correct(output, labels, threshold):
    """Rows whose prediction equals the label (argmax, or > threshold for one
    unit); None when the output is not a (n, K) array of scores."""
    out = output.data if isinstance(output, Tensor) else None
    if out is None or out.ndim != 2 or labels.ndim != 1 or labels.dtype.kind not in "iu":
        return None
    pred = (out[:, 0] > threshold) if out.shape[1] == 1 else out.argmax(axis=1)
    return int(np.count_nonzero(pred == labels))


class GraphEpochs(EpochRunner):
    """The graph path's epoch runner: per mini-batch, ``model.forward`` on
    Tensors, the loss, ``grad`` and one optimizer step.

    The loop asks for ranges of steps (``run_steps``, about 0.2 s each); the
    order, the generator and the running sums persist between them and form
    the runner's resumable state. The order comes from the compiled PRNG
    (``Rng.shuffle`` of a kept order array, as ``CompiledNet`` does), and the Dropout layers draw their masks
    from the same stream, so a graph model and a Sequential of the same
    layers and seed take the same batches and masks.
    """

    def __init__(self, model, inputs, targets, loss_fn, threshold, batch_size, shuffle,
                 optimizer, rng):
        self.model, self.inputs, self.targets = model, inputs, targets
        self.loss_fn, self.threshold = loss_fn, threshold
        self.batch_size, self.shuffle, self.optimizer, self.rng = (batch_size, shuffle,
                                                                   optimizer, rng)
        self.n = self.n_examples = inputs[0].shape[0]
        self.order = np.arange(self.n, dtype=np.int64)
        self.steps_per_epoch = -(-self.n // batch_size)
        self.params = model.parameters()
        self.is_weight = [_is_weight(p) for p in self.params]

    def begin(self):
        self.model._draw_masks_from(self.rng)
        self.model.train()
        self.loss_sum, self.correct, self.counted = 0.0, 0, True

    def run_steps(self, epoch, first, stop):
        if first == 0:
            if self.shuffle:
                self.rng.shuffle(self.order)
            self.loss_sum, self.correct, self.counted = 0.0, 0, True
        for step in range(first, stop):
            start = step * self.batch_size
            rows = (self.order[start:start + self.batch_size] if self.shuffle
                    else slice(start, start + self.batch_size))
            batch = [Tensor(a[rows]) for a in self.inputs]
            labels = self.targets[rows]
            output = self.model.forward(*batch)
            batch_loss = self.loss_fn(output, labels)
            value = float(batch_loss.data)
            if not math.isfinite(value):
                return EpochStats(self.loss_sum, start, None, failed_step=step,
                                  failed_loss=value)
            self.loss_sum += value * batch[0].shape[0]
            hits = _correct(output, labels, self.threshold) if self.counted else None
            self.counted = hits is not None
            self.correct += hits or 0
            _update(batch_loss, self.params, self.is_weight, self.optimizer,
                    self.optimizer.epoch, self.steps_per_epoch)
        return EpochStats(self.loss_sum, min(stop * self.batch_size, self.n),
                          self.correct if self.counted else None)

    def parameters(self):
        return [p.data for p in self.params]

    def get_state(self):
        return {"order": self.order.copy(), "rng": self.rng.get_state(),
                "loss_sum": self.loss_sum, "correct": self.correct, "counted": self.counted}

    def set_state(self, state):
        self.order[...] = state["order"]
        self.rng.set_state(state["rng"])
        self.loss_sum = float(state["loss_sum"])
        self.correct = int(state["correct"])
        self.counted = bool(state["counted"])


class Model:
    """Base class for models written with graph operations.

    Subclasses call ``super().__init__(seed=..., dtype=...)`` first, assign
    their layers (``Dense``, ``Dropout``, other ``Model`` s, lists/tuples/dicts
    of them) and any extra parameters (``Tensor(..., requires_grad=True)``)
    as attributes, and define ``forward(*inputs)``; ``model(x)`` calls it.

    Parameters
    ----------
    seed : int or None
        Seeds everything random: each ``Dense`` assigned to the model is
        re-initialised from it (in assignment order, with the layer's own
        ``init`` recipe, in ``dtype``), as ``Sequential`` does; Dropout layers
        without an ``rng`` share one mask stream drawn from it. Each ``fit``
        seeds a new stream from it, exactly as ``Sequential.fit`` does, that
        draws the shuffles and becomes the mask stream: a ``Model`` and a
        ``Sequential`` of the same layers and seed train on the same batches
        and masks. None draws OS entropy (``model.seed`` tells what).
    dtype : "float32" or "float64"

    Attributes
    ----------
    training : bool
        Mode of the Dropout layers: ``train()`` (the default) draws masks,
        ``eval()`` applies the test-time map.
    rng : fastnn.ops.Rng
        The Dropout layers' mask stream (replaced by each ``fit``'s stream).
    stop_training : bool
        Set by a callback to end ``fit`` after the current epoch.
    """

    def __init__(self, seed: int | None = None, dtype: DTypeLike = "float32") -> None:
        seq = np.random.SeedSequence(check_seed(seed))
        # The same three streams as Sequential: initialisation, fits (one
        # child per fit: shuffles and masks), and the mask stream outside fit.
        init_seq, fit_seq, mask_seq = seq.spawn(3)
        state = self.__dict__
        state["seed"] = seq.entropy
        state["dtype"] = check_dtype(dtype)
        state["training"] = True
        state["stop_training"] = False
        state["history"] = None
        state["rng"] = Rng(int(mask_seq.generate_state(1, np.uint64)[0]))
        state["_init_rng"] = np.random.default_rng(init_seq)
        state["_fit_seq"] = fit_seq
        state["_adopted"] = set()
        state["_guard"] = UseGuard()
        state["_serial"] = threading.RLock()

    # ------------------------------------------------------------ structure ---
    def __setattr__(self, name, value):
        if "_adopted" not in self.__dict__:
            raise AttributeError(f"cannot assign {name!r} before Model.__init__ ran: call "
                                 f"super().__init__() first in {type(self).__name__}.__init__")
        self._adopt(value)
        object.__setattr__(self, name, value)

    def _adopt(self, value):
        """Initialise a newly assigned Dense from the model's seed and dtype and
        give a Dropout the model's mask stream and mode."""
        if isinstance(value, Dense):
            if id(value) not in self._adopted:
                self._adopted.add(id(value))
                value.initialize(self._init_rng, self.dtype)
        elif isinstance(value, Dropout):
            if value.rng is None:
                value.rng = self.rng
            value.training = self.training
        elif isinstance(value, (list, tuple)):
            for item in value:
                self._adopt(item)
        elif isinstance(value, dict):
            for item in value.values():
                self._adopt(item)

    def _walk(self):
        """Every layer, sub-model and parameter Tensor reachable through the
        attributes (and lists/tuples/dicts of them), once each, in order."""
        found, seen = [], {id(self)}
        stack = list(reversed(list(self.__dict__.values())))
        while stack:
            value = stack.pop()
            if isinstance(value, (list, tuple)):
                stack.extend(reversed(value))
                continue
            if isinstance(value, dict):
                stack.extend(reversed(list(value.values())))
                continue
            if not isinstance(value, (Dense, Dropout, Model, Tensor)) or id(value) in seen:
                continue
            seen.add(id(value))
            found.append(value)
            if isinstance(value, Model):
                stack.extend(reversed(list(value.__dict__.values())))
        return found

    def parameters(self) -> list[Tensor]:
        """The trainable leaves: every Dense's ``W_param``/``b_param`` and every
        leaf Tensor attribute with ``requires_grad``, each once (a layer used
        twice is one set of parameters), in attribute order."""
        params, seen = [], set()
        for item in self._walk():
            if isinstance(item, Dense):
                candidates = item.parameters()
            elif isinstance(item, Tensor) and item.requires_grad and item.is_leaf:
                candidates = [item]
            else:
                continue
            for p in candidates:
                if id(p) not in seen:
                    seen.add(id(p))
                    params.append(p)
        return params

    def layers(self) -> list[Dense | Dropout]:
        """The Dense and Dropout layers reachable from the attributes, each once."""
        return [item for item in self._walk() if isinstance(item, (Dense, Dropout))]

    def train(self, mode: bool = True) -> Model:
        """Set training mode (Dropout draws masks) or, with False, eval mode; returns self."""
        mode = check_bool("mode", mode)
        for item in [self] + self._walk():
            if isinstance(item, Model):
                item.__dict__["training"] = mode
            elif isinstance(item, Dropout):
                item.training = mode
        return self

    def eval(self) -> Model:
        """Evaluation mode: Dropout applies its test-time map; returns self."""
        return self.train(False)

    def forward(self, *inputs: Tensor) -> Tensor:
        """The model's computation on input Tensors; returns its output Tensor."""
        raise NotImplementedError(f"{type(self).__name__} must define forward(self, *inputs)")

    def __call__(self, *inputs: Tensor, **kwargs: Any) -> Tensor:
        return self.forward(*inputs, **kwargs)

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the parameter arrays, in ``parameters()`` order."""
        return [p.data.copy() for p in self.parameters()]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        """Copy arrays (as from ``get_weights``) into the parameters, in place
        (all checked first: shape, real, finite in the parameter's dtype)."""
        params = self.parameters()
        weights = list(weights)
        if len(weights) != len(params):
            raise ValueError(f"weights must hold {len(params)} arrays, got {len(weights)}")
        # Check every array (shape, real, finite in the parameter's dtype)
        # before copying any, so a bad list changes nothing.
        checked = [check_param(f"weights[{i}]", w, p.data.shape, p.data.dtype)
                   for i, (p, w) in enumerate(zip(params, weights))]
        for p, w in zip(params, checked):
            p.data[...] = w

    # ------------------------------------------------------------- training ---
    def fit(self, X: ArrayLike | Sequence[ArrayLike], y: ArrayLike,
            loss: GraphLoss = "cross_entropy", epochs: int = 1, batch_size: int = 32,
            optimizer: Optimizer | None = None, shuffle: bool = True,
            validation_data: tuple[ArrayLike | Sequence[ArrayLike], ArrayLike] | None = None,
            verbose: int = 0, callbacks: Sequence[Callback] | None = None) -> History:
        """Mini-batch training of the model through the graph.

        Parameters
        ----------
        X : array (n, ...) or tuple of arrays
            Several arrays (same n) are passed to ``forward`` as several inputs.
        y : array (n,) of int labels (named losses) or anything a custom loss takes
        loss : "cross_entropy", "binary_cross_entropy", "mse" or callable
            ``loss(output, y_batch) -> scalar Tensor``. The cross-entropies
            take the model's output as logits (``fastnn.cross_entropy``).
        epochs, batch_size : int > 0
        optimizer : Optimizer, default ``SGD(lr=0.1)``
            Its state and its update and epoch counts (for the schedules) carry
            over to the next ``fit`` with the same optimizer.
        shuffle : bool
            A new order every epoch, drawn from the model's seed.
        validation_data : (X_val, y_val) or None
        verbose : 0, 1 or 2
            As for ``Sequential.fit`` (progress within the epoch on a terminal).
        callbacks : list of Callback (``EarlyStopping``, ``BackupAndRestore``,
            ``ModelCheckpoint`` and ``on_train_batch_end`` work as with Sequential)

        Returns
        -------
        History
            Per epoch: "loss" (mean batch loss over the examples, dropout on),
            "accuracy" (when the output is (n, K) scores and y labels), and
            "val_loss"/"val_accuracy" with validation data.

        Raises
        ------
        TrainingDivergedError, RuntimeError
            As for ``Sequential.fit`` (the same training loop, fastnn/training.py).
        """
        inputs = _as_inputs(X, self.dtype, "X")
        fn, threshold, named = _loss(loss)
        targets = _as_targets(y, inputs[0].shape[0], named, "y")
        epochs, batch_size, shuffle, verbose, optimizer, callbacks = check_fit_arguments(
            epochs, batch_size, shuffle, verbose, optimizer, callbacks)
        if isinstance(optimizer, FullBatchSolver):
            raise TypeError(f"optimizer={optimizer!r}: the full-batch solvers train a "
                            f"Sequential; Model.fit takes a mini-batch optimizer (SGD, "
                            f"Adagrad, Adam)")
        validation_data = check_validation_pair(validation_data)
        params = self.parameters()
        if not params:
            raise ValueError(f"{type(self).__name__} has no parameters: assign its layers "
                             f"or Tensors as attributes")
        for i, p in enumerate(params):
            if p.data.dtype != self.dtype or not p.data.flags.c_contiguous:
                raise ValueError(f"parameter {i} (shape {p.data.shape}) must be a C-contiguous "
                                 f"{self.dtype} array, got {p.data.dtype}")
        validate = None
        if validation_data is not None:
            validate = lambda: self.evaluate(*validation_data, loss=loss)   # noqa: E731
        runner = GraphEpochs(self, inputs, targets, fn, threshold, batch_size, shuffle,
                             optimizer, Rng(fit_seed(self._fit_seq)))
        return TrainingLoop(self, optimizer, epochs, callbacks, verbose, validate).fit(runner)

    def _draw_masks_from(self, rng):
        """Make ``rng`` the model's mask stream: the Dropout layers that drew
        from the old one draw from it."""
        for layer in self.layers():
            if isinstance(layer, Dropout) and layer.rng is self.rng:
                layer.rng = rng
        self.__dict__["rng"] = rng

    # ------------------------------------------------------------ inference ---
    def _batched_forward(self, inputs, batch_size):
        # Eval mode is the model's own state: predictions on one Model from
        # several threads take turns (self._serial), and none runs while
        # another thread fits it (self._guard).
        with self._serial:
            self._guard.begin_read(self)
            was_training = self.training
            self.eval()
            try:
                with no_grad():
                    n = inputs[0].shape[0]
                    for start in range(0, n, batch_size):
                        yield start, self.forward(*(Tensor(a[start:start + batch_size])
                                                    for a in inputs))
            finally:
                self.train(was_training)
                self._guard.end_read()

    def predict(self, X: ArrayLike | Sequence[ArrayLike], batch_size: int = 256) -> np.ndarray:
        """The model's outputs for X in eval mode without a graph: an array
        (n, ...) (the logits for a model trained with a cross-entropy)."""
        inputs = _as_inputs(X, self.dtype, "X")
        batch_size = check_positive_int("batch_size", batch_size)
        return np.concatenate([out.data for _, out in self._batched_forward(inputs, batch_size)])

    def evaluate(self, X: ArrayLike | Sequence[ArrayLike], y: ArrayLike,
                 loss: GraphLoss = "cross_entropy", batch_size: int = 256) -> dict[str, float]:
        """Mean loss (and accuracy) over (X, y) in eval mode:
        ``{"loss": float, "accuracy": float}``."""
        inputs = _as_inputs(X, self.dtype, "X")
        fn, threshold, named = _loss(loss)
        n = inputs[0].shape[0]
        targets = _as_targets(y, n, named, "y")
        batch_size = check_positive_int("batch_size", batch_size)
        loss_sum, correct, counted = 0.0, 0, True
        for start, out in self._batched_forward(inputs, batch_size):
            yb = targets[start:start + batch_size]
            loss_sum += float(fn(out, yb).data) * yb.shape[0]
            hits = _correct(out, yb, threshold) if counted else None
            counted = hits is not None
            correct += hits or 0
        logs = {"loss": loss_sum / n}
        if counted:
            logs["accuracy"] = correct / n
        return logs

    def __repr__(self):
        return f"{type(self).__name__}(params={len(self.parameters())}, dtype={self.dtype.name})"
