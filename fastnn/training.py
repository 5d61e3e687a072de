"""The training skeleton: the ``fit`` loop, written once for every model.

``Sequential.fit`` and ``Model.fit`` only convert their data and pick an
*epoch runner*; everything else lives here (the split of the Keras trainer:
data and steps in the runner, epochs, callbacks and validation in the loop):

- the argument checks every ``fit`` shares (``check_fit_arguments``);
- the callback list: ``History`` first, the user's callbacks, the callbacks
  that save the training state (``BackupAndRestore``, moved after the others
  so that what they save includes every other callback's epoch), and the
  progress logger last;
- per epoch: ``on_epoch_begin``, a snapshot of the weights and the optimizer
  state, the runner's steps in *chunks* (below), the divergence check (a
  NaN/inf loss or weight puts both back and raises
  ``TrainingDivergedError``), the ``logs`` (``loss``, ``accuracy`` where it
  means something, ``val_*`` from the validation callable),
  ``on_epoch_end``, and ``model.stop_training``.

**Chunks.** The loop asks the runner for a range of steps at a time,
``runner.run_steps(epoch, first, stop)``, sized by a ``ChunkClock`` so that a
chunk lasts about ``CHUNK_SECONDS`` (0.2 s): one step first, then as many as
the measured step time allows (growing at most 8-fold per chunk). Between
chunks the loop is back in Python: ``on_train_batch_end(step, logs)`` with
the running ``loss``/``accuracy`` of the epoch, the progress bar, Ctrl-C, and
the step-counted saves (a callback's ``step_interval`` N cuts the chunks at
every multiple of N steps). How an epoch is cut never changes the result:
a runner carries its example order, its generator and its running sums from
one chunk to the next.

**Ctrl-C.** While ``fit`` runs in the main thread under Python's default
SIGINT handler, a SIGINT only raises a flag; the loop raises
``KeyboardInterrupt`` at the next chunk boundary (within about 0.2 s), so the
model holds the weights of the last completed step and ``model.history``
what was recorded so far. A second Ctrl-C interrupts at once. Elsewhere
(another thread, an application's own handler) SIGINT keeps its behaviour.

The runner interface (``EpochRunner``) is documented below; the compiled fast
path (``fastnn.sequential``), the graph's mini-batch loop (``fastnn.model``)
and the full-batch solvers (``fastnn.solvers``, whose iterations scipy
drives: they override ``run(loop)``) are the runners today.
"""

from __future__ import annotations

import numbers
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from .callbacks import Callback, History, ProgressLogger
from .optimizers import SGD, Optimizer
from .validation import check_bool, check_positive_int

__all__ = ["TrainingDivergedError", "EpochStats", "EpochRunner", "TrainingLoop", "UseGuard",
           "ChunkClock", "CHUNK_SECONDS", "check_fit_arguments", "check_validation_pair",
           "fit_seed"]

#: Seconds of work per chunk of steps: how often the loop returns to Python
#: (progress, callbacks, Ctrl-C). None trains each epoch in one chunk.
CHUNK_SECONDS = 0.2


class TrainingDivergedError(FloatingPointError):
    """The loss or the weights became NaN or inf during ``fit``; the model
    holds the weights of the last epoch that ended finite, and the optimizer
    its state (momentum, moments, update and epoch counts) from then."""


@dataclass
class EpochStats:
    """What a runner measured over the steps of an epoch so far.

    loss_sum : sum over the examples trained on of their loss (dropout on).
    seen : number of examples trained on.
    correct : examples predicted right, or None where accuracy means nothing.
    failed_step : 0-based step of the epoch whose loss was NaN or inf (the
        epoch stopped there), or -1 when every loss was finite.
    failed_loss : that loss value, where the runner knows it.
    """

    loss_sum: float
    seen: int
    correct: Optional[int] = None
    failed_step: int = -1
    failed_loss: Optional[float] = None


