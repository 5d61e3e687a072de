"""The entry points found weak by a fuzzing pass (issue 11, part 6), each fixed
and pinned here: what crashed or read past an array, what gave silent
garbage, and what raised an error naming neither the argument nor the value.

Every check asserts the exception type and that the message names the
argument (or option, or variable) and echoes the bad value. The classes of
input behind these cases are swept by tests/test_properties.py (hypothesis).
"""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import fastnn
from children import CHILD_CWD, child_env
from fastnn import Dense, Sequential, Tensor
from fastnn.blas_threads import DEFAULT_MIN_WORK, _env_number, _positive_int, _work
from fastnn.cli import main
from fastnn.datasets import IDXError, read_idx


def _raises(kind, *fragments):
    """pytest.raises(kind) whose message must contain every fragment."""
    class _Check:
        def __enter__(self):
            self.ctx = pytest.raises(kind)
            self.info = self.ctx.__enter__()
            return self.info

        def __exit__(self, *exc):
            handled = self.ctx.__exit__(*exc)
            message = str(self.info.value)
            for fragment in fragments:
                assert fragment in message, f"{fragment!r} not in {message!r}"
            return handled
    return _Check()


# ------------------------------------------------------------------ crashes ---

def test_linear_checks_the_bias_shape_before_the_kernel_reads_it():
    x = Tensor(np.ones((2, 3)))
    # Formerly a segfault: the bias kernel read 4,000,000 values of a 1-value b.
    with _raises(ValueError, "b must have shape (4000000,)", "(1,)"):
        fastnn.linear(x, Tensor(np.zeros((4_000_000, 3))), Tensor(np.zeros(1)))
    with _raises(ValueError, "b must have shape (4,)", "(1,)"):
        fastnn.linear(x, Tensor(np.zeros((4, 3))), Tensor(np.zeros(1)))
    with _raises(ValueError, "b must have shape (4,)", "(1, 4)"):
        fastnn.linear(x, Tensor(np.zeros((4, 3))), Tensor(np.zeros((1, 4))))
    with _raises(TypeError, "b must be a Tensor or a numpy array", "list"):
        fastnn.linear(x, Tensor(np.zeros((4, 3))), [0.0, 0.0, 0.0, 0.0])
    with _raises(ValueError, "W must be 2-D", "(3,)"):
        fastnn.linear(x, Tensor(np.zeros(3)))
    with _raises(TypeError, "W must hold floats", "int64"):
        fastnn.linear(x, np.zeros((4, 3), dtype=np.int64))
    # A right-shaped bias still works, as an array or a Tensor.
    out = fastnn.linear(x, np.ones((4, 3)), np.arange(4.0))
    np.testing.assert_array_equal(out.data, 3.0 + np.arange(4.0)[None, :].repeat(2, 0))


# ----------------------------------------------------------- silent garbage ---

@pytest.mark.parametrize("scalar", [np.complex128(1j), np.complex64(1j), 1j])
def test_complex_scalars_do_not_make_a_complex_tensor(scalar):
    t = Tensor(np.ones(2, dtype=np.float32))
    for combine in (lambda: t * scalar, lambda: scalar + t, lambda: t - scalar):
        with _raises(TypeError, "complex"):
            combine()


class _Tiny(fastnn.Model):
    def __init__(self):
        super().__init__(seed=0)
        self.dense = Dense(3, 2, "softmax")

    def forward(self, x):
        return self.dense(x, logits=True)


@pytest.mark.parametrize("bad, kind, shown", [
    (np.nan, ValueError, "nan"), (np.inf, ValueError, "inf"),
    (1e300, ValueError, "1e+300"), (1j, TypeError, "complex"),
])
def test_model_set_weights_refuses_what_sequential_refuses(bad, kind, shown):
    model = _Tiny()
    before = model.get_weights()
    W = np.zeros((2, 3), dtype=np.complex128 if kind is TypeError else np.float64)
    W[1, 2] = bad
    with _raises(kind, "weights[0]", shown):
        model.set_weights([W, np.zeros(2)])
    for a, b in zip(model.get_weights(), before):   # nothing copied
        np.testing.assert_array_equal(a, b)


