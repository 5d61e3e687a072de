"""Which BLAS fastnn calls, and how many threads its GEMMs use.

fastnn's compiled core calls the BLAS that SciPy ships (through
``scipy.linalg.cython_blas``). When that BLAS is OpenBLAS >= 0.3.27, the
training loop picks the thread count per GEMM (``openblas_set_num_threads_local``,
which SciPy's pthreads build of OpenBLAS applies to the whole process: while a
compiled call runs, another thread's OpenBLAS calls see its count; the count
is put back when the call returns): GEMMs smaller than
``min_work`` = m*n*k run on one thread, larger ones on ``max_threads``. A
product with one row or column (batch 1: a matrix-vector product, or the
outer product of the weight gradient) is memory-bound and gains from a second
thread much earlier: it counts 8 times its m*n*k (csrc/threads.pxd,
``VECTOR_WORK_WEIGHT``), so at the default a 1024 x 1024 layer's batch-1
product is threaded and a 784 x 300 one is not. The process-wide setting is
left as it was.

A mini-batch GEMM of a small network (784 -> 30 or 784 -> 100 at batch 32 to
512) runs fastest cut into pieces under OpenBLAS's small-matrix limit
(csrc/blas.pxd), and those kernels are single-threaded. With ``max_threads``
of 2 or more, ``Sequential``'s compiled calls therefore share the pieces
between the calling thread and one helper thread of their own (csrc/team.h,
whatever the product's size against ``min_work``), as long as none of the
net's products runs whole on the BLAS's threads (the helper would compete with
them). Both threads claim pieces from one counter, so a helper that is slow
to wake costs nothing: the caller runs the pieces itself. The helper lives as
long as the compiled net, asleep between its calls, and is joined when the
net is freed. Each piece is its own block of the output, so the results are
bitwise those of one thread. ``max_threads=1`` (or ``limited(1)``) caps fastnn
at the calling thread: no helper and no BLAS threads.

Defaults come from measurements in bench/ and can be changed:

- ``FASTNN_NUM_THREADS``: threads for large GEMMs (default: the BLAS's own
  setting, e.g. ``OPENBLAS_NUM_THREADS`` or the number of cores);
- ``FASTNN_GEMM_MIN_WORK``: the m*n*k threshold (default ``DEFAULT_MIN_WORK``);
- or ``set_policy(max_threads=..., min_work=...)`` at run time.

The policy applies to the fast path (``Sequential``) and to the ``fastnn._blas``
functions that the graph path and the layers call (their pieces run on the
calling thread: they have no helper).
"""

from __future__ import annotations

from typing import Any, Iterator

import contextlib
import ctypes
import os
import warnings
from pathlib import Path

from . import _blas

__all__ = ["blas_info", "set_policy", "limited", "policy", "DEFAULT_MIN_WORK"]

#: m*n*k below which a GEMM runs single-threaded (see bench/README.md).
DEFAULT_MIN_WORK = 4_000_000

_state = {"loaded": False, "lib": None, "path": None, "set_local": None, "get": None,
          "max_threads": None, "min_work": None}


def _scipy_blas_path():
    """Path of the shared BLAS library SciPy's cython_blas is linked to."""
    import scipy.linalg.cython_blas  # noqa: F401  (loads the library)

    maps = Path("/proc/self/maps")
    if maps.exists():
        for line in maps.read_text().splitlines():
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            if "openblas" in path and "scipy" in path:
                return path
    import scipy

    libs = Path(scipy.__file__).parent.parent / "scipy.libs"
    found = sorted(libs.glob("libscipy_openblas*.so*")) if libs.is_dir() else []
    return str(found[0]) if found else None


