"""Tests of fastnn.datasets: the IDX reader, the search order, downloads, real data.

The real datasets are read from ``$FASTNN_DATA`` (CI: ``FASTNN_DATA=../shared/data``,
holding ``mnist/`` and ``fashion-mnist/`` with the four original .gz files).
Tests that need them fail, not skip, when they are missing.

Downloads are tested against a local HTTP server on 127.0.0.1; every test runs
with ``MIRRORS`` pointing at a closed local port unless it sets its own, so no
test can reach the real network.
"""

import copy
import functools
import gzip
import hashlib
import http.server
import os
import socket
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from fastnn import datasets
from fastnn.datasets import downloads, locate
from fastnn.datasets import (
    DatasetNotFoundError,
    DownloadError,
    IDXError,
    candidate_dirs,
    cache_dir,
    download,
    download_file,
    load_fashion_mnist,
    load_mnist,
    locate_files,
    read_idx,
)

# Read before the autouse fixture below removes FASTNN_DATA from the environment.
_REAL_DATA_ENV = os.environ.get("FASTNN_DATA", "")
REAL_DATA = Path(_REAL_DATA_ENV).expanduser().absolute() if _REAL_DATA_ENV else None
# Module constants as shipped, before any test monkeypatches them.
SHIPPED_MIRRORS = copy.deepcopy(downloads.MIRRORS)
SHIPPED_SYSTEM_DIR = locate.SYSTEM_DATA_DIR

MNIST_TRAIN_LABEL_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
LABELS = "train-labels-idx1-ubyte.gz"  # the smallest-but-one file, 28881 bytes for MNIST
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


# ---------------------------------------------------------------------------
# Helpers


def real_dir(name):
    """The directory of a real dataset under $FASTNN_DATA; fails the test if absent."""
    hint = (
        "Set FASTNN_DATA to the directory holding mnist/ and fashion-mnist/, each with the "
        "four original .gz files (CI uses FASTNN_DATA=../shared/data)."
    )
    if REAL_DATA is None:
        pytest.fail(f"FASTNN_DATA is not set. {hint}", pytrace=False)
    directory = REAL_DATA / name
    missing = [f for f in datasets.FILES if not (directory / f).is_file()]
    if missing:
        pytest.fail(f"FASTNN_DATA={_REAL_DATA_ENV!r}: {directory} lacks {', '.join(missing)}. {hint}",
                    pytrace=False)
    return directory


@functools.lru_cache(maxsize=None)
def real_mnist(split):
    """MNIST loaded once per test session from $FASTNN_DATA/mnist."""
    return load_mnist(path=real_dir("mnist"), split=split, download=False)


def md5_of(path):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


_IDX_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C,
              np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(array, code=None, shape=None):
    """Encode ``array`` as an IDX file; ``code``/``shape`` override the header."""
    array = np.asarray(array)
    code = _IDX_CODES[array.dtype.type] if code is None else code
    shape = array.shape if shape is None else shape
    header = bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path, data, compress=False):
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def place_files(directory, names=datasets.FILES, content=b""):
    """Create (placeholder) dataset files; the search functions do not decode them."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / name).write_bytes(content)
    return directory


def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def corrupted(data):
    """The bytes the test server sends in "corrupt" mode: one byte flipped."""
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]


def listing(directory):
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


# ---------------------------------------------------------------------------
# A local mirror: http.server in a thread, serving files of one directory.
# The first path component selects the behaviour: /ok/<file>, /corrupt/<file>
# (one byte flipped), /truncate/<file> (announces the full length, sends half,
# closes), /missing/<file> (404), /slow/<file> (stalls before answering).


class _MirrorHandler(http.server.BaseHTTPRequestHandler):
    root = None       # set per server
    log = None        # list of requested paths, per server
    release = None    # threading.Event ending "slow" stalls at teardown

    def do_GET(self):
        self.log.append(self.path)
        mode, _, filename = self.path.strip("/").partition("/")
        file = self.root / filename
        if mode == "missing" or "/" in filename or not file.is_file():
            self.send_error(404)
            return
        if mode == "slow":
            self.release.wait(30)  # far beyond the client's timeout
            return
        body = file.read_bytes()
        if mode == "corrupt":
            body = corrupted(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "truncate":
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Mirror:
    def __init__(self, base, log):
        self.base = base
        self.log = log

    def url(self, mode="ok"):
        return f"{self.base}{mode}/"


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # clients that time out leave broken pipes behind; expected here


@pytest.fixture
def mirror():
    """``mirror(root)`` starts a local mirror serving ``root`` and returns a Mirror."""
    running = []
    release = threading.Event()

    def start(root):
        handler = type("Handler", (_MirrorHandler,),
                       {"root": Path(root), "log": [], "release": release})
        server = _QuietServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                  daemon=True)
        thread.start()
        running.append((server, thread))
        return Mirror(f"http://127.0.0.1:{server.server_address[1]}/", handler.log)

    yield start
    release.set()
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No test sees the machine's data dirs, the user's cache, or the network."""
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setattr(locate, "SYSTEM_DATA_DIR", tmp_path / "usr-share-datasets")
    dead = closed_port_url()
    monkeypatch.setattr(downloads, "MIRRORS", {name: [dead] for name in datasets.DATASETS})
    monkeypatch.setattr(downloads, "TIMEOUT", 5.0)
    for variable in PROXY_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("no_proxy", "*")


