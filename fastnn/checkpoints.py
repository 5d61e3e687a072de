"""Training-state files: crash-safe backups and checkpoints of a ``fit``.

A training-state file holds everything a fit needs to continue bitwise where
it stopped:

- the weights (``model.get_weights()`` order);
- the optimizer's type, its state arrays per parameter (momentum, Adagrad
  sums, Adam moments), its update count ``t`` and epoch count (the
  schedules' position: every schedule is a function of these two);
- the epoch and the step within it, the steps done over the whole training;
- the runner's state: the example order, the shuffling and dropout
  generator (one xoshiro256++ state), the epoch's running loss and accuracy
  sums;
- the History, the state of every other callback (``Callback.get_state``:
  EarlyStopping's best, wait and best weights, ModelCheckpoint's best) and
  ``model.stop_training``.

**Format** (version ``VERSION``): a NumPy ``.npz`` archive, read without
pickle. Its entry ``state`` is a 0-d unicode array holding JSON
``{"format": "fastnn.training_state", "version": 1, "architecture": ...,
...}`` in which each NumPy array is replaced by ``{"__array__": "a<i>"}``,
the name of the archive entry that holds it. Floats go through JSON's
shortest round-trip repr, so they come back bit for bit.

**Crash safety.** A file is written to ``.<name>.tmp`` beside it, flushed,
fsync'ed, renamed over the target (atomic on POSIX and Windows) and the
directory fsync'ed: after a crash at any instant the target holds the old
state or the new one, complete.

**Errors.** ``read_state`` and the restores raise ``CheckpointError`` (a
ValueError) naming the file, before anything is changed, for a truncated or
corrupted file (the archive's CRC-32s are checked), a file of another
format, a newer format version, another architecture, another optimizer or
data set size, or callbacks that differ from the ones that saved it.

``BackupAndRestore`` and ``ModelCheckpoint`` are the callbacks that write
these files; ``load_weights(model, path)`` puts a file's weights into a
model.
"""

from __future__ import annotations

import contextlib
import json
import numbers
import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

import numpy as np

from .callbacks import Callback
from .layers import Dense
from .sequential import Sequential

if TYPE_CHECKING:
    from .model import Model
    from .training import TrainingLoop

__all__ = ["BackupAndRestore", "ModelCheckpoint", "CheckpointError", "load_weights",
           "read_state", "write_state", "capture", "restore", "checked_restore", "rank_part",
           "rank_view", "architecture", "FORMAT", "VERSION"]

FORMAT = "fastnn.training_state"
VERSION = 1


class CheckpointError(ValueError):
    """A training-state file cannot be used (the message names the file and
    why); nothing was changed."""


# ----------------------------------------------------------------- the file ---

def _encode(value, arrays):
    """``value`` as JSON-able data, each array moved into ``arrays``."""
    if isinstance(value, np.ndarray):
        name = f"a{len(arrays)}"
        arrays[name] = value
        return {"__array__": name}
    if isinstance(value, dict):
        return {str(k): _encode(v, arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v, arrays) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"a training state holds numbers, strings, lists, dicts and arrays, "
                    f"got {type(value).__name__}: {value!r}")


