# cython: language_level=3
"""The fast path: a Sequential of Dense/Dropout layers trained one epoch per
compiled call.

``CompiledNet`` is built once per ``fit`` (or once per prediction batch size):
it holds raw pointers to the layers' own ``W`` and ``b`` arrays (updated in
place) and allocates every buffer the epoch needs (gathered batch, per-layer
outputs, deltas, dropout masks, gradients, optimizer state) up front. An epoch
(shuffle, gather, forward, loss, backward, update, for every mini-batch) then
runs inside ``with nogil`` without allocating anything.

Notation follows the lecture. Layer l keeps W (n_out x n_in), its input x
(rows x n_in, after the dropout mask m), its output y = f(a) (rows x n_out) and
delta = dl/da (rows x n_out). Backward, for l = L..1:
    grad_x = delta W                      (into the previous layer's delta)
    delta_prev = f'_prev(y_prev) * (m * grad_x)
    W <- W - lr * (delta^T x / rows + wd W),  b <- b - lr * sum_rows(delta) / rows
where the 1/rows (mean over the batch) is already folded into the output delta.
grad_x is computed before W is updated.
"""

import numpy as np

from cython cimport floating
from libc.math cimport isfinite
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memcpy

from blas cimport gemm
from kernels cimport (
    LOSS_CROSS_ENTROPY, LOSS_BINARY_CROSS_ENTROPY, LOSS_MSE, OPT_SGD, OPT_ADAGRAD, OPT_ADAM,
    add_bias, add_column_sums, activation_forward, activation_backward, softmax_cross_entropy,
    sigmoid_binary_cross_entropy, squared_error, count_correct, dropout_mask,
    multiply, sgd_update, adagrad_update, adam_update)
from rng cimport RngState, rng_seed, rng_shuffle
from threads cimport ThreadPolicy, set_threads_fn, use_threads_for, restore_threads

# Dense layers per network: plans live in a fixed array of the extension type.
cdef enum:
    _MAX_LAYERS = 64

# The same constant for Python.
MAX_LAYERS = _MAX_LAYERS


cdef struct LayerPlan:
    Py_ssize_t n_in, n_out
    int activation
    bint has_bias
    double drop_p          # dropout probability on this layer's input (0: none)
    double drop_keep       # value of a kept mask entry while training
    double drop_test       # factor on the input at inference (1 or 1 - p)
    void* W                # n_out x n_in, the layer's own array
    void* b                # n_out, the layer's own array (NULL without bias)
    void* gW               # gradient buffers
    void* gb
    void* sW1              # optimizer state: momentum / Adagrad sum / Adam m
    void* sb1
    void* sW2              # Adam v
    void* sb2
    void* mask             # rows x n_in
    void* x_masked         # rows x n_in, the input after the mask
    void* x_in             # the input this step used (set by forward)
    void* out              # rows x n_out
    void* delta            # rows x n_out


cdef struct StepConfig:
    int loss
    int optimizer
    double lr
    double momentum
    bint nesterov
    double weight_decay
    double eps
    double beta1
    double beta2
    long long t            # update count so far (Adam's bias correction)
    bint update            # False: only compute gradients


cdef struct EpochResult:
    double loss_sum
    Py_ssize_t correct
    Py_ssize_t seen
    Py_ssize_t failed_step    # -1 if every batch loss was finite


cdef void _forward(const floating* X, Py_ssize_t rows, LayerPlan* plans, int n_layers,
                   RngState* rng, bint training, bint fused_output,
                   ThreadPolicy* tp) noexcept nogil:
    """Forward pass of a batch X (rows x n_features); leaves y in each plan.out.
    With fused_output the last activation is left to the loss kernel."""
    cdef int l
    cdef LayerPlan* p
    cdef const floating* x = X
    cdef Py_ssize_t n, i
    cdef floating factor
    for l in range(n_layers):
        p = &plans[l]
        n = rows * p.n_in
        if p.drop_p > 0:
            if training:
                dropout_mask(rng, <floating*>p.mask, n, p.drop_p, <floating>p.drop_keep)
                multiply(x, <floating*>p.mask, <floating*>p.x_masked, n)
                x = <floating*>p.x_masked
            elif p.drop_test != 1:
                factor = <floating>p.drop_test
                for i in range(n):
                    (<floating*>p.x_masked)[i] = x[i] * factor
                x = <floating*>p.x_masked
        p.x_in = <void*>x
        use_threads_for(tp, <double>rows * p.n_out * p.n_in)
        gemm(False, True, <int>rows, <int>p.n_out, <int>p.n_in, <floating>1, x, <int>p.n_in,
             <floating*>p.W, <int>p.n_in, <floating>0, <floating*>p.out, <int>p.n_out)
        if p.has_bias:
            add_bias(<floating*>p.out, <floating*>p.b, rows, p.n_out)
        if not (fused_output and l == n_layers - 1):
            activation_forward(p.activation, <floating*>p.out, rows, p.n_out)
        x = <floating*>p.out


