"""Optimizers and learning-rate schedules.

An optimizer turns the batch-mean gradient g of each parameter into an update.
``weight_decay = lam`` adds ``lam * W`` to the gradient of every weight matrix
(never to biases): for plain SGD that is the lecture's
``theta <- (1 - eta lam) theta - eta grad``.

``weight_decay_per`` says what lam is per:

``"step"`` (default)
    lam W is added at every step, whatever the batch: the lecture's L2 term
    lam/2 ||W||^2 on each step's objective.
``"example"``
    (lam / S) W, with S the batch's weight total (its row count without
    sample weights): scikit-learn's MLP objective per batch,
    sum_i w_i l_i / S + alpha / (2 S) ||W||^2 with alpha = lam. For the
    full-batch solvers S is the whole training set's weight total. Only the
    compiled fast path (``Sequential.fit``) knows S; the graph path refuses it.

``SGD(lr, momentum, nesterov, weight_decay)``
    v <- mu v + g;  W <- W - lr (g + mu v if nesterov else v)   (v starts at 0;
    with mu = 0, W <- W - lr g). This is PyTorch's ``torch.optim.SGD``.
    ``step_velocity=True`` is scikit-learn's form instead, whose velocity holds
    the step: u <- mu u - lr g;  W <- W + (mu u - lr g if nesterov else u).
    The two agree while lr is constant (u = -lr v); they differ when lr
    changes, since u keeps the steps of the old rate.
``Adagrad(lr, eps)``
    S <- S + g^2;  W <- W - lr g / (sqrt(S) + eps)   (Duchi et al. 2011).
``Adam(lr, betas, eps)``
    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
    W <- W - lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps)   (PyTorch), or with
    ``eps_on="v"`` W <- W - lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
    (scikit-learn; Kingma and Ba's Algorithm 1 reordered).

Schedules give the learning rate of update t in epoch e, both counted from 0
over the optimizer's life (a second ``fit`` with the same optimizer continues
the schedule, like its momentum or Adam state):

``"constant"`` / None
    eta_t = eta_0.
``"inverse_time"`` / ``InverseTimeDecay(tau)``
    eta_t = eta_0 / (1 + t / tau): the lecture's eta_t ~ 1/t, for which
    sum eta_t = inf and sum eta_t^2 < inf. The string form uses tau = the
    number of updates in one epoch.
``"step"`` / ``StepDecay(step_size, gamma)``
    eta = eta_0 * gamma ** floor(e / step_size); the string form halves the
    rate every 10 epochs.

The same objects drive the compiled fast path (``config()``) and the graph
path (``step()``, one update of a list of parameters with the same kernels).
"""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, Any, Iterable, Literal

import numpy as np

# The compiled update rules' codes, defined once in csrc/kernels.pxd.
from ._kernels import OPTIMIZER_CODES
from .ops import ops as default_ops

if TYPE_CHECKING:
    from typing import TypeAlias

    from .ops import NumpyOps

    #: The names of ``schedule=`` (the keys of ``SCHEDULES``).
    ScheduleName: TypeAlias = Literal["constant", "inverse_time", "step"]
    #: The values of ``weight_decay_per=`` (``WEIGHT_DECAY_PER``).
    WeightDecayPer: TypeAlias = Literal["step", "example"]
    #: What ``Optimizer.snapshot`` returns and ``restore`` takes back.
    Snapshot: TypeAlias = tuple[dict[int, list[np.ndarray]], int, int]

__all__ = ["Optimizer", "SGD", "Adagrad", "Adam", "OPTIMIZERS", "SCHEDULES", "Schedule",
           "WEIGHT_DECAY_PER", "check_weight_decay_per",
           "Constant", "InverseTimeDecay", "StepDecay", "get_schedule"]


