"""Drop-ins for scikit-learn's ``MLPClassifier`` and ``MLPRegressor`` (1.9).

Change one import and keep the rest (parameters, fitted attributes, Pipelines,
searches, pickles)::

    from fastnn.sklearn import MLPClassifier      # was: from sklearn.neural_network import ...

The estimators only translate: parameters become a ``fastnn.Sequential``
(Dense layers), an optimizer (``fastnn.SGD``, ``fastnn.Adam``) or the full-batch
``fastnn.LBFGS``, and callbacks (``_SklearnEpochs``) that keep scikit-learn's
bookkeeping between epochs (``_base.py``; the estimators' own methods in
``_estimators.py``). Training is ``Sequential.fit``; there is no loop here.

The objective is scikit-learn's. For a batch B with sample weights w_i (all 1
without ``sample_weight``) and S = sum_{i in B} w_i,

    J_B = (1/S) sum_{i in B} w_i l(x_i, y_i) + alpha / (2 S) sum_l ||W_l||_F^2,

l the log-loss (softmax outputs; sigmoid outputs for a binary or multi-label
y), half the squared error summed over the outputs (identity outputs), or
half the Poisson deviance (exp outputs, ``loss="poisson"``); the full-batch
solver takes B = the whole training set. On the fastnn side that is
``weight_decay=alpha, weight_decay_per="example"``. (scikit-learn reports the
squared error averaged over the outputs too, in ``loss_``; so does this
module, though the gradients, scikit-learn's and these, are of the sum.)

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
instead of each batch's (exact for one batch per epoch), and with sample
weights the epoch's data loss is sum w_i l_i / sum w_i rather than the mean
of the batches' weighted means; ``momentum=1`` is refused (fastnn keeps
momentum < 1); ``MLPRegressor(solver="lbfgs")`` has no ``partial_fit``, as
the classifier (scikit-learn 1.9's regressor exposes one that runs lbfgs).
"""

from ._estimators import MLPClassifier, MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]
