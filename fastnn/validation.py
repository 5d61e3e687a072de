"""Checks at the public entry points.

Everything a user hands to fastnn is checked once here, with a message that
names the argument and echoes the bad value; the compiled kernels behind these
checks trust their input and never check again.
"""

import numbers

import numpy as np

from ._kernels import first_non_finite

__all__ = ["check_positive_int", "check_bool", "check_seed", "check_X", "check_labels",
           "check_targets", "check_sample_weight", "check_dtype", "check_param", "CSR",
           "TARGET_KINDS"]

DTYPES = ("float32", "float64")

#: What ``check_targets`` can make of y: class labels (int64 (n,)), rows of
#: probability distributions (cross-entropy), targets in [0, 1] (binary
#: cross-entropy, multi-label or soft), real values (squared error).
TARGET_KINDS = ("labels", "distributions", "binary", "real")


def _show(value, limit=60):
    if isinstance(value, np.generic):
        value = value.item()
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _real_array(name, value, what, holds):
    """``np.asarray(value)``, or a TypeError naming ``name`` when it cannot be
    converted or does not hold real numbers (bool, int, uint, float)."""
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be {what}; converting it failed: {exc}") from None
    if raw.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold {holds}, got dtype {raw.dtype} "
                        f"(e.g. {_show(raw.flat[0]) if raw.size else 'empty'})")
    return raw


def check_positive_int(name, value):
    """Return ``value`` as int, or raise for bools, non-integers and values < 1."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer, got {_show(value)}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_bool(name, value):
    """Return ``value`` as bool, or raise if it is not True/False."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {_show(value)}")
    return bool(value)


def check_seed(seed):
    """Return ``seed`` (a non-negative integer or None), or raise ValueError."""
    if seed is not None and (isinstance(seed, (bool, np.bool_))
                             or not isinstance(seed, numbers.Integral) or seed < 0):
        raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
    return None if seed is None else int(seed)


