"""Concurrent inference: ``predict_proba`` on ONE fitted model from 1, 2 and 4
Python threads at once (the README's threading contract says they run in
parallel, each thread on its own compiled inference net, without the GIL).

Each round starts the threads on a barrier; every thread calls
``predict_proba`` on its own slice of the data for one window (the same
number of calls per thread, calibrated for the one-thread case), and the
round's throughput is all examples predicted / the wall time from the
barrier to the last thread's end. Thread counts are interleaved round by
round (the machine is shared). fastnn's BLAS policy is set to one thread per
GEMM for the section, so that the Python threads are the only parallelism
(otherwise 4 callers x N BLAS threads oversubscribe the cores); it is put
back afterwards.

The speed-up over one thread is bounded by the cores (``os.cpu_count()``):
on a 2-core machine, 2 and 4 threads should both approach 2x.
"""

import os
import statistics
import threading
import time

__all__ = ["THREAD_COUNTS", "BATCHES", "concurrency_section", "concurrent_rate"]

THREAD_COUNTS = (1, 2, 4)
BATCHES = (1, 256)


def concurrent_rate(predict, X, batch, threads, calls):
    """Examples per second of ``threads`` threads each making ``calls`` calls of
    ``predict`` on ``batch`` rows (thread t reads its own rows of X)."""
    barrier = threading.Barrier(threads + 1)
    span = max(1, (X.shape[0] - batch) // threads)
    errors = []

    def work(t):
        start = t * span
        try:
            barrier.wait()
            for k in range(calls):
                i = start + (k * batch) % max(1, span - batch + 1)
                predict(X[i:i + batch])
        except Exception as exc:    # reported, not swallowed
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    barrier.wait()
    t0 = time.perf_counter()
    for thread in pool:
        thread.join()
    seconds = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return threads * calls * batch / seconds


def _calibrate(predict, X, batch, window):
    calls = 4
    while True:
        t0 = time.perf_counter()
        for _ in range(calls):
            predict(X[:batch])
        seconds = time.perf_counter() - t0
        if seconds >= window / 4 or calls >= 100_000:
            return max(1, int(calls * window / seconds))
        calls *= 4


def concurrency_section(args, settings, X, out, nets, fastnn_model):
    """The section of bench/run.py: one row per (net, batch, threads)."""
    from fastnn import blas_threads

    out()
    out(f"CONCURRENT PREDICTION: predict_proba on one model from 1, 2, 4 threads, "
        f"examples/s (all threads), median of {settings.repeats} interleaved rounds, "
        f"float32, one BLAS thread per GEMM, {os.cpu_count()} CPUs")
    out(f"  {'net':<22} {'batch':>6}  {'threads':>7} {'ex/s':>9}  {'min-max':<19} "
        f"{'vs 1 thread':>11}")
    saved = blas_threads._state["max_threads"], blas_threads._state["min_work"]
    blas_threads.set_policy(max_threads=1)
    cells = []
    try:
        for key in args.nets:
            spec = nets[key]
            model = fastnn_model(spec, "float32")
            predict = model.predict_proba
            for batch in BATCHES:
                calls = _calibrate(predict, X, batch, settings.min_window)
                rates = {n: [] for n in THREAD_COUNTS}
                for k in range(settings.repeats):
                    shift = k % len(THREAD_COUNTS)
                    for n in THREAD_COUNTS[shift:] + THREAD_COUNTS[:shift]:
                        # The same work per thread: n threads take about as long as
                        # one when they truly run in parallel.
                        rates[n].append(concurrent_rate(predict, X, batch, n, calls))
                one = statistics.median(rates[1])
                for n in THREAD_COUNTS:
                    median = statistics.median(rates[n])
                    spread = f"{min(rates[n]):,.0f}-{max(rates[n]):,.0f}"
                    out(f"  {spec.name:<22} {batch:>6}  {n:>7} {median:>9,.0f}  "
                        f"{spread:<19} {median / one:>10.2f}x")
                cells.append({"net": spec.name, "batch": batch, "calls_per_thread": calls,
                              "rates": {str(n): r for n, r in rates.items()}})
    finally:
        blas_threads.set_policy(*saved)
    return cells
