"""Data-parallel training over MPI: real ``mpiexec`` runs of
tests/mpi_scripts/fit_shards.py with 2 and 4 ranks, checked against one
process here."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastnn

from children import CHILD_CWD, child_env  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent / "mpi_scripts"))
import fit_shards  # noqa: E402

SCRIPT = Path(__file__).parent / "mpi_scripts" / "fit_shards.py"
ROOT = Path(__file__).resolve().parents[1]


def mpiexec():
    found = shutil.which("mpiexec") or str(Path(sys.executable).parent / "mpiexec")
    assert Path(found).exists(), "mpiexec not found: pip install 'fastnn[mpi]'"
    return found


def run_ranks(tmp_path, ranks, cases, timeout=120):
    """Run fit_shards on ``ranks`` ranks over a list of settings overrides;
    returns (the finished process, [{rank: npz dict or error text} per case])."""
    command = [mpiexec(), "-n", str(ranks), "--oversubscribe"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-run-as-root")
    command += [sys.executable, str(SCRIPT), str(tmp_path), json.dumps(cases)]
    env = child_env(FASTNN_NUM_THREADS="1")
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=tmp_path)
    results = []
    for case in range(len(cases)):
        found = {}
        for rank in range(ranks):
            npz, err = tmp_path / f"{case}-rank{rank}.npz", tmp_path / f"{case}-rank{rank}.err"
            if npz.exists():
                found[rank] = dict(np.load(npz))
            elif err.exists():
                found[rank] = err.read_text()
        results.append(found)
    return done, results


def weights_of(result):
    return [result[f"arr_{i}"] for i in range(sum(k.startswith("arr_") for k in result))]


def interleaved(settings, ranks):
    """The one-process data whose k-th batch of R*b rows is the ranks' k-th
    batches in rank order, for the steps every rank runs (as many as the
    smallest shard fills)."""
    b = settings["batch_size"]
    shards = [fit_shards.shard_data(settings, r, ranks)[:3] for r in range(ranks)]
    n = min(s[0].shape[0] for s in shards)
    X, y, w = (np.concatenate([s[i][k:k + b] for k in range(0, n, b) for s in shards])
               if shards[0][i] is not None else None for i in range(3))
    return X, y, w


OPTIMIZERS = ["sgd", "momentum", "adam"]


def one_process(settings, ranks):
    """The reference: one process on the interleaved data, batches of R*b."""
    X, y, w = interleaved(settings, ranks)
    model = fit_shards.build_model(settings)
    model.fit(X, y, epochs=settings["epochs"], batch_size=settings["batch_size"] * ranks,
              shuffle=False, optimizer=fit_shards.build_optimizer(settings), verbose=0,
              sample_weight=w)
    return model


@pytest.mark.parametrize("ranks", [2, 4])
def test_ranks_train_as_one_process_on_the_concatenated_batches(tmp_path, ranks):
    cases = [{"optimizer": name, "lr": 0.05 if name == "adam" else 0.1, "weight_decay": 1e-3}
             for name in OPTIMIZERS]
    cases.append({"optimizer": "sgd", "weighted": True})     # weighted global batch means
    cases += [{"optimizer": name, "sparse": True, "weight_decay": 1e-3}    # CSR shards
              for name in ("sgd", "momentum")]
    done, results = run_ranks(tmp_path, ranks, cases)
    assert done.returncode == 0, done.stderr[-3000:]
    for case, result in zip(cases, results):
        settings = dict(fit_shards.SETTINGS, **case)
        model = one_process(settings, ranks)
        first = weights_of(result[0])
        for rank in range(ranks):
            for a, b in zip(weights_of(result[rank]), first):
                assert np.array_equal(a, b), f"ranks hold different weights ({case})"
        for a, b in zip(first, model.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=str(case))
        history = json.loads(str(result[0]["history"]))
        np.testing.assert_allclose(history["loss"], model.history.history["loss"], rtol=1e-10)


def test_shuffling_dropout_uneven_shards_and_failures_on_two_ranks(tmp_path):
    cases = [
        # Each rank shuffles its own shard and draws its own masks; the
        # weights stay bitwise equal and the logs are over both ranks.
        {"shuffle": True, "dropout": 0.3, "optimizer": "nesterov", "validation": True},
        # 24 rows on rank 0 and 13 on rank 1, batches of 4: 4 steps per epoch
        # (the smallest shard's ceil(13 / 4)); rank 0's last 8 rows sit out.
        {"n_per_rank": [24, 13], "epochs": 2},
        # A callback raising on rank 1 only: both ranks stop with an error.
        {"fail_rank": 1, "fail_in": "callback"},
    ]
    done, (shuffled, uneven, failed) = run_ranks(tmp_path, 2, cases)
    assert done.returncode != 0            # the last case failed, on purpose
    for a, b in zip(weights_of(shuffled[0]), weights_of(shuffled[1])):
        assert np.array_equal(a, b)
    h0, h1 = (json.loads(str(shuffled[r]["history"])) for r in (0, 1))
    assert h0 == h1
    assert set(h0) >= {"loss", "val_loss", "val_accuracy"}

    # Global batches of 8, 8, 8 and 4 + 1 rows: one process with batches of 8
    # on the interleaved rows cuts them the same way.
    model = one_process(dict(fit_shards.SETTINGS, **cases[1]), 2)
    for a, b in zip(weights_of(uneven[0]), model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)

    assert failed[1].startswith("RuntimeError: callback failed on purpose")
    assert failed[0].startswith("DistributedError: rank 1 of 2 failed: RuntimeError")


def local_sgd(settings, ranks):
    """The reference of local SGD without shuffling: every k steps, each
    rank's copy of the weights trained on its next k batches alone, then the
    mean of the copies."""
    b, k = settings["batch_size"], settings["sync_every"]
    shards = [fit_shards.shard_data(settings, r, ranks) for r in range(ranks)]
    steps = -(-min(s[0].shape[0] for s in shards) // b)
    model = fit_shards.build_model(settings)
    weights = model.get_weights()
    for _ in range(settings["epochs"]):
        for first in range(0, steps, k):
            rows = slice(first * b, min(first + k, steps) * b)
            copies = []
            for X, y, _, _ in shards:
                model.set_weights(weights)
                model.fit(X[rows], y[rows], batch_size=b, shuffle=False, verbose=0,
                          optimizer=fit_shards.build_optimizer(settings))
                copies.append(model.get_weights())
            weights = [sum(c[i] for c in copies) / ranks for i in range(len(weights))]
    return weights


def test_local_sgd_averages_the_weights_every_k_steps(tmp_path):
    cases = [
        # 6 steps per epoch in segments of 4 and 2: against the reference.
        {"sync_every": 4},
        # Shuffling, dropout and momentum (each rank's own): same weights everywhere.
        {"sync_every": 3, "shuffle": True, "dropout": 0.3, "optimizer": "momentum",
         "validation": True},
        # Rank 1's loss is NaN inside a segment: every rank stops at its average.
        {"sync_every": 3, "fail_rank": 1, "fail_in": "overflow", "activation": "relu"},
    ]
    done, (plain, shuffled, diverged) = run_ranks(tmp_path, 2, cases)
    assert done.returncode != 0            # the last case failed, on purpose
    reference = local_sgd(dict(fit_shards.SETTINGS, **cases[0]), 2)
    for rank in (0, 1):
        for a, b in zip(weights_of(plain[rank]), reference):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    for a, b in zip(weights_of(plain[0]), weights_of(plain[1])):
        assert np.array_equal(a, b)
    for a, b in zip(weights_of(shuffled[0]), weights_of(shuffled[1])):
        assert np.array_equal(a, b)
    h0, h1 = (json.loads(str(shuffled[r]["history"])) for r in (0, 1))
    assert h0 == h1 and np.isfinite(h0["val_loss"]).all()
    # Rank 0 names the segment's last step.
    assert diverged[0].startswith("TrainingDivergedError: the loss became NaN or inf at "
                                  "epoch 0 (0-based), step 2 of 6"), diverged
    assert diverged[1].startswith("TrainingDivergedError: the loss became"), diverged


def test_backup_and_restore_resumes_every_rank_bitwise(tmp_path):
    runs = {"sync": {"shuffle": True, "dropout": 0.3, "optimizer": "momentum", "epochs": 4},
            "local": {"shuffle": True, "dropout": 0.3, "optimizer": "adam", "lr": 0.05,
                      "epochs": 4, "sync_every": 4, "rank0_checkpoint": "last.npz"}}
    cases = []
    for name, run in runs.items():
        cases += [run,                                              # never interrupted
                  dict(run, backup=name, crash_epoch=2),            # saved after epoch 1
                  dict(run, backup=name, crash_epoch=99)]           # resumed from there
                                                         # (the same callbacks, no crash)
    done, results = run_ranks(tmp_path, 2, cases)
    assert done.returncode != 0            # the crashed runs, on purpose
    for i, name in enumerate(runs):
        whole, crashed, resumed = results[3 * i: 3 * i + 3]
        assert all(crashed[r].startswith("RuntimeError: crash after epoch 2") for r in (0, 1))
        for rank in (0, 1):
            assert int(resumed[rank]["first_epoch"]) == 2      # resumed, not restarted
            assert int(whole[rank]["first_epoch"]) == 0
            for a, b in zip(weights_of(resumed[rank]), weights_of(whole[rank])):
                assert np.array_equal(a, b), (name, rank)
            assert json.loads(str(resumed[rank]["history"])) == \
                json.loads(str(whole[rank]["history"]))
        assert not (tmp_path / name / "training_state.npz").exists()   # deleted at the end
    # Rank 0's own ModelCheckpoint resumed with it and wrote the last epoch.
    model = fit_shards.build_model(dict(fit_shards.SETTINGS, **runs["local"]))
    fastnn.checkpoints.load_weights(model, tmp_path / "last.npz")
    for a, b in zip(model.get_weights(), weights_of(resumed[0])):
        assert np.array_equal(a, b)


def test_sync_every_is_checked():
    model = fit_shards.build_model(fit_shards.SETTINGS)
    X, y = np.zeros((4, 5)), np.zeros(4, dtype=int)
    with pytest.raises(ValueError, match="sync_every must be a positive integer, got 0"):
        model.fit(X, y, sync_every=0, verbose=0)
    with pytest.raises(ValueError, match="sync_every=4 averages the weights of MPI ranks: "
                                         "it needs comm="):
        model.fit(X, y, sync_every=4, verbose=0)


def test_bad_data_on_one_of_four_ranks_stops_every_rank(tmp_path):
    done, (failed,) = run_ranks(tmp_path, 4, [{"fail_rank": 2, "fail_in": "data"}], timeout=90)
    assert done.returncode != 0
    assert len(failed) == 4 and all(isinstance(r, str) for r in failed.values()), failed
    assert failed[2].startswith("ValueError")
    for rank in (0, 1, 3):
        assert failed[rank].startswith("DistributedError: rank 2 of 4 failed: ValueError")


def test_comm_without_mpi4py_says_what_to_install(tmp_path):
    code = ("import sys; sys.modules['mpi4py'] = None\n"
            "import numpy as np, fastnn\n"
            "m = fastnn.Sequential([fastnn.Dense(2, 2, activation='softmax')])\n"
            "try:\n"
            "    m.fit(np.zeros((4, 2)), [0, 1, 0, 1], comm=object(), verbose=0)\n"
            "except ImportError as e:\n"
            "    print(e)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=child_env(), cwd=CHILD_CWD, timeout=60)
    assert "pip install" in done.stdout and "mpi4py" in done.stdout, done.stderr


def test_comm_must_be_a_communicator():
    model = fastnn.Sequential([fastnn.Dense(2, 2, activation="softmax")])
    with pytest.raises(TypeError, match="comm must be an mpi4py communicator"):
        model.fit(np.zeros((4, 2)), [0, 1, 0, 1], comm="world", verbose=0)


def test_comm_refuses_a_solver_and_backups_within_epochs_before_training(tmp_path):
    from mpi4py import MPI
    model = fastnn.Sequential([fastnn.Dense(2, 2, activation="softmax")])
    X, y = np.zeros((4, 2)), [0, 1, 0, 1]
    with pytest.raises(ValueError, match="mini-batch optimizers"):
        model.fit(X, y, optimizer=fastnn.LBFGS(), comm=MPI.COMM_SELF, verbose=0)
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"BackupAndRestore\(save_freq=5\) saves within "
                                         r"epochs, .* use save_freq='epoch'"):
        model.fit(X, y, callbacks=[fastnn.BackupAndRestore(tmp_path, save_freq=5)],
                  comm=MPI.COMM_SELF, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
