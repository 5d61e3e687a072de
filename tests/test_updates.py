"""Parameter updates: the compiled kernels against the NumPy reference, the
optimizer objects' ``step()`` path, learning-rate schedules and
hyper-parameter validation; and, when ``torch`` is importable, ``torch.optim``
as an independent oracle over five steps in float64.
"""

import math

import numpy as np
import pytest

from fastnn._kernels import OPTIMIZER_CODES
from fastnn.ops import CompiledOps, NumpyOps
from fastnn.optimizers import (OPTIMIZERS, SGD, Adagrad, Adam, Constant, InverseTimeDecay,
                               StepDecay, get_schedule)

REFERENCE, COMPILED = NumpyOps(), CompiledOps()
N_STEPS = 5
SHAPE = (4, 3)

# (kind, hyper-parameters of the ops method after W, G and the state arrays)
UPDATES = {
    "sgd": ("sgd", dict(lr=0.1)),
    "sgd_weight_decay": ("sgd", dict(lr=0.1, weight_decay=0.01)),
    "sgd_momentum": ("sgd", dict(lr=0.05, momentum=0.9, weight_decay=0.01)),
    "sgd_nesterov": ("sgd", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.02)),
    "adagrad": ("adagrad", dict(lr=0.1, eps=1e-10)),
    "adagrad_weight_decay": ("adagrad", dict(lr=0.1, eps=1e-6, weight_decay=0.05)),
    "adam": ("adam", dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8)),
    "adam_weight_decay": ("adam", dict(lr=0.02, beta1=0.8, beta2=0.99, eps=1e-7,
                                       weight_decay=0.1)),
}


def gradients(dtype, seed=0, shape=SHAPE, steps=N_STEPS):
    gen = np.random.default_rng(seed)
    return [gen.standard_normal(shape).astype(dtype) for _ in range(steps)]


def run_updates(impl, kind, hyper, W0, grads):
    """Apply ``len(grads)`` updates with ``impl``; return W and the state arrays."""
    W = W0.copy()
    state = [np.zeros_like(W) for _ in range(2 if kind == "adam" else 1)]
    for t, G in enumerate(grads, start=1):
        G_before = G.copy()
        if kind == "sgd":
            out = impl.sgd_update(W, G, state[0], **hyper)
        elif kind == "adagrad":
            out = impl.adagrad_update(W, G, state[0], **hyper)
        else:
            out = impl.adam_update(W, G, state[0], state[1], t=t, **hyper)
        assert out is W
        np.testing.assert_array_equal(G, G_before)       # the gradient is not modified
    return W, state


@pytest.mark.parametrize("case", list(UPDATES))
def test_compiled_updates_match_reference(dtype, tol, case):
    kind, hyper = UPDATES[case]
    W0 = np.random.default_rng(1).standard_normal(SHAPE).astype(dtype)
    grads = gradients(dtype, seed=2)
    W_ref, state_ref = run_updates(REFERENCE, kind, hyper, W0, grads)
    W_got, state_got = run_updates(COMPILED, kind, hyper, W0, grads)
    assert W_got.dtype == dtype
    assert not np.allclose(W_ref, W0)                     # the updates did something
    rtol, atol = N_STEPS * tol["rtol"], N_STEPS * tol["atol"]
    np.testing.assert_allclose(W_got, W_ref, rtol=rtol, atol=atol)
    for got, want in zip(state_got, state_ref):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


def test_compiled_plain_sgd_needs_no_velocity(dtype, tol):
    W0 = np.random.default_rng(3).standard_normal(SHAPE).astype(dtype)
    G = gradients(dtype, seed=4, steps=1)[0]
    W = W0.copy()
    COMPILED.sgd_update(W, G, None, 0.3, weight_decay=0.1)
    want = W0.astype(np.float64) - 0.3 * (G.astype(np.float64) + 0.1 * W0)
    np.testing.assert_allclose(W, want, **tol)


