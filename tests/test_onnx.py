"""fastnn.onnx.export: the file onnxruntime runs computes predict_proba.

Every activation (hidden and output), both dtypes, explicit and implicit
bias, dropout of either scale, trained weights (not only the initial ones),
the dynamic batch dimension, the graph's shape (opset, operators, names),
and the errors for what cannot be exported. onnx and onnxruntime come with
the ``test`` extra: without them these tests fail.
"""

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import fastnn
from fastnn import Dense, Dropout, Sequential
from fastnn.onnx import MIN_OPSET, ONNX_ACTIVATIONS, export

#: Agreement of onnxruntime with predict_proba (sums in another order).
ATOL = {"float32": 1e-5, "float64": 1e-12}


def _run(path_or_proto, X):
    source = path_or_proto if isinstance(path_or_proto, str) else \
        path_or_proto.SerializeToString()
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: X})[0]


def _trained(model, n_out, dtype, rng):
    X = rng.standard_normal((64, model.n_features)).astype(dtype)
    y = rng.integers(0, 2 if n_out == 1 else n_out, 64)
    model.fit(X, y, epochs=2, batch_size=16, optimizer=fastnn.SGD(lr=0.1), verbose=0)
    return X


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("hidden", sorted(ONNX_ACTIVATIONS))
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "implicit-bias"])
def test_onnxruntime_matches_predict_proba(hidden, dtype, bias, tmp_path, rng):
    model = Sequential([Dense(5, 7, hidden, bias=bias), Dense(7, 4, "relu", bias=bias),
                        Dense(4, 3, "softmax", bias=bias)], dtype=dtype, seed=2)
    X = _trained(model, 3, dtype, rng)
    path = tmp_path / "net.onnx"
    proto = export(model, path)
    assert isinstance(proto, onnx.ModelProto) and path.is_file()
    assert onnx.load(str(path)) == proto
    got = _run(str(path), X)
    assert got.dtype == np.dtype(dtype) and got.shape == (64, 3)
    np.testing.assert_allclose(got, model.predict_proba(X), rtol=0, atol=ATOL[dtype])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("output, loss, n_out", [
    ("softmax", "cross_entropy", 4), ("sigmoid", "binary_cross_entropy", 1),
    ("sigmoid", "binary_cross_entropy", 3), ("identity", "mse", 2), ("tanh", "mse", 2),
    ("relu", "mse", 2),
])
def test_every_output_activation(output, loss, n_out, dtype, rng):
    model = Sequential([Dense(6, 5, "tanh"), Dense(5, n_out, output)], loss=loss,
                       dtype=dtype, seed=4)
    X = _trained(model, n_out, dtype, rng)
    np.testing.assert_allclose(_run(export(model, None), X), model.predict_proba(X), rtol=0,
                               atol=ATOL[dtype])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("scale", ["train", "test"])
def test_dropout_inference_scaling(scale, dtype, rng):
    model = Sequential([Dropout(0.2, scale=scale), Dense(6, 8, "relu"),
                        Dropout(0.5, scale=scale), Dense(8, 3, "softmax"),
                        ], dtype=dtype, seed=5)
    X = _trained(model, 3, dtype, rng)
    proto = export(model, None)
    muls = [n for n in proto.graph.node if n.op_type == "Mul"]
    assert len(muls) == (2 if scale == "test" else 0)
    np.testing.assert_allclose(_run(proto, X), model.predict_proba(X), rtol=0,
                               atol=ATOL[dtype])


def test_graph_shape_names_and_dynamic_batch(rng):
    model = Sequential([Dense(4, 3, "sigmoid"), Dense(3, 2, "softmax", bias=False)], seed=0)
    proto = export(model, None, opset=17, input_name="pixels", output_name="p")
    assert [n.op_type for n in proto.graph.node] == ["Gemm", "Sigmoid", "Gemm", "Softmax"]
    assert proto.opset_import[0].version == 17
    softmax = proto.graph.node[-1]
    assert [(a.name, a.i) for a in softmax.attribute] == [("axis", -1)]
    assert len(proto.graph.node[2].input) == 2          # no bias input for bias=False
    (inp,), (out,) = proto.graph.input, proto.graph.output
    assert (inp.name, out.name) == ("pixels", "p")
    dims = [(d.dim_param, d.dim_value) for d in inp.type.tensor_type.shape.dim]
    assert dims == [("batch", 0), ("", 4)]
    assert out.type.tensor_type.shape.dim[0].dim_param == "batch"
    assert proto.producer_name == "fastnn"
    assert export(model, None).opset_import[0].version == MIN_OPSET == 13
    for n in (1, 2, 333):     # any batch size, one session
        X = rng.random((n, 4)).astype(np.float32)
        np.testing.assert_allclose(_run(proto, X), model.predict_proba(X), rtol=0, atol=1e-5)


def test_lazy_attribute_and_written_file_is_atomic(tmp_path):
    model = Sequential([Dense(2, 2, "softmax")], seed=0)
    assert fastnn.onnx.export is export
    export(model, tmp_path / "a.onnx")
    assert [p.name for p in tmp_path.iterdir()] == ["a.onnx"]


class _GraphModel(fastnn.Model):
    def __init__(self):
        super().__init__(seed=0)
        self.dense = Dense(2, 2)

    def forward(self, x):
        return self.dense(x)


@pytest.mark.parametrize("call, kind, fragment", [
    (lambda m: export(_GraphModel(), None), TypeError, "_GraphModel"),
    (lambda m: export(Dense(2, 2), None), TypeError, "Dense"),
    (lambda m: export(m, None, opset=12), ValueError, "opset must be >= 13"),
    (lambda m: export(m, None, opset=13.0), TypeError, "opset"),
    (lambda m: export(m, 3), TypeError, "path"),
    (lambda m: export(m, None, input_name=""), TypeError, "input_name"),
    (lambda m: export(m, None, input_name="a", output_name="a"), ValueError, "differ"),
])
def test_clear_errors_for_what_cannot_be_exported(call, kind, fragment):
    model = Sequential([Dense(2, 2, "softmax")], seed=0)
    with pytest.raises(kind, match=fragment):
        call(model)


def test_a_missing_path_directory_leaves_nothing(tmp_path):
    model = Sequential([Dense(2, 2, "softmax")], seed=0)
    with pytest.raises(FileNotFoundError):
        export(model, tmp_path / "missing" / "a.onnx")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("n_classes", [2, 3])
def test_scikit_learn_drop_ins_export_their_predictions(n_classes, rng):
    from sklearn.datasets import make_classification, make_regression

    from fastnn.sklearn import MLPClassifier, MLPRegressor

    X, y = make_classification(60, 6, n_informative=4, n_classes=n_classes, random_state=0)
    X = X.astype(np.float32)
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=20, random_state=0).fit(X, y)
    session = ort.InferenceSession(export(clf, None).SerializeToString())
    got = session.run(None, {"X": X})[0]
    np.testing.assert_allclose(got, clf.predict_proba(X), rtol=1e-5, atol=1e-6)
    Xr, yr = make_regression(40, 4, n_targets=n_classes - 1, random_state=0)
    reg = MLPRegressor(hidden_layer_sizes=(5,), max_iter=20, random_state=0).fit(Xr, yr)
    session = ort.InferenceSession(export(reg, None).SerializeToString())
    got = session.run(None, {"X": Xr})[0]
    np.testing.assert_allclose(got.reshape(reg.predict(Xr).shape), reg.predict(Xr), rtol=1e-10)
    with pytest.raises(ValueError, match="not fitted"):
        export(MLPClassifier(), None)
