"""MNIST and Fashion-MNIST: find, download, verify and decode.

The datasets are the four IDX files published with each dataset.  They are
looked for, in order, in

1. an explicit ``path=`` (a directory holding the four files; if it does not,
   that is an error, the other places are not tried),
2. ``$FASTNN_DATA/<name>/``,
3. the user cache ``$XDG_CACHE_HOME/fastnn/<name>/`` (``~/.cache/fastnn/<name>/``
   when ``XDG_CACHE_HOME`` is unset),
4. ``/usr/share/datasets/<name>/`` (Debian's ``dataset-fashion-mnist`` package
   installs Fashion-MNIST there),

where ``<name>`` is ``mnist`` or ``fashion-mnist``.  Each file may be gzipped
(``train-images-idx3-ubyte.gz``) or not (``train-images-idx3-ubyte``).  When no
directory holds them, the files are downloaded into the user cache from
:data:`MIRRORS` and checked against the published MD5 sums in :data:`MD5`.

Files found locally are not MD5-checked (repackaged copies, such as Debian's,
carry different gzip headers); the strict IDX reader :func:`read_idx` guards
them instead: any truncation or corruption raises :class:`IDXError`.

Only the standard library and numpy are used.
"""

import gzip
import hashlib
import http.client
import math
import os
import secrets
import struct
import urllib.request
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .progress import ProgressBar

__all__ = [
    "DATASETS",
    "FILES",
    "MD5",
    "MIRRORS",
    "SYSTEM_DATA_DIR",
    "TIMEOUT",
    "FASHION_MNIST_CLASSES",
    "IDXError",
    "DatasetNotFoundError",
    "DownloadError",
    "Split",
    "TrainValTest",
    "TrainTest",
    "read_idx",
    "cache_dir",
    "candidate_dirs",
    "locate_files",
    "download_file",
    "download",
    "load_mnist",
    "load_fashion_mnist",
]

#: Dataset names accepted by the functions of this module.
DATASETS = ("mnist", "fashion-mnist")

#: The four files of each dataset, by their gzipped names.  The names without
#: ``.gz`` (uncompressed files) are accepted too when looking for local files.
FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

#: Published MD5 sums of the gzipped files, checked after every download.
MD5 = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}

#: Base URLs tried in turn for each file (the file name is appended).
#: yann.lecun.com comes last for MNIST: it often refuses automated downloads.
MIRRORS = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ],
    "fashion-mnist": [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ],
}

#: System-wide data directory, searched last (Debian's dataset packages).
SYSTEM_DATA_DIR = Path("/usr/share/datasets")

#: Seconds to wait for a mirror to connect or to send more data.
TIMEOUT = 30.0

#: Class names of Fashion-MNIST, indexed by label.
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

_SPLITS = ("train_val_test", "train_test")
_GZIP_MAGIC = b"\x1f\x8b"
# IDX type code -> (name used in the IDX description, big-endian numpy dtype).
_IDX_TYPES = {
    0x08: ("ubyte", np.dtype(">u1")),
    0x09: ("sbyte", np.dtype(">i1")),
    0x0B: ("short", np.dtype(">i2")),
    0x0C: ("int", np.dtype(">i4")),
    0x0D: ("float", np.dtype(">f4")),
    0x0E: ("double", np.dtype(">f8")),
}
_IMAGE_SHAPE = (28, 28)
_N_TRAIN = 60_000
_N_TEST = 10_000
_N_VAL = 10_000  # taken from the end of the training file
_N_CLASSES = 10
_CHUNK = 1 << 16
_USER_AGENT = "fastnn-datasets (python urllib)"


class IDXError(ValueError):
    """An IDX file is truncated, corrupt, or not what the dataset needs."""


class DatasetNotFoundError(FileNotFoundError):
    """The dataset files are in none of the searched directories."""


class DownloadError(OSError):
    """A dataset file could not be downloaded and verified from any mirror."""


class Split(NamedTuple):
    """One part of a dataset; unpacks as ``X, y = split``.

    Attributes
    ----------
    images : numpy.ndarray, shape (n, 784)
        Flattened 28x28 images, C-contiguous; float (scaled to [0, 1]) or
        uint8 (0..255), see :func:`load_mnist`.
    labels : numpy.ndarray of int64, shape (n,)
        Class labels in 0..9.
    """

    images: np.ndarray
    labels: np.ndarray


