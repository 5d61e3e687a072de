"""Tests of the ``fastnn`` command (fastnn.cli, ``python -m fastnn``) and of
fastnn.serialization (save / load).

Argument errors must exit with status 2 and name the option and the bad
value; ``fastnn train`` runs end to end on a slice of real MNIST (from
``$FASTNN_DATA``; these tests fail without it and never download).
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from children import child_env
from fastnn import Dense, Dropout, Sequential
from fastnn.cli import _layers, build_parser, main
from fastnn.datasets import load_mnist
from fastnn.serialization import load, save

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data_dir():
    """$FASTNN_DATA, which must hold mnist/ (the test fails otherwise)."""
    env = os.environ.get("FASTNN_DATA", "")
    if not env:
        pytest.fail("FASTNN_DATA is not set: the command-line tests need the MNIST IDX files "
                    "in $FASTNN_DATA/mnist/ (CI sets FASTNN_DATA=../shared/data)")
    path = Path(env).expanduser().absolute()
    if not (path / "mnist").is_dir():
        pytest.fail(f"FASTNN_DATA={env!r} has no mnist/ directory with the MNIST IDX files")
    return path


# ------------------------------------------------------------ bad arguments ---

@pytest.mark.parametrize("argv, option, shown", [
    (["train", "--layers", "30,x"], "--layers", "'30,x'"),
    (["train", "--layers", "30,-5"], "--layers", "'30,-5'"),
    (["train", "--layers", "30,"], "--layers", "'30,'"),
    (["train", "--lr", "-1"], "--lr", "'-1'"),
    (["train", "--lr", "nan"], "--lr", "'nan'"),
    (["train", "--lr", "fast"], "--lr", "'fast'"),
    (["train", "--epochs", "0"], "--epochs", "'0'"),
    (["train", "--epochs", "2.5"], "--epochs", "'2.5'"),
    (["train", "--batch-size", "0"], "--batch-size", "'0'"),
    (["train", "--dropout", "1"], "--dropout", "'1'"),
    (["train", "--weight-decay", "-1e-4"], "--weight-decay", "'-1e-4'"),
    (["train", "--momentum", "1.5"], "--momentum", "'1.5'"),
    (["train", "--seed", "-3"], "--seed", "'-3'"),
    (["train", "--limit", "0"], "--limit", "'0'"),
    (["train", "--dataset", "cifar"], "--dataset", "'cifar'"),
    (["train", "--activation", "softmax"], "--activation", "'softmax'"),
    (["train", "--optimizer", "rmsprop"], "--optimizer", "'rmsprop'"),
    (["train", "--layers", "", "--dropout", "0.5"], "--dropout", "--layers ''"),
    (["experiment", "deep"], "NAME", "'deep'"),
    (["experiment", "depth", "--seeds", "0"], "--seeds", "'0'"),
    (["experiment", "depth", "--dataset", "svhn"], "--dataset", "'svhn'"),
    (["experiment", "dropout", "--variant", "nielsen"], "--variant", "nielsen"),
    (["experiment", "depth", "--train-size", "60000"], "--train-size", "60000"),
    (["fit"], "COMMAND", "'fit'"),
])
def test_argument_errors_name_the_option_and_value(argv, option, shown, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "usage: fastnn" in err
    message = err.strip().splitlines()[-1]
    assert f"argument {option}" in message and shown in message, message


def test_python_dash_m_fastnn(tmp_path):
    # The child imports the fastnn this process imported (installed or in place).
    env = child_env()
    ok = subprocess.run([sys.executable, "-m", "fastnn", "--help"], cwd=tmp_path, env=env,
                        capture_output=True, text=True)
    assert ok.returncode == 0
    assert "train" in ok.stdout and "experiment" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "fastnn", "train", "--epochs", "0"],
                         cwd=tmp_path, env=env, capture_output=True, text=True)
    assert bad.returncode == 2
    assert "argument --epochs: must be a positive integer, got '0'" in bad.stderr


def test_layers_parsing():
    assert _layers("") == [] and _layers("0") == [] and _layers(" ") == []
    assert _layers("30") == [30] and _layers(" 30, 20 ") == [30, 20]
    args = build_parser().parse_args(["train", "--layers", "100,30"])
    assert args.layers == [100, 30] and args.lr is None and args.optimizer == "sgd"


# ----------------------------------------------------------------- train ---

def _reported(text, what):
    match = re.search(rf"{what} accuracy (\d+\.\d\d)%", text)
    assert match, text
    return float(match.group(1))


def test_train_end_to_end_and_saved_model_matches(data_dir, tmp_path, capsys):
    path = tmp_path / "model.npz"
    code = main(["train", "--data-dir", str(data_dir), "--no-download", "--limit", "2000",
                 "--layers", "30", "--epochs", "2", "--batch-size", "10", "--lr", "0.1",
                 "--weight-decay", "1e-4", "--seed", "0", "--save", str(path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "2,000 training, 10,000 validation, 10,000 test images" in out
    assert len(re.findall(r"^epoch [12]/2 ", out, re.M)) == 2
    assert f"saved the model to {path}" in out

    model = load(path)
    assert [repr(layer) for layer in model.layers] == [
        "Dense(784, 30, activation='sigmoid', init='normal', bias=True)",
        "Dense(30, 10, activation='softmax', init='normal', bias=True)"]
    (_, _), (X_val, y_val), (X_test, y_test) = load_mnist(data_dir / "mnist", download=False)
    val, test = model.evaluate(X_val, y_val), model.evaluate(X_test, y_test)
    # what the command printed is what the saved model does
    assert _reported(out, "validation") == pytest.approx(100 * val["accuracy"], abs=0.006)
    assert _reported(out, "test") == pytest.approx(100 * test["accuracy"], abs=0.006)
    assert test["accuracy"] > 0.75


def test_train_same_seed_same_output(data_dir, capsys):
    argv = ["train", "--data-dir", str(data_dir / "mnist"), "--no-download", "--limit", "500",
            "--layers", "20", "--epochs", "1", "--seed", "7"]
    outputs = []
    for _ in range(2):
        assert main(argv) == 0
        text = capsys.readouterr().out
        outputs.append((_reported(text, "validation"), _reported(text, "test")))
    assert outputs[0] == outputs[1]


def test_train_options_reach_the_model(data_dir, tmp_path, capsys):
    path = tmp_path / "relu.npz"
    code = main(["train", "--data-dir", str(data_dir), "--no-download", "--limit", "300",
                 "--layers", "40,20", "--activation", "relu", "--init", "he_normal",
                 "--dropout", "0.2", "--optimizer", "adam", "--schedule", "inverse_time",
                 "--dtype", "float64", "--epochs", "1", "--seed", "1", "--save", str(path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "Adam(lr=0.001" in out and "InverseTimeDecay" in out
    model = load(path)
    assert model.dtype == np.float64
    assert [type(layer).__name__ for layer in model.layers] == [
        "Dense", "Dropout", "Dense", "Dropout", "Dense"]
    assert model.layers[0].activation == "relu" and model.layers[0].init == "he_normal"
    assert model.layers[1].p == 0.2


def test_train_softmax_regression_and_nielsen_loss(data_dir, capsys):
    assert main(["train", "--data-dir", str(data_dir), "--no-download", "--limit", "300",
                 "--layers", "", "--epochs", "1", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert "Dense(784, 10, activation='softmax'" in out and "total params: 7850" in out
    assert main(["train", "--data-dir", str(data_dir), "--no-download", "--limit", "300",
                 "--layers", "0", "--loss", "binary_cross_entropy", "--epochs", "1",
                 "--optimizer", "momentum", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert "Dense(784, 10, activation='sigmoid'" in out
    assert "loss='binary_cross_entropy'" in out and "momentum=0.9" in out


def test_missing_data_exits_1_with_a_message(tmp_path, capsys):
    code = main(["train", "--data-dir", str(tmp_path), "--no-download", "--epochs", "1"])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("fastnn: error: the mnist files are not in path=")


def test_limit_larger_than_the_training_set(data_dir, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--data-dir", str(data_dir), "--no-download", "--limit", "50001"])
    assert exc.value.code == 2
    assert "argument --limit: at most 50000 training images, got 50001" in \
        capsys.readouterr().err


# ------------------------------------------------------------ experiment ---

def test_experiment_command_writes_results(data_dir, tmp_path, capsys):
    out = tmp_path / "init"
    code = main(["experiment", "init", "--quick", "--epochs", "1", "--out", str(out),
                 "--data-dir", str(data_dir), "--no-download"])
    printed = capsys.readouterr().out
    assert code == 0
    record = json.loads((out / "results.json").read_text())
    assert record["experiment"] == "init" and record["quick"] is True
    assert record["config"]["epochs"] == 1
    assert record["table"] in printed
    assert (out / "init.png").is_file()


# --------------------------------------------------------- serialization ---

def _model(dtype="float32"):
    return Sequential([Dropout(0.1), Dense(6, 5, "tanh", init="glorot_uniform"),
                       Dropout(0.3, scale="test"), Dense(5, 4, "relu", bias=False),
                       Dense(4, 3, "softmax")], dtype=dtype, seed=3)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_save_load_round_trip(dtype, tmp_path, rng):
    model = _model(dtype)
    X = rng.random((50, 6))
    model.fit(X, rng.integers(0, 3, 50), epochs=2, batch_size=8, verbose=0)
    path = save(model, tmp_path / "net.bin")  # written as named: no .npz appended
    assert path == tmp_path / "net.bin" and path.is_file()
    loaded = load(path)
    assert repr(loaded) == repr(model) and loaded.seed == model.seed
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        assert a.dtype == b.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert [p.name for p in tmp_path.iterdir()] == ["net.bin"]  # no temporary left behind
    with np.load(path, allow_pickle=False) as archive:  # a plain archive, no pickle
        assert sorted(archive.files) == ["W0", "W1", "W2", "architecture", "b0", "b2"]
        assert json.loads(str(archive["architecture"]))["layers"][2] == {
            "type": "Dropout", "p": 0.3, "scale": "test"}


def _archive(path, arch, **arrays):
    np.savez(path, architecture=np.array(json.dumps(arch)), **arrays)
    return path


def test_load_errors(tmp_path):
    good = save(Sequential([Dense(3, 2, "softmax")], seed=0), tmp_path / "good.npz")
    with np.load(good) as f:
        arch = json.loads(str(f["architecture"]))
        W0, b0 = f["W0"], f["b0"]
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "absent.npz")
    (tmp_path / "text.npz").write_text("not an archive")
    with pytest.raises(ValueError, match="text.npz is not a fastnn model archive"):
        load(tmp_path / "text.npz")
    np.save(tmp_path / "single.npy", W0)
    with pytest.raises(ValueError, match="single NumPy array"):
        load(tmp_path / "single.npy")
    np.savez(tmp_path / "plain.npz", W0=W0)
    with pytest.raises(ValueError, match="no 'architecture' entry"):
        load(tmp_path / "plain.npz")
    with pytest.raises(ValueError, match="format version 99"):
        load(_archive(tmp_path / "v99.npz", {**arch, "version": 99}, W0=W0, b0=b0))
    with pytest.raises(ValueError, match="missing weight array 'b0'"):
        load(_archive(tmp_path / "nob.npz", arch, W0=W0))
    with pytest.raises(ValueError, match="weights do not fit the architecture"):
        load(_archive(tmp_path / "shape.npz", arch, W0=W0.T, b0=b0))
    with pytest.raises(ValueError, match="unexpected arrays \\['W1'\\]"):
        load(_archive(tmp_path / "extra.npz", arch, W0=W0, b0=b0, W1=W0))
    bad_layer = {**arch, "layers": [{"type": "Conv2D"}]}
    with pytest.raises(ValueError, match="layer 0 has unknown type 'Conv2D'"):
        load(_archive(tmp_path / "conv.npz", bad_layer, W0=W0, b0=b0))
    with pytest.raises(TypeError, match="model must be a Sequential"):
        save(Dense(3, 2), tmp_path / "dense.npz")