# ---------------------------------------------------------------------------
# Real data


def test_mnist_train_val_test_shapes_dtypes_ranges():
    splits = real_mnist("train_val_test")
    (X_train, y_train), (X_val, y_val), (X_test, y_test) = splits
    assert splits.train.images is X_train and splits.val.labels is y_val
    for X, y, n in [(X_train, y_train, 50_000), (X_val, y_val, 10_000), (X_test, y_test, 10_000)]:
        assert X.shape == (n, 784) and X.dtype == np.float32
        assert X.flags.c_contiguous and X.flags.writeable
        assert y.shape == (n,) and y.dtype == np.int64
        assert X.min() == 0.0 and X.max() == 1.0
        assert y.min() == 0 and y.max() == 9
    # The well-known first labels of the two MNIST files.
    assert y_train[0] == 5 and y_test[0] == 7


def test_mnist_train_test_label_counts():
    (X_train, y_train), (X_test, y_test) = real_mnist("train_test")
    assert X_train.shape == (60_000, 784) and X_test.shape == (10_000, 784)
    assert y_train.shape == (60_000,) and y_test.shape == (10_000,)
    assert np.bincount(y_train).tolist() == MNIST_TRAIN_LABEL_COUNTS


def test_val_is_the_last_10000_of_the_training_file():
    three = real_mnist("train_val_test")
    two = real_mnist("train_test")
    np.testing.assert_array_equal(three.train.images, two.train.images[:50_000])
    np.testing.assert_array_equal(three.train.labels, two.train.labels[:50_000])
    np.testing.assert_array_equal(three.val.images, two.train.images[50_000:])
    np.testing.assert_array_equal(three.val.labels, two.train.labels[50_000:])
    np.testing.assert_array_equal(three.test.images, two.test.images)
    # Independent arrays: writing into one split does not change another.
    assert not np.shares_memory(three.train.images, three.val.images)


def test_normalize_false_gives_raw_uint8_and_dtype_float64():
    directory = real_dir("mnist")
    (raw, y_raw), (raw_test, _) = load_mnist(directory, split="train_test", normalize=False)
    (X, y), _ = real_mnist("train_test")
    assert raw.dtype == np.uint8 and raw.shape == (60_000, 784)
    assert raw.flags.c_contiguous and raw.flags.writeable
    assert raw.max() == 255 and raw_test.dtype == np.uint8
    np.testing.assert_array_equal(y_raw, y)
    np.testing.assert_array_equal(raw.astype(np.float32) / 255, X)

    _, _, (X64, _) = load_mnist(directory, dtype="float64")
    assert X64.dtype == np.float64 and X64.flags.c_contiguous
    np.testing.assert_allclose(X64, real_mnist("train_val_test").test.images, rtol=1e-7)


def test_fashion_mnist_loads():
    (X_train, y_train), (X_test, y_test) = load_fashion_mnist(
        real_dir("fashion-mnist"), split="train_test", download=False)
    assert X_train.shape == (60_000, 784) and X_test.shape == (10_000, 784)
    assert X_train.dtype == X_test.dtype == np.float32
    assert y_train.dtype == y_test.dtype == np.int64
    assert 0.0 == X_train.min() and X_train.max() == 1.0
    # Fashion-MNIST is balanced: 6,000 / 1,000 images per class.
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
    assert len(datasets.FASHION_MNIST_CLASSES) == 10


