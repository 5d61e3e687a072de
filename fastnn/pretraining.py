"""Greedy layer-wise pre-training (Bengio et al. 2007): each hidden Dense
layer of a ``Sequential``, from the input up, trained as an autoencoder on
the outputs of the layers below it, which stay fixed.

For hidden layer k, with input rows x (the output of layer k-1, or the data
for k = 1) and the layer's own W (n_hid, n_in) and b:

    h = f(W x~ + b)                  the encoder is the layer itself
    x^ = g(W^T h + c)                tied decoder (W transposed, a bias c of its own)
    x^ = g(V h + c)                  untied decoder (``tied=False``), V (n_in, n_hid)

where x~ = m * x is the masking noise of denoising autoencoders (Vincent et
al. 2008: each input entry is set to 0 with probability ``corruption``), and
the reconstruction of the clean x is scored by

    l = -sum_j [x_j log x^_j + (1 - x_j) log(1 - x^_j)],  g = sigmoid   (x in [0, 1])
    l = 1/2 sum_j (x^_j - x_j)^2,                          g = identity  (otherwise)

averaged over each mini-batch and minimised by any fastnn optimizer (SGD,
momentum, Adagrad, Adam; weight decay on W and V only). Only W and b are
kept: the decoder is thrown away once its layer is trained, and the output
layer is never touched (``fit`` trains it, and fine-tunes the rest).

Every epoch of a layer is one compiled call without the GIL
(csrc/_pretrain.pyx.tp: ``CompiledAutoencoder``), run by ``AutoencoderEpochs``
inside the one training loop (``fastnn.training.TrainingLoop``), so progress,
callbacks and the divergence restore work as for ``fit``. Shuffles and masks
come from a stream of the model's seed of their own: the same seed gives
bitwise the same pre-training, and pre-training does not change the
shuffles and masks of the ``fit`` that follows.
"""

import copy

import numpy as np

from . import blas_threads
from ._pretrain import CompiledAutoencoder
from ._train import CompiledNet
from .activations import get_activation
from .losses import get_loss
from .optimizers import _check_real
from .solvers import FullBatchSolver
from .training import EpochRunner, EpochStats, TrainingLoop, check_fit_arguments, fit_seed
from .data import DataSet
from .validation import check_bool, check_X

__all__ = ["Autoencoder", "AutoencoderEpochs", "pretrain", "RECONSTRUCTIONS"]

#: The reconstruction losses by name, and the decoder output each pairs with.
RECONSTRUCTIONS = {"cross_entropy": "sigmoid", "squared_error": "identity"}

# Rows per chunk when encoding a data set for the next layer.
_ENCODE_ROWS = 256

# The SeedSequence child of the model's seed that pre-training draws from:
# Sequential.__init__ spawns children 0-2 (initialisation, fit, gradients).
_PRETRAIN_STREAM = 3


class _Held:
    """The guard of an Autoencoder: ``pretrain`` holds the model's own guard
    for all its layers, so the per-layer loops take nothing more."""

    def begin_fit(self, model):
        pass

    def end_fit(self):
        pass


