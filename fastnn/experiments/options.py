"""Validators for the settings a caller may override (``module.OPTIONS``).

Each factory returns ``check(value) -> value`` that raises ValueError naming
the option and echoing the bad value.
"""

import numbers

from ..validation import check_positive_int

__all__ = ["positive_int", "train_size", "nonempty_int_list", "choice", "experiment_options",
           "hidden_sizes"]

#: Images in the training split (the first 50,000 of the MNIST training file).
MAX_TRAIN = 50_000


def positive_int(name):
    """Check an integer >= 1."""
    return lambda value: check_positive_int(name, value)


def train_size(value):
    """Check a number of training images in 1..50,000."""
    value = check_positive_int("n_train", value)
    if value > MAX_TRAIN:
        raise ValueError(f"n_train must be at most {MAX_TRAIN}, got {value}")
    return value


def nonempty_int_list(name, low, high):
    """Check a non-empty sequence of distinct integers in [low, high]."""
    def check(value):
        try:
            items = list(value)
        except TypeError:
            raise ValueError(f"{name} must be a list of integers, got {value!r}") from None
        if not items or len(set(items)) != len(items) or not all(
                isinstance(v, numbers.Integral) and not isinstance(v, bool) and low <= v <= high
                for v in items):
            raise ValueError(f"{name} must be a non-empty list of distinct integers in "
                             f"[{low}, {high}], got {value!r}")
        return [int(v) for v in items]
    return check


def choice(name, choices):
    """Check one of ``choices`` (any container of strings)."""
    def check(value):
        if value not in choices:
            raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
        return value
    return check


def experiment_options(**more):
    """The options every experiment takes, ``epochs`` and ``n_train``, and ``more``."""
    return {"epochs": positive_int("epochs"), "n_train": train_size, **more}


#: Check of the ``hidden`` option: the sizes of the hidden layers.
hidden_sizes = nonempty_int_list("hidden", low=1, high=10_000)
