"""Tests of fastnn.experiments: every experiment's quick version on real MNIST.

Each quick run must print its table and write ``results.json`` (strict JSON,
the expected keys) and its PNG plots; beyond the plumbing, each checks the
property the experiment is about (sigmoid gradients shrink layer by layer and
ReLU ones do not, N(0, 1) weights saturate sigmoid units, weight decay shrinks
the weights, ...), and the vanishing-gradient norms are recomputed with plain
NumPy back-propagation from the lecture's equations.

MNIST is read from ``$FASTNN_DATA`` (CI: ``../shared/data``); without it these
tests fail (they never download).
"""

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from fastnn import SGD, TrainingDivergedError, experiments
from fastnn.experiments import common, plotting
from fastnn.experiments.common import build_mlp, format_table, load_data, mean_curve, seed_stats

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RECORD_KEYS = {"experiment", "title", "quick", "seeds", "dataset", "config", "results", "table",
               "elapsed_seconds", "plots", "plots_skipped", "environment"}
PLOTS = {
    "depth": ["depth_accuracy.png", "depth_curves.png"],
    "vanishing": ["vanishing.png"],
    "dropout": ["dropout.png"],
    "init": ["init.png"],
    "optimizers": ["optimizers.png"],
    "regularization": ["regularization.png"],
    "pretraining": ["pretraining.png"],
    "solvers": ["solvers.png"],
}


@pytest.fixture(scope="module")
def data_dir():
    """$FASTNN_DATA, which must hold mnist/ (the test fails otherwise)."""
    env = os.environ.get("FASTNN_DATA", "")
    if not env:
        pytest.fail("FASTNN_DATA is not set: the experiment tests need the MNIST IDX files "
                    "in $FASTNN_DATA/mnist/ (CI sets FASTNN_DATA=../shared/data)")
    path = Path(env).expanduser().absolute()
    if not (path / "mnist").is_dir():
        pytest.fail(f"FASTNN_DATA={env!r} has no mnist/ directory with the MNIST IDX files")
    return path


@pytest.fixture(scope="module")
def quick_runs(data_dir, tmp_path_factory):
    """Each experiment's quick version, run once for the module: name -> (record, out dir,
    printed text). depth runs with two seeds so that the spread is exercised."""
    return {}


def run_quick(name, quick_runs, data_dir, tmp_path_factory, capsys):
    if name not in quick_runs:
        out = tmp_path_factory.mktemp(name)
        # Two runs at once (jobs=2): configurations and seeds from one queue.
        record = experiments.run(name, quick=True, seeds=2 if name == "depth" else 1, out=out,
                                 data_dir=data_dir, download=False, jobs=2)
        quick_runs[name] = (record, out, capsys.readouterr().out)
    return quick_runs[name]