class TrainValTest(NamedTuple):
    """``(train, val, test)`` splits; returned for ``split="train_val_test"``."""

    train: Split
    val: Split
    test: Split


class TrainTest(NamedTuple):
    """``(train, test)`` splits; returned for ``split="train_test"``."""

    train: Split
    test: Split


# ---------------------------------------------------------------------------
# IDX decoding


def _read_file_bytes(filename):
    """Return the (decompressed) content of ``filename`` as bytes.

    Gzip is recognised by its magic bytes, not by the extension: an IDX file
    always starts with two zero bytes, so the two can never be confused.
    """
    with open(filename, "rb") as f:
        raw = f.read()
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError as exc:
        raise IDXError(f"{filename}: truncated gzip stream ({exc})") from None
    except (OSError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise IDXError(f"{filename}: corrupt gzip stream ({exc})") from None


def _parse_idx(data, filename, what="data"):
    """Check an in-memory IDX file and return a read-only view of its array.

    ``what`` names the payload in error messages ("pixel data", ...).  The
    returned array has the big-endian dtype of the file and shares memory
    with ``data`` (no copy).
    """
    size = len(data)
    if size < 4:
        raise IDXError(
            f"{filename}: {size} bytes is too short for an IDX header (need at least 4)"
        )
    if data[0] != 0 or data[1] != 0:
        raise IDXError(
            f"{filename}: bad magic number 0x{bytes(data[:4]).hex().upper()}: "
            "an IDX file starts with two zero bytes"
        )
    code, ndim = data[2], data[3]
    if code not in _IDX_TYPES:
        known = ", ".join(f"0x{c:02X} {n}" for c, (n, _) in _IDX_TYPES.items())
        raise IDXError(f"{filename}: unknown IDX data type code 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise IDXError(f"{filename}: IDX header declares 0 dimensions")
    header_len = 4 + 4 * ndim
    if size < header_len:
        raise IDXError(
            f"{filename}: truncated IDX header: {ndim} dimensions need a "
            f"{header_len}-byte header, the file has {size} bytes"
        )
    shape = struct.unpack(f">{ndim}I", data[4:header_len])
    type_name, dtype = _IDX_TYPES[code]
    count = math.prod(shape)
    expected = count * dtype.itemsize
    found = size - header_len
    if found != expected:
        dims = " x ".join(map(str, shape))
        raise IDXError(
            f"{filename}: expected {expected} bytes of {what}, found {found} "
            f"(header says {dims} {type_name}; the file is "
            f"{'truncated' if found < expected else 'longer than its header says'})"
        )
    if count == 0:
        return np.empty(shape, dtype=dtype)
    return np.frombuffer(data, dtype=dtype, count=count, offset=header_len).reshape(shape)


def read_idx(filename):
    """Read an IDX file, gzipped or raw, checking it strictly.

    Gzip compression is detected from the file's first bytes, not from its
    name.  The magic number, the data type code, the dimensions and the exact
    length of the payload are all checked.

    Parameters
    ----------
    filename : str or os.PathLike
        Path of the IDX file.

    Returns
    -------
    numpy.ndarray
        A new writable, C-contiguous, native-byte-order array whose shape is
        the dimensions stored in the header and whose dtype follows the type
        code: 0x08 -> uint8, 0x09 -> int8, 0x0B -> int16, 0x0C -> int32,
        0x0D -> float32, 0x0E -> float64.

    Raises
    ------
    IDXError
        (a ValueError) if the gzip stream is corrupt or truncated, the magic
        number or type code is wrong, or the payload is shorter or longer than
        the dimensions say.  The message names the file.
    FileNotFoundError
        If the file does not exist.
    """
    array = _parse_idx(_read_file_bytes(filename), filename)
    # The one copy: big-endian read-only view -> native writable array.
    return array.astype(array.dtype.newbyteorder("="))


# ---------------------------------------------------------------------------
# Where the files are


def _check_name(name):
    if name not in DATASETS:
        raise ValueError(f"name must be one of {', '.join(map(repr, DATASETS))}, got {name!r}")


def _check_path(path, argument="path"):
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"{argument} must be a directory path (str or os.PathLike), got {path!r}")
    return Path(path).expanduser()


def cache_dir(name):
    """Return the user cache directory of a dataset (it may not exist yet).

    Parameters
    ----------
    name : {"mnist", "fashion-mnist"}

    Returns
    -------
    pathlib.Path
        ``$XDG_CACHE_HOME/fastnn/<name>`` when ``XDG_CACHE_HOME`` is set to an
        absolute path (relative values are ignored, as the XDG specification
        asks), else ``~/.cache/fastnn/<name>``.
    """
    _check_name(name)
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "fastnn" / name


def candidate_dirs(name, path=None):
    """Return the directories searched for a dataset, in search order.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist"}
    path : str or os.PathLike, optional
        An explicit directory.  When given it is the only candidate.

    Returns
    -------
    list of pathlib.Path
        ``[path]`` if ``path`` is given; otherwise ``$FASTNN_DATA/<name>`` (only
        when ``FASTNN_DATA`` is set and not empty), :func:`cache_dir`,
        and ``SYSTEM_DATA_DIR/<name>``.  The directories need not exist.
    """
    _check_name(name)
    if path is not None:
        return [_check_path(path)]
    dirs = []
    env = os.environ.get("FASTNN_DATA", "")
    if env:
        dirs.append(Path(env).expanduser().absolute() / name)
    dirs.append(cache_dir(name))
    dirs.append(Path(SYSTEM_DATA_DIR) / name)
    return dirs


def _find_in_dir(directory, filename):
    """Return the gzipped or the uncompressed form of ``filename`` in ``directory``, or None."""
    for candidate in (directory / filename, directory / filename[: -len(".gz")]):
        if candidate.is_file():
            return candidate
    return None


def _missing_report(directory):
    """Return (files found, human-readable reason) for one directory."""
    if not directory.is_dir():
        return {}, "does not exist" if not directory.exists() else "is not a directory"
    found = {f: p for f in FILES if (p := _find_in_dir(directory, f)) is not None}
    missing = [f for f in FILES if f not in found]
    return found, ("missing " + ", ".join(missing)) if missing else "complete"


def locate_files(name, path=None):
    """Find the four files of a dataset without downloading anything.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist"}
    path : str or os.PathLike, optional
        An explicit directory that must hold the files; when given, no other
        place is searched.

    Returns
    -------
    dict of str -> pathlib.Path
        Maps each name of :data:`FILES` to the file found, which may be the
        uncompressed variant (same name without ``.gz``).  All four come from
        the first directory of :func:`candidate_dirs` holding all of them.

    Raises
    ------
    DatasetNotFoundError
        (a FileNotFoundError) if no candidate directory holds all four files;
        the message lists every directory searched and what it lacks.
    """
    dirs = candidate_dirs(name, path)
    reports = []
    for directory in dirs:
        found, reason = _missing_report(directory)
        if len(found) == len(FILES):
            return found
        reports.append(f"  {directory}  ({reason})")
    wanted = ", ".join(FILES)
    if path is not None:
        message = (
            f"the {name} files are not in path={str(path)!r}:\n" + "\n".join(reports) +
            f"\nThe directory must hold {wanted} (uncompressed names without .gz are accepted too)."
        )
        nested = dirs[0] / name
        if len(_missing_report(nested)[0]) == len(FILES):
            message += f"\nThey are in {nested}: did you mean path={str(nested)!r}?"
        raise DatasetNotFoundError(message)
    env_note = "" if os.environ.get("FASTNN_DATA") else " (FASTNN_DATA is not set)"
    raise DatasetNotFoundError(
        f"could not find the {name} files. Searched, in order{env_note}:\n" + "\n".join(reports) +
        f"\nPut {wanted} (gzipped or not) into one of these directories, "
        f"or set FASTNN_DATA to a directory whose {name}/ subdirectory holds them, "
        "or pass path= to the loader."
    )


# ---------------------------------------------------------------------------
# Downloading


def _fetch(opener, url, target, expected_md5, timeout):
    """Download ``url`` to ``target`` atomically, checking length and MD5.

    The bytes go to a hidden temporary file next to ``target`` which is
    renamed over ``target`` only once complete and verified, so an interrupted
    download never leaves a file under the final name.
    """
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    # os.open (not mkstemp) so the file gets the usual umask-based permissions.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as out:
            request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
            with opener.open(request, timeout=timeout) as response:
                length = response.headers.get("Content-Length", "")
                total = int(length) if length.strip().isdigit() else None
                digest = hashlib.md5()
                received = 0
                bar = ProgressBar(total or 0, desc=f"Downloading {target.name}", unit="B")
                try:
                    while chunk := response.read(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
                finally:
                    bar.close()
            # http.client returns a short body silently when the server closes
            # the connection early, so the length must be checked here.
            if total is not None and received != total:
                raise DownloadError(
                    f"download incomplete: the connection closed after {received} of {total} bytes"
                )
            actual_md5 = digest.hexdigest()
            if actual_md5 != expected_md5:
                raise DownloadError(
                    f"MD5 mismatch for {target.name}: expected {expected_md5}, "
                    f"got {actual_md5} ({received} bytes)"
                )
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        # Also on KeyboardInterrupt: never leave the partial file behind.
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def download_file(name, filename, dest=None, timeout=None):
    """Download one file of a dataset, trying each mirror in turn.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist"}
    filename : str
        One of :data:`FILES` (the gzipped names).
    dest : str or os.PathLike, optional
        Directory to write into (created if needed); default :func:`cache_dir`.
    timeout : float, optional
        Seconds to wait for each connection and each read; default
        :data:`TIMEOUT`.

    Returns
    -------
    pathlib.Path
        ``dest / filename``, whose MD5 matches :data:`MD5`.  It is written
        atomically (temporary file, then ``os.replace``).

    Raises
    ------
    DownloadError
        (an OSError) if every mirror of ``MIRRORS[name]`` failed (unreachable,
        HTTP error, timeout, short body, MD5 mismatch); the message lists each
        URL tried and why it failed.  No file is left under ``filename``.
    """
    _check_name(name)
    if filename not in FILES:
        raise ValueError(f"filename must be one of {', '.join(map(repr, FILES))}, got {filename!r}")
    dest = cache_dir(name) if dest is None else _check_path(dest, "dest")
    timeout = TIMEOUT if timeout is None else timeout
    if not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    expected_md5 = MD5[name][filename]
    mirrors = list(MIRRORS.get(name, ()))
    if not mirrors:
        raise DownloadError(f"no download mirrors are configured for {name} (MIRRORS[{name!r}] is empty)")
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / filename
    # A fresh opener reads the proxy environment variables now, not at import.
    opener = urllib.request.build_opener()
    failures = []
    for base in mirrors:
        url = (base if base.endswith("/") else base + "/") + filename
        try:
            _fetch(opener, url, target, expected_md5, timeout)
            return target
        except (OSError, http.client.HTTPException, ValueError) as exc:
            # OSError covers URLError/HTTPError, refused connections, timeouts
            # and our own DownloadError; HTTPException covers IncompleteRead and
            # malformed responses; ValueError covers malformed mirror URLs.
            failures.append(f"  {url}: {exc}")
    raise DownloadError(
        f"could not download {filename} ({name}) into {dest}; no file was kept. "
        "Every mirror failed:\n" + "\n".join(failures)
    )


def download(name, dest=None, timeout=None):
    """Download the files of a dataset that ``dest`` does not hold yet.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist"}
    dest : str or os.PathLike, optional
        Directory to fill; default :func:`cache_dir`.
    timeout : float, optional
        Seconds per connection and per read; default :data:`TIMEOUT`.

    Returns
    -------
    pathlib.Path
        ``dest``, now holding all four files.  Files already present (gzipped
        or not) are kept as they are and not re-downloaded.

    Raises
    ------
    DownloadError
        See :func:`download_file`.
    """
    _check_name(name)
    dest = cache_dir(name) if dest is None else _check_path(dest, "dest")
    for filename in FILES:
        if _find_in_dir(dest, filename) is None:
            download_file(name, filename, dest, timeout)
    return dest


# ---------------------------------------------------------------------------
# Loading


def _check_bool(value, argument):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{argument} must be True or False, got {value!r}")
    return bool(value)


def _check_dtype(dtype):
    resolved = None
    if dtype is not None:  # np.dtype(None) would silently mean float64
        try:
            resolved = np.dtype(dtype)
        except TypeError:
            pass
    if resolved is None or not np.issubdtype(resolved, np.floating):
        raise ValueError(f"dtype must be a floating-point dtype such as 'float32' or 'float64', got {dtype!r}")
    return resolved


def _load_pair(images_path, labels_path, expected_count):
    """Decode an images/labels pair; return read-only views (uint8 (n, 784), uint8 (n,))."""
    images = _parse_idx(_read_file_bytes(images_path), images_path, "pixel data")
    if images.dtype != np.uint8 or images.shape[1:] != _IMAGE_SHAPE:
        raise IDXError(
            f"{images_path}: expected ubyte images of shape (n, 28, 28), "
            f"found {images.dtype} of shape {images.shape}"
        )
    labels = _parse_idx(_read_file_bytes(labels_path), labels_path, "label data")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise IDXError(
            f"{labels_path}: expected a 1-D array of ubyte labels, "
            f"found {labels.dtype} of shape {labels.shape}"
        )
    if len(images) != len(labels):
        raise IDXError(
            f"{images_path} holds {len(images)} images but {labels_path} holds "
            f"{len(labels)} labels; the two files must agree"
        )
    if len(images) != expected_count:
        raise IDXError(f"{images_path}: expected {expected_count} images, found {len(images)}")
    if len(labels) and labels.max() >= _N_CLASSES:
        raise IDXError(f"{labels_path}: label {int(labels.max())} is out of range 0..{_N_CLASSES - 1}")
    return images.reshape(len(images), -1), labels


def _convert(images, labels, dtype, normalize):
    """The single copy from the decoded bytes to the returned arrays."""
    if normalize:
        out = images.astype(dtype)
        np.divide(out, 255, out=out)
    else:
        out = images.copy()
    return Split(out, labels.astype(np.int64))


def _load(name, path, split, dtype, normalize, allow_download):
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {', '.join(map(repr, _SPLITS))}, got {split!r}")
    dtype = _check_dtype(dtype)
    normalize = _check_bool(normalize, "normalize")
    allow_download = _check_bool(allow_download, "download")
    if path is not None:
        _check_path(path)

    try:
        files = locate_files(name, path)
    except DatasetNotFoundError as exc:
        if path is not None:
            raise
        if not allow_download:
            raise DatasetNotFoundError(f"{exc}\ndownload=False, so nothing was downloaded.") from None
        files = locate_files(name, download(name))

    try:
        train_x, train_y = _load_pair(
            files["train-images-idx3-ubyte.gz"], files["train-labels-idx1-ubyte.gz"], _N_TRAIN)
        test_x, test_y = _load_pair(
            files["t10k-images-idx3-ubyte.gz"], files["t10k-labels-idx1-ubyte.gz"], _N_TEST)
    except IDXError as exc:
        if any(p.parent == cache_dir(name) for p in files.values()):
            raise IDXError(f"{exc}\n(delete the bad file from {cache_dir(name)} to download it again)") from None
        raise

    test = _convert(test_x, test_y, dtype, normalize)
    if split == "train_test":
        return TrainTest(_convert(train_x, train_y, dtype, normalize), test)
    n_fit = _N_TRAIN - _N_VAL
    return TrainValTest(
        _convert(train_x[:n_fit], train_y[:n_fit], dtype, normalize),
        _convert(train_x[n_fit:], train_y[n_fit:], dtype, normalize),
        test,
    )



def load_mnist(path=None, split="train_val_test", dtype="float32", normalize=True, download=True):
    """Load MNIST (handwritten digits): flattened 28x28 grey images and labels.

    Parameters
    ----------
    path : str or os.PathLike, optional
        Directory holding the four IDX files (gzipped or not).  When given,
        no other place is searched and missing files are an error.  Otherwise
        the directories of ``candidate_dirs("mnist")`` are searched in order:
        ``$FASTNN_DATA/mnist/``, the user cache, ``/usr/share/datasets/mnist/``.
    split : {"train_val_test", "train_test"}
        ``"train_val_test"``: train = the first 50,000 images of the training
        file, val = its last 10,000, test = the 10,000 t10k images.
        ``"train_test"``: train = all 60,000 training images, test = the
        10,000 t10k images.
    dtype : str or numpy dtype, default "float32"
        Floating-point dtype of the images when ``normalize`` is True.  Not
        used when ``normalize`` is False.
    normalize : bool, default True
        True: pixels scaled to [0, 1] in ``dtype``.  False: the raw uint8
        pixels, 0..255.
    download : bool, default True
        When no searched directory holds the files, download them into the
        user cache (``cache_dir("mnist")``) from ``MIRRORS["mnist"]``,
        checking their MD5.  False forbids any network access.

    Returns
    -------
    TrainValTest or TrainTest
        Named tuples of :class:`Split` that unpack as
        ``(X_train, y_train), (X_val, y_val), (X_test, y_test)`` or
        ``(X_train, y_train), (X_test, y_test)``.  Each ``X`` is a
        C-contiguous array of shape (n, 784) (float ``dtype`` in [0, 1], or
        uint8 in 0..255); each ``y`` is an int64 array of shape (n,) with
        values in 0..9.  Sizes n: 50,000 / 10,000 / 10,000, or 60,000 / 10,000.

    Raises
    ------
    ValueError
        For a bad ``split``, ``dtype``, ``normalize``, ``download`` or ``path``
        argument; the message names the argument and echoes the value.
    DatasetNotFoundError
        (a FileNotFoundError) if the files are not found and may not be
        downloaded (``path`` given, or ``download=False``); the message lists
        the directories searched.
    DownloadError
        (an OSError) if a file could not be downloaded from any mirror.
    IDXError
        (a ValueError) if a file is truncated or corrupt, or the images and
        labels files of a pair disagree.

    Examples
    --------
    >>> (X_train, y_train), (X_val, y_val), (X_test, y_test) = load_mnist()
    >>> X_train.shape, X_train.dtype, y_train.dtype
    ((50000, 784), dtype('float32'), dtype('int64'))
    """
    return _load("mnist", path, split, dtype, normalize, download)


def load_fashion_mnist(path=None, split="train_val_test", dtype="float32", normalize=True, download=True):
    """Load Fashion-MNIST (Zalando clothing): flattened 28x28 grey images and labels.

    Same files, sizes, splits and arguments as :func:`load_mnist`; the class
    names of the labels 0..9 are in :data:`FASHION_MNIST_CLASSES`.

    Parameters
    ----------
    path : str or os.PathLike, optional
        Directory holding the four IDX files (gzipped or not).  When given,
        no other place is searched and missing files are an error.  Otherwise
        the directories of ``candidate_dirs("fashion-mnist")`` are searched in
        order: ``$FASTNN_DATA/fashion-mnist/``, the user cache,
        ``/usr/share/datasets/fashion-mnist/`` (Debian's
        ``dataset-fashion-mnist`` package).
    split : {"train_val_test", "train_test"}
        ``"train_val_test"``: train = the first 50,000 images of the training
        file, val = its last 10,000, test = the 10,000 t10k images.
        ``"train_test"``: train = all 60,000 training images, test = the
        10,000 t10k images.
    dtype : str or numpy dtype, default "float32"
        Floating-point dtype of the images when ``normalize`` is True.  Not
        used when ``normalize`` is False.
    normalize : bool, default True
        True: pixels scaled to [0, 1] in ``dtype``.  False: the raw uint8
        pixels, 0..255.
    download : bool, default True
        When no searched directory holds the files, download them into the
        user cache (``cache_dir("fashion-mnist")``) from
        ``MIRRORS["fashion-mnist"]``, checking their MD5.  False forbids any
        network access.

    Returns
    -------
    TrainValTest or TrainTest
        ``(X_train, y_train), (X_val, y_val), (X_test, y_test)`` or
        ``(X_train, y_train), (X_test, y_test)``: each ``X`` C-contiguous of
        shape (n, 784), float ``dtype`` in [0, 1] (or uint8 in 0..255); each
        ``y`` int64 of shape (n,) in 0..9.  Sizes n: 50,000 / 10,000 / 10,000,
        or 60,000 / 10,000.

    Raises
    ------
    ValueError, DatasetNotFoundError, DownloadError, IDXError
        As for :func:`load_mnist`.
    """
    return _load("fashion-mnist", path, split, dtype, normalize, download)