class EpochRunner:
    """Base class of the epoch runners: how one model trains one epoch.

    A runner sets ``steps_per_epoch`` and implements either

    ``run_steps(epoch, first, stop) -> EpochStats``
        Train steps ``first .. stop - 1`` (0-based within the epoch, ``stop <=
        steps_per_epoch``) and return the stats of the epoch so far, steps
        ``0 .. stop - 1``. ``first == 0`` starts a new epoch (shuffle then, reset
        the running sums); otherwise the range continues exactly where the
        previous call (or ``set_state``) stopped, and ``first == stop`` only
        returns the stats so far. Any split of an epoch into ranges must give
        bitwise the same weights and stats as one range. The loop then cuts
        epochs into chunks of about ``CHUNK_SECONDS``.

    or ``run_epoch(epoch) -> EpochStats``, the whole epoch in one go (the loop
    then sees one chunk per epoch).

    Optional: ``begin()``, to set the model up once the loop owns it (after
    the thread guard, before ``on_train_begin``); and, to be resumable by
    ``BackupAndRestore`` (fastnn.checkpoints), ``parameters()`` (the arrays
    trained, in ``model.get_weights()`` order: the optimizer's state is looked
    up by them), ``get_state()`` (a dict of ints, floats, bools and NumPy
    arrays: the example order, the generator, the running sums, the update
    count) and ``set_state(state)``, which the loop calls after validating the
    whole checkpoint. A runner that drives its own iterations (a full-batch
    solver) overrides ``run(loop)`` and calls ``loop.begin_epoch``,
    ``loop.steps_done`` and ``loop.end_epoch`` itself.
    """

    steps_per_epoch = 1

    def begin(self) -> None:
        """Prepare the model for training; called once the loop owns the
        model (after the thread guard), before ``on_train_begin``."""

    def run_steps(self, epoch: int, first: int, stop: int) -> EpochStats:
        """Train steps [first, stop) of ``epoch``; EpochStats of steps [0, stop)."""
        raise NotImplementedError(f"{type(self).__name__} implements neither run_steps nor "
                                  f"run_epoch")

    def run_epoch(self, epoch: int) -> EpochStats:
        """Train one whole epoch (``epoch`` counted from 0); returns EpochStats."""
        return self.run_steps(epoch, 0, self.steps_per_epoch)

    @property
    def chunked(self) -> bool:
        """True when the runner trains ranges of steps (``run_steps``)."""
        return type(self).run_steps is not EpochRunner.run_steps

    def parameters(self) -> list[np.ndarray]:
        """The parameter arrays trained, in ``model.get_weights()`` order."""
        raise NotImplementedError(f"{type(self).__name__} cannot save its training state")

    def get_state(self) -> dict[str, Any]:
        """The runner's part of the training state (see the class docstring)."""
        raise NotImplementedError(f"{type(self).__name__} cannot save its training state")

    def set_state(self, state: dict[str, Any]) -> None:
        """Put back a ``get_state()`` (already checked by the caller)."""
        raise NotImplementedError(f"{type(self).__name__} cannot restore a training state")

    def run(self, loop: TrainingLoop) -> None:
        """Drive ``loop`` over its remaining epochs."""
        for epoch in loop.epochs_to_run():
            loop.begin_epoch(epoch)
            if loop.end_epoch(epoch, loop.train_epoch(self, epoch)):
                break


class ChunkClock:
    """How many steps the next chunk takes, so that it lasts about ``seconds``.

    Starts at one step; after each chunk the size becomes
    ``steps * seconds / elapsed`` of that chunk, at most ``growth`` times the
    previous size (so one fast first step cannot make a long chunk) and at
    least 1. ``seconds=None`` gives chunks of any length (whole epochs).
    """

    def __init__(self, seconds=CHUNK_SECONDS, growth=8):
        self.seconds = seconds
        self.growth = growth
        self.size = sys.maxsize if seconds is None else 1

    def record(self, steps, elapsed):
        """A chunk of ``steps`` steps took ``elapsed`` seconds."""
        if self.seconds is None or steps <= 0:
            return
        limit = self.size * self.growth
        wanted = limit if elapsed <= 0 else steps * self.seconds / elapsed
        self.size = max(1, int(min(wanted, limit)))