def check_dtype(dtype):
    """Return the numpy dtype for "float32"/"float64" (or their numpy types)."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if dtype is None or resolved is None or resolved.name not in DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {_show(dtype)}")
    if not resolved.isnative:
        raise ValueError(f"dtype must be 'float32' or 'float64' in the machine's byte order "
                         f"(the compiled core computes in it), got {_show(dtype)}")
    return resolved


class CSR:
    """A checked sparse matrix in canonical CSR form, as the compiled loop reads it.

    ``data`` (nnz,) of the model's dtype, ``indices`` (nnz,) and ``indptr``
    (n + 1,) int64, ``shape`` (n, n_features); row i's non-zeros are
    data[indptr[i]:indptr[i + 1]] in the columns indices[...], sorted and
    without duplicates. (scipy would store small index arrays as int32,
    which the loop does not read.)
    """

    format = "csr"

    def __init__(self, data, indices, indptr, shape):
        self.data, self.indices, self.indptr, self.shape = data, indices, indptr, shape

    @property
    def nnz(self):
        return self.data.shape[0]

    def __repr__(self):
        return f"CSR(shape={self.shape}, nnz={self.nnz}, dtype={self.data.dtype})"


def _check_sparse_X(X, n_features, dtype, name):
    """A scipy.sparse CSR/CSC matrix or array as a ``CSR``, never densified:
    CSC is converted once to CSR (a sparse copy), a non-canonical matrix
    (unsorted or duplicate indices) is canonicalised on a copy, the index
    arrays become int64 and the values ``dtype`` (copies only where needed)."""
    fmt = X.format
    if fmt not in ("csr", "csc"):
        raise TypeError(f"{name} is a scipy.sparse {fmt} matrix; fastnn takes CSR or CSC "
                        f"(convert it with {name}.tocsr())")
    if len(X.shape) != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty: shape {X.shape}")
    if X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features (shape {X.shape}) but the "
                         f"first Dense layer expects n_in={n_features}")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got a sparse matrix of dtype "
                        f"{X.dtype}")
    try:
        X.check_format(full_check=True)
    except ValueError as exc:
        raise ValueError(f"{name} is not a valid sparse {fmt} matrix: {exc}") from None
    X = X.tocsr()                        # CSR stays itself; CSC becomes a sparse copy
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()               # sorts the indices too
    with np.errstate(over="ignore"):
        data = np.ascontiguousarray(X.data, dtype=dtype)
    finite = np.isfinite(data)
    if not finite.all():
        k = int(np.argmin(finite))
        row = int(np.searchsorted(X.indptr, k, side="right") - 1)
        col = int(X.indices[k])
        value = X.data[k].item()
        what = ("a value too large for " + np.dtype(dtype).name + " (it would become inf)"
                if np.isfinite(value) else "NaN or inf")
        raise ValueError(f"{name} contains {what}: {name}[{row}, {col}] = {value!r}")
    return CSR(data, np.ascontiguousarray(X.indices, dtype=np.int64),
               np.ascontiguousarray(X.indptr, dtype=np.int64), tuple(X.shape))


def _is_sparse(X):
    if isinstance(X, CSR):
        return True
    module = type(X).__module__
    if not module.startswith("scipy.sparse"):
        return False
    import scipy.sparse
    return scipy.sparse.issparse(X)


def check_X(X, n_features, dtype, name="X"):
    """Convert ``X`` to a C-contiguous 2-D array of ``dtype`` (at most one copy),
    or a sparse ``X`` to a checked ``CSR`` (never densified).

    An ndarray that is already C-contiguous and of ``dtype`` is returned as is
    (no copy of the data set; read-only and memory-mapped arrays included).
    A scipy.sparse CSR or CSC matrix (or sparse array) becomes a ``CSR`` of
    ``dtype``: CSC is converted once to CSR, index arrays are checked
    (scipy's ``check_format``), canonicalised and made int64.

    Raises
    ------
    TypeError
        X is not numeric (strings, objects, complex numbers), or is a sparse
        format other than CSR/CSC.
    ValueError
        X is not 2-D, is empty, has the wrong number of columns, holds
        NaN or inf, or (sparse) has invalid index arrays.
    """
    if _is_sparse(X):
        if isinstance(X, CSR):
            return X
        return _check_sparse_X(X, n_features, dtype, name)
    raw = _real_array(name, X, "a 2-D array of real numbers", "real numbers")
    if raw.ndim != 2:
        hint = " (for one example use X.reshape(1, -1))" if raw.ndim == 1 else ""
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape "
                         f"{raw.shape}{hint}")
    if raw.shape[0] == 0:
        raise ValueError(f"{name} is empty: shape {raw.shape}")
    if raw.shape[1] != n_features:
        raise ValueError(f"{name} has {raw.shape[1]} features (shape {raw.shape}) but the "
                         f"first Dense layer expects n_in={n_features}")
    if raw.dtype == dtype and raw.flags.c_contiguous:
        out = raw
    else:
        # float64 values beyond float32's range become inf here and are caught below.
        with np.errstate(over="ignore"):
            out = np.ascontiguousarray(raw, dtype=dtype)
    # One compiled pass over the bits, at memory speed, allocating nothing.
    bad = first_non_finite(out.reshape(-1))
    if bad >= 0:
        row, col = divmod(bad, out.shape[1])
        value = raw[row, col].item()
        if np.isfinite(value):
            raise ValueError(f"{name} contains a value too large for {np.dtype(dtype).name} "
                             f"(it would become inf): {name}[{row}, {col}] = {value!r}")
        raise ValueError(f"{name} contains NaN or inf: {name}[{row}, {col}] = {value!r}")
    return out


def check_labels(y, n_samples, n_outputs, name="y", x_name="X"):
    """Convert ``y`` to int64 class labels of shape (n_samples,).

    ``y`` holds integer labels (n,) in [0, n_classes), n_classes = n_outputs
    (2 for a single output unit, labels 0/1), or one-hot rows (n, n_outputs).
    Whole-number floats (3.0) are accepted. ``x_name`` names the inputs whose
    length ``n_samples`` is in the error messages.
    """
    raw = _real_array(name, y, "an array of integer labels", "integer class labels")
    n_classes = 2 if n_outputs == 1 else n_outputs
    if raw.ndim == 2 and raw.shape[1] == 1 and n_outputs == 1:
        raw = raw[:, 0]
    if raw.ndim == 2:
        if raw.shape[1] != n_outputs:
            raise ValueError(f"{name} has one-hot rows of width {raw.shape[1]} (shape "
                             f"{raw.shape}) but the network has {n_outputs} outputs")
        ok = np.isin(raw, (0, 1)).all(axis=1) & (raw.sum(axis=1) == 1)
        if not ok.all():
            row = int(np.argmin(ok))
            raise ValueError(f"{name} must hold one-hot rows (a single 1, zeros elsewhere); "
                             f"row {row} is {_show(raw[row].tolist())}")
        raw = raw.argmax(axis=1)
    elif raw.ndim != 1:
        raise ValueError(f"{name} must be 1-D labels (n,) or one-hot rows (n, {n_outputs}), "
                         f"got shape {raw.shape}")
    if raw.shape[0] != n_samples:
        raise ValueError(f"{x_name} and {name} have different lengths: {n_samples} and "
                         f"{raw.shape[0]}")
    if raw.dtype.kind == "f":
        bad = ~np.isfinite(raw) | (raw != np.round(raw))
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"{name} must hold integer class labels, got {name}[{i}] = "
                             f"{raw[i].item()!r}")
    bad = (raw < 0) | (raw >= n_classes)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{name}[{i}] = {raw[i].item()!r} is out of range: labels must be in "
                         f"[0, {n_classes - 1}] for a network with {n_outputs} output"
                         f"{'s' if n_outputs != 1 else ''}")
    return np.ascontiguousarray(raw, dtype=np.int64)


def _is_one_hot(raw):
    """Every row holds a single 1 and zeros elsewhere."""
    return bool((np.isin(raw, (0, 1)).all(axis=1) & (raw.sum(axis=1) == 1)).all())


def _whole(raw):
    """Every value is a finite whole number."""
    if raw.dtype.kind != "f":
        return True
    return bool(np.all(np.isfinite(raw) & (raw == np.round(raw))))


def _first_bad(name, bad, raw):
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    return f"{name}[{', '.join(map(str, index))}] = {_show(raw[index])}"


def _dense_targets(raw, kind, n_samples, dtype, name, x_name):
    """Check and convert dense targets (n, k) of ``kind`` to C-contiguous ``dtype``."""
    if raw.shape[0] != n_samples:
        raise ValueError(f"{x_name} and {name} have different lengths: {n_samples} and "
                         f"{raw.shape[0]}")
    with np.errstate(over="ignore"):
        out = np.ascontiguousarray(raw, dtype=dtype)
    bad = ~np.isfinite(out)
    if bad.any():
        too_large = np.isfinite(raw[tuple(np.argwhere(bad)[0])])
        what = f"a value too large for {np.dtype(dtype).name}" if too_large else "NaN or inf"
        raise ValueError(f"{name} contains {what}: {_first_bad(name, bad, raw)}")
    if kind == "binary":
        bad = (raw < 0) | (raw > 1)
        if bad.any():
            raise ValueError(f"{name} must hold targets in [0, 1] for "
                             f"loss='binary_cross_entropy', got {_first_bad(name, bad, raw)}")
    elif kind == "distributions":
        tol = float(np.sqrt(np.finfo(dtype).eps))
        sums = raw.sum(axis=1, dtype=np.float64)
        ok = ((raw >= 0) & (raw <= 1)).all(axis=1) & (np.abs(sums - 1) <= tol)
        if not ok.all():
            row = int(np.argmin(ok))
            raise ValueError(f"{name} must hold one-hot rows or probability distributions "
                             f"(entries in [0, 1] summing to 1 within {tol:.1e}) for "
                             f"loss='cross_entropy'; row {row} is {_show(raw[row].tolist())} "
                             f"(sum {float(sums[row]):.6g})")
    return out


def _count_targets(raw, n_samples, n_outputs, dtype, name, x_name):
    """Targets >= 0 of loss="poisson", (n,) for one output or (n, n_outputs)."""
    if raw.ndim == 1 and n_outputs == 1:
        raw = raw.reshape(-1, 1)
    if raw.ndim != 2 or raw.shape[1] != n_outputs:
        raise ValueError(f"{name} must have shape (n,) for one output or (n, {n_outputs}) "
                         f"for loss='poisson', got shape {raw.shape}")
    out = _dense_targets(raw, "real", n_samples, dtype, name, x_name)
    bad = out < 0
    if bad.any():
        raise ValueError(f"{name} must hold targets >= 0 for loss='poisson', got "
                         f"{_first_bad(name, bad, raw)}")
    return out


def check_targets(y, n_samples, n_outputs, loss, dtype, name="y", x_name="X"):
    """The one entry point for targets: returns ``(kind, values)``.

    ``kind`` is one of ``TARGET_KINDS``; what ``y`` means depends on the loss
    and the number of output units:

    labels
        Class labels, as ``check_labels`` takes them: integers (n,) in
        [0, n_classes), or one-hot rows (n, n_outputs), for any loss. A 1-D
        y for a net with several outputs is always labels. For one output
        unit, whole numbers are labels (0/1) with binary cross-entropy, and
        with "mse" where they are all 0 or 1. ``values``: int64 (n,).
    distributions
        "cross_entropy", y (n, n_outputs) whose rows are not all one-hot:
        probability distributions (entries in [0, 1] summing to 1 within
        sqrt(eps) of ``dtype``).
    binary
        "binary_cross_entropy", y (n, n_outputs) not all one-hot, or a
        one-unit y (n,) that is not whole numbers: targets in [0, 1]
        (multi-label indicators or soft targets).
    real
        "mse", any other finite y: (n,) for one output unit or (n, n_outputs);
        "poisson", always: targets >= 0 (counts or rates), never labels.

    Non-label ``values`` are C-contiguous (n, n_outputs) of ``dtype``.

    Raises
    ------
    TypeError
        y does not hold real numbers.
    ValueError
        Wrong shape, width or length, NaN or inf, a label out of range,
        values outside [0, 1] (binary cross-entropy), rows that are not
        distributions (cross-entropy); the message names ``name`` and the value.
    """
    if loss == "cross_entropy":
        raw = _real_array(name, y, "an array of integer labels", "integer class labels")
    else:
        raw = _real_array(name, y, "an array of labels or targets",
                          "integer class labels or real-valued targets")
    if raw.ndim == 2 and raw.shape[1] == 1 and n_outputs == 1:
        raw = raw[:, 0]
    if loss == "poisson":
        return "real", _count_targets(raw, n_samples, n_outputs, dtype, name, x_name)
    dense_kind = {"cross_entropy": "distributions", "binary_cross_entropy": "binary",
                  "mse": "real"}[loss]
    if raw.ndim == 1 and n_outputs == 1 and loss != "cross_entropy":
        whole = _whole(raw)
        if loss == "binary_cross_entropy" and whole or \
                loss == "mse" and whole and bool(np.isin(raw, (0, 1)).all()):
            return "labels", check_labels(raw, n_samples, n_outputs, name, x_name)
        return dense_kind, _dense_targets(raw.reshape(-1, 1), dense_kind, n_samples, dtype,
                                          name, x_name)
    if raw.ndim == 2 and n_outputs > 1:
        if raw.shape[1] != n_outputs:
            rows = "one-hot rows" if loss == "cross_entropy" else "target rows"
            raise ValueError(f"{name} has {rows} of width {raw.shape[1]} (shape "
                             f"{raw.shape}) but the network has {n_outputs} outputs")
        if not _is_one_hot(raw):
            return dense_kind, _dense_targets(raw, dense_kind, n_samples, dtype, name, x_name)
    if raw.ndim not in (1, 2) and loss != "cross_entropy":
        raise ValueError(f"{name} must be 1-D (n,) labels or targets, or rows (n, "
                         f"{n_outputs}), got shape {raw.shape}")
    return "labels", check_labels(raw, n_samples, n_outputs, name, x_name)


def check_sample_weight(sample_weight, n_samples, dtype, name="sample_weight", x_name="X"):
    """Per-example weights as a (n_samples,) array of ``dtype``, or None.

    Raises TypeError for non-numbers and ValueError unless the weights have
    shape (n_samples,), are finite (also in ``dtype``), >= 0 and not all 0.
    """
    if sample_weight is None:
        return None
    raw = _real_array(name, sample_weight, "a 1-D array of weights", "real numbers")
    if raw.ndim != 1:
        raise ValueError(f"{name} must be 1-D, shape ({n_samples},), got shape {raw.shape}")
    if raw.shape[0] != n_samples:
        raise ValueError(f"{x_name} and {name} have different lengths: {n_samples} and "
                         f"{raw.shape[0]}")
    with np.errstate(over="ignore"):
        out = np.ascontiguousarray(raw, dtype=dtype)
    bad = ~np.isfinite(out)
    if bad.any():
        raise ValueError(f"{name} must be finite (in {np.dtype(dtype).name}), got "
                         f"{_first_bad(name, bad, raw)}")
    bad = out < 0
    if bad.any():
        raise ValueError(f"{name} must be >= 0, got {_first_bad(name, bad, raw)}")
    if not out.any():
        raise ValueError(f"{name} must not be all zero (the weighted mean loss would be "
                         f"0 / 0), got {_show(raw.tolist())}")
    return out


def check_param(name, value, shape, dtype):
    """Check a parameter array given by the user (a weight matrix or bias).

    Returns ``value`` converted to ``dtype``, shape ``shape``; raises TypeError
    if it does not hold real numbers and ValueError if its shape differs or it
    holds NaN or inf (also after conversion to ``dtype``). The caller copies it
    into the parameter in place.
    """
    raw = _real_array(name, value, "an array of real numbers", "real numbers")
    if raw.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {raw.shape}")
    with np.errstate(over="ignore"):
        out = raw.astype(dtype, copy=False)
    finite = np.isfinite(out)
    if not finite.all():
        index = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise ValueError(f"{name} contains NaN or inf (in {np.dtype(dtype).name}): "
                         f"{name}[{', '.join(map(str, index))}] = {raw[index].item()!r}")
    return out
