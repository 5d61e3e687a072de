"""Property-based tests of the public entry points (hypothesis).

The cases of tests/test_hardening.py are single points of input classes
(shapes, dtypes, layouts, parameters, files, command lines); these tests
sweep the classes. The property is always the door's contract: a call either
does the right thing (the value NumPy or a reference gives) or raises
``TypeError``/``ValueError`` (or the documented subclass) -- never another
exception, a crash, or a silent wrong answer.

Deterministic and bounded: every test runs under the ``PROPERTIES`` settings
(``derandomize=True``: the examples are a function of the test alone; no
example database; no deadline, since the machine is shared; a fixed budget
of examples), so CI sees the same examples on every run.
"""

import argparse
import io
import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import fastnn
from fastnn import Dense, Dropout, Sequential, Tensor
from fastnn.cli import build_parser
from fastnn.datasets import IDXError, read_idx
from fastnn.serialization import ModelFileError, load, save

PROPERTIES = settings(derandomize=True, database=None, deadline=None, max_examples=60,
                      suppress_health_check=[HealthCheck.too_slow,
                                             HealthCheck.function_scoped_fixture])

DOOR_ERRORS = (TypeError, ValueError)

# Values that a careless door lets through: every scalar kind.
odd_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.integers(2 ** 62, 2 ** 66),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=3),
    st.complex_numbers(max_magnitude=3), st.just([1, 2]), st.just(np.float32(2.0)),
    st.just(np.int64(4)), st.just(np.bool_(True)))

dtypes = st.sampled_from(["float32", "float64", ">f4", ">f8", "float16", "int64", "uint8",
                          "bool", "complex64", "<U2"])


def _array(shape, dtype, values):
    arr = np.asarray(values, dtype=np.float64)[: int(np.prod(shape))]
    arr = np.resize(arr, shape) if arr.size else np.zeros(shape)
    if np.dtype(dtype).kind == "U":
        return arr.astype(str).astype(dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        return arr.astype(dtype)


values_ = st.lists(st.floats(-1e3, 1e3) | st.sampled_from([np.nan, np.inf, 1e39]),
                  min_size=1, max_size=12)


def arrays_of(shape_strategy, dtype_strategy=dtypes):
    """Arrays of a shape from ``shape_strategy``, a dtype from ``dtype_strategy``."""
    return st.builds(_array, shape_strategy, dtype_strategy, values_)


any_shape = st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple)
arrays = arrays_of(any_shape)
real = st.sampled_from(["float32", "float64", ">f8", "int64", "bool"])
finite = st.lists(st.floats(-10, 10), min_size=1, max_size=12)


def shaped(*shape):
    """Mostly valid arrays of ``shape`` (real dtypes, finite), sometimes anything."""
    good = st.builds(_array, st.just(shape), real, finite)
    return st.one_of(good, good, arrays_of(st.just(shape)), arrays)


# ----------------------------------------------------------- Sequential door ---

MODEL = Sequential([Dense(3, 4, "tanh"), Dropout(0.2), Dense(4, 2, "softmax")], seed=0)


@PROPERTIES
@given(X=st.integers(1, 5).flatmap(lambda n: shaped(n, 3)), fortran=st.booleans(),
       step=st.sampled_from([1, 2]))
def test_predict_proba_is_right_or_refuses(X, fortran, step):
    X = np.asfortranarray(X) if fortran else X
    X = X[::step] if X.ndim else X
    try:
        out = MODEL.predict_proba(X)
    except DOOR_ERRORS:
        event("refused")
        return
    # Accepted: then it was a real, finite (n, 3) array, and the answer is
    # the answer for its float32 C-contiguous copy, bit for bit.
    ref = np.ascontiguousarray(np.asarray(X, dtype=np.float32))
    assert ref.ndim == 2 and ref.shape[1] == 3 and np.isfinite(ref).all()
    np.testing.assert_array_equal(out, MODEL.predict_proba(ref))
    assert out.shape == (X.shape[0], 2) and np.isfinite(out).all()


fit_values = st.one_of(odd_scalars, st.integers(1, 3))


