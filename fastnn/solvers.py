"""Full-batch solvers: L-BFGS and nonlinear conjugate gradient, through scipy.

For a ``Sequential`` and its training set X (n, n_features), targets y and
example weights w_i (1 without ``sample_weight``; S = sum_i w_i), the solvers
minimise, over one flat float64 vector theta,

    J(theta) = (1/S) sum_i w_i l(x_i, y_i; theta) + (lam/2) sum_l ||W_l||_F^2

(lam = ``weight_decay``, on weight matrices only, never on biases; with
``weight_decay_per="example"``, lam = weight_decay / S, scikit-learn's
alpha / (2 n)), with

    dJ/dW_l = (1/S) sum_i w_i dl_i/dW_l + lam W_l,    dJ/db_l = (1/S) sum_i w_i dl_i/db_l.

theta = [vec(W_1), b_1, vec(W_2), b_2, ...]: every W (n_out, n_in) row-major,
then its b (n_out,) (omitted with ``bias=False``), in the order of
``Sequential.get_weights``. ``J`` and its gradient come from one compiled
call per evaluation (``CompiledNet.loss_gradient_sums``: forward and backward
over all n rows in chunks of ``CHUNK_ROWS``, no update, no Python per chunk).

The objective is deterministic: a Dropout layer with p > 0 is refused (a
random mask per evaluation would make J a different function at every call,
which breaks the line searches), with a ValueError naming the layer.

The solvers plug into the training skeleton as an epoch runner whose
``run(loop)`` lets scipy drive: one *epoch* is one solver iteration, opened
(``loop.begin_epoch``) at the iteration's first function evaluation and closed
(``loop.end_epoch``) from scipy's per-iteration callback with the data loss
and accuracy of the new iterate. Callbacks (``on_train_batch_end`` once per
iteration), History, validation, EarlyStopping, the progress bar (over the
iterations) and ``model.stop_training`` therefore work as with SGD. Ctrl-C
is honoured before every evaluation and after every iteration: ``fit``
raises KeyboardInterrupt with the layers at the last completed iterate.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any, Iterable, NoReturn

import numpy as np

from . import _blas
from .layers import Dropout
from .optimizers import Optimizer, _check_real, check_weight_decay_per
from .training import EpochRunner, EpochStats, TrainingDivergedError
from .validation import check_positive_int

if TYPE_CHECKING:
    from scipy.optimize import OptimizeResult

    from ._train import DataSet
    from .ops import NumpyOps
    from .optimizers import WeightDecayPer
    from .sequential import Sequential
    from .training import TrainingLoop

__all__ = ["ConvergenceWarning", "FullBatchSolver", "LBFGS", "ConjugateGradient",
           "FullBatchObjective", "FullBatchRunner", "CHUNK_ROWS"]

#: Rows per forward/backward chunk of a full-batch evaluation: large enough
#: for efficient GEMMs, small enough to keep the activations in cache.
CHUNK_ROWS = 256


class ConvergenceWarning(UserWarning):
    """A solver stopped at its iteration or evaluation limit (``max_iter``,
    ``max_fun``) before meeting its tolerance."""


class _Diverged(Exception):
    """Raised inside scipy's loop when J or its gradient is NaN or inf."""

    def __init__(self, value):
        super().__init__(value)
        self.value = value


