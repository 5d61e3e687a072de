"""Weight initialisation recipes, keyed by name.

Each takes a ``numpy.random.Generator``, the layer's ``n_in`` and ``n_out``
and a dtype and returns W of shape ``(n_out, n_in)``:

================= =====================================================
name              W ~
================= =====================================================
normal            N(0, std = 1/sqrt(n_in))          the lecture's standard trick
glorot_uniform    U[-sqrt(6)/sqrt(n_in + n_out), +sqrt(6)/sqrt(n_in + n_out)]
he_normal         N(0, std = sqrt(2/n_in))          for relu layers
standard_normal   N(0, 1)                           the bad init that saturates sigmoids
zeros             0
================= =====================================================

Biases start at 0, except with ``standard_normal``, whose recipe (Nielsen's
"large weight initializer") draws them from N(0, 1) too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:
    from typing import TypeAlias

    from numpy.typing import DTypeLike

    #: A recipe: ``(rng, n_in, n_out) -> W`` of shape (n_out, n_in), float64.
    Initializer: TypeAlias = Callable[[np.random.Generator, int, int], np.ndarray]

__all__ = ["INITIALIZERS", "get_initializer", "initialize"]


def _normal(rng: np.random.Generator, n_in: int, n_out: int) -> np.ndarray:
    return rng.normal(0.0, 1.0 / np.sqrt(n_in), size=(n_out, n_in))


def _glorot_uniform(rng: np.random.Generator, n_in: int, n_out: int) -> np.ndarray:
    limit = np.sqrt(6.0) / np.sqrt(n_in + n_out)
    return rng.uniform(-limit, limit, size=(n_out, n_in))


def _he_normal(rng: np.random.Generator, n_in: int, n_out: int) -> np.ndarray:
    return rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_out, n_in))


def _standard_normal(rng: np.random.Generator, n_in: int, n_out: int) -> np.ndarray:
    return rng.standard_normal(size=(n_out, n_in))


def _zeros(rng: np.random.Generator, n_in: int, n_out: int) -> np.ndarray:
    return np.zeros((n_out, n_in))


INITIALIZERS: dict[str, Initializer] = {
    "normal": _normal,
    "glorot_uniform": _glorot_uniform,
    "he_normal": _he_normal,
    "standard_normal": _standard_normal,
    "zeros": _zeros,
}


def get_initializer(name: str) -> Initializer:
    """Look up a recipe by name; ValueError listing the known ones otherwise."""
    if not isinstance(name, str) or name not in INITIALIZERS:
        raise ValueError(f"init must be one of {sorted(INITIALIZERS)}, got {name!r}")
    return INITIALIZERS[name]


def initialize(name: str, rng: np.random.Generator, n_in: int, n_out: int,
               dtype: DTypeLike) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(W, b)`` for a layer, drawn in float64 then cast to ``dtype``
    (so float32 and float64 models from one seed start from the same values
    up to rounding)."""
    W = get_initializer(name)(rng, n_in, n_out)
    if name == "standard_normal":
        b = rng.standard_normal(size=n_out)
    else:
        b = np.zeros(n_out)
    return np.ascontiguousarray(W, dtype=dtype), np.ascontiguousarray(b, dtype=dtype)
