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

sys.path.insert(0, str(Path(__file__).parent / "mpi_scripts"))
import fit_shards  # noqa: E402

SCRIPT = Path(__file__).parent / "mpi_scripts" / "fit_shards.py"
ROOT = Path(__file__).resolve().parents[1]


def mpiexec():
    found = shutil.which("mpiexec") or str(Path(sys.executable).parent / "mpiexec")
    assert Path(found).exists(), "mpiexec not found: pip install 'fastnn[mpi]'"
    return found


def run_ranks(tmp_path, ranks, timeout=120, **settings):
    """Run fit_shards on ``ranks`` ranks; returns (exit code, {rank: npz or error text})."""
    command = [mpiexec(), "-n", str(ranks), "--oversubscribe"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-run-as-root")
    command += [sys.executable, str(SCRIPT), str(tmp_path), json.dumps(settings)]
    env = dict(os.environ, OMPI_MCA_rmaps_base_oversubscribe="1",
               FASTNN_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=tmp_path)
    results = {}
    for rank in range(ranks):
        npz, err = tmp_path / f"rank{rank}.npz", tmp_path / f"rank{rank}.err"
        if npz.exists():
            results[rank] = dict(np.load(npz))
        elif err.exists():
            results[rank] = err.read_text()
    return done, results


def weights_of(result):
    return [result[f"arr_{i}"] for i in range(len(result) - 1)]


def interleaved(settings, ranks):
    """The one-process data whose k-th batch of R*b rows is the ranks' k-th
    batches in rank order (equal shards)."""
    b = settings["batch_size"]
    shards = [fit_shards.shard_data(settings, r, ranks)[:2] for r in range(ranks)]
    n = shards[0][0].shape[0]
    X = np.concatenate([s[0][k:k + b] for k in range(0, n, b) for s in shards])
    y = np.concatenate([s[1][k:k + b] for k in range(0, n, b) for s in shards])
    return X, y


@pytest.mark.parametrize("ranks", [2, 4])
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_ranks_train_as_one_process_on_the_concatenated_batches(tmp_path, ranks, optimizer):
    settings = dict(fit_shards.SETTINGS, optimizer=optimizer,
                    lr=0.05 if optimizer == "adam" else 0.1, weight_decay=1e-3)
    done, results = run_ranks(tmp_path, ranks, **{k: settings[k] for k in
                                                  ("optimizer", "lr", "weight_decay")})
    assert done.returncode == 0, done.stderr[-3000:]
    X, y = interleaved(settings, ranks)
    model = fit_shards.build_model(settings)
    model.fit(X, y, epochs=settings["epochs"], batch_size=settings["batch_size"] * ranks,
              shuffle=False, optimizer=fit_shards.build_optimizer(settings), verbose=0)
    expected = model.get_weights()
    first = weights_of(results[0])
    for rank in range(ranks):
        got = weights_of(results[rank])
        for a, b in zip(got, first):
            assert np.array_equal(a, b), "ranks hold different weights"
    for a, b in zip(first, expected):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    history = json.loads(str(results[0]["history"]))
    np.testing.assert_allclose(history["loss"], model.history.history["loss"], rtol=1e-10)



def test_shuffle_dropout_and_every_optimizer_keep_the_ranks_bitwise_equal(tmp_path):
    done, results = run_ranks(tmp_path, 2, shuffle=True, dropout=0.3, optimizer="nesterov",
                              validation=True)
    assert done.returncode == 0, done.stderr[-3000:]
    for a, b in zip(weights_of(results[0]), weights_of(results[1])):
        assert np.array_equal(a, b)
    h0, h1 = (json.loads(str(results[r]["history"])) for r in (0, 1))
    assert h0 == h1                       # losses and validation reduced over the ranks
    assert set(h0) >= {"loss", "val_loss", "val_accuracy"}


def test_uneven_shards_run_as_many_steps_as_the_smallest_shard(tmp_path):
    # 24 rows on rank 0 and 13 on rank 1, batches of 4: 4 steps per epoch (the
    # smallest shard's ceil(13 / 4)); rank 0's last 8 rows sit the epoch out.
    done, results = run_ranks(tmp_path, 2, n_per_rank=[24, 13], epochs=2)
    assert done.returncode == 0, done.stderr[-3000:]
    settings = dict(fit_shards.SETTINGS, n_per_rank=[24, 13], epochs=2)
    shards = [fit_shards.shard_data(settings, r, 2)[:2] for r in range(2)]
    X = np.concatenate([s[0][k:k + 4] for k in range(0, 16, 4) for s in shards])
    y = np.concatenate([s[1][k:k + 4] for k in range(0, 16, 4) for s in shards])
    model = fit_shards.build_model(settings)
    # Global batches of 8, the last one 4 + 1 rows: one process with the same
    # batches (batch_size 8 on the interleaved rows cuts them the same way).
    model.fit(X, y, epochs=2, batch_size=8, shuffle=False,
              optimizer=fit_shards.build_optimizer(settings), verbose=0)
    for a, b in zip(weights_of(results[0]), model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("fail_in", ["data", "callback"])
def test_one_failing_rank_stops_every_rank_with_an_error(tmp_path, fail_in):
    done, results = run_ranks(tmp_path, 4, fail_rank=2, fail_in=fail_in, timeout=90)
    assert done.returncode != 0
    assert len(results) == 4 and all(isinstance(r, str) for r in results.values()), results
    own = "ValueError" if fail_in == "data" else "RuntimeError"
    assert results[2].startswith(own)
    for rank in (0, 1, 3):
        assert results[rank].startswith("DistributedError: rank 2 of 4 failed"), results[rank]


def test_comm_without_mpi4py_says_what_to_install(tmp_path):
    code = ("import sys; sys.modules['mpi4py'] = None\n"
            "import numpy as np, fastnn\n"
            "m = fastnn.Sequential([fastnn.Dense(2, 2, activation='softmax')])\n"
            "try:\n"
            "    m.fit(np.zeros((4, 2)), [0, 1, 0, 1], comm=object(), verbose=0)\n"
            "except ImportError as e:\n"
            "    print(e)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60)
    assert "pip install" in done.stdout and "mpi4py" in done.stdout, done.stderr


def test_comm_must_be_a_communicator():
    model = fastnn.Sequential([fastnn.Dense(2, 2, activation="softmax")])
    with pytest.raises(TypeError, match="comm must be an mpi4py communicator"):
        model.fit(np.zeros((4, 2)), [0, 1, 0, 1], comm="world", verbose=0)
