"""Dropout on the fast path: the masks ``Sequential.fit`` really draws.

The masks are observed through the weights after one SGD step of a layer
built so that its update equals its input mask: a Dense(n, 1, identity) with
W = 0, b = 0, trained with mse on one example x = 1 with target 1 and eta = 1
has output 0, delta = -1, and after the step W = 0 - 1 * (-1) * (m o x) = m.

The fast path draws masks from ``fastnn._kernels.Rng(seed)``: per step, layer
by layer in forward order, one uniform per input unit per example in row-major
order (rows x n_in); an epoch with shuffling first shuffles the example order
(persisting from epoch to epoch) with the same generator. ``seed`` is derived
in ``Sequential.fit`` (and ``gradients``) as
``model._train_seq.spawn(1)[0].generate_state(1, np.uint64)[0]``, where
``_train_seq`` is the second child of ``SeedSequence(model seed)``;
``fit_seed`` below recomputes it from the public seed alone.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastnn import SGD, Dense, Dropout, Sequential
from fastnn._kernels import Rng
from reference_mlp import ReferenceMLP, ReferenceOptimizer


def fit_seed(seed, call=0, stream=1):
    """Seed of the compiled net built by the (call+1)-th fit (stream 1) or
    gradients (stream 2) call of ``Sequential(..., seed=seed)``."""
    seq = np.random.SeedSequence(seed).spawn(stream + 1)[stream]
    return int(seq.spawn(call + 1)[call].generate_state(1, np.uint64)[0])


def mask_drawer(rng, dtype=np.float64):
    """draw_mask for the reference: the fast path's masks from ``rng``."""
    def draw(rows, n_in, p, keep_value):
        mask = np.empty(rows * n_in, dtype=dtype)
        rng.dropout_mask(mask, p, keep_value)
        return mask.reshape(rows, n_in)
    return draw


def make_data(n, n_features, n_classes, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, n_features)), rng.integers(0, n_classes, size=n)


def observe_masks(p, scale, position, n_units, rows=1, dtype="float64", seed=0):
    """Train one step so the output layer's W equals its (batch-mean) input mask.

    position "input": Dropout(p) on the network's input x = 1.
    position "hidden": Dense(1, n_units, identity) with W = 0, b = 1 gives a
    hidden output of 1 for every unit, followed by Dropout(p).
    Returns (mean mask over the rows, model).
    """
    readout = Dense(n_units, 1, "identity", init="zeros")
    if position == "input":
        layers = [Dropout(p, scale), readout]
        X = np.ones((rows, n_units))
    else:
        hidden = Dense(1, n_units, "identity", init="zeros")
        layers = [hidden, Dropout(p, scale), readout]
        X = np.ones((rows, 1))
    model = Sequential(layers, loss="mse", dtype=dtype, seed=seed)
    if position == "hidden":
        hidden.b = np.ones(n_units)
    model.fit(X, np.ones(rows, dtype=np.int64), epochs=1, batch_size=rows,
              optimizer=SGD(lr=1.0), shuffle=False, verbose=0)
    # delta = -1 / rows for every example: W = sum_i m_i / rows.
    assert readout.b[0] == pytest.approx(1.0)
    return readout.W[0].copy(), model


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("position", ["input", "hidden"])
@pytest.mark.parametrize("scale", ["train", "test"])
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_drop_rate_and_expected_activation_during_fit(p, scale, position, dtype):
    n = 20000
    mask, model = observe_masks(p, scale, position, n, dtype=dtype, seed=11)
    dropout = [layer for layer in model.layers if isinstance(layer, Dropout)][0]
    keep = np.asarray(1 / (1 - p) if scale == "train" else 1.0, dtype=dtype)
    assert mask.dtype == np.dtype(dtype)
    # Every entry is dropped (0) or kept (1/(1-p) with scale="train", 1 with "test").
    assert np.all((mask == 0) | (mask == keep))
    rate = np.mean(mask == 0)
    assert abs(rate - p) < 5 * np.sqrt(p * (1 - p) / n)
    # Expected activation: E[m] equals the test-time factor (1 for "train", 1 - p for "test").
    assert dropout.test_factor == (1.0 if scale == "train" else 1 - p)
    sigma = float(keep) * np.sqrt(p * (1 - p) / n)
    assert abs(mask.mean() - dropout.test_factor) < 5 * sigma
    # Bitwise the masks of Rng(seed) derived from the model's seed.
    expected = np.empty(n, dtype=dtype)
    Rng(fit_seed(11)).dropout_mask(expected, p, float(keep))
    assert_array_equal(mask, expected)