class FullBatchObjective:
    """J(theta) and its gradient over the whole data set (see the module docstring).

    Parameters
    ----------
    model : Sequential
        Its layers' own arrays hold the weights; ``__call__`` copies theta
        into them (the compiled net points into them).
    data : DataSet
        The checked training set (fastnn.data): inputs (dense or CSR),
        labels or dense targets, optional weights.
    weight_decay : float >= 0
    rows : int
        Rows per compiled chunk.
    decay_per_example : bool
        lam = weight_decay / S instead of weight_decay.
    """

    def __init__(self, model: Sequential, data: DataSet, weight_decay: float = 0.0,
                 rows: int = CHUNK_ROWS, decay_per_example: bool = False) -> None:
        for i, layer in enumerate(model.layers):
            if isinstance(layer, Dropout) and layer.p > 0:
                raise ValueError(
                    f"full-batch solvers minimise a deterministic objective, but layers[{i}] "
                    f"is {layer!r} with p={layer.p} > 0 (a new mask per evaluation would change "
                    f"the function under the line search); remove it, set p=0, or train with "
                    f"SGD/Adam")
        self.model, self.data = model, data
        self.n = data.n
        #: S, the weight total (n without weights)
        self.total = data.weight_sum
        self.weight_decay = float(weight_decay)
        #: lam of J
        self.lam = self.weight_decay / self.total if decay_per_example else self.weight_decay
        # No helper thread: see CompiledNet's ``helper`` (lbfgs on 5,000 MNIST
        # images: 22 ms per evaluation with one, 13 ms without).
        self.net = model._compiled_net(min(rows, self.n), gradients=True, helper=False)
        self.arrays, self.grads, self.slices, self.weight_slices = [], [], [], []
        start = 0
        for layer, gW, gb in zip(model.dense_layers, self.net.grad_W, self.net.grad_b):
            for array, grad, is_weight in ((layer.W, gW, True), (layer.b, gb, False)):
                if array is None:
                    continue
                piece = slice(start, start + array.size)
                start += array.size
                self.arrays.append(array)
                self.grads.append(grad)
                self.slices.append(piece)
                if is_weight:
                    self.weight_slices.append(piece)
        self.size = start
        self.evaluations = 0
        self.last = None          # (theta, loss_sum, correct) of the last evaluation

    def pack(self) -> np.ndarray:
        """theta (size,) float64 from the layers' current W and b."""
        theta = np.empty(self.size)
        for array, piece in zip(self.arrays, self.slices):
            theta[piece] = array.ravel()
        return theta

    def unpack(self, theta: np.ndarray) -> None:
        """Copy theta into the layers' arrays, in place (rounded to their dtype)."""
        for array, piece in zip(self.arrays, self.slices):
            array[...] = theta[piece].reshape(array.shape)

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """(J(theta), dJ/dtheta as (size,) float64), one compiled call. Leaves
        theta in the layers and ``last`` = (theta copy, summed data loss, correct)."""
        self.unpack(theta)
        loss_sum, correct, _ = self.net.loss_gradient_sums(self.data)
        self.evaluations += 1
        grad = np.empty(self.size)
        for g, piece in zip(self.grads, self.slices):
            grad[piece] = g.ravel()
        grad /= self.total
        lam = self.lam
        penalty = 0.0
        if lam:
            for piece in self.weight_slices:
                w = theta[piece]
                # ||W||^2 through fastnn's BLAS, not numpy's (``w @ w``):
                # numpy bundles a second OpenBLAS whose threaded ddot leaves
                # its threads spinning on the cores the next evaluation's
                # GEMMs need (bench/sklearn_dropin.py, lbfgs on MNIST: 3.7 s
                # with ``w @ w``, 1.1 s with this).
                penalty += _blas.dot(w, w)
                grad[piece] += lam * w
        self.last = (np.array(theta, dtype=np.float64), loss_sum, correct)
        return loss_sum / self.total + 0.5 * lam * penalty, grad

    def data_stats(self, theta: np.ndarray) -> tuple[float, float | None]:
        """(summed data loss, correct) at theta, which is left in the layers;
        reuses the last evaluation when it was at theta."""
        if self.last is None or not np.array_equal(self.last[0], theta):
            self(theta)
        else:
            self.unpack(theta)
        return self.last[1], self.last[2]