class Autoencoder:
    """Dense layer ``layer`` as an autoencoder: the model a layer's
    pre-training loop trains (callbacks see it as ``self.model``).

    Parameters
    ----------
    layer : Dense
        The encoder; its W (n_hid, n_in) and b are trained in place.
    tied : bool
        Decoder weights W^T (True) or a V (n_in, n_hid) of their own, started
        at a copy of W^T, so that both start from the same function.
    reconstruction : "cross_entropy" or "squared_error"
        See the module docstring.
    index : int
        The layer's position among the model's Dense layers (0-based).

    Attributes
    ----------
    c : ndarray, shape (n_in,)
        The decoder's bias, started at 0.
    V : ndarray, shape (n_in, n_hid), or None when tied.
    """

    def __init__(self, layer, tied=True, reconstruction="cross_entropy", index=0):
        self.layer, self.tied, self.index = layer, bool(tied), index
        if reconstruction not in RECONSTRUCTIONS:
            raise ValueError(f"reconstruction must be one of {sorted(RECONSTRUCTIONS)}, got "
                             f"{reconstruction!r}")
        self.reconstruction = reconstruction
        self.c = np.zeros(layer.n_in, dtype=layer.dtype)
        self.V = None if self.tied else np.ascontiguousarray(layer.W.T)
        self.stop_training = False
        self.history = None
        self._guard = _Held()

    def parameters(self):
        """{name: array}: W, b (None without bias), c and, untied, V."""
        params = {"W": self.layer.W, "b": self.layer.b, "c": self.c}
        if self.V is not None:
            params["V"] = self.V
        return params

    def get_weights(self):
        """Copies of [W, b, c] (+ [V] untied; b omitted without bias)."""
        return [a.copy() for a in self.parameters().values() if a is not None]

    def set_weights(self, weights):
        """Copy ``weights`` (as from ``get_weights``) back, in place."""
        targets = [a for a in self.parameters().values() if a is not None]
        if len(weights) != len(targets):
            raise ValueError(f"weights must hold {len(targets)} arrays, got {len(weights)}")
        for target, value in zip(targets, weights):
            target[...] = value

    def compiled(self, rows, optimizer, corruption=0.0, seed=0):
        """A CompiledAutoencoder over these arrays for batches of up to
        ``rows``, updated by ``optimizer``'s rule with its state arrays."""
        params = self.parameters()
        states = {key: optimizer.state(a) for key, a in params.items() if a is not None}
        return CompiledAutoencoder(params, get_activation(self.layer.activation).code,
                                   self.reconstruction == "cross_entropy", corruption,
                                   self.layer.dtype, rows, optimizer.config(), states, seed,
                                   blas_threads.policy())

    def __repr__(self):
        return (f"Autoencoder(layer {self.index}: {self.layer!r}, tied={self.tied}, "
                f"reconstruction={self.reconstruction!r})")