def test_each_example_gets_its_own_mask():
    # One batch of 4 identical examples: W = mean of 4 row masks, drawn row-major.
    n, rows, p = 5000, 4, 0.5
    mean_mask, _ = observe_masks(p, "test", "input", n, rows=rows, seed=3)
    masks = np.empty(rows * n)
    Rng(fit_seed(3)).dropout_mask(masks, p, 1.0)
    masks = masks.reshape(rows, n)
    assert_allclose(mean_mask, masks.mean(axis=0), rtol=1e-15)
    # With one mask shared by the rows every entry would be 0 or 1; independent
    # masks give kept-counts 0..4 with binomial frequencies C(4, k) / 16.
    counts = np.bincount(np.rint(mean_mask * rows).astype(int), minlength=rows + 1)
    expected = n * np.array([1, 4, 6, 4, 1]) / 16
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))


def test_each_fit_and_each_seed_draws_new_masks():
    first, model = observe_masks(0.5, "train", "input", 2000, seed=5)
    other, _ = observe_masks(0.5, "train", "input", 2000, seed=6)
    again, _ = observe_masks(0.5, "train", "input", 2000, seed=5)
    assert_array_equal(first, again)
    assert np.mean(first != other) > 0.3


# --------------------------------------------------------------- inference ---

def dropout_net(scale, dtype="float64", seed=0, p_in=0.2, p_hidden=0.5):
    return Sequential([Dropout(p_in, scale), Dense(6, 8, "tanh"), Dropout(p_hidden, scale),
                       Dense(8, 3, "softmax")], dtype=dtype, seed=seed)


@pytest.mark.parametrize("scale", ["train", "test"])
def test_no_dropout_at_predict_time(scale):
    X, y = make_data(40, 6, 3, seed=1)
    model = dropout_net(scale)
    model.fit(X, y, epochs=2, batch_size=8, verbose=0)
    proba = model.predict_proba(X)
    assert_array_equal(model.predict_proba(X), proba)
    assert_array_equal(model(X), proba)
    assert model.evaluate(X, y) == model.evaluate(X, y)

    # The same weights without Dropout layers: with scale="train" the outputs
    # are identical; with scale="test" each Dense after a Dropout sees its
    # input times (1 - p), i.e. the same as weights W (1 - p) without dropout.
    W1, b1, W2, b2 = model.get_weights()
    plain = Sequential([Dense(6, 8, "tanh"), Dense(8, 3, "softmax")], dtype="float64")
    factor_in, factor_hidden = (1.0, 1.0) if scale == "train" else (0.8, 0.5)
    plain.set_weights([W1 * factor_in, b1, W2 * factor_hidden, b2])
    assert_allclose(proba, plain.predict_proba(X), rtol=1e-12, atol=1e-15)
    if scale == "test":
        unscaled = Sequential([Dense(6, 8, "tanh"), Dense(8, 3, "softmax")], dtype="float64")
        unscaled.set_weights([W1, b1, W2, b2])
        assert not np.allclose(proba, unscaled.predict_proba(X))
    assert_allclose(proba, ReferenceMLP.from_model(model).predict_proba(X), rtol=1e-12,
                    atol=1e-15)


def test_dropout_zero_is_the_identity():
    X, y = make_data(40, 6, 3, seed=2)
    with_zero = Sequential([Dropout(0.0), Dense(6, 8, "relu"), Dropout(0.0),
                            Dense(8, 3, "softmax")], dtype="float64", seed=4)
    without = Sequential([Dense(6, 8, "relu"), Dense(8, 3, "softmax")], dtype="float64",
                         seed=4)
    for model in (with_zero, without):
        model.fit(X, y, epochs=2, batch_size=8, shuffle=True, verbose=0)
    for a, b in zip(with_zero.get_weights(), without.get_weights()):
        assert_array_equal(a, b)


# ------------------------------------------------- training vs the reference ---