def _check_real(name, value, low=None, high=None, low_open=False, high_open=True):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and (value > high or (high_open and value == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {value!r}")
    return float(value)


# ---------------------------------------------------------------- schedules ---

class Schedule:
    """A learning-rate schedule: ``rate(lr0, epoch, t, steps_per_epoch)``."""

    def base_rate(self, lr0: float, epoch: int) -> float:
        """Learning rate at the start of ``epoch`` before per-update decay."""
        return lr0

    def tau(self, steps_per_epoch: int) -> float:
        """Time constant of the 1/t decay in updates (0: none)."""
        return 0.0

    def rate(self, lr0: float, epoch: int, t: int, steps_per_epoch: int) -> float:
        """eta of update t (0-based, counted over the whole fit) in ``epoch``."""
        base = self.base_rate(lr0, epoch)
        tau = self.tau(steps_per_epoch)
        return base / (1 + t / tau) if tau > 0 else base


class Constant(Schedule):
    """eta_t = eta_0."""

    def __repr__(self):
        return "Constant()"


class InverseTimeDecay(Schedule):
    """eta_t = eta_0 / (1 + t / tau); ``tau=None`` means one epoch of updates."""

    def __init__(self, tau: float | None = None) -> None:
        self._tau = None if tau is None else _check_real("tau", tau, low=0, low_open=True,
                                                          high=None)

    def tau(self, steps_per_epoch: int) -> float:
        return float(steps_per_epoch) if self._tau is None else self._tau

    def __repr__(self):
        return f"InverseTimeDecay(tau={self._tau})"


class StepDecay(Schedule):
    """eta = eta_0 * gamma ** floor(epoch / step_size)."""

    def __init__(self, step_size: int = 10, gamma: float = 0.5) -> None:
        if isinstance(step_size, bool) or not isinstance(step_size, numbers.Integral) \
                or step_size < 1:
            raise ValueError(f"step_size must be a positive integer, got {step_size!r}")
        self.step_size = int(step_size)
        self.gamma = _check_real("gamma", gamma, low=0, low_open=True, high=1, high_open=False)

    def base_rate(self, lr0: float, epoch: int) -> float:
        return lr0 * self.gamma ** (epoch // self.step_size)

    def __repr__(self):
        return f"StepDecay(step_size={self.step_size}, gamma={self.gamma})"


#: Schedule names (the string forms of ``schedule=``; None means "constant").
SCHEDULES = {"constant": Constant, "inverse_time": InverseTimeDecay, "step": StepDecay}


def get_schedule(schedule: Schedule | ScheduleName | None) -> Schedule:
    """A Schedule from None, a name, or a Schedule instance."""
    if isinstance(schedule, Schedule):
        return schedule
    if schedule is None:
        return Constant()
    if isinstance(schedule, str) and schedule in SCHEDULES:
        return SCHEDULES[schedule]()
    names = ", ".join(repr(name) for name in SCHEDULES)
    raise ValueError(f"schedule must be None, {names} or a Schedule instance, got {schedule!r}")


# --------------------------------------------------------------- optimizers ---

#: The values of ``weight_decay_per``.
WEIGHT_DECAY_PER = ("step", "example")


def check_weight_decay_per(value: str) -> str:
    """``value`` if it is one of ``WEIGHT_DECAY_PER``, else ValueError."""
    if not isinstance(value, str) or value not in WEIGHT_DECAY_PER:
        raise ValueError(f"weight_decay_per must be one of {WEIGHT_DECAY_PER}, got {value!r}")
    return value


class Optimizer:
    """Base class: learning rate, weight decay, schedule, and the graph-path step."""

    code = None

    def __init__(self, lr: float, weight_decay: float = 0.0,
                 schedule: Schedule | ScheduleName | None = None,
                 weight_decay_per: WeightDecayPer = "step") -> None:
        self.lr = _check_real("lr", lr, low=0, low_open=True, high=None)
        self.weight_decay = _check_real("weight_decay", weight_decay, low=0, high=None)
        self.weight_decay_per = check_weight_decay_per(weight_decay_per)
        self.schedule = get_schedule(schedule)
        self.t = 0            # updates made so far (fit or step)
        self.epoch = 0        # epochs completed by fit (StepDecay counts these)
        self._state = {}

    def config(self) -> dict[str, Any]:
        """Settings for the compiled loop (csrc/_train.pyx.tp): what every rule
        shares (``code``, ``lr``, ``weight_decay``, ``t``) and ``hyper``, the
        rule's own hyper-parameters in the order of ``apply_update`` in
        csrc/kernels.pxd; ``decay_per_example`` for ``weight_decay_per="example"``."""
        return {"code": self.code, "lr": self.lr, "weight_decay": self.weight_decay,
                "decay_per_example": self.decay_per_example, "t": self.t,
                "hyper": self.hyper()}

    @property
    def decay_per_example(self) -> bool:
        """Whether the decay is divided by each batch's weight total."""
        return self.weight_decay_per == "example"

    def hyper(self) -> tuple[float, ...]:
        """The rule's hyper-parameter block, a tuple of floats."""
        raise NotImplementedError

    def step(self, params: Iterable[tuple[np.ndarray, np.ndarray, bool]], epoch: int = 0,
             steps_per_epoch: int = 1, ops: NumpyOps = default_ops) -> None:
        """One update of ``params``, a list of ``(value, grad, is_weight)``
        (arrays updated in place; weight decay applies where ``is_weight``)."""
        if self.decay_per_example and self.weight_decay:
            raise ValueError(f"{type(self).__name__}(weight_decay_per='example') divides the "
                             f"decay by each batch's size, which only Sequential.fit knows; "
                             f"the graph path (Model.fit, train_step) takes "
                             f"weight_decay_per='step'")
        lr = self.schedule.rate(self.lr, epoch, self.t, steps_per_epoch)
        self.t += 1
        for value, grad, is_weight in params:
            self._update(ops, value, grad, self.state(value), lr,
                         self.weight_decay if is_weight else 0.0)

    def state(self, value: np.ndarray) -> list[np.ndarray]:
        """The optimizer's state arrays for parameter array ``value`` (created
        at zero on first use). The fast path updates these same arrays, so
        momentum or Adam moments carry over from one ``fit`` call to the next."""
        entry = self._state.get(id(value))
        if entry is None or entry[0] is not value or entry[1][0].dtype != value.dtype:
            self._check_precision(value.dtype)
            entry = self._state[id(value)] = (value, self._new_state(value))
        return entry[1]

    def move_state(self, old: np.ndarray, new: np.ndarray) -> None:
        """Give parameter array ``new`` the state of ``old``, which it replaces
        (the same values stored in another layout: ``Dense.feature_major``);
        the state arrays take ``new``'s layout, as the compiled loop needs."""
        entry = self._state.pop(id(old), None)
        if entry is not None and entry[0] is old:
            order = "C" if new.flags.c_contiguous else "F"
            self._state[id(new)] = (new, [np.array(a, order=order) for a in entry[1]])

    def _new_state(self, value):
        return [np.zeros_like(value)]

    def _check_precision(self, dtype):
        """The kernels compute in the model's dtype: a positive setting that
        rounds to 0 there (Adam(eps=1e-50) in float32) would turn into 0/0."""
        for name in ("lr", "eps"):
            value = getattr(self, name, None)
            if value and not dtype.type(value):
                raise ValueError(f"{name}={value!r} is 0 in {dtype.name}, where the updates are "
                                 f"computed: use {name} >= {np.finfo(dtype).tiny:.3g} or a "
                                 f"float64 model")

    def snapshot(self) -> Snapshot:
        """A copy of everything a step changes: the state arrays, ``t`` and ``epoch``."""
        arrays = {key: [a.copy() for a in entry[1]] for key, entry in self._state.items()}
        return arrays, self.t, self.epoch

    def restore(self, snapshot: Snapshot) -> None:
        """Put back a ``snapshot()``: state arrays in place (the compiled loop
        points into them), state created since then dropped, ``t`` and
        ``epoch`` rewound."""
        arrays, self.t, self.epoch = snapshot
        for key in list(self._state):
            if key not in arrays:
                del self._state[key]
                continue
            for target, saved in zip(self._state[key][1], arrays[key]):
                target[...] = saved

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._repr_args().items())
        return f"{type(self).__name__}({args})"

    def _repr_args(self):
        args = {"lr": self.lr, "weight_decay": self.weight_decay, "schedule": self.schedule}
        return self._with_decay_per(args)

    def _with_decay_per(self, args):
        if self.weight_decay_per != "step":
            args["weight_decay_per"] = self.weight_decay_per
        return args


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum and weight decay.

    Parameters
    ----------
    lr : float > 0
        eta_0, the learning rate.
    momentum : float in [0, 1)
        mu; 0 gives plain SGD (folded into the GEMMs on the fast path).
    nesterov : bool
        Use Nesterov's look-ahead (needs momentum > 0).
    weight_decay : float >= 0
        lam, added as lam * W to the gradient of weight matrices.
    schedule : None, "constant", "inverse_time", "step" or a Schedule
    step_velocity : bool
        scikit-learn's momentum (module docstring): the velocity remembers
        the steps, not the gradients, so setting ``lr`` (between epochs or
        fits: scikit-learn's invscaling and adaptive rates) leaves the
        remembered steps as they were. The state stays v = -u / lr, rescaled
        by old/new rate whenever ``lr`` is set; hence only a constant schedule.
    weight_decay_per : "step" or "example"
        lam per step, or lam / (the batch's weight total) (module docstring).
    """

    code = OPTIMIZER_CODES["sgd"]

    def __init__(self, lr: float = 0.1, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0, schedule: Schedule | ScheduleName | None = None,
                 weight_decay_per: WeightDecayPer = "step", step_velocity: bool = False
                 ) -> None:
        if not isinstance(step_velocity, (bool, np.bool_)):
            raise ValueError(f"step_velocity must be True or False, got {step_velocity!r}")
        self.step_velocity = bool(step_velocity)
        super().__init__(lr, weight_decay, schedule, weight_decay_per)
        if self.step_velocity and not isinstance(self.schedule, Constant):
            raise ValueError(f"step_velocity=True needs a constant schedule (the rate may "
                             f"change only by setting lr), got schedule={self.schedule!r}")
        self.momentum = _check_real("momentum", momentum, low=0, high=1)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise ValueError(f"nesterov must be True or False, got {nesterov!r}")
        if nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0, got momentum=0")
        self.nesterov = bool(nesterov)

    @property
    def lr(self) -> float:
        """eta_0; with ``step_velocity`` setting it rescales the velocities."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        old = getattr(self, "_lr", None)
        self._lr = value
        if self.step_velocity and old is not None and value != old:
            for _, arrays in self._state.values():
                arrays[0] *= old / value

    def hyper(self) -> tuple[float, ...]:
        """(momentum, nesterov as 0.0 or 1.0)."""
        return (self.momentum, float(self.nesterov))

    def _update(self, ops, value, grad, state, lr, wd):
        ops.sgd_update(value, grad, state[0], lr, self.momentum, self.nesterov, wd)

    def _repr_args(self):
        args = self._with_decay_per({"lr": self.lr, "momentum": self.momentum,
                                     "nesterov": self.nesterov,
                                     "weight_decay": self.weight_decay,
                                     "schedule": self.schedule})
        if self.step_velocity:
            args["step_velocity"] = True
        return args


class Adagrad(Optimizer):
    """Adagrad: per-parameter rates lr / (sqrt(sum of squared gradients) + eps).

    Parameters
    ----------
    lr : float > 0
    eps : float > 0
    weight_decay : float >= 0
    schedule : as for SGD
    weight_decay_per : as for SGD
    """

    code = OPTIMIZER_CODES["adagrad"]

    def __init__(self, lr: float = 0.01, eps: float = 1e-10, weight_decay: float = 0.0,
                 schedule: Schedule | ScheduleName | None = None,
                 weight_decay_per: WeightDecayPer = "step") -> None:
        super().__init__(lr, weight_decay, schedule, weight_decay_per)
        self.eps = _check_real("eps", eps, low=0, low_open=True, high=None)

    def hyper(self) -> tuple[float, ...]:
        """(eps,)."""
        return (self.eps,)

    def _update(self, ops, value, grad, state, lr, wd):
        ops.adagrad_update(value, grad, state[0], lr, self.eps, wd)

    def _repr_args(self):
        return {"lr": self.lr, "eps": self.eps, **super()._repr_args()}


class Adam(Optimizer):
    """Adam (Kingma and Ba), bias-corrected, in PyTorch's formulation.

    Parameters
    ----------
    lr : float > 0
    betas : (float, float) in [0, 1)
    eps : float > 0
    weight_decay : float >= 0
    schedule : as for SGD
    weight_decay_per : as for SGD
    eps_on : "v_hat" or "v"
        Where eps is added (module docstring): to sqrt of the bias-corrected
        v (PyTorch) or to sqrt(v) (scikit-learn's MLP). The two differ most in
        the first steps, where sqrt(1 - b2^t) is small.
    """

    code = OPTIMIZER_CODES["adam"]

    def __init__(self, lr: float = 0.001, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0,
                 schedule: Schedule | ScheduleName | None = None,
                 weight_decay_per: WeightDecayPer = "step",
                 eps_on: Literal["v_hat", "v"] = "v_hat") -> None:
        super().__init__(lr, weight_decay, schedule, weight_decay_per)
        if eps_on not in ("v_hat", "v"):
            raise ValueError(f"eps_on must be 'v_hat' or 'v', got {eps_on!r}")
        self.eps_on = eps_on
        try:
            beta1, beta2 = betas
        except (TypeError, ValueError):
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}") from None
        self.betas = (_check_real("betas[0]", beta1, low=0, high=1),
                      _check_real("betas[1]", beta2, low=0, high=1))
        self.eps = _check_real("eps", eps, low=0, low_open=True, high=None)

    def hyper(self) -> tuple[float, ...]:
        """(beta1, beta2, eps), then 1.0 for eps_on="v" (the compiled block's
        missing entries are 0: eps on sqrt(v_hat))."""
        return (*self.betas, self.eps) + ((1.0,) if self.eps_on == "v" else ())

    def _new_state(self, value):
        return [np.zeros_like(value), np.zeros_like(value)]

    def _update(self, ops, value, grad, state, lr, wd):
        eps = self.eps
        if self.eps_on == "v":      # eps on sqrt(v) is eps / sqrt(bc2) on sqrt(v_hat)
            eps = eps / math.sqrt(1 - self.betas[1] ** self.t)
        ops.adam_update(value, grad, state[0], state[1], lr, self.betas[0], self.betas[1],
                        eps, self.t, wd)

    def _repr_args(self):
        args = {"lr": self.lr, "betas": self.betas, "eps": self.eps, **super()._repr_args()}
        if self.eps_on != "v_hat":
            args["eps_on"] = self.eps_on
        return args


#: The optimizers by name (the command line's choices), keyed like OPTIMIZER_CODES.
OPTIMIZERS = {"sgd": SGD, "adagrad": Adagrad, "adam": Adam}