def test_layer_on_an_array_checks_its_input():
    layer = Dense(3, 2)
    with _raises(TypeError, "X must hold real numbers", "complex"):
        layer(np.ones((2, 3)) * 1j)
    with _raises(ValueError, "X contains NaN or inf", "X[1, 0] = nan"):
        layer(np.array([[1.0, 2, 3], [np.nan, 0, 0]]))
    with _raises(ValueError, "X must be 2-D", "(3,)"):
        layer(np.ones(3))
    with _raises(ValueError, "n_in=3", "(2, 4)"):
        layer(np.ones((2, 4)))
    with _raises(TypeError, "X must be a float array", "complex"):
        fastnn.Dropout(0.5, scale="test")(np.ones((2, 3)) * 1j)


@pytest.mark.parametrize("seed, kind", [
    (1.5, TypeError), (True, TypeError), ("1", TypeError), (None, TypeError),
    (-1, ValueError), (2 ** 64, ValueError),
])
def test_rng_refuses_what_is_not_a_64_bit_seed(seed, kind):
    with _raises(kind, "Rng seed", repr(seed)):
        fastnn.Rng(seed)


def test_rng_accepts_every_64_bit_seed():
    for seed in (0, 1, np.uint64(2 ** 64 - 1), 2 ** 63, np.int64(7)):
        fastnn.Rng(seed).uniform(2)
    assert (fastnn.Rng(np.uint64(5)).uniform(3) == fastnn.Rng(5).uniform(3)).all()


