"""``Sequential``: a chain of Dense/Dropout layers with fit / predict / evaluate.

``fit`` validates and converts the data once, builds a ``CompiledNet``
(csrc/_train.pyx.tp) that allocates every buffer once, then runs each epoch as
compiled calls without the GIL, each a range of steps of about 0.2 s
(fastnn.training). Python is re-entered only between these chunks, for
callbacks, progress, Ctrl-C and checkpoints, and between epochs, for validation.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from . import blas_threads
from ._kernels import OPTIMIZER_CODES
from ._train import CompiledNet, MAX_LAYERS
from .activations import get_activation
from .data import has_accuracy, input_data, training_data
from .layers import Dense, Dropout, Layer
from .losses import get_loss
from .solvers import FullBatchSolver
from .training import (EpochRunner, EpochStats, TrainingLoop, UseGuard,
                       check_fit_arguments, check_validation_pair, fit_seed)
from .validation import check_dtype, check_param, check_positive_int, check_seed

if TYPE_CHECKING:
    from mpi4py.MPI import Intracomm
    from numpy.typing import ArrayLike, DTypeLike

    from .callbacks import Callback, History
    from .data import InputLike
    from .distributed import Communicator
    from .losses import LossName
    from .optimizers import Optimizer

__all__ = ["Sequential"]

# Rows per compiled call when predicting or evaluating: large enough for
# efficient GEMMs, small enough to keep the activations in cache.
INFERENCE_ROWS = 256

# The step configuration of a net that only computes gradients (Sequential.gradients,
# the full-batch solvers): a rule code for the gradient buffers, never applied.
_GRADIENTS_ONLY = {"code": OPTIMIZER_CODES["sgd"]}


class _InferenceNets(threading.local):
    """Each thread's inference net: predictions from several threads at once
    never share scratch buffers."""

    arrays = None      # the layer arrays the net points into
    net = None


def epoch_stats(data, accuracy, loss_sum, correct, weight_sum, failed_step=-1):
    """EpochStats from a compiled call's sums: ``seen`` is the weight total
    (the row count, as an int, without weights), ``correct`` None where
    accuracy means nothing."""
    if data.weights is None:
        weight_sum, correct = int(weight_sum), int(correct)
    return EpochStats(loss_sum, weight_sum, correct if accuracy else None, failed_step)


class CompiledEpochs(EpochRunner):
    """The fast path's epoch runner: each range of steps the loop asks for
    (about 0.2 s of work, fastnn.training) is one nogil call of a
    ``CompiledNet`` built once per fit over the layers' own arrays; the net
    keeps the epoch's order, PRNG and running sums between the calls.

    ``data`` is the fit's ``DataSet`` (fastnn.data), ``accuracy`` whether
    its targets have one (``has_accuracy``)."""

    def __init__(self, model, data, batch_size, shuffle, optimizer, accuracy=True):
        self.data, self.shuffle, self.optimizer = data, shuffle, optimizer
        self.model = model
        self.accuracy = accuracy
        self.n_examples = data.n
        self.steps_per_epoch = self._steps_per_epoch(batch_size)
        self.net = self._new_net(min(batch_size, data.n))
        self.tau = optimizer.schedule.tau(self.steps_per_epoch)

    def _steps_per_epoch(self, batch_size):
        return -(-self.data.n // batch_size)

    def _new_net(self, rows):
        return self.model._compiled_net(rows, self.optimizer, self.model._train_seq)

    def run_steps(self, epoch, first, stop):
        optimizer = self.optimizer
        loss_sum, correct, weight_sum, failed = self.net.train_epoch(
            self.data, self.shuffle,
            optimizer.schedule.base_rate(optimizer.lr, optimizer.epoch), self.tau, first, stop)
        optimizer.t = self.net.steps
        return epoch_stats(self.data, self.accuracy, loss_sum, correct, weight_sum, failed)

    def parameters(self):
        return [a for layer in self.model.dense_layers
                for a in ((layer.W, layer.b) if layer.b is not None else (layer.W,))]

    def get_state(self):
        state = self.net.get_state()
        if state["order"] is None:          # before the first epoch: the identity
            state["order"] = np.arange(self.n_examples, dtype=np.int64)
        state["sums"] = list(state["sums"])
        return state

    def set_state(self, state):
        self.net.set_state(state)
        self.optimizer.t = self.net.steps


class Sequential:
    """A feed-forward network: Dense layers, optionally with Dropout between them.

    Parameters
    ----------
    layers : list of Dense and Dropout
        In order from input to output. Sizes must chain (``n_out`` of one Dense
        equals ``n_in`` of the next). A Dropout applies to the input of the Dense
        that follows it (so it may come first, for input dropout, but not last).
    loss : "cross_entropy", "binary_cross_entropy" or "mse"
        Averaged over the examples of a batch (see ``fastnn.losses``).
        "cross_entropy" needs a softmax output layer, "binary_cross_entropy" a
        sigmoid one.
    dtype : "float32" or "float64"
        Every parameter, buffer and computation follows it.
    seed : int or None
        Seeds weight initialisation, shuffling and dropout masks. The same seed
        gives bitwise the same run on the same machine and BLAS (results may
        differ in the last bits across BLAS builds or thread counts, which
        change the order of floating-point sums). None draws fresh OS
        entropy; ``model.seed`` then tells what was drawn.

    Examples
    --------
    >>> model = Sequential([Dense(784, 30, "sigmoid"), Dense(30, 10, "softmax")], seed=0)
    >>> history = model.fit(X, y, epochs=1, batch_size=10, optimizer=SGD(lr=0.1))
    >>> model.evaluate(X_test, y_test)["accuracy"]
    """

    def __init__(self, layers: Iterable[Dense | Dropout], loss: LossName = "cross_entropy",
                 dtype: DTypeLike = "float32", seed: int | None = None) -> None:
        self.layers = self._check_layers(layers)
        self.dense_layers = [layer for layer in self.layers if isinstance(layer, Dense)]
        self.loss = get_loss(loss).name
        self._check_output(self.dense_layers[-1])
        self.dtype = check_dtype(dtype)
        seq = np.random.SeedSequence(check_seed(seed))
        self.seed = seq.entropy
        # Independent streams: initialisation, training (shuffles, dropout masks
        # of each fit), and gradients() (so inspecting gradients never changes
        # what the next fit does).
        init_seq, self._train_seq, self._aux_seq = seq.spawn(3)
        init_rng = np.random.default_rng(init_seq)
        for layer in self.dense_layers:
            layer.initialize(init_rng, self.dtype)
        self.stop_training = False
        self.history = None
        #: what the last fit's targets were (fastnn.validation.TARGET_KINDS), or None
        self.target_kind = None
        self._new_thread_state()

    def _new_thread_state(self):
        self._inference = _InferenceNets()
        self._guard = UseGuard()

    def __getstate__(self):
        state = dict(self.__dict__)
        del state["_inference"], state["_guard"]      # per-thread, rebuilt on load
        return state

    def __setstate__(self, state):
        state.setdefault("target_kind", None)
        self.__dict__.update(state)
        self._new_thread_state()

    # ------------------------------------------------------------ checks ---
    @staticmethod
    def _check_layers(layers):
        if isinstance(layers, Layer) or not hasattr(layers, "__iter__"):
            raise TypeError(f"layers must be a list of Dense/Dropout layers, got {layers!r}")
        layers = list(layers)
        for i, layer in enumerate(layers):
            if not isinstance(layer, (Dense, Dropout)):
                raise TypeError(f"layers[{i}] must be a Dense or Dropout layer, got {layer!r}")
        dense = [layer for layer in layers if isinstance(layer, Dense)]
        if not dense:
            raise ValueError(f"layers must contain at least one Dense layer, got {layers!r}")
        if len(dense) > MAX_LAYERS:
            raise ValueError(f"at most {MAX_LAYERS} Dense layers are supported, got {len(dense)}")
        if len({id(layer) for layer in dense}) != len(dense):
            raise ValueError("the same Dense layer appears twice in layers; create one per "
                             "position (weight sharing needs the graph API)")
        if isinstance(layers[-1], Dropout):
            raise ValueError(f"the last layer must be Dense, got {layers[-1]!r}")
        for i in range(1, len(layers)):
            if isinstance(layers[i], Dropout) and isinstance(layers[i - 1], Dropout):
                raise ValueError(f"layers[{i - 1}] and layers[{i}] are consecutive Dropout "
                                 f"layers; merge them into one")
        for a, b in zip(dense, dense[1:]):
            if a.n_out != b.n_in:
                raise ValueError(f"layer sizes do not chain: {a!r} outputs {a.n_out} units "
                                 f"but the next Dense {b!r} expects n_in={b.n_in}")
        return layers

    def _check_output(self, last):
        wanted = get_loss(self.loss).output_activation
        if wanted is not None and last.activation != wanted:
            raise ValueError(f"loss={self.loss!r} needs the last Dense layer to have "
                             f"activation={wanted!r}, got activation={last.activation!r}")
        if self.loss == "cross_entropy" and last.n_out < 2:
            raise ValueError("loss='cross_entropy' needs at least 2 output units; for a "
                             "single unit use activation='sigmoid' with "
                             "loss='binary_cross_entropy' (logistic regression)")

    # ------------------------------------------------------ shapes, weights ---
    @property
    def n_features(self) -> int:
        return self.dense_layers[0].n_in

    @property
    def n_outputs(self) -> int:
        return self.dense_layers[-1].n_out

    def get_weights(self) -> list[np.ndarray]:
        """Copies of every parameter: [W1, b1, W2, b2, ...] (b omitted when bias=False)."""
        out = []
        for layer in self.dense_layers:
            out.append(layer.W.copy())
            if layer.b is not None:
                out.append(layer.b.copy())
        return out

    def set_weights(self, weights: Iterable[ArrayLike]) -> None:
        """Copy ``weights`` (as returned by ``get_weights``) into the layers, in place."""
        if isinstance(weights, np.ndarray) or not hasattr(weights, "__iter__"):
            raise TypeError(f"weights must be a list of arrays [W1, b1, W2, b2, ...], got "
                            f"{type(weights).__name__}")
        weights = list(weights)
        targets = [p for layer in self.dense_layers
                   for p in ((layer.W, layer.b) if layer.b is not None else (layer.W,))]
        if len(weights) != len(targets):
            raise ValueError(f"weights must hold {len(targets)} arrays, got {len(weights)}")
        # Check every array before copying any, so a bad list changes nothing.
        checked = [check_param(f"weights[{i}]", value, target.shape, target.dtype)
                   for i, (value, target) in enumerate(zip(weights, targets))]
        for value, target in zip(checked, targets):
            target[...] = value

    def _plans(self, optimizer=None):
        """Per-Dense-layer dicts for CompiledNet (dropout folded into the next Dense)."""
        plans, dropout = [], None
        for layer in self.layers:
            if isinstance(layer, Dropout):
                dropout = layer
                continue
            if layer.dtype != self.dtype:
                raise ValueError(f"{layer!r} holds {layer.dtype} parameters but the model is "
                                 f"{self.dtype}; it was re-initialised by another model?")
            plan = {"W": layer.W, "b": layer.b, "feature_major": layer.feature_major,
                    "activation": get_activation(layer.activation).code}
            if dropout is not None and dropout.p > 0:
                plan.update(drop_p=dropout.p, drop_keep=dropout.keep_value,
                            drop_test=dropout.test_factor)
            if optimizer is not None:
                plan["state_W"] = optimizer.state(layer.W)
                if layer.b is not None:
                    plan["state_b"] = optimizer.state(layer.b)
            plans.append(plan)
            dropout = None
        return plans

    def _compiled_net(self, rows, optimizer=None, seed_seq=None, gradients=False, seed=None,
                      allreduce=None, helper=True):
        """A CompiledNet over the layers' arrays for batches of up to ``rows``,
        its PRNG seeded from the next child of ``seed_seq`` (or with ``seed``).
        With an optimizer it trains (data-parallel with an ``allreduce`` hook,
        fastnn.distributed); with ``gradients=True`` and no optimizer it only
        computes gradients (it has their buffers, but no optimizer state);
        otherwise it predicts and evaluates. ``helper``: see ``CompiledNet``."""
        if seed is None:
            seed = 0 if seed_seq is None else fit_seed(seed_seq)
        if optimizer is not None:
            config = optimizer.config()
        else:
            config = _GRADIENTS_ONLY if gradients else None
        return CompiledNet(self._plans(optimizer), self.dtype, rows, get_loss(self.loss).code,
                           config, seed, blas_threads.policy(), allreduce, helper)

    def _inference_net(self):
        # The compiled net points into the layers' arrays: rebuild it when a
        # layer now holds other arrays (re-initialised by another model).
        # (A plain loop: this runs at every predict, and a batch-1 predict is
        # a few microseconds.)
        cache = self._inference
        if cache.net is not None:
            arrays = cache.arrays
            for i, layer in enumerate(self.dense_layers):
                if layer.W is not arrays[2 * i] or layer.b is not arrays[2 * i + 1]:
                    break
            else:
                return cache.net
        cache.arrays = tuple(a for layer in self.dense_layers for a in (layer.W, layer.b))
        cache.net = self._compiled_net(INFERENCE_ROWS)
        return cache.net

    # --------------------------------------------------------------- fit ---
    def _data(self, X, y, sample_weight=None, x_name="X", y_name="y",
              weight_name="sample_weight"):
        """(DataSet, target kind) of checked inputs, targets and weights."""
        return training_data(X, y, sample_weight, self.n_features, self.n_outputs, self.loss,
                             self.dtype, x_name, y_name, weight_name)

    def fit(self, X: InputLike, y: ArrayLike, epochs: int = 1, batch_size: int = 32,
            optimizer: Optimizer | None = None, shuffle: bool = True,
            validation_data: tuple[InputLike, ArrayLike] | None = None,
            verbose: int = 1, callbacks: Sequence[Callback] | None = None,
            sample_weight: ArrayLike | None = None,
            comm: Intracomm | Communicator | None = None,
            sync_every: int = 1) -> History:
        """Train with mini-batch gradient descent.

        Parameters
        ----------
        X : array-like or scipy.sparse CSR/CSC matrix, shape (n_samples, n_features)
            Converted once to a C-contiguous array of the model's dtype; a
            sparse matrix is never densified (each batch's rows are scattered
            into the batch buffer at a cost proportional to their non-zeros).
        y : array-like, shape (n_samples,) or (n_samples, n_outputs)
            Integer class labels (n,) or one-hot rows, for every loss; with
            "cross_entropy" also rows of probability distributions (soft
            labels); with "binary_cross_entropy" targets in [0, 1] (n,
            n_outputs) (multi-label or soft); with "mse" real values, (n,)
            for one output unit or (n, n_outputs) (regression). See
            ``fastnn.validation.check_targets`` for how y is read;
            ``model.target_kind`` then tells what it was.
        epochs : int > 0
        batch_size : int > 0
            The gradient of a batch is the (weighted) mean of its examples'
            gradients; without shuffling the last batch may be smaller.
        optimizer : Optimizer, default ``SGD(lr=0.1)``
            Its state (momentum, Adam moments, update count) carries over to the
            next ``fit`` call with the same optimizer. A full-batch solver
            (``LBFGS``, ``ConjugateGradient``, ``fastnn.solvers``) instead
            minimises the (weighted) mean loss over all of X with scipy: one
            epoch per solver iteration, ``epochs`` the most iterations,
            ``batch_size`` and ``shuffle`` unused, no Dropout with p > 0.
        shuffle : bool
            Reshuffle the examples before every epoch (from the model's seed).
        validation_data : (X_val, y_val) or None
            Evaluated after every epoch: ``val_loss``, ``val_accuracy``.
        verbose : 0, 1 or 2
            0 silent, 1 a progress line per epoch that moves within it (step,
            examples/s, running loss, ETA; on a terminal only), 2 a line per epoch.
        callbacks : list of Callback
            ``on_train_batch_end`` runs about every 0.2 s; ``BackupAndRestore``
            and ``ModelCheckpoint`` (fastnn.checkpoints) save the training state.
        sample_weight : array-like (n_samples,) or None
            Weights w_i >= 0, finite, not all 0: the loss of a batch becomes
            sum_i w_i l_i / sum_i w_i, its gradient likewise. A batch whose
            weights sum to 0 is skipped (no update; the step count does not
            advance). With ``weight_decay_per="example"`` the optimizer's
            decay is divided by the batch's weight total.
        comm : mpi4py communicator or None
            Data-parallel training over MPI (fastnn.distributed): each rank
            passes its own shard as X, y (and validation_data), ``batch_size``
            is the per-rank batch, rank 0's initial weights are broadcast, and
            every step averages the ranks' gradients with one Allreduce, so
            that every rank makes the same update: that of the global batch
            (the ranks' k-th batches together). Every rank runs
            ceil(min_r n_r / batch_size) steps per epoch. Losses and
            validation metrics are over all ranks; a failure on any rank
            raises on every rank. Not with a full-batch solver.
        sync_every : int >= 1
            With ``comm``: 1 (default) averages the gradients at every step as
            above; k > 1 is local SGD (``fastnn.distributed.LocalSGDEpochs``):
            each rank makes k updates on its own batches, then the ranks'
            weights are averaged, with one Allreduce per k steps and at the end
            of every epoch; the optimizer state stays each rank's own.

        Returns
        -------
        History
            ``history.history`` maps "loss", "accuracy" (and "val_loss",
            "val_accuracy") to per-epoch lists. The loss is the (weighted) mean
            data loss over the epoch's examples (weight decay not included),
            measured during training, with dropout on. "accuracy" is there
            where it means something: class labels and probability rows
            (argmax), binary targets (the fraction of rows whose every unit is
            on the right side of 1/2); not for real-valued "mse" targets. With
            weights both are weighted means.

        Raises
        ------
        TrainingDivergedError
            When a batch loss (or, at the end of an epoch, a weight) is NaN or
            inf; the weights and the optimizer state from the start of the
            epoch are put back first.
        RuntimeError
            When another thread is fitting or predicting with this model.
        """
        if comm is not None:
            from .distributed import as_communicator

            comm = as_communicator(comm)
        try:
            data, kind = self._data(X, y, sample_weight)
            epochs, batch_size, shuffle, verbose, optimizer, callbacks = check_fit_arguments(
                epochs, batch_size, shuffle, verbose, optimizer, callbacks)
            validation_data = check_validation_pair(validation_data)
            if validation_data is not None:
                val, val_kind = self._data(validation_data[0], validation_data[1],
                                           x_name="X_val", y_name="y_val")
            sync_every = check_positive_int("sync_every", sync_every)
            if comm is None and sync_every != 1:
                raise ValueError(f"sync_every={sync_every} averages the weights of MPI ranks: "
                                 f"it needs comm=")
            if comm is not None and isinstance(optimizer, FullBatchSolver):
                raise ValueError(f"comm= trains with the mini-batch optimizers (SGD, Adagrad, "
                                 f"Adam), not with {optimizer!r}")
            self._lay_out_first_layer(data.sparse, optimizer)
        except Exception as exc:
            if comm is not None:
                comm.agree(error=exc)        # every rank raises, none waits
            raise
        self.target_kind = kind
        if comm is not None:
            return self._fit_data_parallel(comm, data, kind, epochs, batch_size, shuffle,
                                           verbose, optimizer, callbacks,
                                           None if validation_data is None else (val, val_kind),
                                           sync_every)
        validate = None
        if validation_data is not None:
            validate = lambda: self._evaluate_data(val, val_kind)   # noqa: E731
        if isinstance(optimizer, FullBatchSolver):
            runner = optimizer.runner(self, data, has_accuracy(kind))
        else:
            runner = CompiledEpochs(self, data, batch_size, shuffle, optimizer,
                                    has_accuracy(kind))
        return TrainingLoop(self, optimizer, epochs, callbacks, verbose, validate).fit(runner)

    def _lay_out_first_layer(self, sparse, optimizer=None):
        """For sparse input, store the first layer feature-major
        (``Dense.feature_major``; not behind a Dropout), once, moving
        ``optimizer``'s state for W with it, while no other thread uses the
        model. Returns whether W is a new array."""
        first = self.layers[0]
        if not sparse or not isinstance(first, Dense) or first.feature_major:
            return False
        self._guard.begin_fit(self)
        try:
            old = first._set_feature_major(True)
            if optimizer is not None and not isinstance(optimizer, FullBatchSolver):
                optimizer.move_state(old, first.W)   # (the solvers keep no state)
        finally:
            self._guard.end_fit()
        return True

    def _fit_data_parallel(self, comm, data, kind, epochs, batch_size, shuffle, verbose,
                           optimizer, callbacks, validation, sync_every):
        from .distributed import DataParallelEpochs, LocalSGDEpochs, reduced_evaluation

        comm.agree()                      # every rank's arguments passed the checks
        validate = None
        if validation is not None:
            val, val_kind = validation
            validate = lambda: reduced_evaluation(               # noqa: E731
                comm, self._evaluation_sums, val, has_accuracy(val_kind))
        if sync_every == 1:
            runner = DataParallelEpochs(self, comm, data, batch_size, shuffle, optimizer,
                                        has_accuracy(kind))
        else:
            runner = LocalSGDEpochs(self, comm, data, batch_size, shuffle, optimizer,
                                    has_accuracy(kind), sync_every)
        verbose = verbose if comm.rank == 0 else 0
        return TrainingLoop(self, optimizer, epochs, callbacks, verbose, validate).fit(runner)

    # ----------------------------------------------------------- inference ---
    def predict_proba(self, X: InputLike) -> np.ndarray:
        """Network outputs for X (n_samples, n_features), dense or sparse:
        shape (n_samples, n_outputs).

        With a softmax output these are class probabilities; with one sigmoid
        unit, p(class 1). Dropout is off (scaled for ``scale="test"``).
        """
        data = input_data(X, self.n_features, self.dtype)
        self._guard.begin_read(self)
        try:
            return self._inference_net().predict(data)
        finally:
            self._guard.end_read()

    def predict(self, X: InputLike) -> np.ndarray:
        """Predictions for X (dense or sparse).

        After a fit on real-valued "mse" targets (``target_kind == "real"``):
        the outputs, shape (n_samples,) for one output unit, else (n_samples,
        n_outputs). After a fit on binary targets with several units
        (multi-label): the indicators ``p > 0.5``, (n_samples, n_outputs)
        int64. Otherwise predicted class indices, (n_samples,) int64: argmax
        of the outputs, or ``p > 0.5`` for a single output unit."""
        out = self.predict_proba(X)
        if self.target_kind == "real":
            return out[:, 0] if out.shape[1] == 1 else out
        if out.shape[1] == 1 or self.target_kind == "binary":
            threshold = (out > 0.5).astype(np.int64)
            return threshold[:, 0] if out.shape[1] == 1 else threshold
        return out.argmax(axis=1)

    def evaluate(self, X: InputLike, y: ArrayLike,
                 sample_weight: ArrayLike | None = None) -> dict[str, float]:
        """(Weighted) mean loss and accuracy on (X, y): ``{"loss": float,
        "accuracy": float}``, without "accuracy" for real-valued "mse"
        targets. X, y and sample_weight as in ``fit``."""
        data, kind = self._data(X, y, sample_weight)
        return self._evaluate_data(data, kind)

    def _evaluation_sums(self, data):
        """(sum_i w_i l_i, sum_i w_i [row i right], sum_i w_i) over ``data``."""
        self._guard.begin_read(self)
        try:
            return self._inference_net().evaluate(data)
        finally:
            self._guard.end_read()

    def _evaluate_data(self, data, kind):
        loss_sum, correct, weight_sum = self._evaluation_sums(data)
        stats = epoch_stats(data, has_accuracy(kind), loss_sum, correct, weight_sum)
        result = {"loss": stats.loss_sum / stats.seen}
        if stats.correct is not None:
            result["accuracy"] = stats.correct / stats.seen
        return result

    def __call__(self, X: InputLike) -> np.ndarray:
        """Forward pass: same as ``predict_proba``."""
        return self.predict_proba(X)

    def gradients(self, X: InputLike, y: ArrayLike, sample_weight: ArrayLike | None = None
                  ) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """(Weighted) batch-mean gradients of the loss on (X, y) without
        updating (dropout on, weight decay not included): of
        sum_i w_i l_i / sum_i w_i, w_i = 1 without ``sample_weight``.

        Returns
        -------
        list of (dW, db)
            One pair per Dense layer; dW has shape (n_out, n_in), db (n_out,)
            or None. db is the lecture's delta^(l) averaged over the batch.
        """
        data, _ = self._data(X, y, sample_weight)
        net = self._compiled_net(data.n, seed_seq=self._aux_seq, gradients=True)
        net.gradients(data)
        return [(gW.copy(), None if gb is None else gb.copy())
                for gW, gb in zip(net.grad_W, net.grad_b)]

    def pretrain(self, X: ArrayLike, epochs: int = 1, batch_size: int = 32,
                 optimizer: Optimizer | None = None, corruption: float = 0.0,
                 verbose: int = 1, tied: bool = True,
                 callbacks: Sequence[Callback] | None = None) -> list[list[float]]:
        """Greedy layer-wise autoencoder pre-training of the hidden Dense layers,
        from the input up, without labels (Bengio et al. 2007); the output
        layer is untouched. Call it before ``fit``, which then fine-tunes.

        Layer k is trained as the encoder h = f(W x~ + b) of an autoencoder on
        the outputs of the layers below (fixed), with a decoder W^T (``tied``)
        or a V of its own and a bias of its own, a sigmoid decoder and the
        cross-entropy for inputs in [0, 1], a linear one and the squared error
        otherwise; ``corruption`` is the masking-noise probability of a
        denoising autoencoder. Each layer gets a fresh copy of ``optimizer``
        (default ``SGD(lr=0.1)``). Shuffles and masks come from the model's
        seed (a stream of their own: the next ``fit`` is not changed).
        See ``fastnn.pretraining.pretrain`` for the details.

        Returns
        -------
        list of list of float
            ``losses[k][e]``: hidden layer k's mean reconstruction loss over its
            epoch e (measured while training, noise on).
        """
        from .pretraining import pretrain
        return pretrain(self, X, epochs=epochs, batch_size=batch_size, optimizer=optimizer,
                        corruption=corruption, verbose=verbose, tied=tied,
                        callbacks=callbacks)

    def summary(self) -> str:
        """A table of the layers, their output shapes and parameter counts."""
        lines = [f"Sequential(loss={self.loss!r}, dtype={self.dtype.name})"]
        total = 0
        for layer in self.layers:
            count = layer.n_params if isinstance(layer, Dense) else 0
            total += count
            lines.append(f"  {layer!r:<70} params={count}")
        lines.append(f"  total params: {total}")
        return "\n".join(lines)

    def __repr__(self):
        return (f"Sequential({self.layers!r}, loss={self.loss!r}, dtype={self.dtype.name!r})")