def _load():
    if _state["loaded"]:
        return _state
    _state["loaded"] = True
    path = _scipy_blas_path()
    if path is None:
        return _state
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        return _state
    _state.update(lib=lib, path=path)
    set_local = getattr(lib, "openblas_set_num_threads_local", None)
    getter = (getattr(lib, "scipy_openblas_get_num_threads", None)
              or getattr(lib, "openblas_get_num_threads", None))
    if set_local is not None and getter is not None:
        set_local.restype, set_local.argtypes = ctypes.c_int, [ctypes.c_int]
        getter.restype, getter.argtypes = ctypes.c_int, []
        _state.update(set_local=set_local, get=getter)
    _apply(max_threads=_env_number("FASTNN_NUM_THREADS", _positive_int, None),
           min_work=_env_number("FASTNN_GEMM_MIN_WORK", _work, DEFAULT_MIN_WORK))
    return _state


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise ValueError
    return value


def _work(text):
    value = float(text)
    if not value >= 0:          # also refuses nan
        raise ValueError
    return value


def _env_number(name, parse, default):
    """The value of environment variable ``name`` read by ``parse``; for a bad
    value, a warning naming the variable and the value, and ``default``.

    A warning rather than an error: the variables are read by ``import
    fastnn``, and a stray setting in the environment should not make the
    library unimportable.
    """
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        return parse(text)
    except ValueError:
        what = ("a positive integer" if parse is _positive_int
                else "a number >= 0 (m*n*k)")
        warnings.warn(f"environment variable {name}={text!r} is not {what}: ignored, "
                      f"using {'the BLAS setting' if default is None else default}",
                      RuntimeWarning, stacklevel=2)
        return default


def set_policy(max_threads: int | None = None, min_work: float | None = None) -> None:
    """Set the thread count of large GEMMs and the m*n*k threshold below which
    GEMMs run single-threaded (``min_work=0``: never single-threaded;
    ``float('inf')``: always). ``max_threads=None`` follows the BLAS setting."""
    if max_threads is not None and (isinstance(max_threads, bool) or
                                    not isinstance(max_threads, int) or max_threads < 1):
        raise ValueError(f"max_threads must be a positive integer or None, got {max_threads!r}")
    if min_work is not None:
        if isinstance(min_work, bool) or not isinstance(min_work, (int, float)) or min_work < 0:
            raise ValueError(f"min_work must be a number >= 0, got {min_work!r}")
    _load()         # the environment's defaults first, then these values
    _apply(max_threads, min_work)


def _apply(max_threads, min_work):
    if min_work is not None:
        _state["min_work"] = float(min_work)
    _state["max_threads"] = max_threads
    _blas.set_thread_policy(*policy())   # the def twins (graph path) follow it too


@contextlib.contextmanager
def limited(max_threads: int) -> Iterator[None]:
    """Within ``with limited(n):`` large GEMMs use at most n threads (the
    process-wide policy, as ``set_policy``); the previous setting is put back
    on leaving. For a program that runs several fits at once in threads."""
    st = _load()
    saved = st["max_threads"]
    set_policy(max_threads=min(max_threads, policy()[1]))
    try:
        yield
    finally:
        _apply(saved, None)


def policy() -> tuple[int, int, float]:
    """``(address of openblas_set_num_threads_local or 0, max_threads, min_work)``
    for the compiled loops; address 0 when thread control is unavailable."""
    st = _load()
    if st["set_local"] is None:
        return 0, 1, float("inf")
    max_threads = st["max_threads"] or max(int(st["get"]()), 1)
    return ctypes.cast(st["set_local"], ctypes.c_void_p).value, max_threads, st["min_work"]


def blas_info() -> dict[str, Any]:
    """What BLAS the compiled core uses: library path, configuration string,
    current thread count and fastnn's per-GEMM policy."""
    st = _load()
    info = {"library": st["path"], "thread_control": st["set_local"] is not None}
    lib = st["lib"]
    config = getattr(lib, "scipy_openblas_get_config", None) if lib is not None else None
    if config is not None:
        config.restype = ctypes.c_char_p
        info["config"] = config().decode()
    if st["get"] is not None:
        info["num_threads"] = int(st["get"]())
    _, max_threads, min_work = policy()
    info.update(max_threads=max_threads, min_work=min_work)
    return info