@PROPERTIES
@given(epochs=fit_values, batch_size=fit_values, shuffle=odd_scalars,
       verbose=st.one_of(odd_scalars, st.sampled_from([0, 1, 2])),
       y=st.lists(st.integers(-1, 3) | st.floats(-1, 3), min_size=1, max_size=6))
def test_fit_arguments_work_or_are_named(epochs, batch_size, shuffle, verbose, y):
    model = Sequential([Dense(3, 2, "softmax")], seed=0)
    X = np.ones((len(y), 3), dtype=np.float32)
    try:
        model.fit(X, y, epochs=epochs, batch_size=batch_size, shuffle=shuffle,
                  verbose=verbose)
    except DOOR_ERRORS as exc:
        event("refused")
        assert str(exc)
        return
    assert all(np.isfinite(w).all() for w in model.get_weights())


@PROPERTIES
@given(weights=st.one_of(st.tuples(shaped(2, 2), shaped(2)).map(list),
                         st.lists(arrays, min_size=0, max_size=3)))
def test_set_weights_of_both_models(weights):
    class Graph(fastnn.Model):
        def __init__(self):
            super().__init__(seed=0)
            self.d = Dense(2, 2)

        def forward(self, x):
            return self.d(x)

    for model in (Sequential([Dense(2, 2, "softmax")], seed=0), Graph()):
        before = model.get_weights()
        try:
            model.set_weights(weights)
        except DOOR_ERRORS:
            event("refused")
            for a, b in zip(model.get_weights(), before):    # all or nothing
                np.testing.assert_array_equal(a, b)
            continue
        assert all(np.isfinite(w).all() for w in model.get_weights())


# ----------------------------------------------------------------- graph ops ---

shapes = st.lists(st.integers(0, 3), min_size=0, max_size=3).map(tuple)


consistent = st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)).flatmap(
    lambda d: st.tuples(st.just((d[0], d[1])), st.just((d[2], d[1])),
                        st.none() | st.just((d[2],))))


@PROPERTIES
@given(shapes_=st.one_of(consistent, st.tuples(shapes, shapes, st.none() | shapes)),
       dtype=st.sampled_from(["float32", "float64"]))
def test_linear_shapes(shapes_, dtype):
    xs, ws, bs = shapes_
    rng = np.random.default_rng(0)
    x, W = rng.random(xs).astype(dtype), rng.random(ws).astype(dtype)
    b = None if bs is None else rng.random(bs).astype(dtype)
    try:
        out = fastnn.linear(Tensor(x), Tensor(W, requires_grad=True),
                            None if b is None else Tensor(b))
    except DOOR_ERRORS:
        event("refused")
        assert not (x.ndim == 2 and W.ndim == 2 and x.shape[1] == W.shape[1]
                    and (b is None or b.shape == (W.shape[0],)))
        return
    expected = x @ W.T + (0 if b is None else b)
    np.testing.assert_allclose(out.data, expected, rtol=1e-5)


@PROPERTIES
@given(a=shapes, b=shapes, op=st.sampled_from(["add", "mul", "sub", "div", "maximum",
                                                "matmul"]))
def test_binary_ops_broadcast_like_numpy_or_refuse(a, b, op):
    rng = np.random.default_rng(1)
    x, y = rng.random(a) + 1, rng.random(b) + 1
    ref = {"add": np.add, "mul": np.multiply, "sub": np.subtract, "div": np.divide,
           "maximum": np.maximum, "matmul": np.matmul}[op]
    ours = {"add": lambda s, t: s + t, "mul": lambda s, t: s * t, "sub": lambda s, t: s - t,
            "div": lambda s, t: s / t, "maximum": fastnn.maximum,
            "matmul": lambda s, t: s @ t}[op]
    try:
        expected = ref(x, y)
    except (ValueError, TypeError):
        expected = None
    ta, tb = Tensor(x, requires_grad=True), Tensor(y, requires_grad=True)
    try:
        out = ours(ta, tb)
    except DOOR_ERRORS:
        event("refused")
        # Refused: NumPy refuses too, or it is a matmul beyond 1-D/2-D.
        assert expected is None or (op == "matmul" and max(x.ndim, y.ndim) > 2) \
            or (op == "matmul" and 0 in (x.ndim, y.ndim))
        return
    assert expected is not None
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)
    out.sum().backward()
    assert ta.grad.shape == x.shape and tb.grad.shape == y.shape


