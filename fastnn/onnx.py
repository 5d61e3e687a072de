"""Export a ``Sequential`` to ONNX, for inference anywhere ONNX runs.

The graph computes ``predict_proba``: for each Dense layer, in order,

``Mul``      x <- x * (1 - p), only after a ``Dropout(p, scale="test")``
             (dropout's inference map; inverted dropout is the identity there)
``Gemm``     a = x W^T + b (``transB=1``, W kept as fastnn stores it,
             (n_out, n_in); without b for ``bias=False``, the lecture's
             implicit bias, whose constant-1 column is part of the input)
activation   ``Sigmoid``, ``Tanh``, ``Relu``, ``Softmax`` (axis -1), nothing
             for identity

in the model's dtype (float32 -> ``tensor(float)``, float64 ->
``tensor(double)``), opset 13 or later (where ``Softmax`` normalises along
one axis only). The input is named ``"X"``, shape ``(batch, n_features)``;
the output ``"probabilities"``, shape ``(batch, n_outputs)``; ``batch`` is a
symbolic (dynamic) dimension.

Needs the ``onnx`` package (``pip install "fastnn[onnx]"``, which also
installs onnxruntime to run the file). Imported lazily: ``fastnn.onnx`` costs
nothing until it is used.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .layers import Dense, Dropout
from .sequential import Sequential

if TYPE_CHECKING:
    import onnx as _onnx

__all__ = ["export", "to_onnx", "MIN_OPSET", "ONNX_ACTIVATIONS"]

#: The first opset whose Softmax normalises along one axis (not the flattened tail).
MIN_OPSET = 13

#: fastnn activation name -> ONNX operator (None: no node).
ONNX_ACTIVATIONS = {"identity": None, "sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu",
                    "softmax": "Softmax", "exp": "Exp"}


def _onnx_module():
    try:
        import onnx
    except ImportError:
        raise ImportError("fastnn.onnx.export needs the onnx package: "
                          "pip install 'fastnn[onnx]'") from None
    return onnx


def _sequential_of(model: Any) -> tuple[Sequential, bool]:
    """The Sequential whose outputs the graph computes, and whether the graph
    must widen one output p into the two columns (1 - p, p).

    A fitted fastnn.sklearn estimator is exported through its network: its
    ``predict_proba`` (a classifier; (1 - p, p) for one logistic output) or
    its ``predict`` (a regressor, shape (n, n_outputs)).
    """
    if isinstance(model, Sequential):
        return model, False
    if hasattr(model, "_sync_in"):            # a fastnn.sklearn estimator
        network = getattr(model, "_model", None)
        if not isinstance(network, Sequential) or not hasattr(model, "n_outputs_"):
            raise ValueError(f"fastnn.onnx.export: {type(model).__name__} is not fitted")
        model._sync_in()            # coefs_/intercepts_ may have been assigned
        two_columns = hasattr(model, "classes_") and model.n_outputs_ == 1
        return network, two_columns
    raise TypeError(f"fastnn.onnx.export takes a fastnn.Sequential, got "
                    f"{type(model).__name__} (a fastnn.Model's forward is arbitrary Python "
                    f"and has no fixed graph to export)")


def _check_opset(opset: Any) -> int:
    if isinstance(opset, (bool, np.bool_)) or not isinstance(opset, (int, np.integer)):
        raise TypeError(f"opset must be an integer >= {MIN_OPSET}, got {opset!r}")
    if opset < MIN_OPSET:
        raise ValueError(f"opset must be >= {MIN_OPSET} (Softmax along the last axis), got "
                         f"{opset!r}")
    return int(opset)


def _check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not name:
        raise TypeError(f"{what} must be a non-empty string, got {name!r}")
    return name


def to_onnx(model: Any, opset: int = MIN_OPSET, input_name: str = "X",
            output_name: str = "probabilities") -> "_onnx.ModelProto":
    """The ONNX ModelProto of ``model`` (see the module docstring), checked
    by ``onnx.checker``; ``export`` also writes it."""
    onnx = _onnx_module()
    from onnx import TensorProto, helper, numpy_helper

    net, two_columns = _sequential_of(model)
    final = "positive_probability" if two_columns else output_name
    opset = _check_opset(opset)
    input_name = _check_name(input_name, "input_name")
    output_name = _check_name(output_name, "output_name")
    if input_name == output_name:
        raise ValueError(f"input_name and output_name must differ, both are {input_name!r}")
    dtype = net.dtype
    elem = {np.dtype(np.float32): TensorProto.FLOAT,
            np.dtype(np.float64): TensorProto.DOUBLE}[dtype]

    nodes, weights = [], []
    x, pending_scale = input_name, 1.0
    dense = [layer for layer in net.layers if isinstance(layer, Dense)]
    for layer in net.layers:
        if isinstance(layer, Dropout):
            pending_scale = layer.test_factor if layer.p > 0 else 1.0
            continue
        if not isinstance(layer, Dense):
            raise ValueError(f"fastnn.onnx.export: no ONNX form for layer {layer!r}")
        i = len([n for n in nodes if n.op_type == "Gemm"])
        if layer.activation not in ONNX_ACTIVATIONS:
            raise ValueError(f"fastnn.onnx.export: activation {layer.activation!r} of layer "
                             f"{i} has no ONNX operator (known: {sorted(ONNX_ACTIVATIONS)})")
        if pending_scale != 1.0:
            # The compiled net multiplies the input by the factor in the model's
            # dtype; so does this node (a constant folded into W would round
            # differently).
            weights.append(numpy_helper.from_array(np.array(pending_scale, dtype=dtype),
                                                   f"dropout{i}_factor"))
            nodes.append(helper.make_node("Mul", [x, f"dropout{i}_factor"],
                                          [f"dropout{i}_out"], name=f"dropout{i}"))
            x = f"dropout{i}_out"
        pending_scale = 1.0
        last = i == len(dense) - 1
        op = ONNX_ACTIVATIONS[layer.activation]
        gemm_out = final if last and op is None else f"dense{i}_a"
        inputs = [x, f"W{i}"]
        weights.append(numpy_helper.from_array(np.ascontiguousarray(layer.W, dtype), f"W{i}"))
        if layer.b is not None:
            inputs.append(f"b{i}")
            weights.append(numpy_helper.from_array(np.ascontiguousarray(layer.b, dtype),
                                                   f"b{i}"))
        nodes.append(helper.make_node("Gemm", inputs, [gemm_out], name=f"dense{i}", transB=1))
        x = gemm_out
        if op is not None:
            out = final if last else f"dense{i}_y"
            extra = {"axis": -1} if op == "Softmax" else {}
            nodes.append(helper.make_node(op, [x], [out], name=f"dense{i}_{layer.activation}",
                                          **extra))
            x = out

    n_out = net.n_outputs
    if two_columns:
        # A binary classifier's predict_proba: (1 - p, p).
        weights.append(numpy_helper.from_array(np.ones((1, 1), dtype=dtype), "one"))
        nodes.append(helper.make_node("Sub", ["one", final], ["negative_probability"],
                                      name="complement"))
        nodes.append(helper.make_node("Concat", ["negative_probability", final],
                                      [output_name], name="two_columns", axis=1))
        n_out = 2
    graph = helper.make_graph(
        nodes, "fastnn_sequential",
        [helper.make_tensor_value_info(input_name, elem, ["batch", net.n_features])],
        [helper.make_tensor_value_info(output_name, elem, ["batch", n_out])],
        initializer=weights)
    from . import __version__
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="fastnn", producer_version=__version__,
                              doc_string=f"fastnn Sequential.predict_proba: {net!r}")
    # The IR version of the opset, not the onnx package's newest (which older
    # runtimes refuse).
    proto.ir_version = min(proto.ir_version, _ir_version_for(helper, opset))
    onnx.checker.check_model(proto)
    return proto


def _ir_version_for(helper: Any, opset: int) -> int:
    for entry in getattr(helper, "VERSION_TABLE", ()):
        # (release, ir_version, ai.onnx opset, ai.onnx.ml, ai.onnx.training)
        if entry[2] >= opset:
            return entry[1]
    return 10 ** 9


def export(model: Any, path: "str | os.PathLike[str] | None", opset: int = MIN_OPSET,
           input_name: str = "X", output_name: str = "probabilities") -> "_onnx.ModelProto":
    """Write ``model`` as an ONNX file and return its ModelProto.

    Parameters
    ----------
    model : Sequential
        Any fitted (or freshly initialised) Sequential: every activation,
        explicit and implicit (``bias=False``) bias, Dropout of either scale.
    path : str, os.PathLike or None
        The .onnx file, written atomically (complete or absent); None writes
        nothing and only returns the proto.
    opset : int >= 13
    input_name, output_name : str
        Names of the graph's input X (batch, n_features) and output
        (batch, n_outputs).

    Returns
    -------
    onnx.ModelProto
        Run with onnxruntime, ``session.run(None, {"X": X})[0]`` equals
        ``model.predict_proba(X)`` to rounding (the BLAS and onnxruntime
        sum in different orders: about 1e-6 in float32).

    Raises
    ------
    TypeError
        ``model`` is not a Sequential (a graph ``fastnn.Model`` cannot be
        exported), or a bad path, opset or name.
    ValueError
        opset < 13, or a layer or activation without an ONNX form.
    ImportError
        The onnx package is missing.
    """
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path (str or os.PathLike) or None, got {path!r}")
    proto = to_onnx(model, opset, input_name, output_name)
    if path is not None:
        path = Path(path)
        directory = path.parent if str(path.parent) else Path(".")
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(proto.SerializeToString())
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    return proto