def test_found_through_FASTNN_DATA(monkeypatch):
    monkeypatch.setenv("FASTNN_DATA", str(real_dir("mnist").parent))
    assert locate_files("mnist")[LABELS] == real_dir("mnist") / LABELS
    _, (X_test, y_test) = load_mnist(split="train_test", download=False)
    np.testing.assert_array_equal(y_test, real_mnist("train_test").test.labels)
    np.testing.assert_array_equal(X_test, real_mnist("train_test").test.images)


def test_uncompressed_files_are_accepted(tmp_path):
    source = real_dir("mnist")
    directory = tmp_path / "mixed"
    directory.mkdir()
    for name in datasets.FILES:
        if "labels" in name:  # labels uncompressed, images still gzipped
            (directory / name[:-3]).write_bytes(gzip.decompress((source / name).read_bytes()))
        else:
            (directory / name).symlink_to(source / name)
    (X, y), _ = load_mnist(directory, split="train_test", download=False)
    np.testing.assert_array_equal(y, real_mnist("train_test").train.labels)
    assert X.shape == (60_000, 784)


def test_md5_table_matches_the_original_files():
    for name in datasets.DATASETS:
        directory = real_dir(name)
        assert {f: md5_of(directory / f) for f in datasets.FILES} == datasets.MD5[name]


