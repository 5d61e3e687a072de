"""The driver: run one experiment module, print its table, write its outputs.

``execute(module, ...)`` loads the data, calls ``module.compute``, prints
``module.table`` and, given ``out``, writes ``results.json`` and the figures of
``module.plot`` (see ``fastnn.experiments.common`` for what a module defines);
``runner`` makes a module's ``run``.
"""

import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from .. import __version__
from ..validation import check_positive_int
from . import plotting
from .common import concurrent_runs, load_data

__all__ = ["execute", "runner"]


def _jsonable(value):
    """numpy scalars/arrays to Python, NaN/inf to None (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _override(module, config, options):
    for key, value in options.items():
        if key not in module.OPTIONS:
            known = ", ".join(sorted(module.OPTIONS)) or "none"
            raise TypeError(f"experiment {module.NAME!r} has no option {key!r} "
                            f"(its options: {known})")
        if value is not None:
            config[key] = module.OPTIONS[key](value)
    return config


def execute(module, quick=False, seeds=1, out=None, dataset="mnist", data_dir=None,
            download=True, verbose=True, jobs=None, **options):
    """Run one experiment module: compute, print its table, write its outputs.

    Parameters
    ----------
    module : an experiment module (see this module's docstring)
    quick : bool
        The reduced settings (``module.QUICK``) instead of ``module.FULL``.
    seeds : int > 0
        Repeat every configuration with model seeds 0, 1, ..., seeds - 1.
    out : path or None
        Directory for ``results.json`` and the PNG plots (created if needed);
        None writes nothing.
    dataset, data_dir, download
        Passed to ``load_data``.
    verbose : bool
        Print progress and the table to stdout.
    jobs : int > 0 or None
        How many runs (configurations x seeds) train at once, in threads,
        each on one BLAS thread (``common.concurrent_runs``); None: one per
        core. The results do not depend on it, only the seconds.
    **options
        Overrides of the experiment's settings (``module.OPTIONS``), e.g.
        ``epochs=5``, ``n_train=10000``, ``variant="nielsen"``; None keeps
        the default.

    Returns
    -------
    dict
        The record written to ``results.json``: ``experiment``, ``title``,
        ``quick``, ``seeds``, ``dataset``, ``config``, ``results``, ``table``,
        ``elapsed_seconds``, ``plots`` (file names), ``plots_skipped`` (None or
        the reason), ``environment``.
    """
    seeds = check_positive_int("seeds", seeds)
    jobs = (os.cpu_count() or 1) if jobs is None else check_positive_int("jobs", jobs)
    if not isinstance(quick, (bool, np.bool_)):
        raise TypeError(f"quick must be True or False, got {quick!r}")
    config = _override(module, dict(module.QUICK if quick else module.FULL), options)

    def log(*parts):
        if verbose:
            print(*parts, flush=True)

    log(f"experiment {module.NAME}{' (quick)' if quick else ''}: {module.TITLE}")
    log(f"  settings: {config}; seeds 0..{seeds - 1}"
        + (f"; up to {jobs} runs at a time" if jobs > 1 else ""))
    data = load_data(dataset, data_dir, n_train=config["n_train"],
                     n_eval=config.get("n_eval"), download=download)
    start = time.perf_counter()
    with concurrent_runs(jobs):
        results = module.compute(config, data, list(range(seeds)), log)
    elapsed = time.perf_counter() - start
    table = module.table(results, config)
    record = {
        "experiment": module.NAME,
        "title": module.TITLE,
        "quick": bool(quick),
        "seeds": list(range(seeds)),
        "dataset": dataset,
        "config": config,
        "results": results,
        "table": table,
        "elapsed_seconds": elapsed,
        "plots": [],
        "plots_skipped": None,
        "environment": {"fastnn": __version__, "numpy": np.__version__,
                        "python": platform.python_version(), "machine": platform.machine()},
    }
    log("")
    log(table)
    log(f"\n{module.NAME}: {elapsed:.1f} s of computation")
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        if plotting.matplotlib_available():
            record["plots"] = [p.name for p in module.plot(record, out)]
            for name in record["plots"]:
                log(f"wrote {out / name}")
        else:
            record["plots_skipped"] = ("matplotlib is not installed "
                                       "(pip install 'fastnn[plot]')")
            log(f"plots skipped: {record['plots_skipped']}")
        with open(out / "results.json", "w", encoding="utf-8") as f:
            json.dump(_jsonable(record), f, indent=1, allow_nan=False)
            f.write("\n")
        log(f"wrote {out / 'results.json'}")
    return _jsonable(record)


def runner(module_name):
    """The ``run(quick=False, seeds=1, out=None, **kwargs)`` of the experiment
    module ``module_name``: ``execute`` on that module."""
    def run(quick=False, seeds=1, out=None, **kwargs):
        return execute(sys.modules[module_name], quick=quick, seeds=seeds, out=out, **kwargs)
    run.__module__ = module_name
    run.__qualname__ = "run"
    run.__doc__ = (f"Run the experiment of ``{module_name}``: "
                   "``fastnn.experiments.driver.execute`` on that module.")
    return run
