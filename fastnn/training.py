"""The training skeleton: the ``fit`` loop, written once for every model.

``Sequential.fit`` and ``Model.fit`` only convert their data and pick an
*epoch runner*; everything else lives here (the split of the Keras trainer:
data and steps in the runner, epochs, callbacks and validation in the loop):

- the argument checks every ``fit`` shares (``check_fit_arguments``);
- the callback list, with ``History`` first and the progress logger last;
- per epoch: ``on_epoch_begin``, a snapshot of the weights and the optimizer
  state, the runner's epoch, the divergence check (a NaN/inf loss or weight
  puts both back and raises ``TrainingDivergedError``), the ``logs`` (``loss``, ``accuracy`` where
  it means something, ``val_*`` from the validation callable),
  ``on_epoch_end``, and ``model.stop_training``.

A runner is anything with ``steps_per_epoch`` and ``run_epoch(epoch) ->
EpochStats``; the compiled fast path (one nogil call per epoch,
``fastnn.sequential``) and the graph's mini-batch loop (``fastnn.model``) are
the two today. A runner that cannot hand back control once per epoch (a
full-batch solver whose iterations scipy drives) overrides ``run(loop)`` and
calls ``loop.begin_epoch`` / ``loop.end_epoch`` itself.
"""

import numbers
import threading
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .callbacks import Callback, History, ProgressLogger
from .optimizers import SGD, Optimizer
from .validation import check_bool, check_positive_int

__all__ = ["TrainingDivergedError", "EpochStats", "EpochRunner", "TrainingLoop", "UseGuard",
           "check_fit_arguments", "check_validation_pair", "fit_seed"]


class TrainingDivergedError(FloatingPointError):
    """The loss or the weights became NaN or inf during ``fit``; the model
    holds the weights of the last epoch that ended finite, and the optimizer
    its state (momentum, moments, update and epoch counts) from then."""


@dataclass
class EpochStats:
    """What a runner measured over one epoch.

    loss_sum : sum over the epoch's examples of their loss (dropout on).
    seen : number of examples the epoch trained on.
    correct : examples predicted right, or None where accuracy means nothing.
    failed_step : 0-based step whose loss was NaN or inf (the epoch stopped
        there), or -1 when every loss was finite.
    failed_loss : that loss value, where the runner knows it.
    """

    loss_sum: float
    seen: int
    correct: Optional[int] = None
    failed_step: int = -1
    failed_loss: Optional[float] = None


class EpochRunner:
    """Base class of the epoch runners: ``run_epoch`` trains one epoch."""

    steps_per_epoch = 1

    def begin(self):
        """Prepare the model for training; called once the loop owns the
        model (after the thread guard), before ``on_train_begin``."""

    def run_epoch(self, epoch):
        """Train one epoch (``epoch`` counted from 0 in this fit); returns EpochStats."""
        raise NotImplementedError

    def run(self, loop):
        """Drive ``loop`` over its epochs, one ``run_epoch`` each."""
        for epoch in range(loop.epochs):
            loop.begin_epoch(epoch)
            if loop.end_epoch(epoch, self.run_epoch(epoch)):
                break