class _DeferredInterrupt:
    """Within ``with``: SIGINT sets a flag that ``check()`` turns into
    KeyboardInterrupt at a step boundary; a second SIGINT raises at once.
    Only in the main thread and over Python's default handler; otherwise it
    changes nothing. On leaving, a pending interrupt is raised."""

    def __init__(self):
        self.pending = False
        self._previous = None

    def _handler(self, signum, frame):
        if self.pending:
            raise KeyboardInterrupt
        self.pending = True

    def __enter__(self):
        self.pending = False
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def check(self):
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt

    def __exit__(self, exc_type, exc, tb):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        if exc_type is None:
            self.check()
        return False


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
    """Epochs, chunks of steps, callbacks, validation and divergence handling
    around a runner.

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
    progress_label : str or None
        What the progress display names the training by (``pretrain``'s
        "pretrain layer 2/3"); None: plain "epoch 3/30".

    Attributes (read by callbacks through ``self.loop``)
    ----------------------------------------------------
    runner : EpochRunner
    initial_epoch : int
        First epoch this fit trains (later than 0 when resumed from a backup).
    epoch, step : int
        The epoch in progress and the steps of it already done.
    global_step : int
        Steps done since the start of the training (resumes included).
    epoch_stats : EpochStats or None
        The current epoch's stats after its last chunk.
    user_callbacks : list of Callback
        The callbacks whose state a training-state file holds, in order.
    """

    def __init__(self, model, optimizer, epochs, callbacks, verbose, validate=None,
                 progress_label=None):
        self.model = model
        self.optimizer = optimizer
        self.epochs = epochs
        self.validate = validate
        self.history = History()
        callbacks = list(callbacks)
        savers = [cb for cb in callbacks if getattr(cb, "restores_training", False)]
        if len(savers) > 1:
            raise ValueError(f"callbacks hold {len(savers)} callbacks that restore the "
                             f"training state ({savers!r}); use one")
        self.user_callbacks = [cb for cb in callbacks if cb not in savers]
        self.callbacks = [self.history] + self.user_callbacks + savers
        self.progress = (ProgressLogger(epochs, verbose, label=progress_label) if verbose
                         else None)
        if self.progress is not None:
            self.callbacks.append(self.progress)
        self.runner = None
        self.initial_epoch = 0
        self.epoch = 0
        self.step = 0
        self.global_step = 0
        self.epoch_stats = None
        self.clock = ChunkClock(CHUNK_SECONDS)
        self._intervals = sorted({int(cb.step_interval) for cb in self.callbacks
                                  if getattr(cb, "step_interval", None)})
        self._interrupt = _DeferredInterrupt()
        self._snapshot = None
        self._steps = 1

    def fit(self, runner):
        """Run ``runner`` for up to ``epochs`` epochs; returns the History.
        No other thread may use the model meanwhile (``model._guard``)."""
        guard = self.model._guard
        guard.begin_fit(self.model)
        try:
            with self._interrupt:
                self.runner = runner
                self._steps = runner.steps_per_epoch
                runner.begin()
                for cb in self.callbacks:
                    cb.set_model(self.model)
                    cb.set_loop(self)
                self.model.history = self.history
                self.model.stop_training = False
                for cb in self.callbacks:
                    cb.on_train_begin({})
                runner.run(self)
                for cb in self.callbacks:
                    cb.on_train_end({})
        finally:
            if self.progress is not None:
                self.progress.close()
            # The loop (and the runner's compiled net) ends with the fit:
            # model.history stays a plain, picklable record.
            for cb in self.callbacks:
                cb.set_loop(None)
            guard.end_fit()
        return self.history

    def epochs_to_run(self):
        """The epochs left to train: from ``initial_epoch`` to ``epochs - 1``,
        none when a restored state had already stopped training."""
        if self.model.stop_training:
            return range(0)
        return range(self.initial_epoch, self.epochs)

    def begin_epoch(self, epoch):
        self.epoch = epoch
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, {})
        self._snapshot = self.model.get_weights(), self.optimizer.snapshot()
        self._interrupt.check()

    def restore_snapshot(self):
        """Back to the start of the epoch: weights and optimizer state."""
        weights, optimizer_state = self._snapshot
        self.model.set_weights(weights)
        self.optimizer.restore(optimizer_state)

    _restore = restore_snapshot

    def check_interrupt(self):
        """Raise KeyboardInterrupt if Ctrl-C was pressed since the last check."""
        self._interrupt.check()

    def train_epoch(self, runner, epoch):
        """The steps of ``epoch`` that are left, in chunks; the epoch's stats."""
        n = runner.steps_per_epoch
        if not runner.chunked:
            stats = runner.run_epoch(epoch)
            if stats.failed_step < 0:
                self.steps_done(epoch, n, stats)
            return stats
        first = self.step
        if first >= n:       # resumed from a save at the epoch's last step
            return runner.run_steps(epoch, n, n)
        while first < n:
            stop = self._chunk_stop(first, n)
            start = time.perf_counter()
            stats = runner.run_steps(epoch, first, stop)
            self.clock.record(stop - first, time.perf_counter() - start)
            if stats.failed_step >= 0:
                return stats
            self.steps_done(epoch, stop, stats)
            first = stop
        return stats

    def _chunk_stop(self, first, n):
        """End of the next chunk: the clock's size, cut at the epoch's end and
        at the next multiple of every callback's ``step_interval``."""
        stop = min(n, first + self.clock.size)
        for interval in self._intervals:
            stop = min(stop, first + interval - self.global_step % interval)
        return stop

    def steps_done(self, epoch, stop, stats, check_interrupt=True):
        """Steps up to ``stop`` of ``epoch`` are done: count them, tell the
        callbacks (``on_train_batch_end(stop - 1, logs)`` with the epoch's
        running ``loss``/``accuracy``) and honour a Ctrl-C (unless the caller
        checks later, ``check_interrupt=False``)."""
        self.global_step += stop - self.step
        self.step = stop
        self.epoch_stats = stats
        logs = self._logs(stats)
        for cb in self.callbacks:
            cb.on_train_batch_end(stop - 1, logs)
        if check_interrupt:
            self._interrupt.check()

    @staticmethod
    def _logs(stats):
        logs = {"loss": stats.loss_sum / stats.seen if stats.seen else float("nan")}
        if stats.correct is not None:
            logs["accuracy"] = stats.correct / stats.seen if stats.seen else float("nan")
        return logs

    def end_epoch(self, epoch, stats):
        """Check the epoch, log it and tell the callbacks; returns True to stop."""
        self.optimizer.epoch += 1
        lr = self.optimizer.lr
        if stats.failed_step >= 0:
            self.restore_snapshot()
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
            self.restore_snapshot()
            raise TrainingDivergedError(
                f"the weights became NaN or inf during epoch {epoch} (0-based), by step "
                f"{self._steps - 1} of {self._steps}, although every loss was finite; the "
                f"weights and the optimizer state from the end of the last finite epoch were "
                f"restored. Try a smaller learning rate (lr={lr}).")
        logs = self._logs(stats)
        if self.validate is not None:
            logs.update({"val_" + key: value for key, value in self.validate().items()})
        # The epoch is complete: a state saved from on_epoch_end resumes at the next.
        self.epoch, self.step, self.epoch_stats = epoch + 1, 0, None
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)
        return bool(self.model.stop_training)