cdef double _output_delta(const floating* dummy, const int64_t* labels, Py_ssize_t rows,
                          LayerPlan* last, int loss) noexcept nogil:
    """Loss summed over the batch; writes last.delta = dl/da / rows."""
    cdef floating scale = <floating>1 / rows
    cdef double total
    if loss == LOSS_CROSS_ENTROPY:
        return softmax_cross_entropy(<floating*>last.out, labels, rows, last.n_out,
                                     scale, <floating*>last.delta)
    if loss == LOSS_BINARY_CROSS_ENTROPY:
        return sigmoid_binary_cross_entropy(<floating*>last.out, labels, rows, last.n_out,
                                            scale, <floating*>last.delta)
    total = squared_error(<floating*>last.out, labels, rows, last.n_out, scale,
                          <floating*>last.delta)
    activation_backward(last.activation, <floating*>last.out, <floating*>last.delta,
                        rows, last.n_out)
    return total


cdef void _backward(floating lr, Py_ssize_t rows, LayerPlan* plans, int n_layers,
                    StepConfig* cfg, ThreadPolicy* tp) noexcept nogil:
    """Back-propagate from plans[L-1].delta and update with learning rate lr
    (or, without update, store the gradients)."""
    cdef int l
    cdef LayerPlan* p
    cdef LayerPlan* prev
    cdef floating wd = <floating>cfg.weight_decay
    cdef Py_ssize_t n_w
    cdef bint folded = cfg.update and cfg.optimizer == OPT_SGD and cfg.momentum == 0
    cdef floating bc1 = 1, bc2 = 1
    cdef double work
    if cfg.update:
        cfg.t += 1
        if cfg.optimizer == OPT_ADAM:
            bc1 = <floating>(1 - cfg.beta1 ** cfg.t)
            bc2 = <floating>(1 - cfg.beta2 ** cfg.t)
    for l in range(n_layers - 1, -1, -1):
        p = &plans[l]
        work = <double>rows * p.n_out * p.n_in
        use_threads_for(tp, work)
        if l > 0:
            prev = &plans[l - 1]
            gemm(False, False, <int>rows, <int>p.n_in, <int>p.n_out, <floating>1,
                 <floating*>p.delta, <int>p.n_out, <floating*>p.W, <int>p.n_in,
                 <floating>0, <floating*>prev.delta, <int>p.n_in)
            if p.drop_p > 0:
                multiply(<floating*>prev.delta, <floating*>p.mask, <floating*>prev.delta,
                         rows * p.n_in)
            activation_backward(prev.activation, <floating*>prev.out, <floating*>prev.delta,
                                rows, prev.n_out)
        if folded:
            # Plain SGD is folded into the GEMM: W = (1 - lr wd) W - lr delta^T x.
            gemm(True, False, <int>p.n_out, <int>p.n_in, <int>rows, -lr,
                 <floating*>p.delta, <int>p.n_out, <floating*>p.x_in, <int>p.n_in,
                 1 - lr * wd, <floating*>p.W, <int>p.n_in)
            if p.has_bias:
                add_column_sums(<floating*>p.delta, rows, p.n_out, -lr, <floating>1,
                                <floating*>p.b)
            continue
        gemm(True, False, <int>p.n_out, <int>p.n_in, <int>rows, <floating>1,
             <floating*>p.delta, <int>p.n_out, <floating*>p.x_in, <int>p.n_in,
             <floating>0, <floating*>p.gW, <int>p.n_in)
        if p.has_bias:
            add_column_sums(<floating*>p.delta, rows, p.n_out, <floating>1, <floating>0,
                            <floating*>p.gb)
        if not cfg.update:
            continue
        n_w = p.n_out * p.n_in
        if cfg.optimizer == OPT_SGD:
            sgd_update(<floating*>p.W, <floating*>p.gW, <floating*>p.sW1, n_w, lr,
                       <floating>cfg.momentum, cfg.nesterov, wd)
            if p.has_bias:
                sgd_update(<floating*>p.b, <floating*>p.gb, <floating*>p.sb1, p.n_out, lr,
                           <floating>cfg.momentum, cfg.nesterov, <floating>0)
        elif cfg.optimizer == OPT_ADAGRAD:
            adagrad_update(<floating*>p.W, <floating*>p.gW, <floating*>p.sW1, n_w, lr,
                           <floating>cfg.eps, wd)
            if p.has_bias:
                adagrad_update(<floating*>p.b, <floating*>p.gb, <floating*>p.sb1, p.n_out,
                               lr, <floating>cfg.eps, <floating>0)
        else:
            adam_update(<floating*>p.W, <floating*>p.gW, <floating*>p.sW1, <floating*>p.sW2,
                        n_w, lr, <floating>cfg.beta1, <floating>cfg.beta2, <floating>cfg.eps,
                        bc1, bc2, wd)
            if p.has_bias:
                adam_update(<floating*>p.b, <floating*>p.gb, <floating*>p.sb1,
                            <floating*>p.sb2, p.n_out, lr, <floating>cfg.beta1,
                            <floating>cfg.beta2, <floating>cfg.eps, bc1, bc2, <floating>0)


