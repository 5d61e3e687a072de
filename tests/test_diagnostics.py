"""fastnn.GradientNorms: per-layer gradient norms on a probe set during fit.

The norms at initialisation and after training are recomputed by plain NumPy
back-propagation (the lecture's equations, tests/reference_mlp.py is not
needed for a sigmoid/softmax chain); probing must not change what fit does.
"""

import numpy as np
import pytest
from sklearn.datasets import load_digits

import fastnn
from fastnn import Dense, GradientNorms, Sequential
from fastnn.diagnostics import gradient_norms, plot_gradient_norms


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return np.ascontiguousarray(X / 16.0), y.astype(np.int64)


def network(dtype="float64", seed=0):
    return Sequential([Dense(64, 16, "sigmoid"), Dense(16, 12, "sigmoid"),
                       Dense(12, 10, "softmax")], dtype=dtype, seed=seed)


def numpy_norms(weights, X, y):
    """(||mean delta^(l)||, ||mean dW^(l)||) per layer, by back-propagation in float64:
    delta^(L) = p - onehot(y), delta^(l) = y^(l) (1 - y^(l)) o (delta^(l+1) W^(l+1))."""
    pairs = list(zip(weights[0::2], weights[1::2]))
    outputs = [X]
    for i, (W, b) in enumerate(pairs):
        a = outputs[-1] @ W.T + b
        if i < len(pairs) - 1:
            outputs.append(1 / (1 + np.exp(-a)))
        else:
            e = np.exp(a - a.max(axis=1, keepdims=True))
            outputs.append(e / e.sum(axis=1, keepdims=True))
    delta = (outputs[-1] - np.eye(10)[y]) / len(y)
    deltas, dWs = [], []
    for l in range(len(pairs) - 1, -1, -1):
        deltas.append(np.linalg.norm(delta.sum(axis=0)))
        dWs.append(np.linalg.norm(delta.T @ outputs[l]))
        if l > 0:
            h = outputs[l]
            delta = h * (1 - h) * (delta @ pairs[l][0])
    return deltas[::-1], dWs[::-1]


def test_norms_at_init_and_after_every_epoch(digits):
    X, y = digits
    model = network()
    probe = GradientNorms(X[:200], y[:200])
    initial = numpy_norms(model.get_weights(), X[:200], y[:200])
    history = model.fit(X, y, epochs=3, batch_size=16, verbose=0, callbacks=[probe])
    assert len(probe.delta_norms) == len(probe.weight_norms) == 4
    np.testing.assert_allclose(probe.delta_norms[0], initial[0], rtol=1e-10)
    np.testing.assert_allclose(probe.weight_norms[0], initial[1], rtol=1e-10)
    final = numpy_norms(model.get_weights(), X[:200], y[:200])
    np.testing.assert_allclose(probe.delta_norms[-1], final[0], rtol=1e-10)
    np.testing.assert_allclose(probe.weight_norms[-1], final[1], rtol=1e-10)
    assert history.history["delta_norms"] == probe.delta_norms
    assert history.history["weight_gradient_norms"] == probe.weight_norms
    assert len(history.history["loss"]) == 3
    # sigmoid layers: the first hidden layer's delta is the smallest at initialisation
    assert probe.delta_norms[0][0] < probe.delta_norms[0][1]
    assert probe.ratio()[0] == pytest.approx(probe.delta_norms[0][1] / probe.delta_norms[0][0])
    assert gradient_norms(model, X[:200], y[:200]) == (probe.delta_norms[-1],
                                                       probe.weight_norms[-1])


def test_probing_does_not_change_training(digits):
    X, y = digits
    runs = []
    for callbacks in ([], [GradientNorms(X[:50], y[:50])]):
        model = network(dtype="float32")
        model.fit(X, y, epochs=2, batch_size=10, verbose=0, callbacks=callbacks)
        runs.append(model.get_weights())
    for a, b in zip(*runs):
        assert np.array_equal(a, b)


def test_a_second_fit_starts_a_new_record(digits):
    X, y = digits
    model = network()
    probe = GradientNorms(X[:50], y[:50])
    model.fit(X, y, epochs=2, verbose=0, callbacks=[probe])
    model.fit(X, y, epochs=1, verbose=0, callbacks=[probe])
    assert len(probe.delta_norms) == 2


def test_bad_probes_and_models(digits):
    X, y = digits
    with pytest.raises(ValueError, match="X_probe has 63 features"):
        network().fit(X, y, verbose=0, callbacks=[GradientNorms(X[:10, 1:], y[:10])])
    with pytest.raises(ValueError, match="y_probe"):
        network().fit(X, y, verbose=0, callbacks=[GradientNorms(X[:10], y[:10] + 10)])
    with pytest.raises(ValueError, match="y_probe"):
        network().fit(X, y, verbose=0, callbacks=[GradientNorms(X[:10], y[:9])])

    class Graph(fastnn.Model):
        def __init__(self):
            super().__init__(seed=0, dtype="float64")
            self.out = Dense(64, 10)

        def forward(self, x):
            return self.out(x, logits=True)

    with pytest.raises(TypeError, match="GradientNorms needs a Sequential"):
        Graph().fit(X, y, verbose=0, callbacks=[GradientNorms(X[:10], y[:10])])
    probe = GradientNorms(X[:10], y[:10])
    with pytest.raises(ValueError, match="which must be 'delta' or 'weight', got 'b'"):
        probe.plot("b")


def test_plot_draws_one_curve_per_hidden_layer(digits, tmp_path):
    X, y = digits
    probe = GradientNorms(X[:50], y[:50])
    network().fit(X, y, epochs=2, verbose=0, callbacks=[probe])
    ax = probe.plot()
    assert [line.get_label() for line in ax.get_lines()] == ["hidden layer 1", "hidden layer 2"]
    assert ax.get_yscale() == "log"
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(),
                               [row[0] for row in probe.delta_norms])
    ax.figure.savefig(tmp_path / "norms.png")
    assert (tmp_path / "norms.png").read_bytes()[:4] == b"\x89PNG"
    ax = plot_gradient_norms([[1.0, 2.0, 3.0], [None, 1.5, 2.5]])
    assert len(ax.get_lines()) == 3 and np.isnan(ax.get_lines()[0].get_ydata()[1])
    assert probe.plot("weight").get_ylabel() == "||dC/dW^(l)||"
