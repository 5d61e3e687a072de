"""The loaders: MNIST and Fashion-MNIST as (images, labels) splits.

:func:`load_mnist` and :func:`load_fashion_mnist` find the four IDX files
(:mod:`fastnn.datasets.locate`), download them when no searched directory holds
them (:mod:`fastnn.datasets.downloads`), decode them with the strict IDX reader
(:mod:`fastnn.datasets.idx`), check that each images/labels pair is a dataset of
28x28 ubyte images and labels 0..9 of the expected size, and return the splits.
"""

from typing import NamedTuple

import numpy as np

from .downloads import download
from .idx import IDXError, _parse_idx, _read_file_bytes
from .locate import DatasetNotFoundError, _check_path, cache_dir, locate_files

__all__ = ["FASHION_MNIST_CLASSES", "Split", "TrainValTest", "TrainTest", "load_mnist",
           "load_fashion_mnist"]

#: Class names of Fashion-MNIST, indexed by label.
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

_SPLITS = ("train_val_test", "train_test")
_IMAGE_SHAPE = (28, 28)
_N_TRAIN = 60_000
_N_TEST = 10_000
_N_VAL = 10_000  # taken from the end of the training file
_N_CLASSES = 10


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


# One docstring for both loaders: they differ only in the dataset they read.
_LOADER_DOC = """Load {title}: flattened 28x28 grey images and labels.
{intro}
    Parameters
    ----------
    path : str or os.PathLike, optional
        Directory holding the four IDX files (gzipped or not).  When given,
        no other place is searched and missing files are an error.  Otherwise
        the directories of ``candidate_dirs("{name}")`` are searched in order:
        ``$FASTNN_DATA/{name}/``, the user cache,
        ``/usr/share/datasets/{name}/``{system_note}.
    split : {{"train_val_test", "train_test"}}
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
        user cache (``cache_dir("{name}")``) from ``MIRRORS["{name}"]``,
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
    >>> (X_train, y_train), (X_val, y_val), (X_test, y_test) = {function}()
    >>> X_train.shape, X_train.dtype, y_train.dtype
    ((50000, 784), dtype('float32'), dtype('int64'))
    """


def _loader_doc(name, title, intro="", system_note=""):
    """Give a loader the shared docstring, filled in for dataset ``name``."""
    def document(function):
        function.__doc__ = _LOADER_DOC.format(name=name, title=title, intro=intro,
                                              system_note=system_note, function=function.__name__)
        return function
    return document


@_loader_doc("mnist", "MNIST (handwritten digits)")
def load_mnist(path=None, split="train_val_test", dtype="float32", normalize=True, download=True):
    return _load("mnist", path, split, dtype, normalize, download)


@_loader_doc("fashion-mnist", "Fashion-MNIST (Zalando clothing)",
             intro="\n    The class names of the labels 0..9 are in\n"
                   "    :data:`FASHION_MNIST_CLASSES`.\n",
             system_note=" (Debian's ``dataset-fashion-mnist`` package)")
def load_fashion_mnist(path=None, split="train_val_test", dtype="float32", normalize=True,
                       download=True):
    return _load("fashion-mnist", path, split, dtype, normalize, download)