def test_shipped_mirror_list():
    assert SHIPPED_MIRRORS["mnist"][:2] == [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ]
    assert "yann.lecun.com" in SHIPPED_MIRRORS["mnist"][-1]
    assert SHIPPED_MIRRORS["fashion-mnist"] == [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    assert SHIPPED_SYSTEM_DIR == Path("/usr/share/datasets")


# ---------------------------------------------------------------------------
# The IDX reader


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("idx_dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_read_idx_round_trip(tmp_path, idx_dtype, compress):
    generator = np.random.default_rng(0)
    array = (generator.standard_normal((3, 4, 5)) * 100).astype(idx_dtype)
    path = write(tmp_path / "data.idx", idx_bytes(array), compress)
    result = read_idx(path)
    assert result.dtype == np.dtype(idx_dtype) and result.dtype.isnative
    assert result.flags.writeable and result.flags.c_contiguous
    np.testing.assert_array_equal(result, array)


def test_read_idx_detects_gzip_by_magic_not_by_name(tmp_path):
    array = np.arange(12, dtype=np.uint8)
    raw_named_gz = write(tmp_path / "raw.gz", idx_bytes(array))
    gz_named_raw = write(tmp_path / "gz-ubyte", idx_bytes(array), compress=True)
    np.testing.assert_array_equal(read_idx(raw_named_gz), array)
    np.testing.assert_array_equal(read_idx(gz_named_raw), array)


def test_read_idx_empty_dimension(tmp_path):
    result = read_idx(write(tmp_path / "empty", idx_bytes(np.zeros((0, 28, 28), np.uint8))))
    assert result.shape == (0, 28, 28) and result.dtype == np.uint8


def test_truncated_gzip_stream(tmp_path):
    data = gzip.compress(idx_bytes(np.arange(1000, dtype=np.int32)))
    path = write(tmp_path / "cut.gz", data[: len(data) // 2])
    with pytest.raises(IDXError, match="truncated gzip stream") as info:
        read_idx(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_corrupt_gzip_stream(tmp_path):
    data = gzip.compress(idx_bytes(np.arange(1000, dtype=np.int32)))
    bad_crc = write(tmp_path / "crc.gz", data[:-8] + bytes(8))
    with pytest.raises(IDXError, match="corrupt gzip stream") as info:
        read_idx(bad_crc)
    assert str(bad_crc) in str(info.value)
    garbage = write(tmp_path / "garbage.gz", data[:12] + b"\xff" * 40 + data[52:])
    with pytest.raises(IDXError, match="gzip stream") as info:
        read_idx(garbage)
    assert str(garbage) in str(info.value)


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
def test_payload_shorter_than_dimensions(tmp_path, compress):
    data = idx_bytes(np.zeros(1000, np.uint8), shape=(10, 28, 28))
    path = write(tmp_path / "short", data, compress)
    with pytest.raises(IDXError, match="expected 7840 bytes of data, found 1000") as info:
        read_idx(path)
    assert str(path) in str(info.value) and "truncated" in str(info.value)


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
def test_trailing_bytes(tmp_path, compress):
    data = idx_bytes(np.zeros((10, 28, 28), np.uint8)) + b"\0\0\0"
    path = write(tmp_path / "long", data, compress)
    with pytest.raises(IDXError, match="expected 7840 bytes of data, found 7843") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_multibyte_payload_length_counts_item_size(tmp_path):
    data = idx_bytes(np.zeros(5, np.float64), shape=(6,))  # 40 bytes for 6 doubles
    with pytest.raises(IDXError, match="expected 48 bytes of data, found 40"):
        read_idx(write(tmp_path / "doubles", data))


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("position, magic", [(0, "0x42000801"), (1, "0x00420801")])
def test_bad_magic(tmp_path, compress, position, magic):
    data = bytearray(idx_bytes(np.zeros(4, np.uint8)))
    data[position] = 0x42
    path = write(tmp_path / "magic", bytes(data), compress)
    with pytest.raises(IDXError, match=f"bad magic number {magic}") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_unknown_dtype_code(tmp_path):
    path = write(tmp_path / "code", idx_bytes(np.zeros(4, np.uint8), code=0x0A))
    with pytest.raises(IDXError, match="unknown IDX data type code 0x0A") as info:
        read_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("data, message", [
    (b"", "0 bytes is too short for an IDX header"),
    (b"\0\0\x08", "3 bytes is too short"),
    (b"\0\0\x08\x00", "0 dimensions"),
    (b"\0\0\x08\x03" + struct.pack(">I", 60000), "3 dimensions need a 16-byte header, the file has 8"),
])
def test_truncated_header(tmp_path, data, message):
    path = write(tmp_path / "header", data)
    with pytest.raises(IDXError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


# ---------------------------------------------------------------------------
# Checks the loaders add on top of the reader (small crafted files)


def crafted_dir(directory, **files):
    """A dataset dir with the given train files (IDX bytes) and empty other files."""
    place_files(directory)
    for role, data in files.items():
        write(directory / f"train-{role}-idx{3 if role == 'images' else 1}-ubyte.gz", data, True)
    return directory


def test_loader_reports_short_pixel_data(tmp_path):
    directory = crafted_dir(tmp_path / "d",
                            images=idx_bytes(np.zeros(1000, np.uint8), shape=(60000, 28, 28)))
    with pytest.raises(IDXError, match="expected 47040000 bytes of pixel data, found 1000") as info:
        load_mnist(directory)
    assert "train-images-idx3-ubyte.gz" in str(info.value)


def test_corrupt_file_in_cache_says_how_to_redownload():
    directory = crafted_dir(cache_dir("mnist"), images=b"\0\0\x08\x03")
    with pytest.raises(IDXError, match="delete the bad file from .*to download it again"):
        load_mnist()


def test_loader_checks_images_and_labels_agree(tmp_path):
    directory = crafted_dir(tmp_path / "d", images=idx_bytes(np.zeros((100, 28, 28), np.uint8)),
                            labels=idx_bytes(np.zeros(99, np.uint8)))
    with pytest.raises(IDXError, match="holds 100 images but .* holds 99 labels") as info:
        load_mnist(directory)
    assert "train-images-idx3-ubyte.gz" in str(info.value)
    assert "train-labels-idx1-ubyte.gz" in str(info.value)


def test_loader_checks_image_count_and_shape(tmp_path):
    directory = crafted_dir(tmp_path / "count", images=idx_bytes(np.zeros((100, 28, 28), np.uint8)),
                            labels=idx_bytes(np.zeros(100, np.uint8)))
    with pytest.raises(IDXError, match="expected 60000 images, found 100"):
        load_mnist(directory)
    directory = crafted_dir(tmp_path / "shape", images=idx_bytes(np.zeros((100, 27, 29), np.uint8)))
    with pytest.raises(IDXError, match=r"expected ubyte images of shape \(n, 28, 28\)"):
        load_mnist(directory)
    directory = crafted_dir(tmp_path / "type", images=idx_bytes(np.zeros((100, 28, 28), np.int16)))
    with pytest.raises(IDXError, match="expected ubyte images"):
        load_mnist(directory)


# ---------------------------------------------------------------------------
# Argument checking


@pytest.mark.parametrize("kwargs, argument, echoed", [
    ({"split": "train"}, "split", "'train'"),
    ({"split": None}, "split", "None"),
    ({"dtype": "int32"}, "dtype", "'int32'"),
    ({"dtype": "no-such-dtype"}, "dtype", "'no-such-dtype'"),
    ({"dtype": None}, "dtype", "None"),
    ({"normalize": "yes"}, "normalize", "'yes'"),
    ({"download": "no"}, "download", "'no'"),
    ({"path": 5}, "path", "5"),
])
@pytest.mark.parametrize("loader", [load_mnist, load_fashion_mnist])
def test_bad_arguments(loader, kwargs, argument, echoed):
    with pytest.raises(ValueError) as info:
        loader(**kwargs)
    message = str(info.value)
    assert message.startswith(argument) and echoed in message
    assert not isinstance(info.value, IDXError)


def test_bad_dataset_name():
    for function in (candidate_dirs, cache_dir, locate_files, download):
        with pytest.raises(ValueError, match="name must be one of .*got 'cifar10'"):
            function("cifar10")
    with pytest.raises(ValueError, match="filename must be one of .*got 'labels.gz'"):
        download_file("mnist", "labels.gz")


# ---------------------------------------------------------------------------
# Where the files are looked for


def test_candidate_dirs_order(tmp_path, monkeypatch):
    system = tmp_path / "usr-share-datasets"
    xdg = tmp_path / "xdg-cache"
    assert candidate_dirs("mnist") == [xdg / "fastnn" / "mnist", system / "mnist"]
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "data"))
    assert candidate_dirs("fashion-mnist") == [
        tmp_path / "data" / "fashion-mnist",
        xdg / "fastnn" / "fashion-mnist",
        system / "fashion-mnist",
    ]
    # An explicit path is the only candidate, even with FASTNN_DATA set.
    assert candidate_dirs("mnist", path=tmp_path / "mine") == [tmp_path / "mine"]
    assert candidate_dirs("mnist", path=str(tmp_path / "mine")) == [tmp_path / "mine"]


def test_cache_dir_honours_xdg_cache_home(tmp_path, monkeypatch):
    assert cache_dir("mnist") == tmp_path / "xdg-cache" / "fastnn" / "mnist"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir("mnist") == tmp_path / "home" / ".cache" / "fastnn" / "mnist"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # ignored, per the XDG spec
    assert cache_dir("fashion-mnist") == tmp_path / "home" / ".cache" / "fastnn" / "fashion-mnist"


def test_first_complete_directory_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "data"))
    env_dir, cache, system = candidate_dirs("fashion-mnist")
    for directory in (env_dir, cache, system):
        place_files(directory)
    assert locate_files("fashion-mnist")[LABELS] == env_dir / LABELS
    (env_dir / LABELS).unlink()  # an incomplete directory is passed over
    assert locate_files("fashion-mnist") == {f: cache / f for f in datasets.FILES}
    (cache / LABELS).unlink()
    # Debian's dataset-fashion-mnist location comes last.
    assert locate_files("fashion-mnist") == {f: system / f for f in datasets.FILES}


def test_uncompressed_names_are_found(tmp_path):
    directory = place_files(tmp_path / "raw", [f[:-3] for f in datasets.FILES])
    assert locate_files("mnist", directory) == {f: directory / f[:-3] for f in datasets.FILES}


def test_explicit_path_without_the_files_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "data"))
    place_files(tmp_path / "data" / "mnist")  # would be found, but must not be used
    mine = place_files(tmp_path / "mine", datasets.FILES[:2])
    with pytest.raises(DatasetNotFoundError) as info:
        load_mnist(path=mine)
    message = str(info.value)
    assert str(mine) in message
    assert "missing t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz" in message
    assert str(tmp_path / "data") not in message
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        locate_files("mnist", tmp_path / "nowhere")