cdef extern from *:
    """
    #define FASTNN_PREFETCH(p) __builtin_prefetch((p), 0, 3)
    """
    void FASTNN_PREFETCH(const void* p) noexcept nogil


cdef inline void _prefetch_rows(const void* X, const int64_t* order, Py_ssize_t rows,
                                Py_ssize_t row_bytes) noexcept nogil:
    """Ask the CPU to start loading rows order[0:rows] of X, one 64-byte line at a
    time, while the current step computes: shuffled rows are scattered over the
    whole data set and otherwise stall the gather on cache and TLB misses."""
    cdef Py_ssize_t i, offset
    cdef const char* row
    for i in range(rows):
        row = <const char*>X + order[i] * row_bytes
        offset = 0
        while offset < row_bytes:
            FASTNN_PREFETCH(row + offset)
            offset += 64


cdef EpochResult _train_epoch(const floating* X, const int64_t* labels, Py_ssize_t n,
                              Py_ssize_t n_features, Py_ssize_t batch_size,
                              floating* x_batch, int64_t* y_batch, int64_t* order,
                              bint shuffle, LayerPlan* plans,
                              int n_layers, RngState* rng, StepConfig* cfg,
                              double lr0, double tau, ThreadPolicy* tp) noexcept nogil:
    """One pass over the n examples in mini-batches; stops at a non-finite loss."""
    cdef EpochResult res
    cdef Py_ssize_t start, rows, i, step = 0
    cdef const floating* xb
    cdef const int64_t* yb
    cdef double batch_loss
    cdef LayerPlan* last = &plans[n_layers - 1]
    cdef bint fused = cfg.loss != LOSS_MSE
    res.loss_sum = 0
    res.correct = 0
    res.seen = 0
    res.failed_step = -1
    if shuffle:
        rng_shuffle(rng, order, n)
    start = 0
    while start < n:
        rows = batch_size if start + batch_size <= n else n - start
        if shuffle and rows == 1:
            # One example: read it in place, nothing to gather.
            xb = X + order[start] * n_features
            yb = labels + order[start]
        elif shuffle:
            for i in range(rows):
                memcpy(x_batch + i * n_features, X + order[start + i] * n_features,
                       n_features * sizeof(floating))
                y_batch[i] = labels[order[start + i]]
            xb = x_batch
            yb = y_batch
        else:
            # In order: the batch is a contiguous block of X, no copy needed.
            xb = X + start * n_features
            yb = labels + start
        if shuffle and start + rows < n:
            _prefetch_rows(X, order + start + rows, min(batch_size, n - start - rows),
                           n_features * sizeof(floating))
        _forward(xb, rows, plans, n_layers, rng, True, fused, tp)
        batch_loss = _output_delta(xb, yb, rows, last, cfg.loss)
        if not isfinite(batch_loss):
            res.failed_step = step
            return res
        res.loss_sum += batch_loss
        res.correct += count_correct(<floating*>last.out, yb, rows, last.n_out)
        res.seen += rows
        # The lecture's eta_t = eta_0 / (1 + t / tau); tau = 0 means constant.
        cfg.lr = lr0 / (1 + cfg.t / tau) if tau > 0 else lr0
        _backward(<floating>cfg.lr, rows, plans, n_layers, cfg, tp)
        start += rows
        step += 1
    return res


