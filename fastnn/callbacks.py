"""Callbacks: code that runs inside ``fit`` (``fastnn.training``).

Hooks (all optional) receive a ``logs`` dict: ``on_train_begin(logs)``,
``on_epoch_begin(epoch, logs)``, ``on_train_batch_end(step, logs)`` (after
each chunk of steps, about every 0.2 s: ``step`` is the 0-based index in the
epoch of the chunk's last step, logs hold the epoch's running ``loss`` and
``accuracy``), ``on_epoch_end(epoch, logs)`` (logs hold the epoch's
``loss``, ``accuracy`` and, with validation data, ``val_loss`` and
``val_accuracy``), ``on_train_end(logs)``. ``self.model`` is the model being
trained; setting ``self.model.stop_training = True`` ends training after the
current epoch. ``self.loop`` is the ``TrainingLoop`` running the fit (its
``epoch``, ``step``, ``global_step``, ``runner``).

A callback with state that must survive a crash (``BackupAndRestore``,
fastnn.checkpoints) returns it from ``get_state()`` as a dict of ints,
floats, strings, bools, None, lists and NumPy arrays, and takes it back in
``set_state(state)``; a class attribute ``step_interval = N`` makes the loop
end a chunk at every multiple of N steps, so ``on_train_batch_end`` sees each.
"""

from __future__ import annotations

import math
import numbers
import sys
import time
from typing import TYPE_CHECKING, Any, Literal, TextIO

from .progress import ProgressBar

if TYPE_CHECKING:
    from .training import TrainingLoop

__all__ = ["Callback", "History", "EarlyStopping", "ProgressLogger"]


class Callback:
    """Base class; override the hooks you need."""

    model = None
    loop = None
    step_interval = None

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_loop(self, loop: TrainingLoop) -> None:
        self.loop = loop

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        pass

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        pass

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        pass

    def on_train_batch_end(self, step: int, logs: dict[str, float] | None = None) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        pass

    def get_state(self) -> dict[str, Any]:
        """What a training-state file keeps of this callback (a dict)."""
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        """Take back a ``get_state()`` when ``fit`` resumes from a backup."""


class History(Callback):
    """Records every epoch's logs: ``history.history["loss"][epoch]``."""

    def __init__(self) -> None:
        self.history: dict[str, list[Any]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        self.history = {}
        self.epoch = []

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def get_state(self) -> dict[str, Any]:
        return {"history": {key: list(values) for key, values in self.history.items()},
                "epoch": list(self.epoch)}

    def set_state(self, state: dict[str, Any]) -> None:
        self.history = {key: list(values) for key, values in state["history"].items()}
        self.epoch = list(state["epoch"])

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

    def __init__(self, monitor: str = "val_loss", patience: int = 0, min_delta: float = 0.0,
                 mode: Literal["auto", "min", "max"] = "auto",
                 restore_best_weights: bool = False) -> None:
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

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        self.wait = 0
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = None
        self.best_weights = None
        self.stopped_epoch = None

    def _improved(self, value):
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
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

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)

    def get_state(self) -> dict[str, Any]:
        return {"wait": self.wait, "best": self.best, "best_epoch": self.best_epoch,
                "stopped_epoch": self.stopped_epoch, "best_weights": self.best_weights}

    def set_state(self, state: dict[str, Any]) -> None:
        self.wait = int(state["wait"])
        self.best = float(state["best"])
        self.best_epoch = state["best_epoch"]
        self.stopped_epoch = state["stopped_epoch"]
        weights = state["best_weights"]
        self.best_weights = None if weights is None else [w.copy() for w in weights]


class ProgressLogger(Callback):
    """Shows training progress.

    ``verbose=1`` (drawn only on a terminal, throttled): with several steps
    per epoch, Keras's manner, one line per epoch that moves within it
    (``epoch 3/30 [====>.....] 1200/5000 steps 2.1s 41.2k ex/s loss=0.3456
    ETA 3.1s``) and ends with the epoch's logs; with one step per epoch (the
    full-batch solvers: an epoch is an iteration) one bar over the epochs.
    ``verbose=2`` one line per epoch (always). ``label`` (e.g. "pretrain
    layer 2/3") goes before every line, with a colon.
    """

    def __init__(self, epochs: int, verbose: int = 1, file: TextIO | None = None,
                 min_interval: float = 0.1, label: str | None = None) -> None:
        self.epochs = epochs
        self.verbose = verbose
        self.label = label
        self.file = sys.stderr if file is None else file
        self.min_interval = min_interval
        self.bar = None
        self._per_epoch = False

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        self._start = time.perf_counter()
        steps = self.loop.runner.steps_per_epoch if self.loop is not None else 1
        self._per_epoch = steps > 1
        self._steps = steps
        if self.verbose == 1 and not self._per_epoch:
            self.bar = ProgressBar(self.epochs, desc=self.label or "fit", file=self.file,
                                   unit="epochs",
                                   min_interval=self.min_interval)
            if self.loop is not None and self.loop.initial_epoch:
                self.bar.update(self.loop.initial_epoch)

    def _prefix(self, epoch):
        text = f"epoch {epoch + 1}/{self.epochs}"
        return f"{self.label}: {text}" if self.label else text

    @staticmethod
    def _format(logs):
        return " ".join(f"{k}={v:.4f}" for k, v in logs.items())

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        if self.verbose == 1 and self._per_epoch:
            self.bar = ProgressBar(self._steps, desc=self._prefix(epoch),
                                   file=self.file, unit="steps",
                                   min_interval=self.min_interval)
            done = self.loop.step if self.loop is not None else 0
            self.bar.count = done
            self._epoch_start, self._first_step = time.perf_counter(), done

    def on_train_batch_end(self, step: int, logs: dict[str, float] | None = None) -> None:
        if self.bar is None or not self._per_epoch or not self.bar.enabled:
            return
        done = step + 1
        elapsed = time.perf_counter() - self._epoch_start
        text = self._format(logs or {})
        ran = done - self._first_step
        if elapsed > 0 and ran > 0 and self.loop is not None and self.loop.epoch_stats:
            per_step = elapsed / ran
            rate = self.loop.epoch_stats.seen / done / per_step
            text = f"{_si(rate)} ex/s {text} ETA {(self._steps - done) * per_step:.1f}s"
        self.bar.update(done - self.bar.count, postfix=text)

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        text = self._format(logs or {})
        if self.bar is not None and self._per_epoch:
            self.bar.count = self._steps
            self.bar.close(postfix=text)
            self.bar = None
        elif self.bar is not None:
            self.bar.update(1, postfix=text)
        elif self.verbose == 2:
            elapsed = time.perf_counter() - self._start
            print(f"{self._prefix(epoch)} {elapsed:.1f}s {text}", file=self.file, flush=True)

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        self.close()

    def close(self) -> None:
        """End the bar's line (also when fit is interrupted)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _si(x):
    """12345.6 -> '12.3k' (three significant digits)."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if x >= scale:
            return f"{x / scale:.3g}{suffix}"
    return f"{x:.3g}"
