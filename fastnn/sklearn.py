"""Drop-ins for scikit-learn's ``MLPClassifier`` and ``MLPRegressor`` (1.9).

Change one import and keep the rest (parameters, fitted attributes, Pipelines,
searches, pickles)::

    from fastnn.sklearn import MLPClassifier      # was: from sklearn.neural_network import ...

The estimators only translate: parameters become a ``fastnn.Sequential``
(Dense layers), an optimizer (``fastnn.SGD``, ``fastnn.Adam``) or the full-batch
``fastnn.LBFGS``, and callbacks (``_SklearnEpochs``) that keep scikit-learn's
bookkeeping between epochs. Training is ``Sequential.fit``; there is no loop here.

The objective is scikit-learn's. For a batch B with sample weights w_i (all 1
without ``sample_weight``) and S = sum_{i in B} w_i,

    J_B = (1/S) sum_{i in B} w_i l(x_i, y_i) + alpha / (2 S) sum_l ||W_l||_F^2,

l the log-loss (softmax outputs; sigmoid outputs for a binary or multi-label
y) or half the squared error summed over the outputs; the full-batch solver
takes B = the whole training set. Hence ``weight_decay = alpha / S`` on the
fastnn side, per batch.

What maps onto what:

- the weights start as scikit-learn's (Glorot uniform, bound sqrt(6 / (fan_in +
  fan_out)), sqrt(2 / ...) for logistic, drawn from ``random_state`` in the same
  order), so the same ``random_state`` gives the same initial ``coefs_``;
- ``solver="sgd"`` is ``SGD(momentum, nesterov, step_velocity=True)`` (the
  velocity holds the step, as scikit-learn's); ``"adam"`` is
  ``Adam(betas=(beta_1, beta_2), eps_on="v")`` (eps added to sqrt(v));
- ``learning_rate="invscaling"`` sets lr = learning_rate_init / (t_ + 1)^power_t
  after each epoch (t_ = samples seen), ``"adaptive"`` divides it by 5 where the
  stopping rule would stop, until it is <= 1e-6;
- the stopping rule: an epoch counts as "no improvement" when the training
  loss is not below best_loss_ - tol (or, with early stopping, the validation
  score not above best_validation_score_ + tol); training stops after more
  than ``n_iter_no_change`` such epochs in a row.

Differences that remain: the shuffles come from fastnn's PRNG (seeded from
``random_state``), so the runs are not scikit-learn's batch for batch; the L2
term inside ``loss_`` uses the mean of the epoch's first and last weights
instead of each batch's (exact for one batch per epoch); ``momentum=1`` is
refused (fastnn keeps momentum < 1).
"""

import copy
import math
import sys
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .callbacks import Callback
from .layers import Dense
from .optimizers import SGD, Adam
from .sequential import Sequential
from .solvers import LBFGS, ConvergenceWarning as FastnnConvergenceWarning
from .training import TrainingDivergedError

__all__ = ["MLPClassifier", "MLPRegressor"]

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
        return float(sum(np.vdot(layer.W, layer.W) for layer in self._model.dense_layers))

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


