"""Callbacks: code that runs between the epochs of ``fit`` (``fastnn.training``).

Hooks (all optional) receive a ``logs`` dict: ``on_train_begin(logs)``,
``on_epoch_begin(epoch, logs)``, ``on_epoch_end(epoch, logs)`` (logs hold the
epoch's ``loss``, ``accuracy`` and, with validation data, ``val_loss`` and
``val_accuracy``), ``on_train_end(logs)``. ``self.model`` is the model being
trained; setting ``self.model.stop_training = True`` ends training after the
current epoch.
"""

import math
import numbers
import sys
import time

from .progress import ProgressBar

__all__ = ["Callback", "History", "EarlyStopping", "ProgressLogger"]


class Callback:
    """Base class; override the hooks you need."""

    model = None

    def set_model(self, model):
        self.model = model

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass


class History(Callback):
    """Records every epoch's logs: ``history.history["loss"][epoch]``."""

    def __init__(self):
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.history = {}
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={sorted(self.history)})"


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs.

    Parameters
    ----------
    monitor : str
        A key of the epoch logs ("val_loss", "val_accuracy", "loss", "accuracy").
    patience : int >= 0
        Epochs without improvement to wait before stopping.
    min_delta : float >= 0
        Smallest change that counts as an improvement.
    mode : "auto", "min" or "max"
        Whether smaller or larger is better; "auto" picks "max" for names
        containing "acc", "min" otherwise.
    restore_best_weights : bool
        On stopping (or at the end of training), put back the weights of the
        best epoch.

    Attributes
    ----------
    stopped_epoch : int or None
        The epoch after which training was stopped.
    best_epoch : int or None
    best : float
    """

    def __init__(self, monitor="val_loss", patience=0, min_delta=0.0, mode="auto",
                 restore_best_weights=False):
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be a string, got {monitor!r}")
        if isinstance(patience, bool) or not isinstance(patience, numbers.Integral) \
                or patience < 0:
            raise ValueError(f"patience must be an integer >= 0, got {patience!r}")
        if isinstance(min_delta, bool) or not isinstance(min_delta, numbers.Real) \
                or not math.isfinite(min_delta) or min_delta < 0:
            raise ValueError(f"min_delta must be a finite number >= 0, got {min_delta!r}")
        if not isinstance(mode, str) or mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        if not isinstance(restore_best_weights, bool):
            raise TypeError(f"restore_best_weights must be True or False, got "
                            f"{restore_best_weights!r}")
        self.monitor = monitor
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.mode = ("max" if "acc" in monitor else "min") if mode == "auto" else mode
        self.restore_best_weights = bool(restore_best_weights)

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = None
        self.best_weights = None
        self.stopped_epoch = None

    def _improved(self, value):
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            raise ValueError(f"EarlyStopping monitors {self.monitor!r} but the epoch logs hold "
                             f"{sorted(logs)}; pass validation_data to fit or monitor one of "
                             f"those")
        value = logs[self.monitor]
        if self._improved(value):
            self.best = value
            self.best_epoch = epoch
            self.wait = 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class ProgressLogger(Callback):
    """Shows training progress: ``verbose=1`` a throttled bar over the epochs
    (only on a terminal), ``verbose=2`` one line per epoch (always)."""

    def __init__(self, epochs, verbose=1, file=None):
        self.epochs = epochs
        self.verbose = verbose
        self.file = sys.stderr if file is None else file
        self.bar = None

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()
        if self.verbose == 1:
            self.bar = ProgressBar(self.epochs, desc="fit", file=self.file, unit="epochs")

    @staticmethod
    def _format(logs):
        return " ".join(f"{k}={v:.4f}" for k, v in logs.items())

    def on_epoch_end(self, epoch, logs=None):
        text = self._format(logs or {})
        if self.bar is not None:
            self.bar.update(1, postfix=text)
        elif self.verbose == 2:
            elapsed = time.perf_counter() - self._start
            print(f"epoch {epoch + 1}/{self.epochs} {elapsed:.1f}s {text}", file=self.file,
                  flush=True)

    def on_train_end(self, logs=None):
        if self.bar is not None:
            self.bar.close()