class FullBatchRunner(EpochRunner):
    """The training loop's runner for a full-batch solver: scipy drives the
    iterations, one epoch per iteration (see the module docstring)."""

    steps_per_epoch = 1

    def __init__(self, solver: FullBatchSolver, model: Sequential, data: DataSet,
                 accuracy: bool = True) -> None:
        self.solver = solver
        self.accuracy = accuracy
        self.objective = FullBatchObjective(model, data, solver.weight_decay,
                                            decay_per_example=solver.decay_per_example)

    def _stats(self, loss_sum, correct, **failure):
        objective = self.objective
        seen = objective.total
        if objective.data.weights is None:
            seen, correct = int(seen), None if correct is None else int(correct)
        return EpochStats(loss_sum, seen, correct if self.accuracy else None, **failure)

    def get_state(self) -> NoReturn:
        raise NotImplementedError(
            f"{type(self.solver).__name__} is a full-batch solver: its iteration state (line "
            f"search, curvature pairs) lives inside scipy and cannot be saved; save its "
            f"weights with ModelCheckpoint, or train with SGD, Adagrad or Adam")

    def run(self, loop: TrainingLoop) -> None:
        from scipy.optimize import minimize   # here, not at import: scipy.optimize takes 0.4 s

        solver, objective = self.solver, self.objective
        solver.result = None
        state = {"open": None, "next": 0, "evals": 0, "stopped": False}

        def begin():
            # The layers hold the current iterate: the snapshot the loop
            # restores on divergence.
            state["open"], state["evals"] = state["next"], 0
            loop.begin_epoch(state["open"])

        def end(theta):
            loss_sum, correct = objective.data_stats(theta)
            epoch, state["open"], state["next"] = state["open"], None, state["open"] + 1
            solver.t += 1
            stats = self._stats(loss_sum, correct)
            loop.steps_done(epoch, 1, stats, check_interrupt=False)
            stop = loop.end_epoch(epoch, stats)
            # Ctrl-C here leaves the layers at the iterate History just recorded.
            loop.check_interrupt()
            return stop

        def fun(theta):
            if state["open"] is None:
                begin()
            loop.check_interrupt()
            state["evals"] += 1
            value, grad = objective(theta)
            if not (math.isfinite(value) and np.isfinite(grad).all()):
                raise _Diverged(value)
            return value, grad

        def callback(intermediate_result):
            if state["open"] is None:       # an iteration without evaluation: never seen
                begin()
            if end(intermediate_result.x):
                state["stopped"] = True
                raise StopIteration      # scipy >= 1.11 ends minimize here

        try:
            result = minimize(fun, objective.pack(), method=solver.method, jac=True,
                              callback=callback,
                              options=solver.scipy_options(min(loop.epochs, solver.max_iter)))
        except KeyboardInterrupt:
            if state["open"] is not None:
                # Interrupted inside an iteration (a line-search trial is in
                # the layers): back to the last completed iterate.
                loop.restore_snapshot()
            raise
        except _Diverged as exc:
            epoch, evals = state["open"], state["evals"]
            try:
                loop.end_epoch(epoch, self._stats(math.nan, None, failed_step=0,
                                                  failed_loss=exc.value))
            except TrainingDivergedError:
                raise TrainingDivergedError(
                    f"{type(solver).__name__}: the objective or its gradient became NaN or inf "
                    f"(J = {exc.value}) at iteration {epoch} (0-based), function evaluation "
                    f"{evals} of that iteration; the weights of the last finite iterate were "
                    f"restored. Scale the inputs or the initial weights, or add "
                    f"weight_decay.") from None
            raise AssertionError("the training loop did not raise on a failed epoch")
        solver.result = result
        if state["open"] is not None:
            # The solver began an iteration it did not finish (a line search
            # that could not progress): close it at the point scipy returns.
            end(result.x)
        if not state["stopped"] and result.status == 1 and solver.hit_limit(result):
            warnings.warn(
                f"{type(solver).__name__} stopped after {result.nit} iterations and "
                f"{result.nfev} function evaluations ({solver.limits()}) before reaching "
                f"tol={solver.tol}: {result.message}. Raise the limit or scale the data.",
                ConvergenceWarning, stacklevel=4)


class FullBatchSolver(Optimizer):
    """Base class of the full-batch solvers: ``Sequential.fit(X, y,
    optimizer=solver)`` minimises J (module docstring) with scipy; ``epochs``
    of ``fit`` caps the iterations (with ``max_iter``); ``batch_size`` and
    ``shuffle`` play no part. After ``fit``, ``result`` holds scipy's
    OptimizeResult (None if the fit raised). A NaN or inf J or gradient at
    any evaluation (a line-search trial included) ends the fit with
    ``TrainingDivergedError``, the layers back at the last finite iterate.
    An iteration the solver began but could not finish (status 2: the line
    search made no progress, typical of float32 near the optimum) is closed
    at the point scipy returns, so History then has ``nit + 1`` entries;
    status 2 is not warned.

    ``t`` counts the iterations over the solver's life and ``epoch`` the
    epochs (= iterations) of ``fit``, as for the other optimizers; there is no
    learning rate (``lr`` is None) and no per-parameter state.
    """

    method = None

    def __init__(self, max_iter: int, tol: float, weight_decay: float,
                 weight_decay_per: WeightDecayPer = "step") -> None:
        self.max_iter = check_positive_int("max_iter", max_iter)
        self.tol = _check_real("tol", tol, low=0, low_open=True, high=None)
        self.weight_decay = _check_real("weight_decay", weight_decay, low=0, high=None)
        self.weight_decay_per = check_weight_decay_per(weight_decay_per)
        self.lr = None
        self.schedule = None
        self.t = 0
        self.epoch = 0
        self._state = {}
        self.result = None

    def runner(self, model: Sequential, data: DataSet, accuracy: bool = True
               ) -> FullBatchRunner:
        """The epoch runner over a Sequential's checked ``DataSet`` (refuses
        dropout); ``accuracy``: whether the targets have one."""
        return FullBatchRunner(self, model, data, accuracy)

    def scipy_options(self, max_iter: int) -> dict[str, Any]:
        """``options`` of scipy.optimize.minimize for at most ``max_iter`` iterations."""
        raise NotImplementedError

    def hit_limit(self, result: OptimizeResult) -> bool:
        """Whether ``result`` (status 1) stopped at this solver's own limits."""
        return result.nit >= self.max_iter

    def limits(self) -> str:
        return f"max_iter={self.max_iter}"

    def config(self) -> NoReturn:
        raise TypeError(f"{type(self).__name__} is a full-batch solver, not an update rule "
                        f"for the compiled epoch loop")

    def step(self, params: Iterable[tuple[np.ndarray, np.ndarray, bool]], epoch: int = 0,
             steps_per_epoch: int = 1, ops: NumpyOps | None = None) -> NoReturn:
        raise TypeError(f"{type(self).__name__} is a full-batch solver for Sequential.fit; "
                        f"graph models (Model.fit, train_step) need SGD, Adagrad or Adam")

    def _repr_args(self):
        return self._with_decay_per({"max_iter": self.max_iter, "tol": self.tol,
                                     "weight_decay": self.weight_decay})


