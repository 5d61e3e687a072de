"""The scikit-learn update forms of fastnn's optimizers: SGD(step_velocity=True)
and Adam(eps_on="v"), on the graph path (both ops) and the compiled loop,
against scikit-learn's recurrences written out in NumPy."""

import numpy as np
import pytest

import fastnn
from fastnn.ops import CompiledOps, NumpyOps
from fastnn.optimizers import SGD, Adam

OPS = [NumpyOps(), CompiledOps()]


def sklearn_sgd(W, grads, rates, mu, nesterov):
    """u <- mu u - lr g; W <- W + (mu u - lr g if nesterov else u)."""
    W, u = W.copy(), np.zeros_like(W)
    for g, lr in zip(grads, rates):
        u = mu * u - lr * g
        W += mu * u - lr * g if nesterov else u
    return W


def sklearn_adam(W, grads, lr, b1, b2, eps):
    """m, v as usual; W <- W - lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps)."""
    W, m, v = W.copy(), np.zeros_like(W), np.zeros_like(W)
    for t, g in enumerate(grads, 1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        W -= lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m / (np.sqrt(v) + eps)
    return W


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    return rng.standard_normal((4, 3)), [1e-3 * rng.standard_normal((4, 3)) for _ in range(6)]


@pytest.mark.parametrize("ops", OPS, ids=lambda o: o.name)
@pytest.mark.parametrize("nesterov", [False, True])
def test_step_velocity_keeps_the_old_steps_when_lr_changes(problem, ops, nesterov):
    W0, grads = problem
    rates = [0.5, 0.5, 0.1, 0.1, 0.02, 0.3]
    opt = SGD(lr=rates[0], momentum=0.9, nesterov=nesterov, step_velocity=True)
    W = W0.copy()
    for g, lr in zip(grads, rates):
        opt.lr = lr
        opt.step([(W, g, True)], ops=ops)
    np.testing.assert_allclose(W, sklearn_sgd(W0, grads, rates, 0.9, nesterov), rtol=1e-13)
    # PyTorch's form differs once the rate changes: the option matters.
    plain = SGD(lr=rates[0], momentum=0.9, nesterov=nesterov)
    W = W0.copy()
    for g, lr in zip(grads, rates):
        plain.lr = lr
        plain.step([(W, g, True)], ops=ops)
    assert np.abs(W - sklearn_sgd(W0, grads, rates, 0.9, nesterov)).max() > 1e-6


@pytest.mark.parametrize("ops", OPS, ids=lambda o: o.name)
def test_adam_eps_on_v_is_sklearns_form(problem, ops):
    W0, grads = problem
    for eps_on, expected_close in (("v", True), ("v_hat", False)):
        opt = Adam(lr=0.01, betas=(0.9, 0.999), eps=1e-4, eps_on=eps_on)
        W = W0.copy()
        for g in grads:
            opt.step([(W, g, True)], ops=ops)
        close = np.allclose(W, sklearn_adam(W0, grads, 0.01, 0.9, 0.999, 1e-4), rtol=1e-13,
                            atol=0)
        assert close is expected_close


@pytest.mark.parametrize("optimizer", [
    lambda: SGD(lr=0.2, momentum=0.8, nesterov=True, step_velocity=True),
    lambda: Adam(lr=0.01, eps=1e-3, eps_on="v"),
], ids=["sgd", "adam"])
def test_compiled_loop_equals_graph_path(optimizer):
    # Sequential.fit (apply_update in csrc/kernels.pxd) against Optimizer.step
    # on a linear model whose gradient is computed here in NumPy.
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((20, 3)), rng.standard_normal((20, 3)).argmax(axis=1)
    model = fastnn.Sequential([fastnn.Dense(3, 3, "softmax")], dtype="float64", seed=0)
    W, b = (a.copy() for a in model.get_weights())
    compiled = optimizer()
    model.fit(X, y, epochs=1, batch_size=5, optimizer=compiled, shuffle=False, verbose=0)
    graph = optimizer()
    for start in range(0, 20, 5):
        xb, yb = X[start:start + 5], y[start:start + 5]
        a = xb @ W.T + b
        p = np.exp(a - a.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        delta = (p - np.eye(3)[yb]) / len(xb)
        graph.step([(W, delta.T @ xb, True), (b, delta.sum(axis=0), False)], ops=NumpyOps())
    np.testing.assert_allclose(model.get_weights()[0], W, rtol=1e-12)
    np.testing.assert_allclose(model.get_weights()[1], b, rtol=1e-12)


def test_option_errors_and_repr():
    with pytest.raises(ValueError, match="step_velocity must be True or False, got 1"):
        SGD(step_velocity=1)
    with pytest.raises(ValueError, match=r"step_velocity=True needs a constant schedule"):
        SGD(momentum=0.9, step_velocity=True, schedule="inverse_time")
    with pytest.raises(ValueError, match="eps_on must be 'v_hat' or 'v', got 'sqrt'"):
        Adam(eps_on="sqrt")
    assert "step_velocity=True" in repr(SGD(momentum=0.5, step_velocity=True))
    assert "eps_on='v'" in repr(Adam(eps_on="v"))
    assert Adam(eps_on="v").hyper() == (0.9, 0.999, 1e-8, 1.0)