def test_explicit_path_suggests_the_dataset_subdirectory(tmp_path):
    place_files(tmp_path / "data" / "mnist")
    with pytest.raises(DatasetNotFoundError, match="did you mean path=.*data/mnist"):
        locate_files("mnist", tmp_path / "data")


def test_download_false_says_where_to_put_the_files(tmp_path, monkeypatch, mirror):
    server = mirror(tmp_path)
    monkeypatch.setitem(downloads.MIRRORS, "mnist", [server.url()])
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "data"))
    place_files(cache_dir("mnist"), datasets.FILES[1:])  # incomplete cache
    with pytest.raises(DatasetNotFoundError) as info:
        load_mnist(download=False)
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    for directory in candidate_dirs("mnist"):
        assert str(directory) in message
    assert "missing train-images-idx3-ubyte.gz" in message
    assert "does not exist" in message
    assert "FASTNN_DATA" in message and "download=False" in message
    for name in datasets.FILES:
        assert name in message
    assert server.log == []  # the network was not touched


def test_download_false_mentions_unset_FASTNN_DATA():
    with pytest.raises(DatasetNotFoundError, match=r"\(FASTNN_DATA is not set\)"):
        load_fashion_mnist(download=False)


# ---------------------------------------------------------------------------
# Downloads from a local mirror