def test_update_formulas_by_hand(ops_impl):
    # One step of each rule on a single weight, worked out on paper.
    W, G = np.array([2.0]), np.array([0.5])
    V = np.array([1.0])
    ops_impl.sgd_update(W, G, V, lr=0.1, momentum=0.9, weight_decay=0.25)
    # g = 0.5 + 0.25 * 2 = 1; v = 0.9 * 1 + 1 = 1.9; W = 2 - 0.1 * 1.9
    np.testing.assert_allclose([W[0], V[0]], [1.81, 1.9], rtol=1e-14)

    W, V = np.array([2.0]), np.array([1.0])
    ops_impl.sgd_update(W, G, V, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.25)
    # W = 2 - 0.1 * (g + 0.9 v) = 2 - 0.1 * (1 + 1.71)
    np.testing.assert_allclose([W[0], V[0]], [1.729, 1.9], rtol=1e-14)

    W, S = np.array([2.0]), np.array([3.0])
    ops_impl.adagrad_update(W, np.array([1.0]), S, lr=0.5, eps=0.0)
    # S = 3 + 1 = 4; W = 2 - 0.5 * 1 / 2
    np.testing.assert_allclose([W[0], S[0]], [1.75, 4.0], rtol=1e-14)

    W, M, V = np.array([2.0]), np.array([0.0]), np.array([0.0])
    ops_impl.adam_update(W, np.array([-3.0]), M, V, lr=0.01, beta1=0.9, beta2=0.999,
                         eps=0.0, t=1)
    # t = 1: m_hat = g, v_hat = g^2, so the step is lr * sign(g).
    np.testing.assert_allclose([W[0], M[0], V[0]], [2.01, -0.3, 0.009], rtol=1e-12)


# ---------------------------------------------------------- torch oracle ---

def torch_trajectory(torch, make_optimizer, W0, grads):
    p = torch.nn.Parameter(torch.tensor(W0, dtype=torch.float64))
    opt = make_optimizer([p])
    for G in grads:
        p.grad = torch.tensor(G, dtype=torch.float64)
        opt.step()
    return p.detach().numpy().copy()


TORCH_CASES = {
    "sgd": (lambda t, ps: t.optim.SGD(ps, lr=0.1),
            lambda: SGD(lr=0.1)),
    "sgd_weight_decay": (lambda t, ps: t.optim.SGD(ps, lr=0.1, weight_decay=0.01),
                         lambda: SGD(lr=0.1, weight_decay=0.01)),
    "sgd_momentum": (lambda t, ps: t.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.01),
                     lambda: SGD(lr=0.05, momentum=0.9, weight_decay=0.01)),
    "sgd_nesterov": (lambda t, ps: t.optim.SGD(ps, lr=0.05, momentum=0.8, nesterov=True,
                                               weight_decay=0.02),
                     lambda: SGD(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.02)),
    "adagrad": (lambda t, ps: t.optim.Adagrad(ps, lr=0.1, eps=1e-10, weight_decay=0.05),
                lambda: Adagrad(lr=0.1, eps=1e-10, weight_decay=0.05)),
    "adam": (lambda t, ps: t.optim.Adam(ps, lr=0.01, betas=(0.9, 0.999), eps=1e-8),
             lambda: Adam(lr=0.01, betas=(0.9, 0.999), eps=1e-8)),
    "adam_weight_decay": (lambda t, ps: t.optim.Adam(ps, lr=0.02, betas=(0.8, 0.99), eps=1e-7,
                                                     weight_decay=0.1),
                          lambda: Adam(lr=0.02, betas=(0.8, 0.99), eps=1e-7,
                                       weight_decay=0.1)),
}


