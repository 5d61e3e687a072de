"""fastnn's benchmark suite: training throughput against PyTorch, scikit-learn,
plain NumPy and the BLAS ceiling, plus prediction, concurrent prediction (one model
from 1, 2 and 4 threads, bench/concurrency.py), the sparse first layer on a bag of
words (bench/sparse_input.py), import time and memory.

    python bench/run.py            # the full suite (about 7 minutes on 2 quiet cores)
    python bench/run.py --quick    # shorter windows, same grid (about 3 minutes)

Prints the tables and a "targets" section and writes everything measured to
bench/results/<timestamp>.json. See bench/README.md for how to read them.
Benchmarks are not tests: nothing here asserts a time.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from workloads import (BATCHES, NETS, ROOT, blas_libraries, fastnn_blas, fastnn_home,
                       gemm_calls, gemm_flops, load_data)  # first: the checkout's in-place build

HERE = Path(__file__).resolve().parent
IMPLS = ("fastnn", "torch", "sklearn", "numpy")
TIME_FORMAT = "%Y%m%dT%H%M%S"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="fastnn benchmark suite",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="shorter windows (0.3 s) and fewer repeats in the side sections")
    p.add_argument("--nets", nargs="+", default=list(NETS), choices=list(NETS),
                   help="networks: lecture = 784-30-10 sigmoid, relu100 = 784-100-10 relu, "
                        "big = 784-1024-1024-10 relu")
    p.add_argument("--batches", nargs="+", type=int, default=list(BATCHES))
    p.add_argument("--peers", nargs="*", default=["torch", "sklearn", "numpy"],
                   choices=["torch", "sklearn", "numpy"],
                   help="peers to compare against (only these are imported, also in the "
                        "import and memory sections)")
    p.add_argument("--f64-batches", nargs="*", type=int, default=[128, 512],
                   help="batch sizes of the float64 rows of the big network (none: skip)")
    p.add_argument("--threads", type=int, default=None,
                   help="BLAS/OpenMP threads for everyone (default: what fastnn's BLAS uses)")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed windows per contender (default 3; at least 3 is advised)")
    p.add_argument("--min-window", type=float, default=None,
                   help="seconds a partial-epoch window lasts (default 1.0, quick 0.3)")
    p.add_argument("--data", default=None,
                   help="directory with the MNIST IDX files (default: $FASTNN_DATA/mnist, ...)")
    p.add_argument("--skip", nargs="*", default=[],
                   choices=["train", "chunks", "predict", "threads", "sparse", "import",
                            "memory"],
                   help="sections to skip (chunks: fit's in-epoch chunks against one call "
                        "per epoch; threads: concurrent predict_proba on one model; sparse: "
                        "the bag-of-words sparse first layer, bench/sparse_input.py)")
    p.add_argument("--out", default=None, help="results JSON (default bench/results/<time>.json)")
    return p.parse_args(argv)


# ------------------------------------------------------------------ output ---

class Report:
    """Prints lines and keeps them for the JSON file."""

    def __init__(self):
        self.lines = []

    def __call__(self, line=""):
        print(line, flush=True)
        self.lines.append(line)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def fmt_rate(x):
    from timing import fmt_rate as f
    return f(x)


def ratio_text(x):
    if x is None or x != x:
        return "-"
    return f"{x:.3g}x" if x < 100 else f"{x:.0f}x"


# --------------------------------------------------------------- training ---

def train_section(args, settings, X, y, X64, peers, missing, threads, out):
    from timing import measure
    from trainers import TRAINERS, initial_weights

    out(f"TRAINING THROUGHPUT: examples/s, median of {settings.repeats} interleaved windows "
        f"(min-max), {threads} thread(s)")
    out("  window: 'epoch' = all 60,000 examples; a number = that many examples (>= "
        f"{settings.min_window:g} s). fastnn/peer = ratio of medians (> 1: fastnn faster).")
    cells = []
    overheads = {}
    blocks = [(key, "float32", args.batches) for key in args.nets]
    if "big" in args.nets and args.f64_batches:
        blocks.append(("big", "float64", args.f64_batches))
    for key, dtype, batches in blocks:
        spec = NETS[key]
        data = X if dtype == "float32" else X64
        weights = initial_weights(spec, dtype)
        out()
        out(f"{spec.name}, {dtype}  ({spec.n_weights:,} weights; training GEMMs "
            f"{gemm_flops(spec, 1) / 1e6:.2f} MFLOP/example, about 6 x weights less the "
            f"input layer's unneeded grad_X)")
        out(f"  {'batch':>5}  {'impl':<8} {'ex/s':>8}  {'min-max':<17} {'window':>7}  "
            f"{'fastnn/peer':>11}")
        for batch in batches:
            log(f"[train] {spec.name} {dtype} batch {batch}")
            names = ["fastnn"] + [p for p in peers if p not in missing] + ["blas"]
            contenders = {}
            errors = {}
            for name in names:
                try:
                    contenders[name] = TRAINERS[name](spec, data, y, batch, weights)
                except Exception as exc:  # shown in the table
                    errors[name] = f"{type(exc).__name__}: {exc}"
            results = measure(contenders, data.shape[0], batch, settings, log=log)
            fast = contenders.get("fastnn")
            fit_overhead = None
            if fast is not None and fast.fit_overheads:
                # Only the timed windows that cover the whole data set: the
                # validation cost scales with the rows handed to fit().
                if results["fastnn"].epoch:
                    fit_overhead = statistics.median(fast.fit_overheads[-settings.repeats:])
                    overheads.setdefault((key, dtype), []).append(fit_overhead)
            cell = {"net": spec.name, "key": key, "dtype": dtype, "batch": batch,
                    "results": {n: r.to_dict() for n, r in results.items()},
                    "setup_errors": errors, "missing": {p: missing[p] for p in peers
                                                        if p in missing},
                    "fastnn_fit_overhead_seconds": fit_overhead}
            f = results.get("fastnn")
            f_med = f.median if f is not None and f.ok else None
            for name in ["fastnn"] + list(peers):
                if name in missing:
                    out(f"  {batch:>5}  {name:<8} MISSING ({missing[name]})")
                    continue
                if name in errors:
                    out(f"  {batch:>5}  {name:<8} ERROR at setup: {errors[name]}")
                    continue
                r = results[name]
                if not r.ok:
                    out(f"  {batch:>5}  {name:<8} ERROR: {r.error}")
                    continue
                ratio = "" if name == "fastnn" or f_med is None else ratio_text(f_med / r.median)
                window = "epoch" if r.epoch else f"{r.window:,}"
                spread = f"{fmt_rate(r.low)}-{fmt_rate(r.high)}"
                out(f"  {batch:>5}  {name:<8} {fmt_rate(r.median):>8}  {spread:<17} "
                    f"{window:>7}  {ratio:>11}")
            b = results.get("blas")
            if b is not None and b.ok:
                flops = gemm_flops(spec, batch) / batch
                ceiling_gf = b.median * flops / 1e9
                line = (f"  {batch:>5}  BLAS ceiling {fmt_rate(b.median)} ex/s = "
                        f"{ceiling_gf:.1f} GFLOP/s ({len(gemm_calls(spec, batch))} GEMMs/step)")
                if f_med is not None:
                    line += (f"; fastnn {f_med * flops / 1e9:.1f} GFLOP/s = "
                             f"{100 * f_med / b.median:.0f}% of it")
                    cell["fraction_of_ceiling"] = f_med / b.median
                cell["ceiling_gflops"] = ceiling_gf
                out(line)
            elif b is not None or "blas" in errors:
                out(f"  {batch:>5}  BLAS ceiling ERROR: {b.error if b else errors['blas']}")
            cells.append(cell)
        if overheads.get((key, dtype)):
            out(f"  (fastnn's fit() also pays {1e3 * statistics.median(overheads[(key, dtype)]):.0f}"
                f" ms per call on 60,000 rows for validating X and building the compiled net: "
                f"once per fit, not per epoch, so not in the rates above)")
    return cells


#: (network, batch) of the chunking rows: where a step is cheapest (so a
#: per-step cost would show) and a large network.
CHUNK_ROWS = (("lecture", 1), ("lecture", 10), ("big", 128))


def chunk_section(args, settings, X, y, out):
    """fit's epochs return to Python every ~0.2 s (progress, callbacks, Ctrl-C):
    their rate against one compiled call per epoch. Target: under 1% slower."""
    from timing import measure, paired_ratio
    from trainers import FastnnTrainer, WholeEpochTrainer, initial_weights

    rows = [(key, batch) for key, batch in CHUNK_ROWS if key in args.nets]
    record = []
    if not rows:
        return record
    out()
    out("CHUNKED EPOCHS: fastnn float32, the epoch in ~0.2 s chunks (the default) against "
        "one compiled call per epoch")
    for key, batch in rows:
        spec = NETS[key]
        weights = initial_weights(spec, "float32")
        log(f"[chunks] {spec.name} batch {batch}")
        contenders = {"chunked": FastnnTrainer(spec, X, y, batch, weights),
                      "one call": WholeEpochTrainer(spec, X, y, batch, weights)}
        results = measure(contenders, X.shape[0], batch, settings, log=log)
        chunked, whole = results["chunked"], results["one call"]
        if not (chunked.ok and whole.ok):
            out(f"  {spec.name} batch {batch}: ERROR {chunked.error or whole.error}")
            continue
        cost = 1 - paired_ratio(chunked, whole)
        out(f"  {spec.name:<22} batch {batch:>4}: chunked {fmt_rate(chunked.median):>8} ex/s, "
            f"one call {fmt_rate(whole.median):>8} ex/s: {100 * cost:+.2f}% "
            f"({'within' if cost < 0.01 else 'OVER'} the 1% target)")
        record.append({"net": spec.name, "batch": batch, "chunk_cost": cost,
                       "results": {n: r.to_dict() for n, r in results.items()}})
    return record


# ------------------------------------------------------------- prediction ---

def predict_section(args, settings, X, y, peers, missing, out):
    from timing import Result, settle
    from trainers import initial_weights, predictor

    out()
    out("PREDICTION THROUGHPUT: examples/s (probabilities), median of "
        f"{settings.repeats} interleaved windows (min-max), float32")
    out(f"  {'net':<22} {'batch':>6}  {'impl':<8} {'ex/s':>8}  {'min-max':<17} "
        f"{'fastnn/peer':>11}")
    cells = []
    for key in args.nets:
        spec = NETS[key]
        weights = initial_weights(spec, "float32")
        names = ["fastnn"] + [p for p in peers if p not in missing]
        preds = {}
        for name in names:
            try:
                preds[name] = predictor(name, spec, weights, X[:64], y[:64])
            except Exception as exc:
                preds[name] = exc
        for batch in (1, 10000):
            log(f"[predict] {spec.name} batch {batch}")
            results = {n: Result(n) for n in names}
            for n in names:
                if isinstance(preds[n], Exception):
                    results[n].error = f"{type(preds[n]).__name__}: {preds[n]}"
            # Calibrate the number of rows per window (batch 1) or calls (batch 10,000).
            windows = {}
            for n in names:
                if results[n].error:
                    continue
                try:
                    windows[n] = _calibrate_predict(preds[n], X, batch, settings)
                except Exception as exc:
                    results[n].error = f"{type(exc).__name__}: {exc}"
            live = [n for n in names if not results[n].error]
            for k in range(settings.repeats):
                shift = k % max(1, len(live))
                for n in live[shift:] + live[:shift]:
                    calls = windows[n]
                    start = (k * 997) % (X.shape[0] - max(batch, calls))
                    settle()
                    t0 = time.perf_counter()
                    if batch == 1:
                        for i in range(start, start + calls):
                            preds[n](X[i:i + 1])
                        examples = calls
                    else:
                        for _ in range(calls):
                            preds[n](X[start:start + batch])
                        examples = calls * batch
                    results[n].rates.append(examples / (time.perf_counter() - t0))
            f = results["fastnn"]
            for n in ["fastnn"] + list(peers):
                if n in missing:
                    out(f"  {spec.name:<22} {batch:>6}  {n:<8} MISSING ({missing[n]})")
                    continue
                r = results[n]
                if not r.ok:
                    out(f"  {spec.name:<22} {batch:>6}  {n:<8} ERROR: {r.error}")
                    continue
                ratio = "" if n == "fastnn" or not f.ok else ratio_text(f.median / r.median)
                out(f"  {spec.name:<22} {batch:>6}  {n:<8} {fmt_rate(r.median):>8}  "
                    f"{fmt_rate(r.low) + '-' + fmt_rate(r.high):<17} {ratio:>11}")
            cells.append({"net": spec.name, "batch": batch,
                          "results": {n: r.to_dict() for n, r in results.items()}})
    return cells


def _calibrate_predict(fn, X, batch, settings):
    """Rows (batch 1) or calls (batch 10,000) that last about half a window."""
    target = settings.min_window / 2
    calls = 8 if batch == 1 else 1
    while True:
        t0 = time.perf_counter()
        if batch == 1:
            for i in range(calls):
                fn(X[i:i + 1])
        else:
            for _ in range(calls):
                fn(X[:batch])
        seconds = time.perf_counter() - t0
        if seconds >= target / 4 or calls >= 20000:
            break
        calls *= 4
    per_call = seconds / calls
    cap = X.shape[0] - batch - 1 if batch == 1 else 1000
    return int(max(1, min(cap, target / per_call)))


# ------------------------------------------------------------ import time ---

_IMPORT = ("import sys, time; sys.path[0] = sys.argv[1]; t = time.perf_counter(); "
           "import {mod}; print(time.perf_counter() - t)")


def import_section(args, peers, missing, out):
    out()
    runs = 5 if args.quick else 9
    out(f"IMPORT TIME: fresh interpreter, median of {runs} (min-max), interleaved")
    mods = [("fastnn", "fastnn"), ("numpy", "numpy")]
    if "torch" in peers and "torch" not in missing:
        mods.append(("torch", "torch"))
    if "sklearn" in peers and "sklearn" not in missing:
        mods.append(("sklearn", "sklearn.neural_network"))
    times = {name: [] for name, _ in mods}
    errors = {}
    home = fastnn_home()
    for _ in range(runs):
        for name, mod in mods:
            if name in errors:
                continue
            # The child imports the fastnn this process uses (in place or
            # installed), from a neutral directory.
            proc = subprocess.run([sys.executable, "-c", _IMPORT.format(mod=mod), home],
                                  capture_output=True, text=True, cwd=tempfile.gettempdir())
            if proc.returncode != 0:
                errors[name] = proc.stderr.strip().splitlines()[-1]
                continue
            times[name].append(float(proc.stdout))
    result = {}
    fastnn_med = statistics.median(times["fastnn"]) if times["fastnn"] else None
    for name, mod in mods:
        if name in errors:
            out(f"  import {mod:<24} ERROR: {errors[name]}")
            continue
        med = statistics.median(times[name])
        note = ""
        if name in ("torch", "sklearn") and fastnn_med:
            note = f"  (fastnn imports {med / fastnn_med:.1f}x faster)"
        if name == "numpy":
            note = "  (part of fastnn's time: fastnn imports it)"
        out(f"  import {mod:<24} {med * 1e3:7.1f} ms  ({min(times[name]) * 1e3:.1f}-"
            f"{max(times[name]) * 1e3:.1f}){note}")
        result[name] = {"module": mod, "seconds": times[name], "median": med}
    for name in ("torch", "sklearn"):
        if name in missing:
            out(f"  import {name:<24} MISSING ({missing[name]})")
    return result


# ------------------------------------------------------------------ memory ---

def memory_section(args, peers, missing, threads, data_source_is_random, out):
    out()
    out("PEAK MEMORY of one training epoch over 60,000 x 784 float32 (fresh process; peak RSS "
        "growth over the RSS with the data already loaded)")
    jobs = [("fastnn", key) for key in args.nets]
    jobs += [(p, "lecture") for p in peers if p not in missing]
    rows = []
    for impl, key in jobs:
        log(f"[memory] {impl} {key}")
        cmd = [sys.executable, str(HERE / "memory_probe.py"), "--impl", impl, "--net", key,
               "--batch", "128", "--threads", str(threads)]
        if args.data:
            cmd += ["--data", args.data]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
            out(f"  {impl:<8} {NETS[key].name:<22} ERROR: {tail}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        copies = r["growth_bytes"] >= 0.9 * r["data_bytes"]
        out(f"  {impl:<8} {r['net']:<22} batch {r['batch']:<4} growth "
            f"{r['growth_bytes'] / 2**20:8.1f} MiB  (data {r['data_bytes'] / 2**20:.0f} MiB; "
            f"{'COPIES the data set' if copies else 'no copy of the data set'}; {r['method']})")
        rows.append(r)
    return rows


# ----------------------------------------------------------------- targets ---

def _cell(cells, key, dtype, batch):
    for c in cells:
        if c["key"] == key and c["dtype"] == dtype and c["batch"] == batch:
            return c
    return None


def _median(cell, name):
    if cell is None:
        return None
    r = cell["results"].get(name)
    return r["median"] if r and r["median"] else None


def _paired(cell, num, den):
    """Per-round ratios num/den (the rounds are interleaved, so pairs share the noise)."""
    a = cell["results"].get(num, {}).get("rates") or []
    b = cell["results"].get(den, {}).get("rates") or []
    return [x / z for x, z in zip(a, b)]


def targets_section(cells, missing, out):
    out()
    out("TARGETS (float32 unless stated; ratio of medians, [min-max of the per-round ratios])")
    checks = [
        ("784-30-10 sigmoid, batch 10: >= 20x PyTorch", "lecture", "float32", 10, "torch", 20),
        ("784-30-10 sigmoid, batch 10: >= 10x scikit-learn", "lecture", "float32", 10,
         "sklearn", 10),
        ("784-30-10 sigmoid, batch 1: >= 60x PyTorch", "lecture", "float32", 1, "torch", 60),
        ("784-30-10 sigmoid, batch 128: >= 2x PyTorch", "lecture", "float32", 128, "torch", 2),
        ("784-1024-1024-10 relu, batch 128: >= 1x PyTorch", "big", "float32", 128, "torch", 1),
        ("784-1024-1024-10 relu, batch 512: >= 1x PyTorch", "big", "float32", 512, "torch", 1),
        ("784-1024-1024-10 relu, batch 128: >= 85% of the BLAS ceiling", "big", "float32", 128,
         "blas", 0.85),
        ("784-1024-1024-10 relu, batch 512: >= 85% of the BLAS ceiling", "big", "float32", 512,
         "blas", 0.85),
        ("784-1024-1024-10 relu, batch 128: float64 >= 0.5x float32", "big", "float64", 128,
         "float32", 0.5),
        ("784-1024-1024-10 relu, batch 512: float64 >= 0.5x float32", "big", "float64", 512,
         "float32", 0.5),
    ]
    rows = []
    width = max(len(c[0]) for c in checks)
    for text, key, dtype, batch, peer, goal in checks:
        cell = _cell(cells, key, dtype, batch)
        value, spread, status = None, [], None
        if peer == "float32":
            ref = _cell(cells, key, "float32", batch)
            a, b = _median(cell, "fastnn"), _median(ref, "fastnn")
            if a and b:
                value = a / b
            else:
                status = "not measured"
        elif peer in missing:
            status = f"not measured ({peer} missing)"
        else:
            a, b = _median(cell, "fastnn"), _median(cell, peer)
            if a and b:
                value = a / b
                spread = _paired(cell, "fastnn", peer)
            else:
                status = "not measured"
        if value is not None:
            status = "met" if value >= goal else "NOT MET"
            shown = f"{100 * value:.0f}%" if peer == "blas" else ratio_text(value)
            if spread:
                lo, hi = min(spread), max(spread)
                shown += (f" [{100 * lo:.0f}-{100 * hi:.0f}%]" if peer == "blas"
                          else f" [{ratio_text(lo)[:-1]}-{ratio_text(hi)}]")
        else:
            shown = "-"
        out(f"  {text:<{width}}  {shown:<22} {status}")
        rows.append({"target": text, "value": value, "goal": goal, "per_round": spread,
                     "status": status})
    return rows


# -------------------------------------------------------------------- main ---

def main(argv=None):
    args = parse_args(argv)
    from timing import Settings
    settings = Settings(repeats=args.repeats or 3,
                        min_window=args.min_window or (0.3 if args.quick else 1.0),
                        max_window=0.6 if args.quick else 2.0,
                        calibrate=0.08 if args.quick else 0.15)
    if settings.repeats < 1:
        raise SystemExit(f"--repeats must be >= 1, got {settings.repeats}")
    out = Report()
    started = datetime.datetime.now()

    blas = fastnn_blas()
    from trainers import missing_peers
    peers = list(args.peers)
    missing = missing_peers(peers)
    threads = args.threads or (blas["num_threads"] if blas else None)
    limiter = None
    if "torch" in peers and "torch" not in missing and threads:
        import torch
        torch.set_num_threads(threads)
    if args.threads is not None:
        try:
            from threadpoolctl import threadpool_limits
            limiter = threadpool_limits(limits=args.threads)  # noqa: F841 (kept alive)
        except ImportError:
            raise SystemExit("--threads needs threadpoolctl (pip install threadpoolctl)")
    if threads is None:
        threads = "?"

    X = y = X64 = None
    source = "not loaded (no section that needs it runs)"
    if not {"train", "chunks", "predict", "threads", "memory"} <= set(args.skip):
        X, y, source = load_data(args.data, "float32")
        X64 = X.astype(np.float64) if "big" in args.nets and args.f64_batches else None

    import fastnn
    versions = {"python": platform.python_version(), "numpy": np.__version__,
                "fastnn": fastnn.__version__}
    import scipy
    versions["scipy"] = scipy.__version__
    for name, mod in (("torch", "torch"), ("sklearn", "sklearn")):
        if name in peers and name not in missing:
            versions[name] = __import__(mod).__version__
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip() or None
    except OSError:
        commit = None

    out(f"fastnn benchmark suite  {started:%Y-%m-%d %H:%M:%S}  {platform.node()}  "
        f"{os.cpu_count()} CPUs  commit {commit}{'  (--quick)' if args.quick else ''}")
    out("  " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    out(f"  data: {source}")
    out(f"  threads: {threads} for everyone (torch.set_num_threads({threads}))")
    libs = blas_libraries()
    if libs is None:
        out("  BLAS/OpenMP libraries: unknown (pip install threadpoolctl)")
    else:
        for lib in libs:
            tag = "  <- fastnn's BLAS" if blas and lib["filepath"] == blas["filepath"] else ""
            out(f"  {lib['user_api']:<7} {lib['internal_api']:<9} {lib.get('version') or '?':<12} "
                f"{lib['num_threads']} threads  {lib.get('architecture') or '':<10} "
                f"{Path(lib['filepath']).name}{tag}")
    for p in peers:
        if p in missing:
            out(f"  peer {p}: MISSING ({missing[p]})")
    policy = None
    try:
        from fastnn import blas_threads
        policy = blas_threads.blas_info()
        if policy.get("thread_control"):
            out(f"  fastnn's GEMM thread policy: 1 thread below m*n*k = "
                f"{policy['min_work']:,.0f}, else {policy['max_threads']} "
                f"(fastnn.blas_threads; the BLAS ceiling follows it)")
        else:
            out("  fastnn's GEMM thread policy: none (the BLAS's own threading)")
    except (ImportError, AttributeError):
        pass
    load = os.getloadavg()
    out(f"  load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if load[0] > 0.75 * (os.cpu_count() or 1):
        out(f"  WARNING: the machine is busy (load {load[0]:.1f} on {os.cpu_count()} CPUs). "
            "Thread pools of more than one thread stall for whole scheduler")
        out("  time slices when a core is taken: multi-threaded rates (PyTorch, large GEMMs) "
            "fall and ratios move; compare with --threads 1.")

    record = {"started": started.isoformat(), "args": vars(args), "versions": versions,
              "commit": commit, "host": platform.node(), "cpus": os.cpu_count(),
              "data_source": source, "threads": threads, "blas": blas, "libraries": libs,
              "missing": missing, "settings": vars(settings), "fastnn_thread_policy": policy,
              "load_at_start": load}
    cells = []
    if "train" not in args.skip:
        out()
        cells = train_section(args, settings, X, y, X64, peers, missing, threads, out)
        record["training"] = cells
    if "chunks" not in args.skip:
        record["chunks"] = chunk_section(args, settings, X, y, out)
    if "predict" not in args.skip:
        record["prediction"] = predict_section(args, settings, X, y, peers, missing, out)
    if "threads" not in args.skip:
        from concurrency import concurrency_section
        from trainers import fastnn_model
        record["concurrent_prediction"] = concurrency_section(args, settings, X, out, NETS,
                                                              fastnn_model)
    if "sparse" not in args.skip:
        from sparse_input import sparse_section
        record["sparse"] = sparse_section(args, settings, out, peers=peers)
    if "import" not in args.skip:
        record["import"] = import_section(args, peers, missing, out)
    if "memory" not in args.skip:
        record["memory"] = memory_section(args, peers, missing, threads,
                                          source.startswith("RANDOM"), out)
    if cells:
        record["targets"] = targets_section(cells, missing, out)
    load = os.getloadavg()
    elapsed = (datetime.datetime.now() - started).total_seconds()
    out()
    out(f"done in {elapsed:.0f} s; load average at end: {load[0]:.2f} {load[1]:.2f} "
        f"{load[2]:.2f} (a busy machine makes every number noisier; compare ratios)")

    record["printed"] = out.lines
    record["elapsed_seconds"] = elapsed
    path = Path(args.out) if args.out else HERE / "results" / f"{started:{TIME_FORMAT}}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1, default=str))
    print(f"results written to {path}")


if __name__ == "__main__":
    main()
