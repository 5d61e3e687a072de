"""Save a ``Sequential`` to one ``.npz`` file and load it back.

The file is a plain NumPy archive (``numpy.load(path)`` opens it, no pickle):

``architecture``
    A 0-d unicode array holding JSON: ``{"format": "fastnn.Sequential",
    "version": 1, "loss": ..., "dtype": ..., "seed": ..., "layers": [...]}``
    where each layer is ``{"type": "Dense", "n_in", "n_out", "activation",
    "init", "bias"}`` or ``{"type": "Dropout", "p", "scale"}``.
``W0``, ``b0``, ``W1``, ``b1``, ...
    The weights of the Dense layers in order, in the model's dtype (``b<i>``
    absent for a layer without bias).

``load`` checks everything before it builds the network (see its docstring)
and reports every problem of the file as a ``ModelFileError`` naming it.

Optimizer state and training history are not saved: a loaded model predicts
exactly like the saved one, and a new ``fit`` starts a new optimizer.
"""

import json
import os
import struct
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import NoReturn

import numpy as np
from numpy.lib import format as npy_format

from .activations import ACTIVATIONS
from .initializers import INITIALIZERS
from .layers import Dense, Dropout
from .losses import LOSSES
from .sequential import Sequential
from .validation import DTYPES, TARGET_KINDS

__all__ = ["save", "load", "ModelFileError", "FORMAT", "VERSION"]

FORMAT = "fastnn.Sequential"
VERSION = 1


def _architecture(model: Sequential) -> dict:
    layers = []
    for layer in model.layers:
        if isinstance(layer, Dense):
            layers.append({"type": "Dense", "n_in": layer.n_in, "n_out": layer.n_out,
                           "activation": layer.activation, "init": layer.init,
                           "bias": layer.bias})
        else:
            layers.append({"type": "Dropout", "p": layer.p, "scale": layer.scale})
    return {"format": FORMAT, "version": VERSION, "loss": model.loss,
            "dtype": model.dtype.name, "seed": int(model.seed), "layers": layers,
            "target_kind": model.target_kind}


