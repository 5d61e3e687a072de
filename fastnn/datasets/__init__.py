"""MNIST and Fashion-MNIST: find, download, verify and decode.

The datasets are the four IDX files published with each dataset, read by

========================= =====================================================
:mod:`.idx`               the strict IDX reader, :func:`read_idx`
:mod:`.locate`            the search order: ``path=``, ``$FASTNN_DATA/<name>/``,
                          the user cache (``$XDG_CACHE_HOME/fastnn/<name>/``,
                          ``~/.cache/fastnn/<name>/``), ``/usr/share/datasets/<name>/``
:mod:`.downloads`         the verified, atomic download from each mirror in turn
:mod:`.loaders`           :func:`load_mnist`, :func:`load_fashion_mnist`, the splits
========================= =====================================================

where ``<name>`` is ``mnist`` or ``fashion-mnist``. Each file may be gzipped or
not. When no directory holds them, the files are downloaded into the user
cache from :data:`MIRRORS` and checked against the published MD5 sums in
:data:`MD5`. Files found locally are not MD5-checked (repackaged copies, such
as Debian's, carry different gzip headers); the strict IDX reader guards them
instead: any truncation or corruption raises :class:`IDXError`.

Everything public is importable from here (``from fastnn.datasets import
load_mnist, read_idx, locate_files, download``). The settings ``MIRRORS``,
``MD5``, ``TIMEOUT`` and ``SYSTEM_DATA_DIR`` are read, at every call, from the
module that uses them; assigning one here (``fastnn.datasets.TIMEOUT = 60``)
assigns it there too.

Only the standard library and numpy are used.
"""

import sys
import types

from . import downloads, idx, loaders, locate
from .downloads import MD5, MIRRORS, TIMEOUT, DownloadError, download, download_file
from .idx import IDXError, read_idx
from .loaders import (FASHION_MNIST_CLASSES, Split, TrainTest, TrainValTest, load_fashion_mnist,
                      load_mnist)
from .locate import (DATASETS, FILES, SYSTEM_DATA_DIR, DatasetNotFoundError, cache_dir,
                     candidate_dirs, locate_files)

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

# Setting name -> the submodule whose functions read it.
_SETTINGS = {"MD5": downloads, "MIRRORS": downloads, "TIMEOUT": downloads,
             "SYSTEM_DATA_DIR": locate}


class _Package(types.ModuleType):
    """This package's module type: a setting assigned on the package (as
    before the split into submodules) also rebinds it where it is read."""

    def __setattr__(self, name, value):
        if name in _SETTINGS:
            setattr(_SETTINGS[name], name, value)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
