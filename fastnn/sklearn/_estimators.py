"""MLPClassifier and MLPRegressor: scikit-learn's estimators on fastnn (see
``fastnn.sklearn``)."""

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import column_or_1d
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data

from ._base import _BaseMLP

__all__ = ["MLPClassifier", "MLPRegressor"]


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