@PROPERTIES
@given(shape=st.lists(st.integers(1, 3), min_size=0, max_size=3).map(tuple),
       axis=st.one_of(st.integers(-4, 4), odd_scalars),
       fn=st.sampled_from(["softmax", "log_softmax"]))
def test_softmax_axis(shape, axis, fn):
    x = np.random.default_rng(2).random(shape)
    try:
        out = getattr(fastnn, fn)(Tensor(x), axis=axis)
    except DOOR_ERRORS:
        event("refused")
        return
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    p = e / e.sum(axis=axis, keepdims=True)
    np.testing.assert_allclose(out.data, p if fn == "softmax" else np.log(p), rtol=1e-12)


@PROPERTIES
@given(pair=st.one_of(
    st.integers(1, 3).flatmap(lambda n: st.tuples(
        st.builds(_array, st.just((n, 3)), real, finite) | arrays_of(st.just((n, 3))),
        st.lists(st.integers(0, 2) | st.integers(-1, 3), min_size=n, max_size=n))),
    st.tuples(arrays, st.one_of(st.lists(st.integers(-1, 3), max_size=4), arrays))),
    fn=st.sampled_from(["cross_entropy", "binary_cross_entropy", "mse"]))
def test_losses_value_or_refuse(pair, fn):
    logits, labels = pair
    try:
        out = getattr(fastnn, fn)(Tensor(logits) if logits.dtype.kind == "f" else logits,
                                  labels)
    except DOOR_ERRORS:
        event("refused")
        return
    assert out.data.size == 1


@PROPERTIES
@given(shape=st.lists(st.integers(1, 3), min_size=0, max_size=3).map(tuple),
       arg=st.one_of(odd_scalars, st.integers(-4, 4),
                     st.lists(st.integers(-4, 6), max_size=3).map(tuple)),
       op=st.sampled_from(["sum", "mean", "reshape", "transpose", "broadcast_to"]))
def test_shape_ops_with_any_argument(shape, arg, op):
    x = np.random.default_rng(3).random(shape)
    t = Tensor(x, requires_grad=True)
    call = {"sum": lambda: t.sum(axis=arg), "mean": lambda: t.mean(axis=arg),
            "reshape": lambda: t.reshape(arg), "transpose": lambda: fastnn.transpose(t, arg),
            "broadcast_to": lambda: t.broadcast_to(arg)}[op]
    try:
        out = call()
    except DOOR_ERRORS:
        event("refused")
        return
    ref = {"sum": lambda: x.sum(axis=arg), "mean": lambda: x.mean(axis=arg),
           "reshape": lambda: x.reshape(arg), "transpose": lambda: np.transpose(x, arg),
           "broadcast_to": lambda: np.broadcast_to(x, arg)}[op]()
    np.testing.assert_allclose(out.data, ref, rtol=1e-12)
    out.sum().backward()
    assert t.grad.shape == x.shape


# ------------------------------------------------------------------ Rng seeds ---

@PROPERTIES
@given(seed=st.one_of(odd_scalars, st.integers(-2, 2 ** 64 + 2), st.integers(0, 2 ** 64 - 1)))
def test_rng_seed(seed):
    valid = (isinstance(seed, (int, np.integer)) and not isinstance(seed, (bool, np.bool_))
             and 0 <= seed < 2 ** 64)
    try:
        rng = fastnn.Rng(seed)
    except DOOR_ERRORS:
        event("refused")
        assert not valid
        return
    assert valid
    assert (rng.uniform(4) == fastnn.Rng(int(seed)).uniform(4)).all()


# ------------------------------------------------------------ mutated files ---

@pytest.fixture(scope="module")
def saved_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("props") / "net.npz"
    save(Sequential([Dense(3, 4, "relu"), Dropout(0.1, scale="test"),
                     Dense(4, 2, "softmax")], seed=0), path)
    return path.read_bytes()