def save(model: Sequential, path: "str | os.PathLike[str]") -> Path:
    """Write ``model`` to ``path`` (an .npz archive; see the module docstring).

    Parameters
    ----------
    model : Sequential
    path : str or os.PathLike
        Written as given (no ``.npz`` is appended), atomically: the file is
        complete or absent, never half-written.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a Sequential, got {type(model).__name__}")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path (str or os.PathLike), got {path!r}")
    path = Path(path)
    arrays = {"architecture": np.array(json.dumps(_architecture(model)))}
    for i, layer in enumerate(model.dense_layers):
        arrays[f"W{i}"] = layer.W
        if layer.b is not None:
            arrays[f"b{i}"] = layer.b
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path


class ModelFileError(ValueError):
    """A model file cannot be read: not a fastnn archive, truncated or
    corrupted, of a newer format version, or its arrays do not match its
    declared architecture. The message names the file (``path``)."""

    def __init__(self, path: "os.PathLike[str] | str", message: str) -> None:
        super().__init__(f"{path}{message}")
        self.path = Path(path)


# What a truncated or corrupted zip member or .npy header raises inside
# zipfile, zlib and numpy.lib.format (BadZipFile is not an OSError).
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError,
                struct.error, OverflowError, SyntaxError, TypeError, UnicodeDecodeError,
                RuntimeError)       # NotImplementedError (zip version), encrypted members
# The architecture entry is a short JSON text; a longer one is refused unread.
_MAX_ARCHITECTURE_CHARS = 1 << 20
_NPY_MAGIC = b"\x93NUMPY"


def _fail(path: "os.PathLike[str] | str", message: str) -> NoReturn:
    raise ModelFileError(path, message) from None


def _header(archive, name, path):
    """``(shape, fortran_order, dtype)`` of member ``name``.npy, from its
    header alone (nothing of the array is read)."""
    try:
        with archive.open(name + ".npy") as f:
            version = npy_format.read_magic(f)
            if version == (1, 0):
                return npy_format.read_array_header_1_0(f)
            if version == (2, 0):
                return npy_format.read_array_header_2_0(f)
            return _fail(path, f": array {name!r} has .npy format version {version}, "
                               f"which fastnn does not read")
    except ModelFileError:
        raise
    except _READ_ERRORS as exc:
        _fail(path, f" is truncated or corrupted: the header of array {name!r} cannot be "
                    f"read ({type(exc).__name__}: {exc})")


def _array(archive, name, path):
    try:
        with archive.open(name + ".npy") as f:
            return npy_format.read_array(f, allow_pickle=False)
    except _READ_ERRORS as exc:
        _fail(path, f" is truncated or corrupted: array {name!r} cannot be read "
                    f"({type(exc).__name__}: {exc})")


def _is_int(value, low=0):
    return type(value) is int and value >= low


def _check_layer(spec, index, path):
    """A layer entry as plain values, every field's type and range checked,
    or a ModelFileError naming the layer and the field."""
    if not isinstance(spec, dict):
        _fail(path, f": layer {index} of the architecture is malformed: {spec!r}")
    kind = spec.get("type")
    fields = {"Dense": ("n_in", "n_out", "activation", "init", "bias"),
              "Dropout": ("p", "scale")}
    if kind not in fields:
        _fail(path, f": layer {index} has unknown type {kind!r}")
    missing = [f for f in fields[kind] if f not in spec]
    if missing:
        _fail(path, f": layer {index} of the architecture is malformed (no "
                    f"{', '.join(missing)}): {spec!r}")
    if kind == "Dense":
        for field in ("n_in", "n_out"):
            if not _is_int(spec[field], 1):
                _fail(path, f": layer {index} has {field}={spec[field]!r}, not a positive "
                            f"integer")
        for field, table in (("activation", ACTIVATIONS), ("init", INITIALIZERS)):
            if not isinstance(spec[field], str) or spec[field] not in table:
                _fail(path, f": layer {index} has unknown {field} {spec[field]!r}")
        if type(spec["bias"]) is not bool:
            _fail(path, f": layer {index} has bias={spec['bias']!r}, not true or false")
    else:
        p = spec["p"]
        if type(p) not in (int, float) or not 0 <= p < 1:
            _fail(path, f": layer {index} has p={p!r}, not a probability in [0, 1)")
        if spec["scale"] not in ("train", "test"):
            _fail(path, f": layer {index} has scale={spec['scale']!r}, not 'train' or 'test'")
    return {field: spec[field] for field in ("type",) + fields[kind]}


def _check_architecture(arch, path):
    """The architecture dict checked field by field; returns ``(specs, loss,
    dtype, seed, target_kind, expected)`` where ``expected`` maps each weight
    array's name to its shape."""
    if not isinstance(arch, dict) or arch.get("format") != FORMAT:
        _fail(path, f" is not a fastnn model archive: format "
                    f"{arch.get('format') if isinstance(arch, dict) else arch!r}")
    version = arch.get("version")
    if not _is_int(version, 1):
        _fail(path, f" has format version {version!r}, not a positive integer")
    if version > VERSION:
        _fail(path, f" has format version {version!r}, newer than this fastnn reads "
                    f"(version {VERSION}): it was written by a newer fastnn, upgrade to read it")
    if version != VERSION:
        _fail(path, f" has format version {version!r}; this fastnn reads version {VERSION}")
    loss, dtype, seed, layers = (arch.get(k) for k in ("loss", "dtype", "seed", "layers"))
    if not isinstance(loss, str) or loss not in LOSSES:
        _fail(path, f": unknown loss {loss!r} (known: {sorted(LOSSES)})")
    if dtype not in DTYPES:
        _fail(path, f": dtype {dtype!r} is not one of {list(DTYPES)}")
    if not _is_int(seed):
        _fail(path, f": seed {seed!r} is not a non-negative integer")
    target_kind = arch.get("target_kind")      # absent in files of older fastnn
    if target_kind is not None and target_kind not in TARGET_KINDS:
        _fail(path, f": unknown target_kind {target_kind!r}; expected one of "
                    f"{TARGET_KINDS} or null")
    if not isinstance(layers, list) or not layers:
        _fail(path, f": the architecture's layers must be a non-empty list, got {layers!r}")
    specs = [_check_layer(spec, i, path) for i, spec in enumerate(layers)]
    expected, width, dense = {}, None, 0
    for i, spec in enumerate(specs):
        if spec["type"] != "Dense":
            continue
        if width is not None and spec["n_in"] != width:
            _fail(path, f": layer {i} takes n_in={spec['n_in']} inputs but the layer before "
                        f"gives {width}")
        width = spec["n_out"]
        expected[f"W{dense}"] = (spec["n_out"], spec["n_in"])
        if spec["bias"]:
            expected[f"b{dense}"] = (spec["n_out"],)
        dense += 1
    if not dense:
        _fail(path, ": the architecture has no Dense layer")
    return specs, loss, dtype, seed, target_kind, expected


