"""Downloading the dataset files: verified, atomic, mirror after mirror.

Each file is fetched from the base URLs of :data:`MIRRORS` in turn into a
hidden temporary file next to its final name; its length (when the server
announces one) and its MD5 (:data:`MD5`, the published sums) are checked
before it is renamed into place, so a failed or interrupted download never
leaves a file under the final name. Only the standard library is used.
"""

import hashlib
import http.client
import os
import secrets
import urllib.request

from ..progress import ProgressBar
from .locate import FILES, _check_name, _check_path, _find_in_dir, cache_dir

__all__ = ["MD5", "MIRRORS", "TIMEOUT", "DownloadError", "download_file", "download"]

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
#: Read at every call of :func:`download_file`.
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

#: Seconds to wait for a mirror to connect or to send more data.
TIMEOUT = 30.0

_CHUNK = 1 << 16
_USER_AGENT = "fastnn-datasets (python urllib)"


class DownloadError(OSError):
    """A dataset file could not be downloaded and verified from any mirror."""


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