cdef EpochResult _evaluate(const floating* X, const int64_t* labels, Py_ssize_t n,
                           Py_ssize_t n_features, Py_ssize_t batch_size,
                           LayerPlan* plans, int n_layers, int loss,
                           ThreadPolicy* tp) noexcept nogil:
    """Loss sum and correct count over X without training (dropout off)."""
    cdef EpochResult res
    cdef Py_ssize_t start = 0, rows
    cdef LayerPlan* last = &plans[n_layers - 1]
    res.loss_sum = 0
    res.correct = 0
    res.seen = 0
    res.failed_step = -1
    while start < n:
        rows = batch_size if start + batch_size <= n else n - start
        _forward(X + start * n_features, rows, plans, n_layers, NULL, False,
                 loss != LOSS_MSE, tp)
        res.loss_sum += _output_delta(X, labels + start, rows, last, loss)
        res.correct += count_correct(<floating*>last.out, labels + start, rows, last.n_out)
        res.seen += rows
        start += rows
    return res


cdef void _predict(const floating* X, floating* out, Py_ssize_t n, Py_ssize_t n_features,
                   Py_ssize_t batch_size, LayerPlan* plans, int n_layers,
                   ThreadPolicy* tp) noexcept nogil:
    """out (n x n_outputs) = the network's output for X, in chunks."""
    cdef Py_ssize_t start = 0, rows
    cdef LayerPlan* last = &plans[n_layers - 1]
    while start < n:
        rows = batch_size if start + batch_size <= n else n - start
        _forward(X + start * n_features, rows, plans, n_layers, NULL, False, False, tp)
        memcpy(out + start * last.n_out, last.out, rows * last.n_out * sizeof(floating))
        start += rows