mutations = st.lists(st.tuples(st.sampled_from(["flip", "cut", "insert", "zero"]),
                               st.floats(0, 1), st.integers(1, 255)), min_size=1, max_size=3)


@PROPERTIES
@given(steps=mutations)
def test_load_of_a_mutated_file(steps, saved_bytes, tmp_path):
    data = bytearray(saved_bytes)
    for kind, where, value in steps:
        i = min(int(where * len(data)), max(len(data) - 1, 0))
        if kind == "flip" and data:
            data[i] ^= value
        elif kind == "cut":
            del data[i:]
        elif kind == "insert":
            data[i:i] = bytes([value]) * value
        elif data:
            data[i:i + value] = bytes(len(data[i:i + value]))
    path = tmp_path / "mutated.npz"
    path.write_bytes(bytes(data))
    try:
        model = load(path)
    except ModelFileError as exc:
        event("refused")
        assert "mutated.npz" in str(exc)
        return
    assert all(np.isfinite(w).all() for w in model.get_weights())


@PROPERTIES
@given(arch=st.recursive(st.none() | st.booleans() | st.integers(-2, 10 ** 7) | st.floats()
                         | st.text(max_size=8),
                         lambda inner: st.lists(inner, max_size=3)
                         | st.dictionaries(st.sampled_from(
                             ["format", "version", "loss", "dtype", "seed", "layers", "type",
                              "n_in", "n_out", "activation", "init", "bias", "p", "scale"]),
                             inner, max_size=6), max_leaves=20),
       layers=st.booleans())
def test_load_of_a_crafted_architecture(arch, layers, tmp_path):
    if layers and isinstance(arch, dict):   # closer to a real file: more checks reached
        arch = {"format": "fastnn.Sequential", "version": 1, "loss": "mse",
                "dtype": "float64", "seed": 0, **arch}
    buffer = io.BytesIO()
    np.savez(buffer, architecture=np.array(json.dumps(arch)),
             W0=np.zeros((2, 3)), b0=np.zeros(2))
    path = tmp_path / "crafted.npz"
    path.write_bytes(buffer.getvalue())
    try:
        load(path)
    except ModelFileError as exc:
        event("refused")
        assert "crafted.npz" in str(exc)


@PROPERTIES
@given(data=st.binary(max_size=40), magic=st.booleans(),
       cut=st.none() | st.integers(0, 50))
def test_read_idx_on_any_bytes(data, magic, cut, tmp_path):
    if magic:      # a header that fits the payload, then perhaps a mutation of it
        body = data[1:]
        dims = [len(body)] if data[:1] != b"\x00" else [1, len(body)]
        data = (bytes([0, 0, 0x08, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)
                + body)
    path = tmp_path / "any.idx"
    path.write_bytes(data if cut is None else data[:cut])
    try:
        array = read_idx(path)
    except IDXError as exc:
        event("refused")
        assert "any.idx" in str(exc)
        return
    assert array.dtype.isnative and array.flags.writeable


# ------------------------------------------------------------- command line ---

options = st.sampled_from(["--layers", "--lr", "--epochs", "--batch-size", "--dropout",
                           "--weight-decay", "--momentum", "--seed", "--limit", "--save",
                           "--dtype", "--optimizer", "--activation", "--schedule"])
values = st.one_of(st.text(max_size=6), st.sampled_from(
    ["0", "-1", "1e-4", "-1e-4", "nan", "inf", "30,30", "30,", "", "1.5", "3", "/dev/null/x",
     "model.npz", "no/such/dir/m.npz", "100000000000"]))


@PROPERTIES
@given(pairs=st.lists(st.tuples(options, values), min_size=1, max_size=3))
def test_cli_arguments_parse_or_exit_2(pairs, tmp_path, capsys):
    argv = ["train"] + [f"{option}={value}" for option, value in pairs]
    cwd = os.getcwd()
    os.chdir(tmp_path)          # relative --save paths resolve in an empty directory
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        event("refused")
        assert exc.code == 2
        err = capsys.readouterr().err
        assert "error: argument" in err, err
        return
    finally:
        os.chdir(cwd)
    assert isinstance(args, argparse.Namespace)