DROPOUT_NETS = {
    "input_and_hidden": lambda scale: [Dropout(0.2, scale), Dense(6, 8, "sigmoid"),
                                       Dropout(0.5, scale), Dense(8, 3, "softmax")],
    "two_hidden_dropouts": lambda scale: [Dense(6, 8, "relu"), Dropout(0.3, scale),
                                          Dense(8, 5, "tanh"), Dropout(0.6, scale),
                                          Dense(5, 3, "softmax")],
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("scale", ["train", "test"])
@pytest.mark.parametrize("net", sorted(DROPOUT_NETS))
def test_fit_with_dropout_matches_reference_given_the_same_masks(net, scale, dtype):
    X, y = make_data(23, 6, 3, seed=3)                 # batches of 10, 10, 3
    model = Sequential(DROPOUT_NETS[net](scale), dtype=dtype, seed=7)
    reference = ReferenceMLP.from_model(model)
    history = model.fit(X, y, epochs=2, batch_size=10, optimizer=SGD(lr=0.5, momentum=0.5),
                        shuffle=False, verbose=0)
    ref_logs = reference.fit(X, y, 2, 10, ReferenceOptimizer("sgd", lr=0.5, momentum=0.5),
                             draw_mask=mask_drawer(Rng(fit_seed(7)), dtype))
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == "float64" else dict(rtol=2e-4, atol=2e-5)
    for a, e in zip(model.get_weights(), reference.get_weights()):
        assert_allclose(a, e, **tol)
    assert_allclose(history.history["loss"], [lg[0] for lg in ref_logs],
                    rtol=1e-10 if dtype == "float64" else 1e-4)

    # Other masks (another seed) give other weights: the masks matter.
    other = ReferenceMLP.from_model(Sequential(DROPOUT_NETS[net](scale), dtype=dtype, seed=7))
    other.fit(X, y, 2, 10, ReferenceOptimizer("sgd", lr=0.5, momentum=0.5),
              draw_mask=mask_drawer(Rng(fit_seed(8)), dtype))
    assert not np.allclose(other.get_weights()[0], reference.get_weights()[0], **tol)


def test_fit_with_dropout_and_shuffle_matches_reference():
    # With shuffling each epoch first permutes the (persistent) example order
    # with the same generator, then draws the masks step by step.
    X, y = make_data(23, 6, 3, seed=4)
    model = Sequential(DROPOUT_NETS["input_and_hidden"]("train"), dtype="float64", seed=9)
    reference = ReferenceMLP.from_model(model)
    model.fit(X, y, epochs=3, batch_size=10, optimizer=SGD(lr=0.5), shuffle=True, verbose=0)
    rng = Rng(fit_seed(9))
    order = np.arange(23, dtype=np.int64)
    opt = ReferenceOptimizer("sgd", lr=0.5)
    for epoch in range(3):
        rng.shuffle(order)
        reference.train_epoch(X[order], y[order], 10, opt, epoch, draw_mask=mask_drawer(rng))
    for a, e in zip(model.get_weights(), reference.get_weights()):
        assert_allclose(a, e, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("scale", ["train", "test"])
def test_gradients_with_dropout_match_reference(scale):
    # gradients() runs with dropout on, drawing from its own stream of the model's seed.
    X, y = make_data(12, 6, 3, seed=5)
    model = Sequential(DROPOUT_NETS["two_hidden_dropouts"](scale), dtype="float64", seed=13)
    reference = ReferenceMLP.from_model(model)
    first = model.gradients(X, y)
    second = model.gradients(X, y)
    for call, grads in enumerate((first, second)):
        ref_grads, _, _ = reference.gradients(X, y,
                                              mask_drawer(Rng(fit_seed(13, call, stream=2))))
        for (dW, db), (rW, rb) in zip(grads, ref_grads):
            assert_allclose(dW, rW, rtol=1e-10, atol=1e-13)
            assert_allclose(db, rb, rtol=1e-10, atol=1e-13)
    assert not np.allclose(first[0][0], second[0][0])


def test_gradients_do_not_change_the_next_fit():
    X, y = make_data(40, 6, 3, seed=6)
    inspected = Sequential(DROPOUT_NETS["two_hidden_dropouts"]("train"), seed=21)
    plain = Sequential(DROPOUT_NETS["two_hidden_dropouts"]("train"), seed=21)
    inspected.gradients(X, y)
    for model in (inspected, plain):
        model.fit(X, y, epochs=2, batch_size=8, verbose=0)
    for a, b in zip(inspected.get_weights(), plain.get_weights()):
        assert_array_equal(a, b)
