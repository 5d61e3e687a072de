"""The contenders of the benchmark do the same work: one SGD step of each, from
the same weights on the same batch, gives the same parameters (float64).

Not a benchmark (``--benchmark-only`` skips it): run it with
``python -m pytest bench/test_peers_agree.py`` after changing bench/trainers.py
or bench/numpy_mlp.py, so that the table keeps comparing like with like.
PyTorch and scikit-learn are optional peers: their checks are skipped when they
are not installed.
"""

import numpy as np
import pytest

from trainers import (FastnnTrainer, NumpyTrainer, SklearnTrainer, TorchTrainer,
                      initial_weights, set_sklearn_weights)
from workloads import NETS

BATCH = 8


def _batch(spec, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.random((BATCH, spec.sizes[0]))
    y = rng.integers(0, spec.sizes[-1], size=BATCH)
    return X, y


def _fastnn_step(spec, weights, X, y):
    trainer = FastnnTrainer(spec, X, y, BATCH, weights)
    trainer.model.fit(X, y, epochs=1, batch_size=BATCH, optimizer=trainer.optimizer,
                      shuffle=False, verbose=0)
    return [(layer.W, layer.b) for layer in trainer.model.dense_layers]


def _assert_same(expected, got, who):
    for l, ((W0, b0), (W1, b1)) in enumerate(zip(expected, got)):
        np.testing.assert_allclose(W1, W0, rtol=1e-9, atol=1e-12, err_msg=f"{who} W{l + 1}")
        np.testing.assert_allclose(b1, b0, rtol=1e-9, atol=1e-12, err_msg=f"{who} b{l + 1}")


def _moved(weights, after):
    """The step must change the parameters, or agreement proves nothing."""
    return all(not np.array_equal(W0, W1) for (W0, _), (W1, _) in zip(weights, after))


@pytest.mark.parametrize("key", ["lecture", "relu100"])
def test_numpy_peer_matches_fastnn(key):
    spec = NETS[key]
    weights = initial_weights(spec, "float64")
    X, y = _batch(spec)
    expected = _fastnn_step(spec, weights, X, y)
    assert _moved(weights, expected)
    trainer = NumpyTrainer(spec, X, y, BATCH, weights)
    trainer.net.step(X, y)
    _assert_same(expected, list(zip(trainer.net.W, trainer.net.b)), "numpy")


@pytest.mark.parametrize("key", ["lecture", "relu100"])
def test_torch_peer_matches_fastnn(key):
    pytest.importorskip("torch")
    spec = NETS[key]
    weights = initial_weights(spec, "float64")
    X, y = _batch(spec)
    expected = _fastnn_step(spec, weights, X, y)
    trainer = TorchTrainer(spec, X, y, BATCH, weights)
    trainer.run(0, BATCH)          # one batch: the permutation does not matter
    linears = [m for m in trainer.model if hasattr(m, "weight")]
    got = [(m.weight.detach().numpy(), m.bias.detach().numpy()) for m in linears]
    _assert_same(expected, got, "torch")


@pytest.mark.parametrize("key", ["lecture", "relu100"])
def test_sklearn_peer_matches_fastnn(key):
    pytest.importorskip("sklearn")
    spec = NETS[key]
    weights = initial_weights(spec, "float64")
    X, y = _batch(spec)
    expected = _fastnn_step(spec, weights, X, y)
    trainer = SklearnTrainer(spec, X, y, BATCH, weights)
    set_sklearn_weights(trainer.clf, weights)   # undo the initialising partial_fit's step
    trainer.run(0, BATCH)
    got = [(W.T, b) for W, b in zip(trainer.clf.coefs_, trainer.clf.intercepts_)]
    _assert_same(expected, got, "sklearn")


def test_numpy_peer_keeps_float32():
    spec = NETS["lecture"]
    weights = initial_weights(spec, "float32")
    X, y = _batch(spec)
    trainer = NumpyTrainer(spec, X.astype(np.float32), y, BATCH, weights)
    trainer.net.step(trainer.X, y)
    assert all(W.dtype == np.float32 for W in trainer.net.W)
    assert all(b.dtype == np.float32 for b in trainer.net.b)