def _read_architecture(archive, path):
    shape, _, dtype = _header(archive, "architecture", path)
    if shape != () or dtype.kind != "U":
        _fail(path, f": the 'architecture' entry must be one JSON string, got an array of "
                    f"shape {shape} and dtype {dtype}")
    if dtype.itemsize // 4 > _MAX_ARCHITECTURE_CHARS:
        _fail(path, f": the 'architecture' entry holds {dtype.itemsize // 4:,} characters, "
                    f"more than a fastnn architecture needs ({_MAX_ARCHITECTURE_CHARS:,})")
    text = str(_array(archive, "architecture", path))
    try:
        return json.loads(text)
    except RecursionError:
        _fail(path, ": the architecture is not valid JSON (nested too deeply)")
    except ValueError as exc:      # JSONDecodeError, and NaN/infinity spellings
        _fail(path, f": the architecture is not valid JSON ({exc})")


def load(path: "str | os.PathLike[str]") -> Sequential:
    """Read a model written by ``save``.

    Everything is checked before the network is built: the archive, the
    architecture (field by field, sizes chaining), then the header of every
    stored array against the shape the architecture declares, and only then
    are the arrays read (so a file declaring a 10^6 x 10^6 layer over small
    arrays is refused without allocating it).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    Sequential
        Same layers, loss, dtype and weights as the saved model, so the same
        predictions bit for bit.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ModelFileError
        (a ValueError naming the file) The file is not a fastnn model archive,
        is truncated or corrupted, is of a newer format version, or its
        arrays do not match its architecture (missing, extra, another shape
        or dtype, NaN or inf).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path (str or os.PathLike), got {path!r}")
    path = Path(path)
    try:
        with open(path, "rb") as f:
            magic = f.read(len(_NPY_MAGIC))
    except FileNotFoundError:
        raise
    except OSError as exc:
        _fail(path, f" cannot be read: {exc}")
    if magic == _NPY_MAGIC:
        _fail(path, " is a single NumPy array, not a fastnn model archive (.npz)")
    try:
        archive = zipfile.ZipFile(path)
    except _READ_ERRORS as exc:
        _fail(path, f" is not a fastnn model archive (.npz): {type(exc).__name__}: {exc}")
    with archive:
        members = set(archive.namelist())
        if "architecture.npy" not in members:
            _fail(path, " is not a fastnn model archive: no 'architecture' entry")
        specs, loss, dtype, seed, target_kind, expected = _check_architecture(
            _read_architecture(archive, path), path)
        names = {m[:-4] for m in members if m.endswith(".npy")} - {"architecture"}
        odd = sorted(m for m in members if not m.endswith(".npy"))
        extra = sorted(names - set(expected)) + odd
        if extra:
            _fail(path, f": unexpected arrays {extra} for its architecture")
        for name, shape in expected.items():
            if name not in names:
                _fail(path, f": missing weight array {name!r}")
            stored, _, stored_dtype = _header(archive, name, path)
            if stored != shape:
                _fail(path, f": the weights do not fit the architecture: {name} has shape "
                            f"{stored}, its layer needs {shape}")
            if stored_dtype.kind != "f" or stored_dtype.itemsize != np.dtype(dtype).itemsize:
                _fail(path, f": the weights do not fit the architecture: {name} is stored as "
                            f"{stored_dtype}, the model is {dtype}")
        weights = [_array(archive, name, path) for name in expected]
    for name, value in zip(expected, weights):
        if not np.isfinite(value).all():
            _fail(path, f": weight array {name!r} holds NaN or inf")
    layers = [Dense(s["n_in"], s["n_out"], s["activation"], init=s["init"], bias=s["bias"])
              if s["type"] == "Dense" else Dropout(s["p"], scale=s["scale"]) for s in specs]
    model = Sequential(layers, loss=loss, dtype=dtype, seed=seed)
    model.set_weights(weights)
    model.target_kind = target_kind
    return model
