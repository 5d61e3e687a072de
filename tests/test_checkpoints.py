"""Crash-safe training state: BackupAndRestore, ModelCheckpoint, the file format.

The crash test really kills a child process with SIGKILL (at a step, at an
epoch's end, and in the middle of writing a backup) and starts it again with
the same command until it finishes: it must end with bitwise the weights and
history of a run that was never interrupted.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import fastnn

from children import child_env  # noqa: E402
from fastnn import (SGD, Adagrad, Adam, BackupAndRestore, Callback, CheckpointError, Dense,
                    Dropout, EarlyStopping, Model, ModelCheckpoint, Sequential, checkpoints)

ROOT = Path(__file__).resolve().parents[1]


def data(n=61, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6)), rng.integers(0, 3, size=n)


def sequential(hidden=9, dtype="float64"):
    return Sequential([Dense(6, hidden, "tanh"), Dropout(0.2), Dense(hidden, 3, "softmax")],
                      dtype=dtype, seed=1)


class GraphNet(Model):
    def __init__(self):
        super().__init__(seed=1, dtype="float64")
        self.hidden = Dense(6, 9, "relu")
        self.drop = Dropout(0.2)
        self.out = Dense(9, 3)

    def forward(self, x):
        return self.out(self.drop(self.hidden(x)))


class Crash(Exception):
    pass


class CrashAt(Callback):
    """Raises Crash once the training has done ``at`` steps (None: never)."""

    def __init__(self, at=None):
        self.at = at

    def on_train_batch_end(self, step, logs=None):
        if self.at is not None and self.loop.global_step >= self.at:
            raise Crash


def assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert_array_equal(x, y)


# ---------------------------------------------------- kill -9 and resume ---

CHILD = r"""
import json, os, signal, sys
import numpy as np
import fastnn
from fastnn import Adam, BackupAndRestore, Callback, Dense, Dropout, EarlyStopping, Sequential

backup, out = sys.argv[1], sys.argv[2]
kill_at = int(os.environ.get("KILL_AT_STEP", "-1"))
kill_in_save = int(os.environ.get("KILL_IN_SAVE", "-1"))