class LBFGS(FullBatchSolver):
    """Limited-memory BFGS (scipy's L-BFGS-B without bounds) on J.

    Each iteration builds a quasi-Newton direction d = -H g from the last
    ``history`` pairs (s, y) = (theta_{k+1} - theta_k, g_{k+1} - g_k) and
    takes a line-search step along it. As scikit-learn's MLP with
    solver="lbfgs": ``gtol=tol`` (stop when max_j |dJ/dtheta_j| <= tol),
    scipy's default ``ftol``, ``maxcor=history``, ``maxfun=max_fun``.

    Parameters
    ----------
    max_iter : int > 0
        Maximum iterations (``fit``'s ``epochs`` caps them too).
    max_fun : int > 0
        Maximum evaluations of (J, grad J) (checked at the end of an iteration).
    tol : float > 0
    history : int > 0
        m, the number of correction pairs kept.
    weight_decay : float >= 0
        lam in J.
    weight_decay_per : "step" or "example"
        "example": lam = weight_decay / S (the module docstring).
    """

    method = "L-BFGS-B"

    def __init__(self, max_iter: int = 15000, max_fun: int = 15000, tol: float = 1e-5,
                 history: int = 10, weight_decay: float = 0.0,
                 weight_decay_per: WeightDecayPer = "step") -> None:
        super().__init__(max_iter, tol, weight_decay, weight_decay_per)
        self.max_fun = check_positive_int("max_fun", max_fun)
        self.history = check_positive_int("history", history)

    def scipy_options(self, max_iter: int) -> dict[str, Any]:
        return {"maxiter": max_iter, "maxfun": self.max_fun, "maxcor": self.history,
                "gtol": self.tol}

    def hit_limit(self, result: OptimizeResult) -> bool:
        return result.nit >= self.max_iter or result.nfev > self.max_fun

    def limits(self) -> str:
        return f"max_iter={self.max_iter}, max_fun={self.max_fun}"

    def _repr_args(self):
        return self._with_decay_per({"max_iter": self.max_iter, "max_fun": self.max_fun,
                                     "tol": self.tol, "history": self.history,
                                     "weight_decay": self.weight_decay})


class ConjugateGradient(FullBatchSolver):
    """Nonlinear conjugate gradient (Polak-Ribiere+, scipy's method "CG") on J.

    d_0 = -g_0, d_{k+1} = -g_{k+1} + beta_k d_k with beta_k = max(0,
    g_{k+1}.(g_{k+1} - g_k) / g_k.g_k), each step a Wolfe line search along
    d_k; stops when max_j |dJ/dtheta_j| <= tol (``gtol=tol``).

    Parameters
    ----------
    max_iter : int > 0
        Maximum iterations (``fit``'s ``epochs`` caps them too).
    tol : float > 0
    weight_decay : float >= 0
        lam in J.
    weight_decay_per : "step" or "example"
        "example": lam = weight_decay / S (the module docstring).
    """

    method = "CG"

    def __init__(self, max_iter: int = 15000, tol: float = 1e-5, weight_decay: float = 0.0,
                 weight_decay_per: WeightDecayPer = "step") -> None:
        super().__init__(max_iter, tol, weight_decay, weight_decay_per)

    def scipy_options(self, max_iter: int) -> dict[str, Any]:
        return {"maxiter": max_iter, "gtol": self.tol}
