"""Save a ``Sequential`` to one ``.npz`` file and load it back.

The file is a plain NumPy archive (``numpy.load(path)`` opens it, no pickle):

``architecture``
    A 0-d unicode array holding JSON: ``{"format": "fastnn.Sequential",
    "version": 1, "loss": ..., "dtype": ..., "seed": ..., "layers": [...],
    "target_kind": ...}`` (``target_kind``, what ``predict`` returns, may be
    absent: None) where each layer is ``{"type": "Dense", "n_in", "n_out", "activation",
    "init", "bias"}`` or ``{"type": "Dropout", "p", "scale"}``.
``W0``, ``b0``, ``W1``, ``b1``, ...
    The weights of the Dense layers in order, in the model's dtype (``b<i>``
    absent for a layer without bias).

Optimizer state and training history are not saved: a loaded model predicts
exactly like the saved one, and a new ``fit`` starts a new optimizer.
"""

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .layers import Dense, Dropout
from .sequential import Sequential
from .validation import TARGET_KINDS

__all__ = ["save", "load", "FORMAT", "VERSION"]

FORMAT = "fastnn.Sequential"
VERSION = 1


def _architecture(model):
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


def save(model, path):
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


def _layer(spec, index, path):
    try:
        kind = spec["type"]
        if kind == "Dense":
            return Dense(spec["n_in"], spec["n_out"], spec["activation"], init=spec["init"],
                         bias=spec["bias"])
        if kind == "Dropout":
            return Dropout(spec["p"], scale=spec["scale"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path}: layer {index} of the architecture is malformed "
                         f"({exc!r}): {spec!r}") from None
    raise ValueError(f"{path}: layer {index} has unknown type {kind!r}")


def load(path):
    """Read a model written by ``save``.

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
    ValueError
        The file is not a fastnn model archive, is of a newer format version,
        or its weights do not match its architecture.
    """
    path = Path(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a fastnn model archive (.npz): {exc}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{path} is a single NumPy array, not a fastnn model archive (.npz)")
    with archive:
        if "architecture" not in archive.files:
            raise ValueError(f"{path} is not a fastnn model archive: no 'architecture' entry")
        try:
            arch = json.loads(str(archive["architecture"]))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: the architecture is not valid JSON ({exc})") from None
        if not isinstance(arch, dict) or arch.get("format") != FORMAT:
            raise ValueError(f"{path} is not a fastnn model archive: format "
                             f"{arch.get('format') if isinstance(arch, dict) else arch!r}")
        if arch.get("version") != VERSION:
            raise ValueError(f"{path} has format version {arch.get('version')!r}; this fastnn "
                             f"reads version {VERSION}")
        layers = [_layer(spec, i, path) for i, spec in enumerate(arch.get("layers", []))]
        model = Sequential(layers, loss=arch["loss"], dtype=arch["dtype"], seed=arch["seed"])
        kind = arch.get("target_kind")
        if kind is not None and kind not in TARGET_KINDS:
            raise ValueError(f"{path}: unknown target_kind {kind!r}; expected one of "
                             f"{TARGET_KINDS} or null")
        model.target_kind = kind
        weights = []
        for i, layer in enumerate(model.dense_layers):
            names = [f"W{i}"] + ([f"b{i}"] if layer.b is not None else [])
            for name in names:
                if name not in archive.files:
                    raise ValueError(f"{path}: missing weight array {name!r}")
                weights.append(archive[name])
        expected = {f"W{i}" for i in range(len(model.dense_layers))} | {
            f"b{i}" for i, layer in enumerate(model.dense_layers) if layer.b is not None}
        extra = set(archive.files) - expected - {"architecture"}
        if extra:
            raise ValueError(f"{path}: unexpected arrays {sorted(extra)} for its architecture")
    try:
        model.set_weights(weights)
    except ValueError as exc:
        raise ValueError(f"{path}: the weights do not fit the architecture: {exc}") from None
    return model