@pytest.mark.parametrize("argv, option, shown", [
    (["train", "--save="], "--save", "''"),
    (["train", "--save", " "], "--save", "' '"),
    (["train", "--save", "no/such/dir/model.npz"], "--save", "'no/such/dir'"),
    (["train", "--save", "."], "--save", "'.'"),
    (["experiment", "depth", "--out", "/dev/null/x"], "--out", "'/dev/null/x'"),
    (["experiment", "depth", "--out", "/dev/null"], "--out", "'/dev/null'"),
    (["experiment", "depth", "--out", ""], "--out", "''"),
])
def test_cli_paths_are_checked_before_anything_runs(argv, option, shown, capsys, tmp_path,
                                                    monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert option in err and shown in err, err


def test_cli_huge_layer_is_an_argument_error_not_a_traceback(capsys):
    # The network is built before the data is read: no MNIST needed here.
    with pytest.raises(SystemExit) as info:
        main(["train", "--layers", "100000000000", "--data-dir", "/nonexistent"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--layers" in err and "Dense(784, 100000000000" in err and "TiB" in err, err


# --------------------------------------------------------------- raw errors ---

@pytest.mark.parametrize("dtype", [">f4", ">f8", np.dtype("<f4").newbyteorder(">")])
def test_non_native_dtype_is_refused_at_the_door(dtype):
    if np.dtype(dtype).isnative:
        pytest.fail("this test assumes a little-endian machine")
    with _raises(ValueError, "dtype", "byte order"):
        Sequential([Dense(3, 2, "softmax")], dtype=dtype)
    with _raises(ValueError, "dtype", "byte order"):
        _TinyDtype(dtype)
    # Data in a foreign byte order is fine: it is converted at the door.
    model = Sequential([Dense(3, 2, "softmax")], seed=0)
    X = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(model.predict_proba(X.astype(dtype)),
                                  model.predict_proba(X))
    t = Tensor(X.astype(">f8"))
    assert t.dtype.isnative and t.dtype == np.float64


class _TinyDtype(fastnn.Model):
    def __init__(self, dtype):
        super().__init__(seed=0, dtype=dtype)

    def forward(self, x):
        return x


@pytest.mark.parametrize("text", ["abc", "0", "-3", "1.5", "nan"])
def test_bad_thread_variable_warns_naming_it(text):
    with pytest.warns(RuntimeWarning, match=f"FASTNN_NUM_THREADS={text!r}"):
        with _environ(FASTNN_NUM_THREADS=text):
            assert _env_number("FASTNN_NUM_THREADS", _positive_int, None) is None


@pytest.mark.parametrize("text", ["xyz", "-1", "nan"])
def test_bad_min_work_variable_warns_naming_it(text):
    with pytest.warns(RuntimeWarning, match=f"FASTNN_GEMM_MIN_WORK={text!r}"):
        with _environ(FASTNN_GEMM_MIN_WORK=text):
            assert _env_number("FASTNN_GEMM_MIN_WORK", _work, DEFAULT_MIN_WORK) \
                == DEFAULT_MIN_WORK


def test_good_variables_are_read():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with _environ(FASTNN_NUM_THREADS=" 3 ", FASTNN_GEMM_MIN_WORK="1e5"):
            assert _env_number("FASTNN_NUM_THREADS", _positive_int, None) == 3
            assert _env_number("FASTNN_GEMM_MIN_WORK", _work, 0) == 1e5


def test_import_survives_bad_variables():
    # The variables are read when the BLAS policy loads (the first compiled
    # call, blas_threads.policy()), not at import.
    env = child_env(FASTNN_NUM_THREADS="abc", FASTNN_GEMM_MIN_WORK="xyz")
    code = "import fastnn; print('imported'); fastnn.blas_threads.policy()"
    done = subprocess.run([sys.executable, "-c", code], cwd=CHILD_CWD,
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0 and "imported" in done.stdout, done.stderr
    assert "FASTNN_NUM_THREADS='abc'" in done.stderr
    assert "FASTNN_GEMM_MIN_WORK='xyz'" in done.stderr


class _environ:
    def __init__(self, **values):
        self.values = values

    def __enter__(self):
        self.saved = {k: os.environ.get(k) for k in self.values}
        os.environ.update(self.values)

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_huge_dense_says_which_layer_and_how_many_bytes():
    with _raises(MemoryError, "Dense(1099511627776, 4", "4,398,046,511,104 weights",
                 "32.0 TiB"):
        Dense(2 ** 40, 4)


@pytest.mark.parametrize("make", [lambda: fastnn.Adam(eps=1e-50),
                                  lambda: fastnn.Adagrad(eps=1e-50),
                                  lambda: fastnn.SGD(lr=1e-50)])
def test_settings_that_vanish_in_float32_are_refused(make):
    X = np.eye(4, 3, dtype=np.float32)
    y = np.array([0, 1, 0, 1])
    optimizer = make()
    name = "lr" if isinstance(optimizer, fastnn.SGD) else "eps"
    model = Sequential([Dense(3, 2, "softmax")], dtype="float32", seed=0)
    before = model.get_weights()
    if name == "lr" and optimizer.momentum == 0:
        optimizer = fastnn.SGD(lr=1e-50, momentum=0.5)   # plain SGD keeps no state
    with _raises(ValueError, f"{name}=1e-50", "float32"):
        model.fit(X, y, epochs=1, optimizer=optimizer, verbose=0)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    # In float64 the same settings are fine.
    Sequential([Dense(3, 2, "softmax")], dtype="float64", seed=0).fit(
        X.astype(np.float64), y, epochs=1, optimizer=make(), verbose=0)


def test_graph_errors_name_the_argument_and_the_value():
    leaf = Tensor(np.ones(3), requires_grad=True)
    with _raises(RuntimeError, "non-scalar", "(3,)", "gradient"):
        leaf.exp().backward()
    with _raises(ValueError, "gradient has shape (2,)", "(3,)"):
        leaf.exp().backward(np.ones(2))
    with _raises(TypeError, "gradient must hold real numbers", "<U1"):
        leaf.exp().backward(np.array(["a", "b", "c"]))
    with _raises(TypeError, "params", "NoneType"):
        fastnn.grad(leaf.sum(), None)
    with _raises(TypeError, "params", "int"):
        fastnn.grad(leaf.sum(), 3)
    with _raises(TypeError, "axis", "'x'"):
        fastnn.softmax(Tensor(np.ones((2, 3))), axis="x")
    with _raises(ValueError, "axis 5", "2 dimensions"):
        fastnn.softmax(Tensor(np.ones((2, 3))), axis=5)
    with _raises(TypeError, "axis", "1.0"):
        fastnn.log_softmax(Tensor(np.ones((2, 3))), axis=1.0)
    with _raises(ValueError, "log_softmax", "scalar"):
        fastnn.log_softmax(Tensor(1.0))


def test_losses_take_list_logits_or_name_them():
    # A list is converted by the dtype rule (float64), like every functional op.
    loss = fastnn.cross_entropy([[1.0, 2.0], [3.0, 4.0]], [0, 1])
    expected = np.mean([np.log1p(np.exp(1.0)), np.log1p(np.exp(-1.0))])
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-12)
    with _raises(TypeError, "cross_entropy", "list"):
        fastnn.functional.CrossEntropy.apply([[1.0, 2.0]], [0])
    with _raises(TypeError, "mse", "int64"):
        fastnn.functional.MSE.apply(np.ones((2, 2), dtype=np.int64), [0, 1])


def test_train_step_names_a_bad_loss():
    p = Tensor(np.ones(3), requires_grad=True)
    with _raises(TypeError, "loss must be a one-element Tensor", "3.0"):
        fastnn.train_step(3.0, [p], fastnn.SGD(lr=0.1))
    with _raises(TypeError, "loss must be a one-element Tensor", "(3,)"):
        fastnn.train_step(p * 2, [p], fastnn.SGD(lr=0.1))
    with _raises(TypeError, "params must be a list of Tensors", "Tensor"):
        fastnn.train_step((p * p).sum(), p, fastnn.SGD(lr=0.1))


def test_model_fit_names_a_single_callback():
    X, y = np.eye(4, 3, dtype=np.float32), np.array([0, 1, 0, 1])
    with _raises(TypeError, "callbacks", "EarlyStopping", "wrap it in a list"):
        _Tiny().fit(X, y, callbacks=fastnn.EarlyStopping())


def _idx(ndim, dims=None):
    dims = dims if dims is not None else [1] * ndim
    return bytes([0, 0, 0x08, ndim]) + b"".join(d.to_bytes(4, "big") for d in dims) + b"\x07"


def test_read_idx_refuses_more_dimensions_than_numpy_has(tmp_path):
    path = tmp_path / "deep.idx"
    path.write_bytes(_idx(65))
    with _raises(IDXError, str(path), "65 dimensions"):
        read_idx(path)
    path.write_bytes(_idx(3))
    assert read_idx(path).shape == (1, 1, 1)


# ------------------------------------------------- fastnn.serialization.load ---

def _saved(tmp_path, name="net.npz"):
    model = Sequential([Dense(3, 4, "tanh"), fastnn.Dropout(0.2, scale="test"),
                        Dense(4, 2, "softmax", bias=False)], seed=1)
    return model, fastnn.serialization.save(model, tmp_path / name)


def _crafted(path, arch, **arrays):
    import json
    np.savez(path, architecture=np.array(json.dumps(arch)), **arrays)
    return path


def _arch(*layers, version=1):
    return {"format": "fastnn.Sequential", "version": version, "loss": "cross_entropy",
            "dtype": "float32", "seed": 0, "layers": list(layers)}


def _dense(n_in, n_out, bias=True):
    return {"type": "Dense", "n_in": n_in, "n_out": n_out, "activation": "softmax",
            "init": "normal", "bias": bias}


def test_load_truncated_files_name_the_file(tmp_path):
    from fastnn.serialization import ModelFileError, load
    _, path = _saved(tmp_path)
    data = path.read_bytes()
    cut = tmp_path / "cut.npz"
    for size in sorted({0, 1, 10, 100, len(data) // 3, len(data) // 2, len(data) - 30,
                        len(data) - 1}):
        cut.write_bytes(data[:size])
        with _raises(ModelFileError, "cut.npz"):
            load(cut)


def test_load_corrupted_bytes_name_the_file(tmp_path):
    from fastnn.serialization import ModelFileError, load
    model, path = _saved(tmp_path)
    data = bytearray(path.read_bytes())
    bad = tmp_path / "flipped.npz"
    X = np.random.default_rng(0).random((5, 3)).astype(np.float32)
    for i in range(0, len(data), 13):
        flipped = data.copy()
        flipped[i] ^= 0xFF
        bad.write_bytes(bytes(flipped))
        try:
            loaded = load(bad)
        except ModelFileError as exc:
            assert "flipped.npz" in str(exc)
        else:   # a flip the format cannot see (zip padding, a comment): same model
            np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_load_refuses_a_newer_format_version(tmp_path):
    from fastnn.serialization import ModelFileError, load
    path = _crafted(tmp_path / "v2.npz", _arch(_dense(3, 2), version=2),
                    W0=np.zeros((2, 3), np.float32), b0=np.zeros(2, np.float32))
    with _raises(ModelFileError, "v2.npz", "version 2", "newer"):
        load(path)


def test_load_checks_declared_shapes_before_allocating(tmp_path):
    import tracemalloc
    from fastnn.serialization import ModelFileError, load
    path = _crafted(tmp_path / "huge.npz", _arch(_dense(10 ** 6, 10 ** 6)),
                    W0=np.zeros((2, 3), np.float32), b0=np.zeros(2, np.float32))
    tracemalloc.start()
    try:
        with _raises(ModelFileError, "huge.npz", "W0 has shape (2, 3)", "(1000000, 1000000)"):
            load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2 ** 20


@pytest.mark.parametrize("arch, arrays, fragment", [
    (_arch(_dense(3, 2)), {"W0": np.zeros((2, 3), np.float64), "b0": np.zeros(2)},
     "stored as float64"),
    (_arch(_dense(3, 2), _dense(5, 2)), {}, "n_in=5"),
    (_arch(_dense(3, 2), _dense(2, 2)), {"W0": np.zeros((2, 3), np.float32),
                                         "b0": np.zeros(2, np.float32)},
     "missing weight array 'W1'"),
    (_arch(_dense(3, 0)), {}, "n_out=0"),
    (_arch(_dense(3, 2.0)), {}, "n_out=2.0"),
    (_arch(_dense(True, 2)), {}, "n_in=True"),
    (_arch({**_dense(3, 2), "activation": "swish"}), {}, "activation 'swish'"),
    (_arch({**_dense(3, 2), "bias": 1}), {}, "bias=1"),
    (_arch({"type": "Dropout", "p": 1.5, "scale": "train"}, _dense(3, 2)), {}, "p=1.5"),
    (_arch({"type": "Dropout", "p": 0.5}), {}, "no scale"),
    (_arch(), {}, "non-empty list"),
    ({**_arch(_dense(3, 2)), "loss": "hinge"}, {}, "loss 'hinge'"),
    ({**_arch(_dense(3, 2)), "dtype": "float16"}, {}, "dtype 'float16'"),
    ({**_arch(_dense(3, 2)), "seed": -1}, {}, "seed -1"),
    ({**_arch(_dense(3, 2)), "version": "1"}, {}, "version '1'"),
    (["not", "a", "dict"], {}, "not a fastnn model archive"),
    (_arch(_dense(3, 2)), {"W0": np.full((2, 3), np.nan, np.float32),
                           "b0": np.zeros(2, np.float32)}, "NaN or inf"),
    (_arch(_dense(3, 2)), {"W0": np.zeros((2, 3), object), "b0": np.zeros(2, np.float32)},
     "stored as object"),
])
def test_load_refuses_another_architecture(tmp_path, arch, arrays, fragment):
    from fastnn.serialization import ModelFileError, load
    path = tmp_path / "other.npz"
    np.savez(path, architecture=np.array(__import__("json").dumps(arch)), **arrays)
    with _raises(ModelFileError, "other.npz", fragment):
        load(path)


@pytest.mark.parametrize("entry, fragment", [
    (np.array("[" * 100_000 + "]" * 100_000), "nested too deeply"),
    (np.array("{'format': 1}"), "not valid JSON"),
    (np.array(["a", "b"]), "one JSON string"),
    (np.array({"format": "fastnn.Sequential"}, dtype=object), "one JSON string"),
    (np.zeros(3), "one JSON string"),
])
def test_load_refuses_a_bad_architecture_entry(tmp_path, entry, fragment):
    from fastnn.serialization import ModelFileError, load
    path = tmp_path / "arch.npz"
    np.savez(path, architecture=entry)
    with _raises(ModelFileError, "arch.npz", fragment):
        load(path)


def test_load_of_a_directory_or_non_path(tmp_path):
    from fastnn.serialization import ModelFileError, load
    with _raises(ModelFileError, str(tmp_path)):
        load(tmp_path)
    with _raises(TypeError, "path", "3"):
        load(3)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "absent.npz")


def test_shape_ops_name_their_arguments():
    t = Tensor(np.ones((2, 3)), requires_grad=True)
    with _raises(ValueError, "sum: axis 5", "(2, 3)"):
        t.sum(axis=5)
    with _raises(TypeError, "axis must be", "'a'"):
        t.sum(axis="a")
    with _raises(TypeError, "axis must be", "1.5"):
        fastnn.mean(t, axis=1.5)
    with _raises(ValueError, "mean: axis (0, 0)"):
        t.mean(axis=(0, 0))
    with _raises(TypeError, "shape must be", "(-2, 3)"):
        t.reshape(-2, 3)
    with _raises(TypeError, "shape must be", "'a'"):
        t.reshape("a")
    with _raises(ValueError, "transpose: axes (0, 0)", "(2, 3)"):
        t.transpose(0, 0)
    with _raises(ValueError, "transpose: axes (0, 1, 2)"):
        fastnn.transpose(t, (0, 1, 2))
    with _raises(TypeError, "tensors must be a list or tuple", "Tensor"):
        fastnn.concatenate(t)
    with _raises(TypeError, "Tensor data", "inhomogeneous"):
        Tensor([[1.0, 2.0], [3.0]])
    # What stays valid: negative axes, -1 in a shape, lists as axes.
    assert t.transpose(-1, -2).shape == (3, 2) and t.reshape(-1).shape == (6,)
    assert t.sum(axis=[0, 1]).shape == () and fastnn.transpose(t, [1, 0]).shape == (3, 2)
