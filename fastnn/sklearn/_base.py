"""What MLPClassifier and MLPRegressor share: the parameter table, the
mapping onto fastnn.Sequential and its optimizers, and the callbacks that keep
scikit-learn's bookkeeping between epochs (see ``fastnn.sklearn``)."""


import copy
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import _check_sample_weight, validate_data

from .. import _blas
from ..callbacks import Callback
from ..layers import Dense
from ..optimizers import SGD, Adam
from ..sequential import Sequential
from ..solvers import LBFGS, ConvergenceWarning as FastnnConvergenceWarning
from ..training import TrainingDivergedError

__all__ = ["_BaseMLP"]

_STOCHASTIC = ("sgd", "adam")
# scikit-learn's activation names -> fastnn's, and the loss that goes with each output
_HIDDEN = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
_OUTPUT = {"softmax": ("softmax", "cross_entropy"),
           "logistic": ("sigmoid", "binary_cross_entropy"),
           "identity": ("identity", "mse"),
           "exp": ("exp", "poisson")}


class _SklearnEpochs(Callback):
    """scikit-learn's per-epoch bookkeeping, run by ``Sequential.fit`` after
    every epoch: n_iter_, t_, loss_, loss_curve_, the verbose line, the
    stopping rule (with early stopping: the validation score and the best
    weights) and the invscaling / adaptive learning rates."""

    def __init__(self, est, n_train, sw_sum, batches, validation):
        self.est, self.n_train, self.validation = est, n_train, validation
        # loss_ adds sum over batches of (|B| / n) alpha ||W||^2 / (2 S_B);
        # with weights, |B| / S_B is taken as n / sum(w).
        self.penalty_factor = 0.5 * est.alpha * batches / sw_sum
        self.one_batch = batches == 1
        self.stopped = False

    def on_epoch_begin(self, epoch, logs=None):
        self.start_norm = self.est._squared_norm()

    def on_epoch_end(self, epoch, logs=None):
        est = self.est
        # ||W||^2 over the epoch's steps: exact for one step (its start), else
        # the mean of the first and last weights'.
        norm = self.start_norm
        if not self.one_batch:
            norm = 0.5 * (norm + est._squared_norm())
        est.loss_ = est._report_loss(logs["loss"]) + self.penalty_factor * norm
        est.n_iter_ += 1
        est.t_ += self.n_train
        est.loss_curve_.append(est.loss_)
        if est.verbose:
            print("Iteration %d, loss = %.8f" % (est.n_iter_, est.loss_))
        if self.validation is not None:
            improved = self._validation_step()
            what = "Validation score"
        else:
            improved = est.loss_curve_[-1] <= est.best_loss_ - est.tol
            est.best_loss_ = min(est.best_loss_, est.loss_curve_[-1])
            what = "Training loss"
        est._no_improvement_count = 0 if improved else est._no_improvement_count + 1
        optimizer = est._optimizer
        if est.solver == "sgd" and est.learning_rate == "invscaling":
            optimizer.lr = est.learning_rate_init / (est.t_ + 1) ** est.power_t
        if est._no_improvement_count > est.n_iter_no_change:
            msg = (f"{what} did not improve more than tol={est.tol:f} for "
                   f"{est.n_iter_no_change:d} consecutive epochs.")
            if est.solver == "sgd" and est.learning_rate == "adaptive" \
                    and optimizer.lr > 1e-6:
                optimizer.lr = optimizer.lr / 5.0
                est._no_improvement_count = 0
                if est.verbose:
                    print(msg + " Setting learning rate to %f" % optimizer.lr)
            else:
                if est.verbose:
                    small = est.solver == "sgd" and est.learning_rate == "adaptive"
                    print(msg + (" Learning rate too small." if small else "") + " Stopping.")
                self.stopped = True
                self.model.stop_training = True

    def _validation_step(self):
        est = self.est
        X_val, y_val, sw_val = self.validation
        score = est._score(X_val, y_val, sw_val)
        est.validation_scores_.append(score)
        if est.verbose:
            print("Validation score: %f" % score)
        improved = not score < est.best_validation_score_ + est.tol
        if score > est.best_validation_score_:
            est.best_validation_score_ = score
            est._best_weights = self.model.get_weights()
        return improved