class AutoencoderEpochs(EpochRunner):
    """The training loop's runner for one layer's autoencoder: each range of
    steps the loop asks for (about 0.2 s of work, fastnn.training) is one
    nogil call of its CompiledAutoencoder over the layer's inputs H, which
    keeps the epoch's order, PRNG and running sums between the calls."""

    def __init__(self, autoencoder, H, batch_size, optimizer, corruption, seed):
        self.H, self.optimizer = H, optimizer
        self.steps_per_epoch = -(-H.shape[0] // batch_size)
        self.net = autoencoder.compiled(min(batch_size, H.shape[0]), optimizer, corruption,
                                        seed)
        self.tau = optimizer.schedule.tau(self.steps_per_epoch)

    def run_steps(self, epoch, first, stop):
        optimizer = self.optimizer
        loss_sum, seen, failed = self.net.train_epoch(
            self.H, optimizer.schedule.base_rate(optimizer.lr, optimizer.epoch), self.tau,
            first, stop)
        optimizer.t = self.net.steps
        return EpochStats(loss_sum, seen, None, failed)


def _stream(model):
    """The model's pre-training SeedSequence (made on first use)."""
    seq = getattr(model, "_pretrain_seq", None)
    if seq is None:
        seq = model._pretrain_seq = np.random.SeedSequence(model.seed,
                                                           spawn_key=(_PRETRAIN_STREAM,))
    return seq


def _fresh(optimizer):
    """A copy of ``optimizer`` with its hyper-parameters and no history: no
    state arrays, t = 0, epoch = 0."""
    clone = copy.copy(optimizer)
    clone._state, clone.t, clone.epoch = {}, 0, 0
    return clone


def _encode(model, index, H):
    """The output of Dense layer ``index`` for its inputs H (dropout off, as
    at inference), in chunks, as a new C-contiguous array."""
    plan = model._plans()[index]
    net = CompiledNet([plan], model.dtype, min(_ENCODE_ROWS, H.shape[0]),
                      get_loss("mse").code, None, 0, blas_threads.policy())
    return net.predict(DataSet(H))


def check_pretrain_arguments(model, epochs, batch_size, optimizer, corruption, verbose, tied,
                             callbacks):
    """The checks of ``pretrain``'s arguments; returns them normalised."""
    epochs, batch_size, _, verbose, optimizer, callbacks = check_fit_arguments(
        epochs, batch_size, True, verbose, optimizer, callbacks)
    if isinstance(optimizer, FullBatchSolver):
        raise TypeError(f"pretrain trains with mini-batch update rules (SGD, Adagrad, Adam), "
                        f"got the full-batch solver {optimizer!r}")
    corruption = _check_real("corruption", corruption, low=0, high=1)
    tied = check_bool("tied", tied)
    if len(model.dense_layers) < 2:
        raise ValueError(f"pretrain trains the hidden Dense layers, but the model has "
                         f"{len(model.dense_layers)} Dense layer (the output layer) and no "
                         f"hidden one")
    return epochs, batch_size, optimizer, corruption, verbose, tied, callbacks


def pretrain(model, X, epochs=1, batch_size=32, optimizer=None, corruption=0.0, verbose=1,
             tied=True, callbacks=None):
    """Greedy layer-wise autoencoder pre-training of ``model``'s hidden Dense
    layers (``Sequential.pretrain``; see the module docstring).

    Parameters
    ----------
    model : Sequential
    X : array-like, shape (n_samples, n_features)
        Unlabelled inputs, converted once to the model's dtype.
    epochs : int > 0
        Epochs per layer.
    batch_size : int > 0
    optimizer : Optimizer, default ``SGD(lr=0.1)``
        Each layer is trained by a fresh copy (same hyper-parameters, no
        state, t = 0, its schedule restarted); ``optimizer`` itself is not
        changed.
    corruption : float in [0, 1)
        Masking-noise probability of the denoising autoencoder (0: plain).
    verbose : 0, 1 or 2
        As for ``fit``, per layer.
    tied : bool
        Tied (W^T) or untied decoder.
    callbacks : list of Callback
        Run in every layer's loop; their ``model`` is that layer's
        ``Autoencoder`` (whose ``get_weights`` are W, b, c and V).

    Returns
    -------
    list of list of float
        ``losses[k][e]``: mean reconstruction loss (per example, summed over
        the inputs, noise on) of hidden layer k over its epoch e, measured
        while training, as ``fit``'s ``loss``.

    Raises
    ------
    TrainingDivergedError
        When a layer's loss becomes NaN or inf; that layer is put back to the
        start of the epoch, the layers below keep their pre-training and the
        layers above are untouched.
    RuntimeError
        When another thread is fitting or predicting with this model.
    """
    X = check_X(X, model.n_features, model.dtype)
    if not isinstance(X, np.ndarray):
        raise TypeError("pretrain takes a dense X (n_samples, n_features); got a sparse "
                        "matrix: pass X.toarray() if it fits in memory")
    epochs, batch_size, optimizer, corruption, verbose, tied, callbacks = \
        check_pretrain_arguments(model, epochs, batch_size, optimizer, corruption, verbose,
                                 tied, callbacks)
    plans = model._plans()         # also checks that every layer holds the model's dtype
    hidden = model.dense_layers[:-1]
    seq = _stream(model)
    losses = []
    model._guard.begin_fit(model)
    try:
        # The autoencoder reads W row-major (a first layer fitted on sparse
        # input is feature-major: stored row-major again, a new array).
        model.dense_layers[0]._set_feature_major(False)
        H = X
        for index, layer in enumerate(hidden):
            # The layer sees its input as at inference (a Dropout before it off,
            # or scaled by 1 - p with scale="test").
            factor = plans[index].get("drop_test", 1.0)
            inputs = H if factor == 1 else np.ascontiguousarray(H * H.dtype.type(factor))
            in_unit_range = bool(inputs.min() >= 0 and inputs.max() <= 1)
            autoencoder = Autoencoder(layer, tied,
                                      "cross_entropy" if in_unit_range else "squared_error",
                                      index)
            layer_optimizer = _fresh(optimizer)
            runner = AutoencoderEpochs(autoencoder, inputs, batch_size, layer_optimizer,
                                       corruption, fit_seed(seq))
            label = f"pretrain layer {index + 1}/{len(hidden)}"
            loop = TrainingLoop(autoencoder, layer_optimizer, epochs, callbacks, verbose,
                                progress_label=label)
            losses.append(list(loop.fit(runner).history["loss"]))
            if index + 1 < len(hidden):
                H = _encode(model, index, H)
    finally:
        model._guard.end_fit()
    return losses
