"""Where the dataset files are: the search order and its error message.

The four IDX files of a dataset are looked for, in order, in

1. an explicit ``path=`` (a directory holding the four files; if it does not,
   that is an error, the other places are not tried),
2. ``$FASTNN_DATA/<name>/``,
3. the user cache ``$XDG_CACHE_HOME/fastnn/<name>/`` (``~/.cache/fastnn/<name>/``
   when ``XDG_CACHE_HOME`` is unset),
4. ``SYSTEM_DATA_DIR/<name>/``, ``/usr/share/datasets/<name>/`` (Debian's
   ``dataset-fashion-mnist`` package installs Fashion-MNIST there),

where ``<name>`` is ``mnist`` or ``fashion-mnist``. Each file may be gzipped
(``train-images-idx3-ubyte.gz``) or not (``train-images-idx3-ubyte``). Nothing
here touches the network.
"""

import os
from pathlib import Path

__all__ = ["DATASETS", "FILES", "SYSTEM_DATA_DIR", "DatasetNotFoundError", "cache_dir",
           "candidate_dirs", "locate_files"]

#: Dataset names accepted by the functions of this package.
DATASETS = ("mnist", "fashion-mnist")

#: The four files of each dataset, by their gzipped names.  The names without
#: ``.gz`` (uncompressed files) are accepted too when looking for local files.
FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

#: System-wide data directory, searched last (Debian's dataset packages).
#: Read at every call of :func:`candidate_dirs`.
SYSTEM_DATA_DIR = Path("/usr/share/datasets")


class DatasetNotFoundError(FileNotFoundError):
    """The dataset files are in none of the searched directories."""


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