if kill_in_save >= 0:
    # Die half-way through writing the temporary file of the given save.
    real_fsync, saves = os.fsync, [0]

    def fsync(fd):
        if os.fstat(fd).st_size > 0 and not os.path.isdir(f"/proc/self/fd/{fd}"):
            saves[0] += 1
            if saves[0] == kill_in_save:
                os.ftruncate(fd, os.fstat(fd).st_size // 2)
                os.kill(os.getpid(), signal.SIGKILL)
        real_fsync(fd)
    os.fsync = fsync


class KillAt(Callback):
    def on_train_batch_end(self, step, logs=None):
        if 0 <= kill_at <= self.loop.global_step:
            os.kill(os.getpid(), signal.SIGKILL)


rng = np.random.default_rng(0)
X, y = rng.normal(size=(61, 6)), rng.integers(0, 3, size=61)
model = Sequential([Dense(6, 9, "tanh"), Dropout(0.2), Dense(9, 3, "softmax")],
                   dtype="float64", seed=1)
stop = EarlyStopping("val_loss", patience=2, restore_best_weights=True)
history = model.fit(X, y, epochs=12, batch_size=4, optimizer=Adam(lr=0.05),
                    validation_data=(X[:20], y[:20]), verbose=0,
                    callbacks=[stop, KillAt(), BackupAndRestore(backup, save_freq=5)])
np.savez(out, *model.get_weights())
print(json.dumps({"history": history.history, "epochs": history.epoch,
                  "stopped": stop.stopped_epoch}))
"""


def _reference():
    X, y = data()
    model = sequential()
    stop = EarlyStopping("val_loss", patience=2, restore_best_weights=True)

    class KillAt(Callback):      # the same callback list as the child's
        pass

    history = model.fit(X, y, epochs=12, batch_size=4, optimizer=Adam(lr=0.05),
                        validation_data=(X[:20], y[:20]), verbose=0,
                        callbacks=[stop, KillAt()])
    return model.get_weights(), history, stop.stopped_epoch


def test_sigkill_at_any_point_then_rerun_gives_bitwise_the_uninterrupted_run(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    backup, out = tmp_path / "backup", tmp_path / "out.npz"
    base = child_env(FASTNN_NUM_THREADS="1")
    command = [sys.executable, str(script), str(backup), str(out)]
    # 16 steps per epoch; saves every 5 steps. Kill inside an epoch (at the
    # first chunk boundary from step 13), in the middle of writing the 4th
    # save of the next run, at the end of the third epoch's steps (48), then
    # run to the end. Each run resumes from the last complete backup.
    kills = [{"KILL_AT_STEP": "13"}, {"KILL_IN_SAVE": "4"}, {"KILL_AT_STEP": "48"}, {}]
    for env in kills:
        run = subprocess.run(command, env=dict(base, **env), capture_output=True, text=True,
                             timeout=60)
        if env:
            assert run.returncode == -9, (env, run.returncode, run.stderr)
            assert (backup / "training_state.npz").exists()
        else:
            assert run.returncode == 0, run.stderr
    assert not (backup / "training_state.npz").exists()     # deleted at the end
    result = json.loads(run.stdout)
    with np.load(out) as saved:
        weights = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    expected_weights, expected_history, stopped = _reference()
    assert_same(weights, expected_weights)
    assert result["history"] == expected_history.history
    assert result["epochs"] == expected_history.epoch
    assert result["stopped"] == stopped


# ------------------------------------------------- resume in the process ---

@pytest.mark.parametrize("make, optimizer", [
    (sequential, lambda: SGD(lr=0.2, momentum=0.9, schedule="inverse_time")),
    (sequential, lambda: Adagrad(lr=0.1)),
    (GraphNet, lambda: Adam(lr=0.02)),
], ids=["sequential-momentum-schedule", "sequential-adagrad", "graph-adam"])
@pytest.mark.parametrize("save_freq", ["epoch", 3])
def test_crash_and_resume_equals_uninterrupted(tmp_path, make, optimizer, save_freq):
    X, y = data()

    def fit(model, at):
        return model.fit(X, y, epochs=4, batch_size=5, optimizer=optimizer(), verbose=0,
                         callbacks=[CrashAt(at), BackupAndRestore(tmp_path, save_freq)])

    reference = make()
    expected = fit(reference, None).history
    assert not list(tmp_path.iterdir())
    model = None
    for at in (4, 17, 30):           # 13 steps per epoch
        model = make()
        with pytest.raises(Crash):
            fit(model, at)
    model = make()
    history = fit(model, None)
    assert_same(model.get_weights(), reference.get_weights())
    assert history.history == expected


def test_keep_the_backup_and_a_second_fit_trains_nothing(tmp_path):
    X, y = data()
    model = sequential()
    first = model.fit(X, y, epochs=2, batch_size=8, verbose=0,
                      callbacks=[BackupAndRestore(tmp_path, delete_checkpoint=False)])
    assert (tmp_path / "training_state.npz").exists()
    weights = model.get_weights()
    again = sequential()
    second = again.fit(X, y, epochs=2, batch_size=8, verbose=0,
                       callbacks=[BackupAndRestore(tmp_path, delete_checkpoint=False)])
    assert second.history == first.history
    assert_same(again.get_weights(), weights)


def test_backup_is_saved_after_the_other_callbacks_whatever_their_order(tmp_path):
    X, y = data()
    stop = EarlyStopping("loss", patience=5)
    backup = BackupAndRestore(tmp_path, delete_checkpoint=False)
    sequential().fit(X, y, epochs=2, batch_size=8, verbose=0, callbacks=[backup, stop])
    state = checkpoints.read_state(backup.path)
    assert state["callbacks"][0]["type"] == "EarlyStopping"
    assert state["callbacks"][0]["state"]["best"] == stop.best
    assert state["history"]["epoch"] == [0, 1] and state["epoch"] == 2


def test_backup_refuses_full_batch_solvers_and_bad_arguments(tmp_path):
    X, y = data()
    with pytest.raises(TypeError, match="LBFGS is a full-batch solver"):
        Sequential([Dense(6, 3, "softmax")], dtype="float64").fit(
            X, y, optimizer=fastnn.LBFGS(), verbose=0, callbacks=[BackupAndRestore(tmp_path)])
    with pytest.raises(ValueError, match="save_freq must be 'epoch' or a positive"):
        BackupAndRestore(tmp_path, save_freq=0)
    with pytest.raises(ValueError, match="save_freq"):
        ModelCheckpoint(tmp_path / "m.npz", save_freq="batch")
    with pytest.raises(TypeError, match="backup_dir must be a path"):
        BackupAndRestore(3)
    with pytest.raises(TypeError, match="delete_checkpoint"):
        BackupAndRestore(tmp_path, delete_checkpoint="yes")
    with pytest.raises(ValueError, match="2 callbacks that restore"):
        sequential().fit(X, y, verbose=0, callbacks=[BackupAndRestore(tmp_path),
                                                     BackupAndRestore(tmp_path / "b")])


# ------------------------------------------------------ bad files ---

def _backup(tmp_path, model=None, **fit):
    X, y = data()
    model = model or sequential()
    model.fit(X, y, epochs=1, batch_size=8, verbose=0,
              callbacks=[BackupAndRestore(tmp_path, delete_checkpoint=False)], **fit)
    return tmp_path / "training_state.npz"


def _resume_fails(tmp_path, match, model=None):
    X, y = data()
    model = model or sequential()
    before = model.get_weights()
    with pytest.raises(CheckpointError, match=match) as info:
        model.fit(X, y, epochs=2, batch_size=8, verbose=0,
                  callbacks=[BackupAndRestore(tmp_path)])
    assert str(tmp_path / "training_state.npz") in str(info.value)
    assert_same(model.get_weights(), before)
    with pytest.raises(CheckpointError, match=match):
        checkpoints.load_weights(model, tmp_path / "training_state.npz")
    assert_same(model.get_weights(), before)
    return info.value


def test_truncated_backup_is_refused_and_the_model_untouched(tmp_path):
    path = _backup(tmp_path)
    raw = path.read_bytes()
    path.write_bytes(raw[:len(raw) // 2])
    _resume_fails(tmp_path, "truncated or corrupted")


def test_corrupted_backup_is_refused(tmp_path):
    path = _backup(tmp_path)
    raw = bytearray(path.read_bytes())
    middle = len(raw) // 2
    raw[middle:middle + 8] = bytes(b ^ 0xFF for b in raw[middle:middle + 8])
    path.write_bytes(bytes(raw))
    _resume_fails(tmp_path, "truncated or corrupted|CRC|not a readable")


def test_not_an_archive_is_refused(tmp_path):
    (tmp_path / "training_state.npz").write_bytes(b"hello" * 100)
    _resume_fails(tmp_path, "not a fastnn training-state file")


def test_backup_of_another_architecture_is_refused(tmp_path):
    _backup(tmp_path, sequential(hidden=9))
    error = _resume_fails(tmp_path, "another architecture", model=sequential(hidden=10))
    assert "6->9 tanh" in str(error) and "6->10 tanh" in str(error)


def test_backup_of_a_newer_format_version_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoints, "VERSION", checkpoints.VERSION + 1)
    _backup(tmp_path)
    monkeypatch.undo()
    _resume_fails(tmp_path, f"format version {checkpoints.VERSION + 1}.*newer")


def test_backups_of_data_parallel_fits_need_as_many_ranks(tmp_path):
    path = _backup(tmp_path)
    state = checkpoints.read_state(path)
    part = {"runner": state["runner"], "examples": state["examples"], "optimizer": None,
            "callbacks": state["callbacks"]}
    checkpoints.write_state(path, dict(state, ranks=[part, part]))
    # A fit in one process refuses to resume the file of 2 ranks (its weights,
    # every rank's, still load) ...
    X, y = data()
    model = sequential()
    before = model.get_weights()
    with pytest.raises(CheckpointError, match="written by a data-parallel fit on 2 MPI ranks; "
                                              "resume it with comm= on as many ranks"):
        model.fit(X, y, epochs=2, batch_size=8, verbose=0,
                  callbacks=[BackupAndRestore(tmp_path)])
    assert_same(model.get_weights(), before)
    checkpoints.load_weights(model, path)
    assert_same(model.get_weights(), state["weights"])
    # ... and each rank of another number of ranks refuses it too.
    shared = checkpoints.read_state(path)
    with pytest.raises(CheckpointError, match="on 2 MPI ranks; this fit runs on 4"):
        checkpoints.rank_view(shared, 0, 4, path)
    with pytest.raises(CheckpointError, match="in one process; this fit runs on 2 MPI ranks"):
        checkpoints.rank_view(state, 1, 2, path)
    view = checkpoints.rank_view(shared, 1, 2, path)
    assert view["ranks"] is None and view["examples"] == state["examples"]


def test_backup_of_another_optimizer_or_data_is_refused(tmp_path):
    _backup(tmp_path, optimizer=SGD(lr=0.1))
    X, y = data()
    with pytest.raises(CheckpointError, match="with SGD, this fit uses Adam"):
        sequential().fit(X, y, epochs=2, batch_size=8, optimizer=Adam(), verbose=0,
                         callbacks=[BackupAndRestore(tmp_path)])
    with pytest.raises(CheckpointError, match="over 61 examples in 8 steps"):
        sequential().fit(X[:40], y[:40], epochs=2, batch_size=8, optimizer=SGD(lr=0.1),
                         verbose=0, callbacks=[BackupAndRestore(tmp_path)])
    with pytest.raises(CheckpointError, match="pass the same callbacks"):
        sequential().fit(X, y, epochs=2, batch_size=8, optimizer=SGD(lr=0.1), verbose=0,
                         callbacks=[EarlyStopping("loss"), BackupAndRestore(tmp_path)])


def test_a_crash_while_saving_leaves_the_previous_backup(tmp_path, monkeypatch):
    path = _backup(tmp_path)
    before = path.read_bytes()

    def failing_replace(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr(checkpoints.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        checkpoints.write_state(path, {"anything": np.zeros(3)})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["training_state.npz"]


def test_state_file_round_trips_floats_and_arrays_exactly(tmp_path):
    state = {"x": [0.1, 1 / 3, float("inf"), -0.0, 2 ** 63 - 1], "a": np.arange(5.0),
             "rng": np.array([1, 2 ** 64 - 1, 3, 4], dtype=np.uint64), "none": None,
             "nested": {"b": [np.ones((2, 3), dtype=np.float32)]}}
    path = checkpoints.write_state(tmp_path / "s.npz", state)
    back = checkpoints.read_state(path)
    assert back["x"] == state["x"] and back["none"] is None
    assert_array_equal(back["a"], state["a"])
    assert back["rng"].dtype == np.uint64 and back["rng"][1] == 2 ** 64 - 1
    assert back["nested"]["b"][0].dtype == np.float32
    assert back["version"] == checkpoints.VERSION


def test_rng_state_round_trip():
    rng = fastnn.Rng(7)
    rng.uniform(3)
    state = rng.get_state()
    expected = rng.uniform(5)
    other = fastnn.Rng(1)
    other.set_state(state)
    assert_array_equal(other.uniform(5), expected)
    with pytest.raises(ValueError, match="4 uint64 words"):
        other.set_state(np.zeros(4, dtype=np.uint64))


# ------------------------------------------------------- ModelCheckpoint ---

class WeightRecorder(Callback):
    def __init__(self):
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


def test_model_checkpoint_formats_the_path_and_holds_each_epochs_weights(tmp_path):
    X, y = data()
    recorder = WeightRecorder()
    model = sequential()
    model.fit(X, y, epochs=3, batch_size=8, verbose=0, validation_data=(X, y),
              callbacks=[recorder, ModelCheckpoint(tmp_path / "m-{epoch:02d}-{val_loss:.3f}.npz")])
    files = sorted(p.name for p in tmp_path.iterdir())
    assert [f[:4] for f in files] == ["m-01", "m-02", "m-03"]
    for name, weights in zip(files, recorder.weights):
        other = sequential()
        checkpoints.load_weights(other, tmp_path / name)
        assert_same(other.get_weights(), weights)


def test_model_checkpoint_save_best_only(tmp_path):
    X, y = data()
    values = iter([3.0, 2.0, 2.5, 1.0])

    class FakeValidation(Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = next(values)

    written = []

    class Spy(ModelCheckpoint):
        def _save(self, epoch, logs):
            before = self.last_path
            super()._save(epoch, logs)
            if self.last_path is not before or epoch == 0:
                written.append(epoch)
            self.last_path = object()

    spy = Spy(tmp_path / "best.npz", monitor="val_loss", save_best_only=True)
    sequential().fit(X, y, epochs=4, batch_size=8, verbose=0, callbacks=[FakeValidation(), spy])
    assert written == [0, 1, 3] and spy.best == 1.0
    with pytest.raises(ValueError, match="monitors 'val_acc'"):
        sequential().fit(X, y, epochs=1, verbose=0, callbacks=[
            ModelCheckpoint(tmp_path / "x.npz", monitor="val_acc", save_best_only=True)])
    with pytest.raises(ValueError, match="cannot be formatted"):
        sequential().fit(X, y, epochs=1, verbose=0,
                         callbacks=[ModelCheckpoint(tmp_path / "{nothing}.npz")])


def test_model_checkpoint_every_n_steps_and_with_a_solver(tmp_path):
    X, y = data()
    sequential().fit(X, y, epochs=2, batch_size=8, verbose=0,
                     callbacks=[ModelCheckpoint(tmp_path / "s{step}.npz", save_freq=5)])
    assert sorted(int(p.stem[1:]) for p in tmp_path.iterdir()) == [5, 10, 15]
    model = Sequential([Dense(6, 3, "softmax")], dtype="float64", seed=0)
    model.fit(X, y, epochs=3, optimizer=fastnn.LBFGS(), verbose=0,
              callbacks=[ModelCheckpoint(tmp_path / "lbfgs.npz")])
    other = Sequential([Dense(6, 3, "softmax")], dtype="float64", seed=5)
    checkpoints.load_weights(other, tmp_path / "lbfgs.npz")
    assert_same(other.get_weights(), model.get_weights())