class UseGuard:
    """Who uses a model from which thread: any number of threads may predict
    at once, but ``fit`` excludes every other thread.

    ``fit`` while another thread fits or predicts with the same model, and a
    prediction while another thread fits it, raise RuntimeError naming the
    conflict instead of interleaving updates with reads. The fitting thread
    itself may predict (callbacks, validation).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._fitter = None        # thread id of the fit in progress
        self._readers = 0          # predictions in progress, in any thread

    def begin_fit(self, model):
        with self._lock:
            if self._fitter is not None:
                raise RuntimeError(f"fit called on {type(model).__name__} while another "
                                   f"thread is fitting it; fit one model from one thread")
            if self._readers:
                raise RuntimeError(f"fit called on {type(model).__name__} while "
                                   f"{self._readers} prediction(s) on it are running in "
                                   f"other threads")
            self._fitter = threading.get_ident()

    def end_fit(self):
        with self._lock:
            self._fitter = None

    def begin_read(self, model):
        with self._lock:
            if self._fitter is not None and self._fitter != threading.get_ident():
                raise RuntimeError(f"predict/evaluate called on {type(model).__name__} while "
                                   f"another thread is fitting it")
            self._readers += 1

    def end_read(self):
        with self._lock:
            self._readers -= 1


def fit_seed(seed_sequence):
    """The 64-bit seed of the next fit's PRNG (shuffles, dropout masks): the
    first word of a new child of ``seed_sequence``. Both paths derive it so."""
    return int(seed_sequence.spawn(1)[0].generate_state(1, np.uint64)[0])


def check_fit_arguments(epochs, batch_size, shuffle, verbose, optimizer, callbacks):
    """The checks every ``fit`` makes on its loop arguments.

    Returns ``(epochs, batch_size, shuffle, verbose, optimizer, callbacks)``
    normalised: ints, a bool, ``SGD(lr=0.1)`` for a missing optimizer, a list.
    """
    epochs = check_positive_int("epochs", epochs)
    batch_size = check_positive_int("batch_size", batch_size)
    shuffle = check_bool("shuffle", shuffle)
    if (isinstance(verbose, (bool, np.bool_)) or not isinstance(verbose, numbers.Integral)
            or verbose not in (0, 1, 2)):
        raise ValueError(f"verbose must be 0, 1 or 2, got {verbose!r}")
    optimizer = SGD(lr=0.1) if optimizer is None else optimizer
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be an Optimizer (SGD, Adagrad, Adam, LBFGS, "
                        f"ConjugateGradient), got {optimizer!r}")
    if callbacks is not None and (isinstance(callbacks, (Callback, str))
                                  or not hasattr(callbacks, "__iter__")):
        got = (f"a single {type(callbacks).__name__} (wrap it in a list)"
               if isinstance(callbacks, Callback) else repr(callbacks))
        raise TypeError(f"callbacks must be a list of Callback objects, got {got}")
    callbacks = [] if callbacks is None else list(callbacks)
    for i, cb in enumerate(callbacks):
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks[{i}] must be a Callback, got {cb!r}")
    return epochs, batch_size, shuffle, int(verbose), optimizer, callbacks


def check_validation_pair(validation_data):
    """``validation_data`` as a pair ``(X_val, y_val)``, or None."""
    if validation_data is None:
        return None
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
        raise ValueError("validation_data must be a pair (X_val, y_val), got "
                         f"{type(validation_data).__name__}")
    return tuple(validation_data)


class TrainingLoop:
    """Epochs, callbacks, validation and divergence handling around a runner.

    Parameters
    ----------
    model : Sequential or Model
        Needs ``get_weights()``/``set_weights()``, the attributes
        ``stop_training`` and ``history``, and a ``UseGuard`` as ``_guard``.
    optimizer : Optimizer
        Its ``epoch`` count (read by the schedules) advances once per epoch.
    epochs : int
    callbacks : list of Callback
    verbose : 0, 1 or 2
    validate : callable or None
        ``validate() -> {"loss": ..., "accuracy": ...}`` on the validation data,
        called after every epoch; its keys enter the logs as ``val_<key>``.
    """

    def __init__(self, model, optimizer, epochs, callbacks, verbose, validate=None):
        self.model = model
        self.optimizer = optimizer
        self.epochs = epochs
        self.validate = validate
        self.history = History()
        self.callbacks = [self.history] + list(callbacks)
        if verbose:
            self.callbacks.append(ProgressLogger(epochs, verbose))
        self._snapshot = None
        self._steps = 1

    def fit(self, runner):
        """Run ``runner`` for up to ``epochs`` epochs; returns the History.
        No other thread may use the model meanwhile (``model._guard``)."""
        guard = self.model._guard
        guard.begin_fit(self.model)
        try:
            self._steps = runner.steps_per_epoch
            runner.begin()
            for cb in self.callbacks:
                cb.set_model(self.model)
            self.model.history = self.history
            self.model.stop_training = False
            for cb in self.callbacks:
                cb.on_train_begin({})
            runner.run(self)
            for cb in self.callbacks:
                cb.on_train_end({})
        finally:
            guard.end_fit()
        return self.history

    def begin_epoch(self, epoch):
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, {})
        self._snapshot = self.model.get_weights(), self.optimizer.snapshot()

    def _restore(self):
        """Back to the start of the epoch: weights and optimizer state."""
        weights, optimizer_state = self._snapshot
        self.model.set_weights(weights)
        self.optimizer.restore(optimizer_state)

    def end_epoch(self, epoch, stats):
        """Check the epoch, log it and tell the callbacks; returns True to stop."""
        self.optimizer.epoch += 1
        lr = self.optimizer.lr
        if stats.failed_step >= 0:
            self._restore()
            value = "NaN or inf" if stats.failed_loss is None else stats.failed_loss
            raise TrainingDivergedError(
                f"the loss became {value} at epoch {epoch} (0-based), step "
                f"{stats.failed_step} of {self._steps}; the weights and the optimizer state "
                f"from the end of the last finite epoch were restored. Try a smaller learning "
                f"rate (lr={lr}).")
        # An update can overflow the weights while every loss stayed finite
        # (the epoch's last step, or saturated sigmoids): checking once per
        # epoch keeps every snapshot finite.
        if not all(np.isfinite(w).all() for w in self.model.get_weights()):
            self._restore()
            raise TrainingDivergedError(
                f"the weights became NaN or inf during epoch {epoch} (0-based), by step "
                f"{self._steps - 1} of {self._steps}, although every loss was finite; the "
                f"weights and the optimizer state from the end of the last finite epoch were "
                f"restored. Try a smaller learning rate (lr={lr}).")
        logs = {"loss": stats.loss_sum / stats.seen}
        if stats.correct is not None:
            logs["accuracy"] = stats.correct / stats.seen
        if self.validate is not None:
            logs.update({"val_" + key: value for key, value in self.validate().items()})
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)
        return bool(self.model.stop_training)
