"""Data-parallel training over MPI: fastnn's side of an mpi4py communicator.

``Sequential.fit(X_local, y_local, ..., comm=MPI.COMM_WORLD)`` trains one model
on R ranks, each holding its own shard. What happens where:

- **In the compiled loop**, at every step, one ``MPI_Allreduce`` (sum, in
  place, no GIL, no pickling) of one flat buffer that holds every gradient of
  the step scaled by the rank's batch normaliser S_r (its rows, or its weight
  sum), followed by S_r itself and S_r times the batch loss. Every rank then
  divides by sum_r S_r: the gradient of the global batch's mean loss, exactly
  (uneven last batches included), and applies the same update, so the weights
  stay bitwise equal across ranks. A non-finite global loss stops every rank
  at the same step. The function pointer and the handles come from mpi4py at
  run time (``allreduce_hook``), so fastnn is built without MPI headers and
  works without mpi4py.
- **In Python**, once per fit and once per epoch, ``Communicator.agree``: an
  allgather of one small record per rank that carries either the rank's
  payload or its error. Every collective fastnn makes outside the compiled
  steps is an ``agree``, so a rank that fails anywhere (bad input on its
  shard, an exception in a callback) meets the others in a collective of the
  same kind: all of them raise (the failing rank its own exception, the
  others ``DistributedError`` naming it) instead of hanging.

mpi4py is an optional dependency (``pip install "fastnn[mpi]"`` brings mpi4py
and Open MPI); without it ``comm=`` raises ImportError saying so.
"""

import ctypes
from pathlib import Path

import numpy as np

from .sequential import CompiledEpochs
from .training import fit_seed

__all__ = ["Communicator", "DistributedError", "DataParallelEpochs", "LocalSGDEpochs",
           "as_communicator"]

_INSTALL = 'pip install "fastnn[mpi]" (mpi4py and Open MPI)'


class DistributedError(RuntimeError):
    """Another rank failed; the message names the rank and its error."""


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError(f"comm= needs mpi4py and an MPI library: {_INSTALL}") from exc
    return MPI


def as_communicator(comm):
    """``comm`` (an mpi4py intracommunicator, or a Communicator) as a
    Communicator; None stays None."""
    if comm is None or isinstance(comm, Communicator):
        return comm
    return Communicator(comm)


def _libmpi_address(name):
    """Address of the C function ``name`` in the MPI library mpi4py loaded."""
    candidates = []
    maps = Path("/proc/self/maps")
    if maps.exists():
        for line in maps.read_text().splitlines():
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            if "libmpi" in Path(path).name and path not in candidates:
                candidates.append(path)
    for path in candidates + [None]:
        try:
            lib = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
            return ctypes.cast(getattr(lib, name), ctypes.c_void_p).value
        except (OSError, AttributeError):
            continue
    raise ImportError(f"cannot find {name} in the MPI library that mpi4py uses "
                      f"(looked in {candidates or 'the process'})")


