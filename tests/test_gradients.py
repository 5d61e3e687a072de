"""Gradient checks of the fast path's back-propagation (``Sequential.gradients``).

Two independent checks, in float64 and without dropout:

- central differences: dL/dtheta ~ (L(theta + h) - L(theta - h)) / 2h, with L
  the batch-mean loss of ``model.evaluate(X, y)["loss"]``, for every entry of
  every W and b (or a random subset of a larger network's entries);
- the plain NumPy reference of the lecture's equations (tests/reference_mlp.py).
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from fastnn import Dense, Sequential
from reference_mlp import ReferenceMLP

H = 1e-6


def make_data(n, n_features, n_classes, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, n_features)), rng.integers(0, n_classes, size=n)


def build(spec, loss, dtype="float64", seed=0):
    layers = [Dense(s[0], s[1], s[2], bias=s[3] if len(s) > 3 else True) for s in spec]
    return Sequential(layers, loss=loss, dtype=dtype, seed=seed)


def perturb_biases(model, seed):
    """Biases start at zero; give them values so their gradients are generic."""
    rng = np.random.default_rng(seed)
    for layer in model.dense_layers:
        if layer.b is not None:
            layer.b[...] = rng.normal(scale=0.3, size=layer.b.shape)


def numerical_gradient(model, X, y, array, entries):
    """Central differences of the mean loss w.r.t. array[entries] (array is a
    parameter of the model, perturbed in place and restored)."""
    out = np.empty(len(entries))
    for k, idx in enumerate(entries):
        old = array[idx]
        array[idx] = old + H
        plus = model.evaluate(X, y)["loss"]
        array[idx] = old - H
        minus = model.evaluate(X, y)["loss"]
        array[idx] = old
        out[k] = (plus - minus) / (2 * H)
    return out


def check_gradients(model, X, y, max_entries=None, seed=0):
    """Compare model.gradients with central differences, entry by entry."""
    before = model.get_weights()
    grads = model.gradients(X, y)
    # gradients() must not update anything.
    for a, b in zip(model.get_weights(), before):
        assert np.array_equal(a, b)
    assert len(grads) == len(model.dense_layers)
    rng = np.random.default_rng(seed)
    checked = 0
    for layer, (dW, db) in zip(model.dense_layers, grads):
        assert dW.shape == layer.W.shape and dW.dtype == layer.W.dtype
        pairs = [(layer.W, dW)]
        if layer.b is None:
            assert db is None
        else:
            assert db.shape == layer.b.shape
            pairs.append((layer.b, db))
        for param, grad in pairs:
            entries = list(np.ndindex(param.shape))
            if max_entries is not None and len(entries) > max_entries:
                chosen = rng.choice(len(entries), size=max_entries, replace=False)
                entries = [entries[i] for i in chosen]
            numeric = numerical_gradient(model, X, y, param, entries)
            analytic = np.array([grad[idx] for idx in entries])
            assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8,
                            err_msg=f"{layer!r}: gradient of a {param.shape} parameter")
            checked += len(entries)
    # Not a vacuous check: the gradients are not all (near) zero.
    assert max(np.abs(dW).max() for dW, _ in grads) > 1e-3
    return checked


# (layers, loss, number of classes for the labels)
NETWORKS = {
    "hidden_sigmoid": ([(4, 5, "sigmoid"), (5, 3, "softmax")], "cross_entropy", 3),
    "hidden_tanh": ([(4, 5, "tanh"), (5, 3, "softmax")], "cross_entropy", 3),
    "hidden_relu": ([(4, 5, "relu"), (5, 3, "softmax")], "cross_entropy", 3),
    "hidden_identity": ([(4, 5, "identity"), (5, 3, "softmax")], "cross_entropy", 3),
    "softmax_regression": ([(4, 3, "softmax")], "cross_entropy", 3),
    "bce_several_outputs": ([(4, 5, "tanh"), (5, 3, "sigmoid")], "binary_cross_entropy", 3),
    "bce_one_output": ([(4, 5, "tanh"), (5, 1, "sigmoid")], "binary_cross_entropy", 2),
    "logistic_regression": ([(4, 1, "sigmoid")], "binary_cross_entropy", 2),
    "mse_identity": ([(4, 5, "sigmoid"), (5, 3, "identity")], "mse", 3),
    "mse_sigmoid": ([(4, 5, "tanh"), (5, 3, "sigmoid")], "mse", 3),
    "mse_tanh": ([(4, 5, "relu"), (5, 3, "tanh")], "mse", 3),
    "mse_softmax": ([(4, 5, "sigmoid"), (5, 3, "softmax")], "mse", 3),
    "mse_one_output": ([(4, 5, "sigmoid"), (5, 1, "identity")], "mse", 2),
    "no_bias": ([(4, 5, "tanh", False), (5, 3, "softmax")], "cross_entropy", 3),
    "three_layers": ([(4, 6, "tanh"), (6, 5, "relu"), (5, 3, "softmax")], "cross_entropy", 3),
    "four_layers_mixed": ([(4, 6, "sigmoid"), (6, 5, "tanh"), (5, 4, "relu"),
                           (4, 3, "sigmoid")], "binary_cross_entropy", 3),
}


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_gradients_match_central_differences(name):
    spec, loss, n_classes = NETWORKS[name]
    X, y = make_data(12, spec[0][0], n_classes, seed=1)
    model = build(spec, loss)
    perturb_biases(model, seed=2)
    assert check_gradients(model, X, y) == sum(layer.n_params for layer in model.dense_layers)


def test_gradients_of_a_larger_network_on_a_random_subset():
    X, y = make_data(20, 30, 10, seed=3)
    model = build([(30, 25, "sigmoid"), (25, 20, "tanh"), (20, 10, "softmax")],
                  "cross_entropy")
    perturb_biases(model, seed=4)
    # 15 entries of each parameter, all 10 of the last bias.
    assert check_gradients(model, X, y, max_entries=15, seed=5) == 15 * 5 + 10


def test_gradients_are_batch_means():
    # The gradient of a batch is the mean of the per-example gradients.
    spec, loss, n_classes = NETWORKS["three_layers"]
    X, y = make_data(9, 4, n_classes, seed=6)
    model = build(spec, loss)
    batch = model.gradients(X, y)
    singles = [model.gradients(X[i:i + 1], y[i:i + 1]) for i in range(9)]
    for l, (dW, db) in enumerate(batch):
        assert_allclose(dW, np.mean([s[l][0] for s in singles], axis=0), rtol=1e-12,
                        atol=1e-15)
        assert_allclose(db, np.mean([s[l][1] for s in singles], axis=0), rtol=1e-12,
                        atol=1e-15)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_gradients_match_reference(name, dtype):
    spec, loss, n_classes = NETWORKS[name]
    X, y = make_data(15, spec[0][0], n_classes, seed=7)
    model = build(spec, loss, dtype=dtype)
    perturb_biases(model, seed=8)
    reference = ReferenceMLP.from_model(model)
    ref_grads, ref_loss, _ = reference.gradients(X, y)
    tol = dict(rtol=1e-10, atol=1e-13) if dtype == "float64" else dict(rtol=1e-4, atol=1e-6)
    for (dW, db), (rW, rb) in zip(model.gradients(X, y), ref_grads):
        assert_allclose(dW, rW, **tol)
        if db is not None:
            assert_allclose(db, rb, **tol)
    # The loss these gradients differentiate is the reference's mean loss.
    assert model.evaluate(X, y)["loss"] == pytest.approx(
        ref_loss, rel=1e-12 if dtype == "float64" else 1e-5)


def test_relu_gradient_is_zero_for_dead_units():
    # A hidden unit whose pre-activation is negative for every example passes
    # no gradient: its row of dW1 and its b1 entry are exactly zero.
    X, y = make_data(10, 4, 3, seed=9)
    model = build([(4, 5, "relu"), (5, 3, "softmax")], "cross_entropy")
    model.dense_layers[0].W[2] = 0.0
    model.dense_layers[0].b[2] = -1.0
    (dW1, db1), (dW2, _) = model.gradients(X, y)
    assert np.all(dW1[2] == 0) and db1[2] == 0
    assert np.all(dW2[:, 2] == 0)            # its output is 0, so W2's column gets nothing
    assert np.abs(dW1[[0, 1, 3, 4]]).max() > 0