@pytest.mark.parametrize("name", sorted(experiments.EXPERIMENTS))
def test_quick_run_writes_results_and_plots(name, quick_runs, data_dir, tmp_path_factory,
                                            capsys):
    record, out, printed = run_quick(name, quick_runs, data_dir, tmp_path_factory, capsys)
    assert set(record) == RECORD_KEYS
    assert record["experiment"] == name and record["quick"] is True
    assert record["config"] == {**experiments.EXPERIMENTS[name].QUICK}
    with open(out / "results.json", encoding="utf-8") as f:
        saved = json.load(f, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert saved == record
    assert record["plots"] == PLOTS[name] and record["plots_skipped"] is None
    for plot in PLOTS[name]:
        assert (out / plot).read_bytes()[:8] == PNG_MAGIC
    assert record["table"] in printed
    assert f"wrote {out / 'results.json'}" in printed
    rows = record["results"]["rows"]
    assert rows
    for row in rows:
        for key in ("val_accuracy", "test_accuracy"):
            stats = row[key]
            assert len(stats["values"]) == len(record["seeds"])
            assert 0.0 <= stats["min"] <= stats["mean"] <= stats["max"] <= 1.0


def test_depth_results(quick_runs, data_dir, tmp_path_factory, capsys):
    record, _, _ = run_quick("depth", quick_runs, data_dir, tmp_path_factory, capsys)
    rows = record["results"]["rows"]
    assert [r["hidden_layers"] for r in rows] == [0, 1, 2, 3, 4]
    assert [r["lecture"] for r in rows] == [88.0, 96.5, 96.9, 96.5, 96.5]
    epochs = record["config"]["epochs"]
    for row in rows:
        assert len(row["val_accuracy_curves"]) == 2
        assert all(len(c) == epochs + 1 for c in row["val_accuracy_curves"])
        # the curve's last point is the final accuracy, the mean is over the two seeds
        assert [c[-1] for c in row["val_accuracy_curves"]] == row["val_accuracy"]["values"]
        assert row["val_accuracy"]["mean"] == pytest.approx(np.mean(row["val_accuracy"]["values"]))
        assert row["val_accuracy"]["std"] == pytest.approx(
            np.std(row["val_accuracy"]["values"], ddof=1))
    # softmax regression learns in two short epochs; seeds give different runs
    assert rows[0]["val_accuracy"]["mean"] > 0.8
    assert len(set(rows[1]["val_accuracy"]["values"])) == 2
    assert rows[0]["lecture"] is not None and "~88" in record["table"]


def _without_seconds(value):
    if isinstance(value, dict):
        return {k: _without_seconds(v) for k, v in value.items()
                if k not in ("seconds", "s_per_run")}
    if isinstance(value, list):
        return [_without_seconds(v) for v in value]
    return value


def test_runs_trained_at_once_give_the_serial_results(quick_runs, data_dir, tmp_path_factory,
                                                      capsys):
    concurrent, _, printed = run_quick("depth", quick_runs, data_dir, tmp_path_factory, capsys)
    assert "up to 2 runs at a time" in printed
    serial = experiments.run("depth", quick=True, seeds=2, data_dir=data_dir, download=False,
                             jobs=1, verbose=False)
    assert _without_seconds(serial["results"]) == _without_seconds(concurrent["results"])
    assert serial["table"].splitlines()[0] == concurrent["table"].splitlines()[0]


def _numpy_bias_gradient_norms(weights, X, y):
    """||mean_i delta^(l)_i|| per layer for a sigmoid MLP with a softmax output,
    by the lecture's back-propagation in float64: delta^(L) = y - onehot(c),
    delta^(l) = f'(a^(l)) o (W^(l+1)T delta^(l+1)) with f' = y (1 - y)."""
    pairs = list(zip(weights[0::2], weights[1::2]))
    x = X.astype(np.float64)
    outputs = [x]
    for i, (W, b) in enumerate(pairs):
        a = outputs[-1] @ W.astype(np.float64).T + b
        if i < len(pairs) - 1:
            outputs.append(1 / (1 + np.exp(-a)))
        else:
            e = np.exp(a - a.max(axis=1, keepdims=True))
            outputs.append(e / e.sum(axis=1, keepdims=True))
    delta = outputs[-1] - np.eye(10)[y]
    norms = [np.linalg.norm(delta.mean(axis=0))]
    for l in range(len(pairs) - 1, 0, -1):
        h = outputs[l]
        delta = h * (1 - h) * (delta @ pairs[l][0].astype(np.float64))
        norms.append(np.linalg.norm(delta.mean(axis=0)))
    return norms[::-1]


def test_vanishing_results(quick_runs, data_dir, tmp_path_factory, capsys):
    record, _, _ = run_quick("vanishing", quick_runs, data_dir, tmp_path_factory, capsys)
    rows = record["results"]["rows"]
    assert [(r["activation"], r["hidden_layers"]) for r in rows] == [
        ("sigmoid", 2), ("sigmoid", 3), ("sigmoid", 4), ("relu", 2), ("relu", 3), ("relu", 4)]
    epochs = record["config"]["epochs"]
    for row in rows:
        norms = np.array(row["norms"])
        assert norms.shape == (epochs + 1, row["hidden_layers"] + 1)
        assert np.all(norms > 0)
        ratio = norms[0, row["hidden_layers"] - 1] / norms[0, 0]
        assert row["ratio_init"]["mean"] == pytest.approx(ratio)
    sigmoid = [r["ratio_init"]["mean"] for r in rows if r["activation"] == "sigmoid"]
    relu = [r["ratio_init"]["mean"] for r in rows if r["activation"] == "relu"]
    # sigmoid: the first hidden layer learns several times more slowly than the last,
    # more so the deeper the network; relu with He initialisation: about as fast
    assert sigmoid[0] > 2 and sigmoid[0] < sigmoid[1] < sigmoid[2]
    assert all(0.25 < r < 4 for r in relu)

    # the norms at initialisation are those of the lecture's equations
    data = load_data("mnist", data_dir, download=False)
    n = record["results"]["n_grad"]
    for row in rows[:3]:
        model = build_mlp([30] * row["hidden_layers"], "sigmoid", "normal", seed=0)
        expected = _numpy_bias_gradient_norms(model.get_weights(), data.X_train[:n],
                                              data.y_train[:n])
        np.testing.assert_allclose(row["norms"][0], expected, rtol=2e-4)


def test_dropout_results(quick_runs, data_dir, tmp_path_factory, capsys):
    record, _, _ = run_quick("dropout", quick_runs, data_dir, tmp_path_factory, capsys)
    rows = record["results"]["rows"]
    assert [r["dropout"] for r in rows] == [0.0, 0.5]
    epochs = record["config"]["epochs"]
    for row in rows:
        assert len(row["train_accuracy_curve"]) == len(row["val_accuracy_curve"]) == epochs + 1
        assert row["train_accuracy"]["mean"] == row["train_accuracy_curve"][-1]
        assert row["gap"]["mean"] == pytest.approx(
            row["train_accuracy"]["mean"] - row["test_accuracy"]["mean"])
        assert row["test_accuracy"]["mean"] > 0.5


def test_init_results(quick_runs, data_dir, tmp_path_factory, capsys):
    record, _, _ = run_quick("init", quick_runs, data_dir, tmp_path_factory, capsys)
    rows = {r["init"]: r for r in record["results"]["rows"]}
    assert list(rows) == ["normal", "glorot_uniform", "standard_normal"]
    # N(0, 1) weights put most first-layer sigmoid units in saturation; the scaled
    # recipes almost none
    assert rows["standard_normal"]["saturated"][0][0] > 0.3
    assert rows["normal"]["saturated"][0][0] < 0.05
    assert rows["glorot_uniform"]["saturated"][0][0] < 0.05
    assert rows["standard_normal"]["first_epoch_accuracy"]["mean"] < \
        rows["normal"]["first_epoch_accuracy"]["mean"]


def test_optimizers_results(quick_runs, data_dir, tmp_path_factory, capsys):
    record, _, _ = run_quick("optimizers", quick_runs, data_dir, tmp_path_factory, capsys)
    rows = record["results"]["rows"]
    assert [r["optimizer"] for r in rows] == ["SGD", "SGD 1/t", "momentum", "Adagrad", "Adam"]
    epochs = record["config"]["epochs"]
    for row in rows:
        assert len(row["train_loss_curve"]) == epochs
        assert len(row["val_accuracy_curve"]) == epochs + 1
        assert row["val_accuracy"]["mean"] > 0.2
        assert row["diverged"] == [None]


def test_regularization_results(quick_runs, data_dir, tmp_path_factory, capsys):
    record, _, _ = run_quick("regularization", quick_runs, data_dir, tmp_path_factory, capsys)
    rows = record["results"]["rows"]
    lambdas = record["config"]["lambdas"]
    assert [r["lmbda"] for r in rows] == lambdas
    n = record["config"]["n_train"]
    for row in rows:
        assert row["weight_decay"] == pytest.approx(row["lmbda"] / n)
        assert row["gap"]["mean"] == pytest.approx(
            row["train_accuracy"]["mean"] - row["val_accuracy"]["mean"])
    norms = [r["weight_norm"]["mean"] for r in rows]
    assert norms == sorted(norms, reverse=True) and norms[0] > 2 * norms[-1]


def test_pretraining_results(quick_runs, data_dir, tmp_path_factory, capsys):
    record, _, _ = run_quick("pretraining", quick_runs, data_dir, tmp_path_factory, capsys)
    config = record["config"]
    rows = record["results"]["rows"]
    expected = [len(h) for h in [[30] * d for d in config["depths"]] + [config["wide"]]]
    assert [len(r["hidden"]) for r in rows] == [n for n in expected for _ in range(2)]
    assert [r["pretrained"] for r in rows] == [False, True] * len(expected)
    for plain, pre in zip(rows[0::2], rows[1::2]):
        assert plain["layers"] == pre["layers"]
        count = len(pre["hidden"])
        assert len(pre["val_accuracy_curve"]) == pre["epochs"] + 1
        assert len(pre["delta_start"]) == count + 1 and len(pre["pretrain_loss"]) == count
        assert plain["pretrain_loss"] == []
        # the same random weights: identical output layers give about the same
        # validation accuracy at the start; pre-training then learns faster, and
        # its first hidden layer gets a larger share of the gradient
        assert pre["first_epoch_accuracy"]["mean"] > plain["first_epoch_accuracy"]["mean"] + 0.05
        assert pre["ratio_start"]["mean"] < plain["ratio_start"]["mean"]
        assert pre["delta_start"][0] > plain["delta_start"][0]
        assert plain["ratio_start"]["mean"] == pytest.approx(
            plain["delta_start"][count - 1] / plain["delta_start"][0])
    assert "validation % after each fine-tuning epoch" in record["table"]

    # the start of fine-tuning from random weights is the lecture's back-propagation
    data = load_data("mnist", data_dir, download=False)
    n = record["results"]["n_grad"]
    model = build_mlp([30] * config["depths"][0], seed=0)
    expected = _numpy_bias_gradient_norms(model.get_weights(), data.X_train[:n],
                                          data.y_train[:n])
    np.testing.assert_allclose(rows[0]["delta_start"], expected, rtol=2e-4)


def test_solvers_results(quick_runs, data_dir, tmp_path_factory, capsys):
    record, _, _ = run_quick("solvers", quick_runs, data_dir, tmp_path_factory, capsys)
    results = record["results"]
    rows = {r["method"]: r for r in results["rows"]}
    assert list(rows) == ["L-BFGS", "CG", "SGD", "SGD 1/t", "Adagrad"]
    assert results["optimum"]["source"] == "scikit-learn"
    j_star = results["optimum"]["J"]
    for name, row in rows.items():
        points = row["points"][0]
        assert points[0][:2] == [0, 0.0]
        # nobody beats scikit-learn's optimum (up to its tolerance)
        assert min(p[2] for p in points) > j_star - 1e-5
        if row["kind"] == "full":
            values = [p[2] for p in points]
            assert values == sorted(values, reverse=True)  # line searches only go down
            assert points[-1][0] > len(points) - 2       # at least a pass per iteration
        else:
            assert [p[0] for p in points] == list(range(record["config"]["epochs"] + 1))
        assert row["final_gap"]["mean"] == pytest.approx(points[-1][2] - j_star)
    # in a few passes SGD is far ahead of the full-batch solvers; given the
    # iterations, L-BFGS gets closest to the optimum
    sgd_after_1 = rows["SGD"]["points"][0][1][2]
    lbfgs_after_3 = [p[2] for p in rows["L-BFGS"]["points"][0] if p[0] <= 3][-1]
    assert sgd_after_1 < lbfgs_after_3
    assert rows["L-BFGS"]["final_gap"]["mean"] == min(r["final_gap"]["mean"]
                                                      for r in rows.values())


def test_same_seed_same_results(data_dir):
    runs = [experiments.run("depth", quick=True, depths=[1], epochs=1, data_dir=data_dir,
                            download=False, verbose=False)["results"]["rows"][0]
            for _ in range(2)]
    assert runs[0]["val_accuracy_curves"] == runs[1]["val_accuracy_curves"]
    assert runs[0]["test_accuracy"] == runs[1]["test_accuracy"]


def test_module_run_and_overrides(data_dir):
    record = experiments.depth.run(quick=True, depths=[0], epochs=1, variant="nielsen",
                                   data_dir=data_dir, download=False, verbose=False)
    assert record["config"]["epochs"] == 1 and record["config"]["variant"] == "nielsen"
    assert record["results"]["loss"] == "binary_cross_entropy"
    assert [r["hidden_layers"] for r in record["results"]["rows"]] == [0]
    assert record["plots"] == []  # out=None writes nothing


def test_bad_names_and_options(data_dir):
    with pytest.raises(ValueError, match="experiment must be one of .* got 'deep'"):
        experiments.run("deep", quick=True)
    with pytest.raises(TypeError, match="experiment 'dropout' has no option 'variant'"):
        experiments.run("dropout", quick=True, variant="nielsen", data_dir=data_dir)
    with pytest.raises(ValueError, match="variant must be one of .* got 'sigmoid'"):
        experiments.run("depth", quick=True, variant="sigmoid", data_dir=data_dir)
    with pytest.raises(ValueError, match="depths must be .* got \\[0, 0\\]"):
        experiments.run("depth", quick=True, depths=[0, 0], data_dir=data_dir)
    with pytest.raises(ValueError, match="n_train must be at most 50000, got 60000"):
        experiments.run("init", quick=True, n_train=60000, data_dir=data_dir)
    with pytest.raises(ValueError, match="seeds must be a positive integer, got 0"):
        experiments.run("init", quick=True, seeds=0, data_dir=data_dir)


def test_without_matplotlib_tables_and_json_still_written(data_dir, tmp_path, monkeypatch,
                                                          capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    assert not plotting.matplotlib_available()
    record = experiments.run("depth", quick=True, depths=[0], epochs=1, out=tmp_path,
                             data_dir=data_dir, download=False)
    printed = capsys.readouterr().out
    assert record["plots"] == [] and "matplotlib is not installed" in record["plots_skipped"]
    assert "plots skipped: matplotlib is not installed" in printed
    assert record["table"] in printed
    assert json.loads((tmp_path / "results.json").read_text())["plots_skipped"]
    assert not list(tmp_path.glob("*.png"))


def test_missing_data_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="the mnist files are not in path="):
        experiments.run("init", quick=True, data_dir=tmp_path, download=False, verbose=False)


def test_data_dir_may_be_the_parent_of_mnist(data_dir):
    parent = common.resolve_data_dir("mnist", data_dir)
    direct = common.resolve_data_dir("mnist", data_dir / "mnist")
    assert parent == direct == data_dir / "mnist"
    assert common.resolve_data_dir("mnist", None) is None


def test_seed_stats_and_curves():
    stats = seed_stats([0.9, 0.8, 1.0])
    assert stats["mean"] == pytest.approx(0.9) and stats["std"] == pytest.approx(0.1)
    assert (stats["min"], stats["max"], stats["values"]) == (0.8, 1.0, [0.9, 0.8, 1.0])
    assert seed_stats([0.5])["std"] == 0.0
    stats = seed_stats([0.5, float("nan")])  # a diverged seed: kept, not averaged
    assert stats["mean"] == 0.5 and np.isnan(stats["values"][1])
    assert mean_curve([[1.0, 2.0, 3.0], [3.0, 4.0]]) == [2.0, 3.0, 3.0]
    text = format_table(["a", "long header"], [[1, "x"], ["wide cell", 2]])
    lines = text.splitlines()
    assert lines[0] == "a          long header"
    assert lines[1] == "---------  -----------"
    assert lines[3] == "wide cell  2"


def test_train_model_records_a_diverged_run(rng):
    X = rng.random((100, 784)).astype(np.float32)
    y = rng.integers(0, 10, 100)
    data = common.Data("toy", X[:60], y[:60], X[60:80], y[60:80], X[80:], y[80:])
    calls = []

    def probe(model):  # stands for a loss that turns NaN during the second epoch
        calls.append(len(calls))
        if len(calls) == 3:
            raise TrainingDivergedError("the loss became NaN or inf at epoch 1")
        return model.evaluate(data.X_train, data.y_train)["accuracy"]

    record = common.train_model(build_mlp([8], seed=0), data, 5, 10, SGD(lr=0.1),
                                probes={"train_accuracy": probe})
    assert record["diverged"] == "the loss became NaN or inf at epoch 1"
    assert len(record["train_loss"]) == 2 and len(record["train_accuracy"]) == 2
    assert 0 <= record["test_accuracy"] <= 1
    assert len(mean_curve([record["val_accuracy"], [0.1] * 6])) == 6


def test_each_module_owns_its_table_and_plot_under_a_name_of_its_own():
    import pkgutil

    import fastnn
    fastnn_modules = {m.name for m in pkgutil.iter_modules(fastnn.__path__)}
    for name, module in experiments.EXPERIMENTS.items():
        assert module.NAME == name
        short = module.__name__.rpartition(".")[2]
        # e.g. not "optimizers" (fastnn.optimizers) or "init" (reads as __init__)
        assert short not in fastnn_modules and short not in {"init", "dropout"}
        assert callable(module.table) and callable(module.plot) and callable(module.run)
        assert module.run.__module__ == module.__name__
    assert not [n for n in dir(plotting) if n.startswith("plot_")]


@pytest.mark.parametrize("loss, output", [("cross_entropy", "softmax"),
                                          ("binary_cross_entropy", "sigmoid"),
                                          ("mse", "sigmoid")])
def test_build_mlp_output_activation_follows_the_loss(loss, output):
    model = build_mlp([4], loss=loss, seed=0)
    assert [layer.activation for layer in model.dense_layers] == ["sigmoid", output]