class Communicator:
    """One mpi4py intracommunicator, as the training loop uses it.

    Attributes: ``comm`` (the mpi4py object), ``rank``, ``size``.
    """

    def __init__(self, comm):
        MPI = _mpi()
        if not isinstance(comm, MPI.Comm) or comm == MPI.COMM_NULL:
            raise TypeError(f"comm must be an mpi4py communicator such as MPI.COMM_WORLD, "
                            f"got {comm!r}")
        if comm.Is_inter():
            raise TypeError(f"comm must be an intracommunicator, got the intercommunicator "
                            f"{comm!r}")
        self.MPI = MPI
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()

    def __repr__(self):
        return f"Communicator(rank={self.rank}, size={self.size})"

    # ------------------------------------------------------- agreement ---
    def agree(self, payload=None, error=None):
        """Exchange one payload per rank; returns the list of payloads by rank.

        A rank that failed passes its exception as ``error`` (its payload is
        then ignored): every rank raises, that one its own exception, the
        others DistributedError with the first failed rank's message.
        """
        note = None if error is None else f"{type(error).__name__}: {error}"
        records = self.comm.allgather((note, payload))
        failed = [(rank, n) for rank, (n, _) in enumerate(records) if n is not None]
        if failed:
            if error is not None:
                raise error
            rank, message = failed[0]
            raise DistributedError(f"rank {rank} of {self.size} failed: {message}")
        return [p for _, p in records]

    def run_agreed(self, function, *args):
        """Call ``function(*args)`` on every rank and agree on the outcome:
        returns each rank's result by rank, or raises on every rank if any
        rank raised (see ``agree``)."""
        try:
            result = function(*args)
        except Exception as exc:       # noqa: BLE001 -- passed on to every rank
            self.agree(error=exc)      # raises
        return self.agree(result)

    # ------------------------------------------------------ weights ---
    def broadcast(self, arrays, root=0):
        """Overwrite each C- or F-contiguous array with root's, in place
        (buffer-based; every rank lays its arrays out alike)."""
        for a in arrays:
            self.comm.Bcast(a if a.flags.c_contiguous else a.T, root=root)

    def sum_in_place(self, buffer):
        """Replace the C-contiguous ``buffer`` by its sum over the ranks (one
        in-place, buffer-based Allreduce)."""
        self.comm.Allreduce(self.MPI.IN_PLACE, buffer, op=self.MPI.SUM)

    # -------------------------------------------- the compiled step's hook ---
    def allreduce_hook(self, dtype):
        """What the compiled loop needs to call ``MPI_Allreduce`` itself.

        Returns ``(function address, handle size in bytes, comm, datatype, op,
        in_place)``: the handles as integers (pointers in Open MPI, ints in
        MPICH: the handle size tells the loop which C signature to use).
        """
        MPI = self.MPI
        handle_size = MPI._sizeof(MPI.Comm)
        if handle_size not in (4, 8) or MPI._sizeof(MPI.Datatype) != handle_size \
                or MPI._sizeof(MPI.Op) != handle_size:
            raise ImportError(f"unsupported MPI handle sizes ({MPI.get_vendor()}): "
                              f"{_INSTALL}")
        datatype = {np.dtype(np.float32): MPI.FLOAT, np.dtype(np.float64): MPI.DOUBLE}[
            np.dtype(dtype)]
        return (_libmpi_address("MPI_Allreduce"), handle_size, MPI._handleof(self.comm),
                MPI._handleof(datatype), MPI._handleof(MPI.SUM), int(MPI.IN_PLACE))



# ----------------------------------------------------------------- fit ---

def rank_seed(seed, rank):
    """The 64-bit seed of rank ``rank``'s shuffles and dropout masks, from the
    fit's seed: rank 0 keeps it, the others get independent streams."""
    if rank == 0:
        return seed
    return int(np.random.SeedSequence([seed, rank]).generate_state(1, np.uint64)[0])