class _VerboseIterations(Callback):
    """``Iteration i, loss = ...`` per L-BFGS iteration (data loss + L2 term)."""

    def __init__(self, est, lam):
        self.est, self.lam = est, lam

    def on_epoch_end(self, epoch, logs=None):
        loss = self.est._report_loss(logs["loss"]) + 0.5 * self.lam * self.est._squared_norm()
        print("Iteration %d, loss = %.8f" % (epoch + 1, loss))


class _BaseMLP(BaseEstimator):
    """What MLPClassifier and MLPRegressor share (scikit-learn's
    BaseMultilayerPerceptron, on fastnn)."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions({"identity", "logistic", "tanh", "relu"})],
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
    }

    # ------------------------------------------------------------- state ---
    def __getstate__(self):
        # coefs_/intercepts_ are views of the layers' arrays, rebuilt on load.
        # The optimizer's state is kept by parameter position: its own table
        # is keyed by the arrays' identities, which a pickle does not keep.
        state = dict(super().__getstate__())
        state.pop("coefs_", None)
        state.pop("intercepts_", None)
        optimizer = state.get("_optimizer")
        if optimizer is not None:
            arrays = [optimizer.state(p) for p in self._parameters()]
            optimizer = copy.copy(optimizer)
            optimizer._state = {}
            state["_optimizer"], state["_optimizer_arrays"] = optimizer, arrays
        return state

    def __setstate__(self, state):
        arrays = state.pop("_optimizer_arrays", None)
        super().__setstate__(state)
        if "_model" in state:
            self._bind()
        if arrays is not None:
            for p, saved in zip(self._parameters(), arrays):
                for target, value in zip(self._optimizer.state(p), saved):
                    target[...] = value

    def _bind(self):
        """coefs_[i] (n_in, n_out) and intercepts_[i] as views of layer i's W, b."""
        layers = self._model.dense_layers
        self.coefs_ = [layer.W.T for layer in layers]
        self.intercepts_ = [layer.b for layer in layers]

    def _sync_in(self):
        """Copy coefs_/intercepts_ the user replaced into the layers (checked);
        rebinds the views only then (predict leaves __dict__ alone)."""
        changed = False
        for i, layer in enumerate(self._model.dense_layers):
            for name, values, target in (("coefs_", self.coefs_, layer.W.T),
                                         ("intercepts_", self.intercepts_, layer.b)):
                value = values[i]
                if value is target or (isinstance(value, np.ndarray) and value.base is layer.W
                                       and value.shape == target.shape):
                    continue
                value = np.asarray(value)
                if value.shape != target.shape:
                    raise ValueError(f"{name}[{i}] must have shape {target.shape}, got "
                                     f"{value.shape}")
                target[...] = value
                changed = True
        if changed:
            self._bind()

    def _parameters(self):
        return [a for layer in self._model.dense_layers for a in (layer.W, layer.b)]

    def _squared_norm(self):
        # fastnn's BLAS, not numpy's (np.vdot): see FullBatchObjective.__call__.
        return float(sum(_blas.dot(w, w) for w in (layer.W.ravel(order="K")
                                                    for layer in self._model.dense_layers)))

    def _report_loss(self, data_loss):
        """scikit-learn's data loss from fastnn's: its squared error is
        averaged over the outputs too (its gradients are not)."""
        if self.out_activation_ == "identity":
            return data_loss / self.n_outputs_
        return data_loss

    # -------------------------------------------------------------- fit ---
    def _initialize(self, n_features, dtype, random_state):
        hidden = self._hidden_sizes()
        units = [n_features] + hidden + [self.n_outputs_]
        self.n_layers_ = len(units)
        self.n_iter_ = 0
        self.t_ = 0
        self.out_activation_ = self._output_activation()
        out_activation, loss = _OUTPUT[self.out_activation_]
        # scikit-learn's initial weights, drawn in its order (W then b, layer by layer).
        factor = 2.0 if self.activation == "logistic" else 6.0
        weights = []
        for fan_in, fan_out in zip(units, units[1:]):
            bound = np.sqrt(factor / (fan_in + fan_out))
            W = random_state.uniform(-bound, bound, (fan_in, fan_out))
            b = random_state.uniform(-bound, bound, fan_out)
            weights += [W.T.astype(dtype), b.astype(dtype)]
        seed = (self.random_state if isinstance(self.random_state, Integral)
                else int(random_state.randint(np.iinfo(np.int32).max)))
        layers = [Dense(a, b, _HIDDEN[self.activation]) for a, b in zip(units[:-2], units[1:-1])]
        layers.append(Dense(units[-2], units[-1], out_activation))
        self._model = Sequential(layers, loss=loss, dtype=dtype, seed=seed)
        self._model.set_weights(weights)
        self._bind()
        self._optimizer = None
        if self.solver in _STOCHASTIC:
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
        if np.any(np.array(sizes) <= 0):
            raise ValueError("hidden_layer_sizes must be > 0, got %s." % sizes)
        return sizes

    def _fit(self, X, y, sample_weight=None, incremental=False):
        self._validate_params()
        self._hidden_sizes()
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, Y = self._validate_input(X, y, incremental, reset=first_pass)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
        if Y.ndim == 1:
            Y = Y.reshape(-1, 1)
        self.n_outputs_ = Y.shape[1]
        random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(X.shape[1], X.dtype, random_state)
        else:
            self._sync_in()
        # Sparse X: the first layer becomes feature-major (a new W) before
        # any callback reads coefs_, which must view the new array.
        if self._model._lay_out_first_layer(sp.issparse(X), getattr(self, "_optimizer", None)):
            self._bind()
        try:
            if self.solver in _STOCHASTIC:
                self._fit_stochastic(X, Y, sample_weight, random_state, incremental)
            else:
                self._fit_lbfgs(X, Y, sample_weight)
        except TrainingDivergedError as exc:
            raise ValueError("Solver produced non-finite parameter weights. The input data "
                             "may contain large values and need to be preprocessed.") from exc
        return self

    def _targets(self, Y):
        """Y (n, n_outputs) as Sequential.fit takes it for this output."""
        if self.out_activation_ == "softmax":
            return Y.argmax(axis=1)
        if self.n_outputs_ == 1 and self.out_activation_ == "logistic":
            return Y[:, 0].astype(np.int64)
        Y = np.asarray(Y, dtype=self._model.dtype)
        return Y[:, 0] if Y.shape[1] == 1 else Y

    def _new_optimizer(self, weight_decay):
        if self.solver == "sgd":
            return SGD(lr=self.learning_rate_init, momentum=self.momentum,
                       nesterov=bool(self.nesterovs_momentum and self.momentum > 0),
                       weight_decay=weight_decay, weight_decay_per="example",
                       step_velocity=True)
        return Adam(lr=self.learning_rate_init, betas=(self.beta_1, self.beta_2),
                    eps=self.epsilon, weight_decay=weight_decay, weight_decay_per="example",
                    eps_on="v")

    def _fit_stochastic(self, X, Y, sample_weight, random_state, incremental):
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        validation = None
        if self.early_stopping:
            stratify = Y if (is_classifier(self) and self.n_outputs_ == 1) else None
            parts = [X, Y] + ([] if sample_weight is None else [sample_weight])
            parts = train_test_split(*parts, random_state=random_state,
                                     test_size=self.validation_fraction, stratify=stratify)
            X, X_val, Y, Y_val = parts[:4]
            sample_weight, sw_val = (None, None) if len(parts) == 4 else parts[4:]
            if X_val.shape[0] < 2:
                raise ValueError("The validation set is too small. Increase "
                                 "'validation_fraction' or the size of your dataset.")
            validation = (X_val, self._val_targets(Y_val), sw_val)
        n = X.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is "
                              "going to be clipped")
            batch_size = int(np.clip(self.batch_size, 1, n))
        sw_sum = n if sample_weight is None else float(sample_weight.sum())
        if self._optimizer is None or not incremental:
            # alpha / S per batch, S its weight total: weight_decay_per="example".
            self._optimizer = self._new_optimizer(self.alpha)
        epochs = 1 if incremental else self.max_iter
        bookkeeping = _SklearnEpochs(self, n, sw_sum, -(-n // batch_size), validation)
        self.n_iter_ = 0
        extra = {} if sample_weight is None else {"sample_weight": sample_weight}
        self._model.fit(X, self._targets(Y), epochs=epochs, batch_size=batch_size,
                        optimizer=self._optimizer, shuffle=self.shuffle, verbose=0,
                        callbacks=[bookkeeping], **extra)
        if not incremental and not bookkeeping.stopped and self.n_iter_ == self.max_iter:
            warnings.warn("Stochastic Optimizer: Maximum iterations (%d) reached and the "
                          "optimization hasn't converged yet." % self.max_iter,
                          ConvergenceWarning)
        if self.early_stopping and getattr(self, "_best_weights", None) is not None:
            self._model.set_weights(self._best_weights)

    def _fit_lbfgs(self, X, Y, sample_weight):
        sw_sum = X.shape[0] if sample_weight is None else float(sample_weight.sum())
        lam = self.alpha / sw_sum
        # scipy's gtol=0 never stops on the gradient; fastnn.LBFGS wants tol > 0.
        solver = LBFGS(max_iter=self.max_iter, max_fun=self.max_fun,
                       tol=max(self.tol, np.finfo(float).tiny), weight_decay=self.alpha,
                       weight_decay_per="example")
        callbacks = [_VerboseIterations(self, lam)] if self.verbose else []
        extra = {} if sample_weight is None else {"sample_weight": sample_weight}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FastnnConvergenceWarning)
            self._model.fit(X, self._targets(Y), epochs=self.max_iter, optimizer=solver,
                            verbose=0, callbacks=callbacks, **extra)
        result = solver.result
        if result.status != 0:
            warnings.warn(f"lbfgs failed to converge after {result.nit} iteration(s) (status="
                          f"{result.status}):\n{result.message}\n\nIncrease the number of "
                          f"iterations to improve the convergence (max_iter={self.max_iter}).",
                          ConvergenceWarning, stacklevel=3)
        self.n_iter_ = min(result.nit, self.max_iter)
        penalty = 0.5 * lam * self._squared_norm()
        self.loss_ = self._report_loss(float(result.fun) - penalty) + penalty

    def fit(self, X, y, sample_weight=None):
        """Fit the network to X (n_samples, n_features), dense or sparse, and
        y: class labels (classifier; a label indicator matrix for multi-label)
        or targets (n_samples,) / (n_samples, n_outputs) (regressor).
        ``sample_weight`` (n_samples,) weighs each example's loss. Returns self."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    def _check_solver(self):
        if self.solver not in _STOCHASTIC:
            raise AttributeError("partial_fit is only available for stochastic optimizers. "
                                 "%s is not stochastic." % self.solver)
        return True

    # -------------------------------------------------------- inference ---
    def _forward(self, X, check_input=True):
        if check_input:
            X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        self._sync_in()
        return self._model.predict_proba(X)

    def _score_with(self, X, y, sample_weight, score_function):
        y_pred = self._predict(X, check_input=False)
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return score_function(y, y_pred, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
