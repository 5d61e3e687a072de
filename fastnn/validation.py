"""Checks at the public entry points.

Everything a user hands to fastnn is checked once here, with a message that
names the argument and echoes the bad value; the compiled kernels behind these
checks trust their input and never check again.
"""

import numbers

import numpy as np

__all__ = ["check_positive_int", "check_bool", "check_seed", "check_X", "check_labels",
           "check_dtype", "check_param"]

DTYPES = ("float32", "float64")


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


def check_X(X, n_features, dtype, name="X"):
    """Convert ``X`` to a C-contiguous 2-D array of ``dtype`` (at most one copy).

    An ndarray that is already C-contiguous and of ``dtype`` is returned as is
    (no copy of the data set; read-only and memory-mapped arrays included).

    Raises
    ------
    TypeError
        X is not numeric (strings, objects, complex numbers).
    ValueError
        X is not 2-D, is empty, has the wrong number of columns, or holds
        NaN or inf.
    """
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
    # float64 values beyond float32's range become inf here and are caught below.
    with np.errstate(over="ignore"):
        out = np.ascontiguousarray(raw, dtype=dtype)
    # A finite sum means every element is finite (NaN and inf propagate); only
    # when the sum is not finite (a NaN or inf, or an overflow of large values)
    # is the exact, slower element check needed.
    if not np.isfinite(out.sum()):
        finite = np.isfinite(out)
    else:
        finite = None
    if finite is not None and not finite.all():
        row, col = np.argwhere(~finite)[0]
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