@pytest.mark.parametrize("case", list(TORCH_CASES))
def test_optimizers_match_torch(ops_impl, case):
    torch = pytest.importorskip("torch")
    make_torch, make_ours = TORCH_CASES[case]
    W0 = np.random.default_rng(5).standard_normal(SHAPE)
    grads = gradients(np.float64, seed=6)
    want = torch_trajectory(torch, lambda ps: make_torch(torch, ps), W0, grads)
    W = W0.copy()
    opt = make_ours()
    for G in grads:
        opt.step([(W, G, True)], ops=ops_impl)
    assert opt.t == N_STEPS
    assert not np.allclose(want, W0)
    np.testing.assert_allclose(W, want, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------ optimizer.step() ---

@pytest.mark.parametrize("make", [lambda wd: SGD(lr=0.1, weight_decay=wd),
                                  lambda wd: SGD(lr=0.1, momentum=0.9, weight_decay=wd),
                                  lambda wd: Adagrad(lr=0.1, weight_decay=wd),
                                  lambda wd: Adam(lr=0.01, weight_decay=wd)],
                         ids=["sgd", "momentum", "adagrad", "adam"])
def test_weight_decay_applies_to_weights_not_biases(ops_impl, dtype, make):
    gen = np.random.default_rng(7)
    W0 = gen.standard_normal((3, 2)).astype(dtype)
    b0 = gen.standard_normal(3).astype(dtype)
    runs = {}
    for wd in (0.0, 0.3):
        W, b = W0.copy(), b0.copy()
        opt = make(wd)
        for step in range(3):
            G = gradients(dtype, seed=10 + step, shape=(3, 2), steps=1)[0]
            gb = gradients(dtype, seed=20 + step, shape=(3,), steps=1)[0]
            opt.step([(W, G, True), (b, gb, False)], ops=ops_impl)
        runs[wd] = (W, b)
    np.testing.assert_array_equal(runs[0.3][1], runs[0.0][1])        # biases: no decay
    assert not np.allclose(runs[0.3][0], runs[0.0][0], rtol=1e-4)    # weights: decayed
    assert not np.array_equal(runs[0.0][1], b0)


def test_sgd_step_formula_with_weight_decay(ops_impl, dtype, tol):
    gen = np.random.default_rng(8)
    W0, G = gen.standard_normal((3, 2)).astype(dtype), gen.standard_normal((3, 2)).astype(dtype)
    b0, gb = gen.standard_normal(3).astype(dtype), gen.standard_normal(3).astype(dtype)
    W, b = W0.copy(), b0.copy()
    SGD(lr=0.2, weight_decay=0.5).step([(W, G, True), (b, gb, False)], ops=ops_impl)
    W64, b64 = W0.astype(np.float64), b0.astype(np.float64)
    # The lecture's theta <- (1 - eta lambda) theta - eta grad for weights; plain for biases.
    np.testing.assert_allclose(W, (1 - 0.2 * 0.5) * W64 - 0.2 * G, **tol)
    np.testing.assert_allclose(b, b64 - 0.2 * gb, **tol)


def test_momentum_state_is_kept_per_parameter(ops_impl):
    W, b = np.zeros((2, 2)), np.zeros(2)
    opt = SGD(lr=1.0, momentum=0.5)
    for _ in range(3):
        opt.step([(W, np.ones((2, 2)), True), (b, 2 * np.ones(2), False)], ops=ops_impl)
    # v_1 = g, v_2 = 1.5 g, v_3 = 1.75 g; W = -(1 + 1.5 + 1.75) g
    np.testing.assert_allclose(opt.state(W)[0], 1.75)
    np.testing.assert_allclose(opt.state(b)[0], 3.5)
    np.testing.assert_allclose(W, -4.25)
    np.testing.assert_allclose(b, -8.5)


# -------------------------------------------------------------- schedules ---

def decrements(opt, n_steps, epoch_of_step, steps_per_epoch):
    """Learning rates actually applied: plain SGD on a zero weight with gradient 1."""
    W = np.zeros(1)
    rates = []
    for t in range(n_steps):
        before = W[0]
        opt.step([(W, np.ones(1), True)], epoch=epoch_of_step(t),
                 steps_per_epoch=steps_per_epoch, ops=REFERENCE)
        rates.append(before - W[0])
    return np.array(rates)


def test_inverse_time_schedule_string_uses_one_epoch_as_tau():
    lr0, spe = 0.4, 4
    rates = decrements(SGD(lr=lr0, schedule="inverse_time"), 12, lambda t: t // spe, spe)
    t = np.arange(12)
    np.testing.assert_allclose(rates, lr0 / (1 + t / spe), rtol=1e-12)
    assert rates[spe] == pytest.approx(lr0 / 2)                    # halved after one epoch


def test_inverse_time_decay_with_explicit_tau():
    sched = InverseTimeDecay(tau=2.5)
    for t in range(10):
        assert sched.rate(0.3, 0, t, steps_per_epoch=100) == pytest.approx(0.3 / (1 + t / 2.5),
                                                                           rel=1e-14)
    rates = decrements(SGD(lr=0.3, schedule=sched), 6, lambda t: 0, 100)
    np.testing.assert_allclose(rates, 0.3 / (1 + np.arange(6) / 2.5), rtol=1e-12)


def test_step_decay_halves_every_step_size_epochs():
    lr0 = 0.8
    sched = StepDecay(step_size=3)
    for epoch in range(10):
        assert sched.rate(lr0, epoch, t=epoch * 7, steps_per_epoch=7) == pytest.approx(
            lr0 * 0.5 ** (epoch // 3), rel=1e-14)
    rates = decrements(SGD(lr=lr0, schedule=StepDecay(step_size=2, gamma=0.1)), 8,
                       lambda t: t // 2, 2)            # 2 steps per epoch, epochs 0..3
    np.testing.assert_allclose(rates, lr0 * 0.1 ** (np.arange(8) // 4), rtol=1e-12)


def test_named_step_schedule_halves_every_ten_epochs():
    sched = get_schedule("step")
    rates = [sched.rate(1.0, e, 0, 1) for e in (0, 9, 10, 19, 20, 35)]
    np.testing.assert_allclose(rates, [1, 1, 0.5, 0.5, 0.25, 0.125], rtol=1e-14)


@pytest.mark.parametrize("schedule", [None, "constant", Constant()])
def test_constant_schedule(schedule):
    rates = decrements(SGD(lr=0.25, schedule=schedule), 5, lambda t: t, 1)
    np.testing.assert_array_equal(rates, 0.25)


# ---------------------------------------------------- hyper-parameters ---

@pytest.mark.parametrize("make, name, bad", [
    (lambda: SGD(lr=0), "lr", "0"),
    (lambda: SGD(lr=-0.1), "lr", "-0.1"),
    (lambda: Adagrad(lr=0.0), "lr", "0.0"),
    (lambda: Adam(lr=-1), "lr", "-1"),
    (lambda: SGD(lr=float("nan")), "lr", "nan"),
    (lambda: SGD(lr="0.1"), "lr", "'0.1'"),
    (lambda: SGD(momentum=1), "momentum", "1"),
    (lambda: SGD(momentum=1.5), "momentum", "1.5"),
    (lambda: SGD(momentum=-0.1), "momentum", "-0.1"),
    (lambda: SGD(nesterov=True), "nesterov", "momentum=0"),
    (lambda: SGD(momentum=0.9, nesterov="yes"), "nesterov", "'yes'"),
    (lambda: SGD(weight_decay=-1e-4), "weight_decay", "-0.0001"),
    (lambda: Adagrad(eps=0), "eps", "0"),
    (lambda: Adam(betas=(1.0, 0.999)), "betas[0]", "1.0"),
    (lambda: Adam(betas=(0.9, 1.0)), "betas[1]", "1.0"),
    (lambda: Adam(betas=(-0.1, 0.999)), "betas[0]", "-0.1"),
    (lambda: Adam(betas=0.9), "betas", "0.9"),
    (lambda: Adam(betas=(0.9, 0.99, 0.9)), "betas", "(0.9, 0.99, 0.9)"),
    (lambda: SGD(schedule="cosine"), "schedule", "'cosine'"),
    (lambda: Adam(schedule=3), "schedule", "3"),
    (lambda: StepDecay(step_size=0), "step_size", "0"),
    (lambda: StepDecay(gamma=1.5), "gamma", "1.5"),
    (lambda: StepDecay(gamma=0), "gamma", "0"),
    (lambda: InverseTimeDecay(tau=0), "tau", "0"),
])
def test_bad_hyper_parameters_raise_value_error_naming_them(make, name, bad):
    with pytest.raises(ValueError) as excinfo:
        make()
    message = str(excinfo.value)
    assert name in message and bad in message, message


def test_good_edge_hyper_parameters_are_accepted():
    assert SGD(lr=1e-12, momentum=0.0).momentum == 0
    assert SGD(momentum=0.999, nesterov=True).nesterov
    assert Adam(betas=(0.0, 0.0)).betas == (0.0, 0.0)
    assert StepDecay(step_size=1, gamma=1.0).rate(0.5, 7, 0, 1) == 0.5
    assert math.isclose(Adagrad(lr=2).lr, 2.0)


@pytest.mark.parametrize("optimizer, hyper", [
    (SGD(lr=0.3, weight_decay=0.01), (0.0, 0.0)),
    (SGD(lr=0.3, momentum=0.9, nesterov=True), (0.9, 1.0)),
    (Adagrad(lr=0.2, eps=1e-6), (1e-6,)),
    (Adam(lr=0.01, betas=(0.8, 0.99), eps=1e-7), (0.8, 0.99, 1e-7)),
])
def test_config_holds_the_shared_settings_and_the_rules_hyper_block(optimizer, hyper):
    # The block's order is that of apply_update in csrc/kernels.pxd.
    optimizer.t = 7
    config = optimizer.config()
    assert config == {"code": optimizer.code, "lr": optimizer.lr,
                      "weight_decay": optimizer.weight_decay, "decay_per_example": False,
                      "t": 7, "hyper": hyper}
    name = {SGD: "sgd", Adagrad: "adagrad", Adam: "adam"}[type(optimizer)]
    assert config["code"] == OPTIMIZER_CODES[name] and OPTIMIZERS[name] is type(optimizer)


def test_optimizer_table_matches_the_compiled_codes():
    assert sorted(OPTIMIZERS) == sorted(OPTIMIZER_CODES)
    assert all(cls.code == OPTIMIZER_CODES[name] for name, cls in OPTIMIZERS.items())