def steps_per_epoch(comm, n_rows, batch_size):
    """The documented rule for uneven shards: every rank runs as many steps
    per epoch as the smallest shard fills, ceil(min_r n_r / batch_size); a
    larger shard's last rows sit that epoch out (other rows with shuffling)."""
    return min(-(-n // batch_size) for n in comm.agree(n_rows))


class DataParallelEpochs(CompiledEpochs):
    """The compiled runner of a data-parallel fit (see the module docstring).

    Built by ``Sequential.fit(..., comm=...)`` once every rank's arguments
    have been checked and agreed on. Every rank runs the same number of
    steps per epoch (``steps_per_epoch``), makes the same updates, and meets
    the others in an ``agree`` after each epoch, so that a failure or a stop
    anywhere ends the fit on every rank. An epoch is one chunk
    (``chunked = False``): a chunk boundary is local to a rank (its clock), so
    nothing that could fail on one rank alone may run there.
    """

    chunked = False
    #: The compiled steps sum the gradients over the ranks (one Allreduce each).
    allreduce_steps = True
    #: The epoch's sums each rank holds for itself, summed over the ranks when
    #: the epoch ends (the loss and weight sums of the Allreduce steps are
    #: global already).
    local_sums = ("correct",)

    def __init__(self, model, comm, data, batch_size, shuffle, optimizer, accuracy):
        self.comm = comm
        super().__init__(model, data, batch_size, shuffle, optimizer, accuracy)

    def _steps_per_epoch(self, batch_size):
        return steps_per_epoch(self.comm, self.data.n, batch_size)

    def _new_net(self, rows):
        seed = rank_seed(fit_seed(self.model._train_seq), self.comm.rank)
        hook = self.comm.allreduce_hook(self.model.dtype) if self.allreduce_steps else None
        return self.model._compiled_net(rows, self.optimizer, seed=seed, allreduce=hook)

    def begin(self):
        # Rank 0's initial weights everywhere (in place: the net points into them).
        self.comm.broadcast(self.parameters())

    def train_epoch_steps(self, epoch):
        """Every step of ``epoch``; the EpochStats of this rank."""
        return self.run_steps(epoch, 0, self.steps_per_epoch)

    def run_epoch(self, epoch):
        stats = self.train_epoch_steps(epoch)
        # Agreed on every rank, whatever the targets' kind (None stays None).
        totals = self.comm.agree([getattr(stats, name) for name in self.local_sums])
        for i, name in enumerate(self.local_sums):
            if getattr(stats, name) is not None:
                setattr(stats, name, sum(t[i] for t in totals))
        return stats

    def run(self, loop):
        for epoch in loop.epochs_to_run():
            loop.begin_epoch(epoch)
            try:
                # The epoch's collectives are done inside run_epoch; what
                # follows (batch-end callbacks, validation, epoch-end
                # callbacks) may fail on one rank only.
                stop = loop.end_epoch(epoch, loop.train_epoch(self, epoch))
            except Exception as exc:       # noqa: BLE001 -- every rank raises
                self.comm.agree(error=exc)
                raise
            if any(self.comm.agree(stop)):
                self.model.stop_training = True
                break


class LocalSGDEpochs(DataParallelEpochs):
    """Local SGD, ``fit(..., comm=..., sync_every=k)`` with k > 1: each rank
    makes k updates on its own batches (its own compiled net, no Allreduce in
    the steps), then one Allreduce of one flat buffer averages the ranks'
    weights, w <- (1/R) sum_r w_r. An epoch's last average comes at its end
    (after fewer than k steps when k does not divide the steps), so every
    rank holds the same weights whenever an epoch ends: validation,
    callbacks and saved files see one model. The optimizer state (momentum,
    Adagrad sums, Adam moments) stays each rank's own.

    The flat buffer ends with one more entry, to which each rank whose loss
    was not finite adds 1, so a divergence on any rank stops every rank at
    the same average (the loop then restores the epoch's start, which every
    rank shares). Every sum of the epoch is this rank's, summed over the
    ranks when the epoch ends (``local_sums``). With k = 1 this would be
    "average the weights after every update", which for plain SGD equals
    averaging the gradients to round-off; ``sync_every=1`` runs the gradient
    Allreduce of DataParallelEpochs instead.
    """

    #: BackupAndRestore saves each rank's optimizer state (fastnn.checkpoints.rank_part).
    per_rank_optimizer_state = True
    allreduce_steps = False
    local_sums = ("loss_sum", "seen", "correct")

    def __init__(self, model, comm, data, batch_size, shuffle, optimizer, accuracy,
                 sync_every):
        self.sync_every = sync_every
        super().__init__(model, comm, data, batch_size, shuffle, optimizer, accuracy)
        self._flat = np.empty(sum(a.size for a in self.parameters()) + 1, dtype=model.dtype)

    def average(self, failed):
        """Average the weights over the ranks, in place; True (and nothing
        changed) when some rank's loss was not finite."""
        flat, offset = self._flat, 0
        for a in self.parameters():
            flat[offset:offset + a.size] = a.ravel()
            offset += a.size
        flat[-1] = 1 if failed else 0
        self.comm.sum_in_place(flat)
        if flat[-1] > 0:
            return True
        flat /= self.comm.size
        offset = 0
        for a in self.parameters():
            np.copyto(a, flat[offset:offset + a.size].reshape(a.shape))
            offset += a.size
        return False

    def train_epoch_steps(self, epoch):
        n, k = self.steps_per_epoch, self.sync_every
        for first in range(0, n, k):
            stop = min(first + k, n)
            stats = self.run_steps(epoch, first, stop)
            if self.average(stats.failed_step >= 0):
                if stats.failed_step < 0:          # another rank's loss
                    stats.failed_step = stop - 1
                return stats
        return stats


def reduced_evaluation(comm, evaluate_sums, data, accuracy):
    """``{"loss", "accuracy"}`` over every rank's validation shard:
    ``evaluate_sums(data) -> (loss_sum, correct, weight_sum)`` on each rank,
    summed over the ranks."""
    sums = comm.run_agreed(evaluate_sums, data)
    loss_sum, correct, weight_sum = (sum(column) for column in zip(*sums))
    result = {"loss": loss_sum / weight_sum}
    if accuracy:
        result["accuracy"] = correct / weight_sum
    return result