cdef class CompiledNet:
    """Buffers and pointers for training or evaluating a chain of Dense layers.

    Parameters
    ----------
    layers : list of dict
        One dict per Dense layer, in order, with keys ``W`` (C-contiguous array
        (n_out, n_in) in ``dtype``, updated in place), ``b`` (array (n_out,) or
        None), ``activation`` (int code), ``drop_p``, ``drop_keep``,
        ``drop_test`` (dropout on the layer's input), and when training
        ``state_W``/``state_b``: the optimizer's state arrays (1 or 2 each,
        shaped like W and b, updated in place).
    dtype : numpy dtype
        float32 or float64; every array must already be of it.
    batch_size : int
        Maximum number of rows per step; buffers are sized for it.
    loss : int
        Loss code.
    optimizer : dict or None
        ``code``, ``t`` (updates so far) and the optimizer's hyper-parameters
        (see fastnn/optimizers.py);
        None for evaluation and prediction only (no gradient buffers).
    seed : int
        Seed of the PRNG that draws shuffles and dropout masks.
    threads : (int, int, float)
        ``fastnn.blas_threads.policy()``: address of the BLAS's thread-local
        setter (0: none), thread count of large GEMMs, m*n*k threshold below
        which GEMMs run on one thread.

    The caller (fastnn.model) has validated everything; nothing is checked here.
    """

    cdef LayerPlan plans[_MAX_LAYERS]
    cdef int n_layers
    cdef StepConfig cfg
    cdef RngState rng
    cdef ThreadPolicy tp
    cdef readonly object dtype
    cdef readonly Py_ssize_t batch_size
    cdef list _keep            # every array a pointer points into
    cdef object x_batch, y_batch, order
    cdef readonly list grad_W, grad_b

    def __cinit__(self, list layers, dtype, Py_ssize_t batch_size, int loss,
                  dict optimizer=None, uint64_t seed=0, tuple threads=(0, 1, 0.0)):
        cdef int l
        cdef LayerPlan* p
        if not 0 < len(layers) <= _MAX_LAYERS:
            raise ValueError(f"a network holds 1 to {MAX_LAYERS} Dense layers, got {len(layers)}")
        self.dtype = np.dtype(dtype)
        self.batch_size = batch_size
        self.n_layers = len(layers)
        self._keep = []
        self.grad_W = []
        self.grad_b = []
        opt = optimizer or {"code": OPT_SGD}
        self.cfg.loss = loss
        self.cfg.optimizer = opt["code"]
        self.cfg.lr = opt.get("lr", 0.0)
        self.cfg.momentum = opt.get("momentum", 0.0)
        self.cfg.nesterov = opt.get("nesterov", False)
        self.cfg.weight_decay = opt.get("weight_decay", 0.0)
        self.cfg.eps = opt.get("eps", 0.0)
        self.cfg.beta1 = opt.get("beta1", 0.0)
        self.cfg.beta2 = opt.get("beta2", 0.0)
        self.cfg.t = opt.get("t", 0)
        self.cfg.update = optimizer is not None
        rng_seed(&self.rng, seed)
        address, max_threads, min_work = threads
        self.tp.set_local = <set_threads_fn><Py_ssize_t>address if address else NULL
        self.tp.max_threads = max_threads
        self.tp.min_work = min_work
        self.tp.current = 0
        self.tp.prior = 0
        for l, spec in enumerate(layers):
            p = &self.plans[l]
            W = spec["W"]
            b = spec["b"]
            p.n_out, p.n_in = W.shape
            p.activation = spec["activation"]
            p.has_bias = b is not None
            p.drop_p = spec.get("drop_p", 0.0)
            p.drop_keep = spec.get("drop_keep", 1.0)
            p.drop_test = spec.get("drop_test", 1.0)
            p.W = self._pointer(W)
            p.b = self._pointer(b) if b is not None else NULL
            p.gW = p.gb = p.sW1 = p.sb1 = p.sW2 = p.sb2 = NULL
            if optimizer is not None:
                gW = self._buffer((p.n_out, p.n_in))
                gb = self._buffer((p.n_out,))
                self.grad_W.append(gW)
                self.grad_b.append(gb if b is not None else None)
                p.gW = self._pointer(gW)
                p.gb = self._pointer(gb)
                # Optimizer state belongs to the optimizer (it outlives a fit).
                state_W = spec["state_W"]
                p.sW1 = self._pointer(state_W[0])
                p.sW2 = self._pointer(state_W[1]) if len(state_W) > 1 else NULL
                if b is not None:
                    state_b = spec["state_b"]
                    p.sb1 = self._pointer(state_b[0])
                    p.sb2 = self._pointer(state_b[1]) if len(state_b) > 1 else NULL
            p.mask = self._pointer(self._buffer((batch_size, p.n_in)))
            p.x_masked = self._pointer(self._buffer((batch_size, p.n_in)))
            p.out = self._pointer(self._buffer((batch_size, p.n_out)))
            p.delta = self._pointer(self._buffer((batch_size, p.n_out)))
            p.x_in = NULL
        n_features = self.plans[0].n_in
        self.x_batch = self._buffer((batch_size, n_features))
        self.y_batch = np.zeros(batch_size, dtype=np.int64)
        self.order = None

    cdef void* _pointer(self, object array) except NULL:
        cdef Py_ssize_t address = array.__array_interface__["data"][0]
        self._keep.append(array)
        return <void*>address

    def _buffer(self, shape):
        return np.zeros(shape, dtype=self.dtype)

    @property
    def steps(self):
        """Number of parameter updates made so far (t in the schedules)."""
        return self.cfg.t

    def train_epoch(self, X, labels, bint shuffle, double lr0, double tau=0.0):
        """Run one epoch over X (n, n_features) C-contiguous and labels (n,)
        int64; returns (loss_sum, correct, seen, failed_step)."""
        cdef Py_ssize_t n = X.shape[0]
        cdef EpochResult res
        if self.order is None or len(self.order) != n:
            self.order = np.arange(n, dtype=np.int64)
        cdef int64_t[::1] order = self.order
        cdef const int64_t[::1] y = labels
        cdef int64_t[::1] yb = self.y_batch
        cdef const float[:, ::1] X32
        cdef float[:, ::1] xb32
        cdef const double[:, ::1] X64
        cdef double[:, ::1] xb64
        if self.dtype == np.float32:
            X32 = X
            xb32 = self.x_batch
            with nogil:
                res = _train_epoch(&X32[0, 0], &y[0], n, X32.shape[1], self.batch_size,
                                   &xb32[0, 0], &yb[0], &order[0], shuffle,
                                   self.plans, self.n_layers, &self.rng, &self.cfg, lr0, tau,
                                   &self.tp)
                restore_threads(&self.tp)
        else:
            X64 = X
            xb64 = self.x_batch
            with nogil:
                res = _train_epoch(&X64[0, 0], &y[0], n, X64.shape[1], self.batch_size,
                                   &xb64[0, 0], &yb[0], &order[0], shuffle,
                                   self.plans, self.n_layers, &self.rng, &self.cfg, lr0, tau,
                                   &self.tp)
                restore_threads(&self.tp)
        return res.loss_sum, res.correct, res.seen, res.failed_step

    def evaluate(self, X, labels):
        """Return (loss_sum, correct) over X (n, n_features) with dropout off."""
        cdef Py_ssize_t n = X.shape[0]
        cdef EpochResult res
        cdef const int64_t[::1] y = labels
        cdef const float[:, ::1] X32
        cdef const double[:, ::1] X64
        if self.dtype == np.float32:
            X32 = X
            with nogil:
                res = _evaluate(&X32[0, 0], &y[0], n, X32.shape[1], self.batch_size,
                                self.plans, self.n_layers, self.cfg.loss, &self.tp)
                restore_threads(&self.tp)
        else:
            X64 = X
            with nogil:
                res = _evaluate(&X64[0, 0], &y[0], n, X64.shape[1], self.batch_size,
                                self.plans, self.n_layers, self.cfg.loss, &self.tp)
                restore_threads(&self.tp)
        return res.loss_sum, res.correct

    def predict(self, X):
        """Return the network's output (n, n_outputs) for X, dropout off."""
        cdef Py_ssize_t n = X.shape[0]
        out = np.empty((n, self.plans[self.n_layers - 1].n_out), dtype=self.dtype)
        cdef const float[:, ::1] X32
        cdef float[:, ::1] out32
        cdef const double[:, ::1] X64
        cdef double[:, ::1] out64
        if self.dtype == np.float32:
            X32 = X
            out32 = out
            with nogil:
                _predict(&X32[0, 0], &out32[0, 0], n, X32.shape[1], self.batch_size,
                         self.plans, self.n_layers, &self.tp)
                restore_threads(&self.tp)
        else:
            X64 = X
            out64 = out
            with nogil:
                _predict(&X64[0, 0], &out64[0, 0], n, X64.shape[1], self.batch_size,
                         self.plans, self.n_layers, &self.tp)
                restore_threads(&self.tp)
        return out

    def gradients(self, X, labels):
        """Forward and backward on one batch (rows <= batch_size) without
        updating; fills ``grad_W``/``grad_b`` with the batch-mean gradients
        (weight decay not included) and returns the summed loss. The net must
        have been built with an optimizer (for the gradient buffers); its
        state is left untouched."""
        cdef Py_ssize_t rows = X.shape[0]
        cdef const int64_t[::1] y = labels
        cdef const float[:, ::1] X32
        cdef const double[:, ::1] X64
        cdef double loss
        cdef bint saved = self.cfg.update
        cdef bint fused = self.cfg.loss != LOSS_MSE
        self.cfg.update = False
        try:
            if self.dtype == np.float32:
                X32 = X
                with nogil:
                    _forward(&X32[0, 0], rows, self.plans, self.n_layers, &self.rng, True, fused,
                             &self.tp)
                    loss = _output_delta(&X32[0, 0], &y[0], rows,
                                         &self.plans[self.n_layers - 1], self.cfg.loss)
                    _backward(<float>0, rows, self.plans, self.n_layers, &self.cfg, &self.tp)
                    restore_threads(&self.tp)
            else:
                X64 = X
                with nogil:
                    _forward(&X64[0, 0], rows, self.plans, self.n_layers, &self.rng, True, fused,
                             &self.tp)
                    loss = _output_delta(&X64[0, 0], &y[0], rows,
                                         &self.plans[self.n_layers - 1], self.cfg.loss)
                    _backward(<double>0, rows, self.plans, self.n_layers, &self.cfg, &self.tp)
                    restore_threads(&self.tp)
        finally:
            self.cfg.update = saved
        return loss