def test_load_mnist_downloads_all_four_files(monkeypatch, mirror):
    source = real_dir("mnist")
    server = mirror(source)
    monkeypatch.setitem(downloads.MIRRORS, "mnist", [server.url()])
    (X_train, y_train), (X_test, y_test) = load_mnist(split="train_test")
    cache = cache_dir("mnist")
    assert listing(cache) == sorted(datasets.FILES)  # nothing else, no .part files
    for name in datasets.FILES:
        assert md5_of(cache / name) == datasets.MD5["mnist"][name]
    assert sorted(server.log) == sorted(f"/ok/{name}" for name in datasets.FILES)
    expected = real_mnist("train_test")
    np.testing.assert_array_equal(y_train, expected.train.labels)
    np.testing.assert_array_equal(X_test, expected.test.images)
    # Loading again uses the cache and no network.
    _, _, (_, y_test_again) = load_mnist(download=False)
    np.testing.assert_array_equal(y_test_again, y_test)
    assert len(server.log) == 4


def test_download_file_verifies_and_reports_progress(tmp_path, monkeypatch, mirror):
    source = real_dir("mnist")
    server = mirror(source)
    monkeypatch.setitem(downloads.MIRRORS, "mnist", [server.url()])
    dest = tmp_path / "dest"
    seen = {"updates": 0}

    class RecordingBar(downloads.ProgressBar):
        def __init__(self, total, **kwargs):
            super().__init__(total, **kwargs)
            seen["total"] = total

        def update(self, n=1, postfix=None):
            super().update(n, postfix)
            seen["updates"] += n
            # Atomic write: the final name appears only once complete.
            seen["final_visible_early"] = (dest / LABELS).exists()
            seen["partial"] = [p for p in listing(dest) if p.endswith(".part")]

    monkeypatch.setattr(downloads, "ProgressBar", RecordingBar)
    path = download_file("mnist", LABELS, dest=dest)
    size = (source / LABELS).stat().st_size
    assert path == dest / LABELS
    assert path.read_bytes() == (source / LABELS).read_bytes()
    assert seen["total"] == seen["updates"] == size
    assert seen["final_visible_early"] is False and len(seen["partial"]) == 1
    assert listing(dest) == [LABELS]


def test_download_fetches_only_missing_files(tmp_path, monkeypatch, mirror):
    server = mirror(real_dir("mnist"))
    monkeypatch.setitem(downloads.MIRRORS, "mnist", [server.url()])
    cache = place_files(cache_dir("mnist"), [f for f in datasets.FILES if f != LABELS])
    assert download("mnist") == cache
    assert server.log == [f"/ok/{LABELS}"]
    assert md5_of(cache / LABELS) == datasets.MD5["mnist"][LABELS]


@pytest.mark.parametrize("first", ["closed-port", "missing", "truncate", "corrupt", "slow"])
def test_next_mirror_is_tried(monkeypatch, mirror, first):
    server = mirror(real_dir("mnist"))
    bad = closed_port_url() if first == "closed-port" else server.url(first)
    monkeypatch.setitem(downloads.MIRRORS, "mnist", [bad, server.url("ok")])
    start = time.monotonic()
    path = download_file("mnist", LABELS, timeout=0.5)
    assert time.monotonic() - start < 5  # the stalled mirror was given up on after 0.5 s
    assert md5_of(path) == datasets.MD5["mnist"][LABELS]
    expected_log = [f"/ok/{LABELS}"] if first == "closed-port" else [f"/{first}/{LABELS}", f"/ok/{LABELS}"]
    assert server.log == expected_log
    assert listing(path.parent) == [LABELS]


