"""The IDX file format of MNIST and Fashion-MNIST: a strict reader.

An IDX file is a 4-byte magic number ``00 00 <type code> <ndim>``, then
``ndim`` big-endian uint32 dimensions, then the array in C order, big-endian.
The reader checks every part of that and the exact payload length, so a
truncated or corrupt file raises :class:`IDXError` naming the file instead of
giving a wrong array. Gzipped files are recognised by their magic bytes.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib

import numpy as np

__all__ = ["IDXError", "read_idx"]

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


# NumPy's limit on the number of dimensions (NPY_MAXDIMS): 64 since 2.0, 32 before.
_MAX_DIMS = 64 if int(np.__version__.split(".")[0]) >= 2 else 32


class IDXError(ValueError):
    """An IDX file is truncated, corrupt, or not what the dataset needs."""


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
    if ndim > _MAX_DIMS:
        raise IDXError(f"{filename}: IDX header declares {ndim} dimensions; a NumPy array has "
                       f"at most {_MAX_DIMS}")
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


def read_idx(filename: str | os.PathLike[str]) -> np.ndarray:
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