def _decode(value, arrays):
    if isinstance(value, dict):
        if set(value) == {"__array__"}:
            return arrays[value["__array__"]]
        return {k: _decode(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    return value


def _fsync_directory(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:          # a platform that cannot open directories (Windows)
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_state(path: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """Write the training ``state`` (a dict, as from ``capture``) to ``path``
    atomically (see the module docstring); returns the Path."""
    path = Path(path)
    arrays = {}
    header = _encode(dict(state, format=FORMAT, version=VERSION), arrays)
    arrays["state"] = np.array(json.dumps(header))
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(path.parent if str(path.parent) else ".")
    return path


def read_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The training state stored in ``path`` (arrays as NumPy arrays).

    Raises FileNotFoundError when there is no file and CheckpointError when
    it is not a complete training-state file of a version this fastnn reads.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no training-state file at {path}")
    try:
        if not zipfile.is_zipfile(path):
            raise CheckpointError(f"{path} is not a fastnn training-state file (not an .npz "
                                  f"archive; truncated or corrupted?)")
        with np.load(path, allow_pickle=False) as archive:
            if "state" not in archive.files:
                raise CheckpointError(f"{path} is not a fastnn training-state file: no "
                                      f"'state' entry")
            header = json.loads(str(archive["state"][()]))
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                found = header.get("format") if isinstance(header, dict) else header
                raise CheckpointError(f"{path} is not a fastnn training-state file: format "
                                      f"{found!r}")
            version = header.get("version")
            if not isinstance(version, int) or version > VERSION or version < 1:
                raise CheckpointError(f"{path} has training-state format version {version!r}; "
                                      f"this fastnn reads versions up to {VERSION} (written "
                                      f"by a newer fastnn?)")
            arrays = {name: archive[name] for name in archive.files if name != "state"}
        return _decode(header, arrays)
    except CheckpointError:
        raise
    except (OSError, ValueError, EOFError, KeyError, TypeError, RecursionError,
            zipfile.BadZipFile, UnicodeError) as exc:
        raise CheckpointError(f"{path} is not a readable fastnn training-state file "
                              f"(truncated or corrupted?): {type(exc).__name__}: "
                              f"{exc}") from None


# ------------------------------------------------------------ the state ---

def architecture(model: Sequential | Model) -> dict[str, Any]:
    """What a state file records of the model to recognise it: layers and
    loss of a Sequential, the parameter shapes of a graph Model; and the dtype."""
    if isinstance(model, Sequential):
        layers = [["Dense", layer.n_in, layer.n_out, layer.activation, layer.b is not None]
                  if isinstance(layer, Dense) else ["Dropout", layer.p, layer.scale]
                  for layer in model.layers]
        return {"model": "Sequential", "loss": model.loss, "dtype": model.dtype.name,
                "layers": layers}
    return {"model": type(model).__name__, "dtype": np.dtype(model.dtype).name,
            "parameters": [list(w.shape) for w in model.get_weights()]}


def capture(loop: TrainingLoop) -> dict[str, Any]:
    """The training state of a running ``TrainingLoop`` (module docstring).
    A runner that cannot save its state (a full-batch solver) gives
    ``runner: None``: such a state restores weights but cannot resume."""
    runner, optimizer, model = loop.runner, loop.optimizer, loop.model
    try:
        params = runner.parameters()
        runner_state = runner.get_state()
    except NotImplementedError:
        params, runner_state = [], None
    return {
        "architecture": architecture(model),
        "weights": model.get_weights(),
        "optimizer": {"type": type(optimizer).__name__, "t": int(optimizer.t),
                      "epoch": int(optimizer.epoch),
                      "state": [[a.copy() for a in optimizer.state(p)] for p in params]},
        "epoch": loop.epoch, "step": loop.step, "global_step": loop.global_step,
        "steps_per_epoch": runner.steps_per_epoch,
        "examples": getattr(runner, "n_examples", None),
        "runner": runner_state,
        "history": loop.history.get_state(),
        "callbacks": capture_callbacks(loop),
        "stop_training": bool(loop.model.stop_training),
    }


def capture_callbacks(loop: TrainingLoop) -> list[dict[str, Any]]:
    """The type and ``get_state()`` of each of the loop's user callbacks."""
    return [{"type": type(cb).__name__, "state": cb.get_state()} for cb in loop.user_callbacks]


def _describe(arch):
    if arch.get("model") == "Sequential" and isinstance(arch.get("layers"), list):
        parts = [f"{spec[1]}->{spec[2]} {spec[3]}" if spec[0] == "Dense" else f"Dropout({spec[1]})"
                 for spec in arch["layers"]]
        return f"Sequential[{', '.join(parts)}] loss={arch.get('loss')} {arch.get('dtype')}"
    return f"{arch.get('model')} with parameters {arch.get('parameters')} {arch.get('dtype')}"


def _check_weights(path, saved, model):
    current = model.get_weights()
    if not isinstance(saved, list) or len(saved) != len(current):
        raise CheckpointError(f"{path} holds {len(saved) if isinstance(saved, list) else saved!r}"
                              f" weight arrays, the model has {len(current)}")
    for i, (s, c) in enumerate(zip(saved, current)):
        if not isinstance(s, np.ndarray) or s.shape != c.shape or s.dtype != c.dtype:
            got = f"{s.dtype}{s.shape}" if isinstance(s, np.ndarray) else repr(s)
            raise CheckpointError(f"{path}: weight array {i} is {got}, the model's is "
                                  f"{c.dtype}{c.shape}")
        if not np.isfinite(s).all():
            raise CheckpointError(f"{path}: weight array {i} holds NaN or inf")


def _check_architecture(path, state, model):
    saved, current = state.get("architecture"), architecture(model)
    if saved != current:
        shown = _describe(saved) if isinstance(saved, dict) else repr(saved)
        raise CheckpointError(f"{path} was written for another architecture: {shown}; this "
                              f"model is {_describe(current)}")
    _check_weights(path, state.get("weights"), model)


def _same_layout(saved, current):
    """saved has current's keys and, for each array, its shape and dtype."""
    if not isinstance(saved, dict) or set(saved) != set(current):
        return False
    for key, value in current.items():
        other = saved[key]
        if isinstance(value, np.ndarray):
            if not isinstance(other, np.ndarray) or other.shape != value.shape \
                    or other.dtype != value.dtype:
                return False
        elif isinstance(value, (list, tuple)):
            if not isinstance(other, list) or len(other) != len(value):
                return False
        elif isinstance(value, numbers.Number) != isinstance(other, numbers.Number):
            return False
    return True


def restore(loop: TrainingLoop, state: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Put ``state`` (from ``read_state(path)``) into a ``TrainingLoop`` that
    has run ``on_train_begin``: the fit then resumes at the saved epoch and
    step. Everything is checked first; a CheckpointError changes nothing."""
    checked_restore(loop, state, path)()


def checked_restore(loop: TrainingLoop, state: dict[str, Any],
                    path: str | os.PathLike[str]) -> Callable[[], None]:
    """``restore`` in two halves: checks everything now (CheckpointError,
    nothing changed) and returns the function that applies the state."""
    model, optimizer, runner = loop.model, loop.optimizer, loop.runner
    try:
        _check_architecture(path, state, model)
        if state.get("ranks") is not None:
            raise CheckpointError(f"{path} was written by a data-parallel fit on "
                                  f"{len(state['ranks'])} MPI ranks; resume it with comm= on "
                                  f"as many ranks")
        saved_opt = state["optimizer"]
        if saved_opt["type"] != type(optimizer).__name__:
            raise CheckpointError(f"{path} was written by a fit with {saved_opt['type']}, this "
                                  f"fit uses {type(optimizer).__name__}")
        if state["runner"] is None:
            raise CheckpointError(f"{path} holds no resumable runner state (it was written by "
                                  f"a full-batch solver's fit); only its weights can be loaded "
                                  f"(fastnn.checkpoints.load_weights)")
        params = runner.parameters()
        current = [optimizer.state(p) for p in params]
        saved_arrays = saved_opt["state"]
        if len(saved_arrays) != len(current) or any(
                len(s) != len(c) or any(not isinstance(a, np.ndarray) or a.shape != b.shape
                                        or a.dtype != b.dtype for a, b in zip(s, c))
                for s, c in zip(saved_arrays, current)):
            raise CheckpointError(f"{path}: the optimizer state does not fit this model and "
                                  f"{type(optimizer).__name__}")
        n = runner.steps_per_epoch
        if state["steps_per_epoch"] != n or state["examples"] != getattr(runner, "n_examples",
                                                                            None):
            raise CheckpointError(f"{path} was written by a fit over {state['examples']} "
                                  f"examples in {state['steps_per_epoch']} steps per epoch; "
                                  f"this fit has {getattr(runner, 'n_examples', None)} in {n}")
        if not _same_layout(state["runner"], runner.get_state()):
            raise CheckpointError(f"{path}: the runner state does not fit this fit "
                                  f"({type(runner).__name__})")
        epoch, step, global_step = state["epoch"], state["step"], state["global_step"]
        if not all(isinstance(v, int) and v >= 0 for v in (epoch, step, global_step)) \
                or step > n:
            raise CheckpointError(f"{path}: bad position epoch={epoch!r}, step={step!r}")
        names = [type(cb).__name__ for cb in loop.user_callbacks]
        saved_cbs = state["callbacks"]
        if [entry["type"] for entry in saved_cbs] != names:
            raise CheckpointError(f"{path} was written with the callbacks "
                                  f"{[entry['type'] for entry in saved_cbs]}, this fit has "
                                  f"{names}; pass the same callbacks to resume")
        for cb, entry in zip(loop.user_callbacks, saved_cbs):
            if set(entry["state"]) != set(cb.get_state()):
                raise CheckpointError(f"{path}: the saved state of {type(cb).__name__} has "
                                      f"keys {sorted(entry['state'])}, expected "
                                      f"{sorted(cb.get_state())}")
        history = state["history"]
        if not isinstance(history, dict) or set(history) != {"history", "epoch"}:
            raise CheckpointError(f"{path}: malformed history")
    except (KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{path}: malformed training state ({type(exc).__name__}: "
                              f"{exc})") from None

    def apply():
        model.set_weights(state["weights"])
        for targets, saved in zip(current, saved_arrays):
            for target, value in zip(targets, saved):
                target[...] = value
        optimizer.t, optimizer.epoch = int(saved_opt["t"]), int(saved_opt["epoch"])
        runner.set_state(state["runner"])
        loop.history.set_state(history)
        for cb, entry in zip(loop.user_callbacks, saved_cbs):
            cb.set_state(entry["state"])
        loop.initial_epoch = loop.epoch = epoch
        loop.step, loop.global_step = step, global_step
        model.stop_training = bool(state["stop_training"])

    return apply


# ------------------------------------------------- data-parallel fits ---

def rank_part(loop: TrainingLoop) -> dict[str, Any]:
    """What a data-parallel fit's ranks do not share: the runner's state
    (each rank's generator, example order and sums), its shard's size, its
    callbacks' states (a rank may have callbacks of its own, such as a
    ModelCheckpoint on rank 0) and, when the runner keeps the optimizer
    state per rank (local SGD), that state."""
    runner, optimizer = loop.runner, loop.optimizer
    part = {"runner": runner.get_state(), "examples": runner.n_examples, "optimizer": None,
            "callbacks": capture_callbacks(loop)}
    if getattr(runner, "per_rank_optimizer_state", False):
        part["optimizer"] = [[a.copy() for a in optimizer.state(p)]
                             for p in runner.parameters()]
    return part


def rank_view(state: dict[str, Any], rank: int, size: int,
              path: str | os.PathLike[str]) -> dict[str, Any]:
    """The state file of a data-parallel fit (``capture`` of rank 0 with
    ``ranks``, every rank's ``rank_part``) as rank ``rank`` of ``size``
    restores it; CheckpointError when it was written on another number of
    ranks."""
    ranks = state.get("ranks")
    if not isinstance(ranks, list):
        raise CheckpointError(f"{path} was written by a fit in one process; this fit runs on "
                              f"{size} MPI ranks")
    if len(ranks) != size:
        raise CheckpointError(f"{path} was written by a data-parallel fit on {len(ranks)} MPI "
                              f"ranks; this fit runs on {size}")
    try:
        part = ranks[rank]
        view = dict(state, runner=part["runner"], examples=part["examples"],
                    callbacks=part["callbacks"], ranks=None)
        if part["optimizer"] is not None:
            view["optimizer"] = dict(state["optimizer"], state=part["optimizer"])
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: malformed per-rank state ({type(exc).__name__}: "
                              f"{exc})") from None
    return view


def load_weights(model: Sequential | Model, path: str | os.PathLike[str]) -> None:
    """Copy the weights stored in a training-state file (a ModelCheckpoint or
    a backup) into ``model``, after checking that the file was written for
    its architecture; raises CheckpointError otherwise, the model unchanged."""
    state = read_state(path)
    try:
        _check_architecture(path, state, model)
    except (KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{path}: malformed training state ({type(exc).__name__}: "
                              f"{exc})") from None
    model.set_weights(state["weights"])


# ------------------------------------------------------------- callbacks ---

def _check_path(name, value):
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or os.PathLike), got {value!r}")
    if not str(value):
        raise ValueError(f"{name} must not be empty, got {value!r}")
    return value


def _check_save_freq(save_freq):
    if save_freq == "epoch":
        return None
    if isinstance(save_freq, bool) or not isinstance(save_freq, numbers.Integral) \
            or save_freq < 1:
        raise ValueError(f"save_freq must be 'epoch' or a positive number of steps, got "
                         f"{save_freq!r}")
    return int(save_freq)


class BackupAndRestore(Callback):
    """Back up the whole training state so that a killed ``fit`` resumes.

    Keras's semantics: when ``fit`` starts and ``backup_dir`` holds a backup,
    the fit resumes from it (weights, optimizer, epoch and step, generators,
    History, callbacks' state: see the module docstring), and continues as if
    it had never stopped: a process killed (even by SIGKILL, even while
    saving) and started again with the same command ends with bitwise the
    same weights as a run never interrupted. While training it saves after
    every epoch (``save_freq="epoch"``) or every ``save_freq`` steps (counted
    over the whole training; the loop ends a chunk at each multiple). When
    the training ends normally the backup is deleted (``delete_checkpoint``),
    so the next ``fit`` starts afresh; an exception (Ctrl-C, a crash,
    TrainingDivergedError) leaves it.

    The loop runs this callback after the other callbacks, whatever its
    place in the list, so a backup includes their epoch. Resuming needs the
    same model, optimizer type, data size, batch size and callbacks (checked:
    CheckpointError otherwise); the data's values are not checked. Works with
    ``Sequential.fit`` and ``Model.fit`` for SGD, Adagrad and Adam; the
    full-batch solvers are refused (scipy keeps their iteration state). A
    resume inside an epoch restores the resume point, not the epoch's start,
    if that epoch then diverges.

    In a data-parallel fit (``comm=``) rank 0 alone reads and writes the
    file, after every epoch (``save_freq="epoch"`` only): it holds rank 0's
    state and each rank's own part (``rank_part``: generator, example order,
    shard size; with local SGD the optimizer state), gathered with the
    fit's failure-safe collectives. Resuming needs as many ranks; rank 0
    reads the file and sends it to the others, so it need not be on a shared
    file system.

    Parameters
    ----------
    backup_dir : str or os.PathLike
        Created if missing; holds ``training_state.npz``.
    save_freq : "epoch" or int > 0
    delete_checkpoint : bool
    """

    restores_training = True
    _comm = None           # the data-parallel fit's Communicator, set in on_train_begin
    FILENAME = "training_state.npz"

    def __init__(self, backup_dir: str | os.PathLike[str],
                 save_freq: Literal["epoch"] | int = "epoch",
                 delete_checkpoint: bool = True) -> None:
        self.backup_dir = Path(_check_path("backup_dir", backup_dir))
        self.save_freq = save_freq
        self.step_interval = _check_save_freq(save_freq)
        if not isinstance(delete_checkpoint, bool):
            raise TypeError(f"delete_checkpoint must be True or False, got "
                            f"{delete_checkpoint!r}")
        self.delete_checkpoint = delete_checkpoint

    @property
    def path(self) -> Path:
        return self.backup_dir / self.FILENAME

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        runner = self.loop.runner
        try:
            runner.get_state()
        except NotImplementedError as exc:
            raise TypeError(f"BackupAndRestore cannot resume this fit: {exc}") from None
        # The data-parallel runner's Communicator (fastnn.distributed), or None.
        self._comm = comm = getattr(runner, "comm", None)
        if comm is None:
            state = self._read()
            if state is not None:
                restore(self.loop, state, self.path)
            return
        # Data-parallel: rank 0 reads, every rank checks its view, and only
        # when every rank's check passed does any rank apply it.
        state = comm.run_agreed(self._read_on_root, comm.rank)[0]
        if state is None:
            return
        try:
            apply = checked_restore(self.loop, rank_view(state, comm.rank, comm.size,
                                                         self.path), self.path)
        except Exception as exc:       # noqa: BLE001 -- every rank raises
            comm.agree(error=exc)
        comm.agree()
        apply()

    def _read(self):
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        return read_state(self.path) if self.path.exists() else None

    def _read_on_root(self, rank):
        if self.step_interval is not None:
            raise ValueError(f"BackupAndRestore(save_freq={self.save_freq!r}) saves within "
                             f"epochs, which a data-parallel fit does not stop at; use "
                             f"save_freq='epoch'")
        return self._read() if rank == 0 else None

    def _save(self):
        write_state(self.path, capture(self.loop))

    def _save_on_root(self, rank, parts):
        if rank == 0:
            write_state(self.path, dict(capture(self.loop), ranks=parts))

    def on_train_batch_end(self, step: int, logs: dict[str, float] | None = None) -> None:
        if self.step_interval and self.loop.global_step % self.step_interval == 0:
            self._save()

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        comm = self._comm
        if comm is not None:
            parts = comm.agree(rank_part(self.loop))
            comm.run_agreed(self._save_on_root, comm.rank, parts)
        elif self.step_interval is None:
            self._save()

    def _delete(self, rank=0):
        if rank == 0 and self.delete_checkpoint and self.path.exists():
            self.path.unlink()
            _fsync_directory(self.backup_dir)

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        if self._comm is None:
            self._delete()
        else:
            self._comm.run_agreed(self._delete, self._comm.rank)

    def __repr__(self):
        return (f"BackupAndRestore({str(self.backup_dir)!r}, save_freq={self.save_freq!r}, "
                f"delete_checkpoint={self.delete_checkpoint})")


class ModelCheckpoint(Callback):
    """Save the training state (weights and all) to ``path`` while training.

    Keras's semantics: after every epoch (``save_freq="epoch"``) or every
    ``save_freq`` steps; ``path`` may hold ``str.format`` fields filled with
    ``epoch`` (1-based, as Keras), ``step`` (steps done over the training) and
    the logs (``"model-{epoch:02d}-{val_loss:.3f}.npz"``). With
    ``save_best_only`` a file is written only when ``monitor`` improves (and a
    fixed path then always holds the best model so far). Read a file back with
    ``fastnn.checkpoints.load_weights(model, path)``. Files are written
    atomically, in the format of the module docstring.

    Parameters
    ----------
    path : str or os.PathLike
    monitor : str
        A log key ("val_loss", "val_accuracy", "loss", "accuracy"), used with
        ``save_best_only``.
    save_best_only : bool
    mode : "auto", "min" or "max"
        "auto" is "max" for names containing "acc", else "min".
    save_freq : "epoch" or int > 0
    """

    def __init__(self, path: str | os.PathLike[str], monitor: str = "val_loss",
                 save_best_only: bool = False, mode: Literal["auto", "min", "max"] = "auto",
                 save_freq: Literal["epoch"] | int = "epoch") -> None:
        self.path = _check_path("path", path)
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be a string, got {monitor!r}")
        if not isinstance(save_best_only, bool):
            raise TypeError(f"save_best_only must be True or False, got {save_best_only!r}")
        if not isinstance(mode, str) or mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor = monitor
        self.save_best_only = save_best_only
        self.mode = ("max" if "acc" in monitor else "min") if mode == "auto" else mode
        self.save_freq = save_freq
        self.step_interval = _check_save_freq(save_freq)
        self.best = None
        self.last_path = None

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        self.best = None

    def _target(self, epoch, logs):
        try:
            return Path(str(self.path).format(epoch=epoch + 1, step=self.loop.global_step,
                                              **logs))
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"ModelCheckpoint path {str(self.path)!r} cannot be formatted "
                             f"with epoch, step and the logs {sorted(logs)}: "
                             f"{type(exc).__name__}: {exc}") from None

    def _save(self, epoch, logs):
        logs = logs or {}
        if self.save_best_only:
            if self.monitor not in logs:
                raise ValueError(f"ModelCheckpoint monitors {self.monitor!r} but the logs "
                                 f"hold {sorted(logs)}; pass validation_data to fit or "
                                 f"monitor one of those")
            value = logs[self.monitor]
            better = self.best is None or (value < self.best if self.mode == "min"
                                           else value > self.best)
            if not better:
                return
            self.best = float(value)
        self.last_path = write_state(self._target(epoch, logs), capture(self.loop))

    def on_train_batch_end(self, step: int, logs: dict[str, float] | None = None) -> None:
        if self.step_interval and self.loop.global_step % self.step_interval == 0:
            self._save(self.loop.epoch, logs)

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        if self.step_interval is None:
            self._save(epoch, logs)

    def get_state(self) -> dict[str, Any]:
        return {"best": self.best}

    def set_state(self, state: dict[str, Any]) -> None:
        self.best = state["best"]

    def __repr__(self):
        return (f"ModelCheckpoint({str(self.path)!r}, monitor={self.monitor!r}, "
                f"save_best_only={self.save_best_only})")