def test_wrong_checksum_names_file_and_both_md5s(monkeypatch, mirror):
    source = real_dir("mnist")
    server = mirror(source)
    monkeypatch.setitem(downloads.MIRRORS, "mnist", [server.url("corrupt")])
    with pytest.raises(DownloadError) as info:
        load_mnist()
    message = str(info.value)
    bad_md5 = hashlib.md5(corrupted((source / "train-images-idx3-ubyte.gz").read_bytes())).hexdigest()
    assert "train-images-idx3-ubyte.gz" in message and "MD5 mismatch" in message
    assert datasets.MD5["mnist"]["train-images-idx3-ubyte.gz"] in message and bad_md5 in message
    assert listing(cache_dir("mnist")) == []  # neither the bad file nor a partial one


def test_interrupted_download_leaves_no_file(monkeypatch, mirror):
    source = real_dir("mnist")
    server = mirror(source)
    monkeypatch.setitem(downloads.MIRRORS, "mnist", [server.url("truncate")])
    with pytest.raises(DownloadError) as info:
        download_file("mnist", LABELS)
    size = (source / LABELS).stat().st_size
    message = str(info.value)
    assert f"closed after {size // 2} of {size} bytes" in message and "incomplete" in message
    assert LABELS in message and server.url("truncate") in message
    assert listing(cache_dir("mnist")) == []


def test_every_mirror_failing_lists_each(monkeypatch, mirror, tmp_path):
    server = mirror(tmp_path)  # serves nothing: every file is a 404
    dead = closed_port_url()
    monkeypatch.setitem(downloads.MIRRORS, "mnist", [dead, server.url()])
    with pytest.raises(DownloadError) as info:
        download_file("mnist", LABELS)
    message = str(info.value)
    assert dead + LABELS in message and "refused" in message.lower()
    assert server.url() + LABELS in message and "404" in message
    assert isinstance(info.value, OSError)


def test_keyboard_interrupt_leaves_no_partial_file(monkeypatch, mirror):
    server = mirror(real_dir("mnist"))
    monkeypatch.setitem(downloads.MIRRORS, "mnist", [server.url(), server.url()])

    class InterruptingBar(downloads.ProgressBar):
        def update(self, n=1, postfix=None):
            raise KeyboardInterrupt

    monkeypatch.setattr(downloads, "ProgressBar", InterruptingBar)
    with pytest.raises(KeyboardInterrupt):
        download_file("mnist", LABELS)
    assert listing(cache_dir("mnist")) == []
    assert len(server.log) == 1  # an interrupt is not a mirror failure


def test_no_mirrors_configured(monkeypatch):
    monkeypatch.setitem(downloads.MIRRORS, "fashion-mnist", [])
    with pytest.raises(DownloadError, match="no download mirrors"):
        load_fashion_mnist()


# ---------------------------------------------------------------------------
# The package: public names, and settings assigned on it reach their readers


def test_public_names_are_importable_from_the_package():
    for name in datasets.__all__:
        assert getattr(datasets, name) is not None
    # The function, not the submodule of almost the same name.
    assert datasets.download is downloads.download and callable(datasets.download)
    assert datasets.read_idx.__module__ == "fastnn.datasets.idx"


def test_settings_assigned_on_the_package_are_used(tmp_path, monkeypatch, mirror):
    server = mirror(real_dir("mnist"))
    # As user code written before the split into submodules would set them.
    monkeypatch.setattr(datasets, "MIRRORS", {"mnist": [server.url("slow"), server.url()]})
    monkeypatch.setattr(datasets, "TIMEOUT", 0.5)
    monkeypatch.setattr(datasets, "SYSTEM_DATA_DIR", tmp_path / "system")
    assert downloads.MIRRORS is datasets.MIRRORS and downloads.TIMEOUT == 0.5
    assert candidate_dirs("mnist")[-1] == tmp_path / "system" / "mnist"
    start = time.monotonic()
    path = download_file("mnist", LABELS, dest=tmp_path / "dest")
    assert time.monotonic() - start < 5  # the package's TIMEOUT, not the 5 s of the fixture
    assert md5_of(path) == datasets.MD5["mnist"][LABELS]
    assert server.log == [f"/slow/{LABELS}", f"/ok/{LABELS}"]