_PARAMETERS_DOC = """
    Parameters
    ----------
    All of scikit-learn 1.9's, with its defaults and meanings:
    ``hidden_layer_sizes`` (units of each hidden layer), ``activation`` of the
    hidden layers ("identity", "logistic", "tanh", "relu"), ``solver`` ("lbfgs",
    "sgd", "adam"), ``alpha`` (the L2 strength in J), ``batch_size`` ("auto" =
    min(200, n)), ``learning_rate`` ("constant", "invscaling", "adaptive"; sgd),
    ``learning_rate_init``, ``power_t``, ``max_iter`` (epochs, or L-BFGS
    iterations), ``shuffle``, ``random_state``, ``tol``, ``verbose``,
    ``warm_start``, ``momentum``, ``nesterovs_momentum``, ``early_stopping``,
    ``validation_fraction``, ``beta_1``, ``beta_2``, ``epsilon`` (adam),
    ``n_iter_no_change`` (an int or np.inf), ``max_fun`` (lbfgs evaluations).

    Attributes
    ----------
    coefs_ : list of arrays (n_in, n_out), views of the layers' weights
    intercepts_ : list of arrays (n_out,)
    loss_, best_loss_, loss_curve_, validation_scores_, best_validation_score_,
    n_iter_ (epochs of the last fit call), t_ (samples seen over warm starts),
    n_layers_, n_outputs_, out_activation_, n_features_in_, feature_names_in_
        As in scikit-learn (the curves only for the stochastic solvers).
"""


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier: scikit-learn's MLPClassifier on fastnn.

    Softmax outputs and the log-loss for more than two classes; one sigmoid
    unit for two; one sigmoid per label for a label indicator matrix
    (multi-label). Labels may be of any dtype (strings too): ``classes_``.
    """ + _PARAMETERS_DOC + """
    classes_ : ndarray (n_classes,)
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun

    def _output_activation(self):
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer().fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError("warm_start can only be used where `y` has the same "
                                     "classes as in the previous call to fit. Previously got "
                                     f"{self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError("`y` has classes not in `self.classes_`. `self.classes_` has "
                                 f"{self.classes_}. 'y' has {classes}.")
        return X, self._label_binarizer.transform(y).astype(bool)

    def _val_targets(self, Y_val):
        return self._label_binarizer.inverse_transform(Y_val)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y), continuing from the current state (weights,
        optimizer, learning rate). ``classes`` (all labels that will ever
        appear) is needed at the first call. Only for solver "sgd" and "adam"."""
        if not hasattr(self, "classes_"):
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
            self.classes_ = self._label_binarizer.classes_
        elif classes is not None and not np.array_equal(self.classes_, unique_labels(classes)):
            raise ValueError("`classes=%r` is not the same as on last call to partial_fit, "
                             "was: %r" % (classes, self.classes_))
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X):
        """Predicted labels (n_samples,), or an indicator matrix for multi-label."""
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X, check_input=True):
        out = self._forward(X, check_input)
        if self.n_outputs_ == 1:
            out = out.ravel()
        return self._label_binarizer.inverse_transform(out)

    def _score(self, X, y, sample_weight=None):
        return self._score_with(X, y, sample_weight, accuracy_score)

    def predict_proba(self, X):
        """Class probabilities (n_samples, n_classes), in the order of ``classes_``."""
        check_is_fitted(self)
        out = self._forward(X)
        if self.n_outputs_ == 1:
            return np.hstack([1 - out, out])
        return out

    def predict_log_proba(self, X):
        """log(predict_proba(X))."""
        proba = self.predict_proba(X)
        return np.log(proba, out=proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor: scikit-learn's MLPRegressor on fastnn.

    ``loss="squared_error"`` (identity output; fastnn's "mse") or ``"poisson"``
    (exp output, half the Poisson deviance). y is (n_samples,) or
    (n_samples, n_outputs); float32 X keeps the predictions float32.
    """ + _PARAMETERS_DOC

    _parameter_constraints: dict = {
        **_BaseMLP._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson"})],
    }

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000):
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun

    def _output_activation(self):
        return "exp" if self.loss == "poisson" else "identity"

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             y_numeric=True, dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    def _val_targets(self, Y_val):
        return Y_val[:, 0] if Y_val.shape[1] == 1 else Y_val

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing from the current state. Only for
        solver "sgd" and "adam"."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X):
        """Predictions (n_samples,) or (n_samples, n_outputs)."""
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X, check_input=True):
        out = self._forward(X, check_input)
        return out.ravel() if out.shape[1] == 1 else out

    def _score(self, X, y, sample_weight=None):
        return self._score_with(X, y, sample_weight, r2_score)
