"""Anatomy of one fastnn training step, and 1 vs N BLAS threads.

    python bench/profile_step.py --net lecture --batch 10
    python bench/profile_step.py --net big --batch 128 --rounds 5
    python bench/profile_step.py --net lecture --batch 10 --train-only 20   # for perf/py-spy

Three parts, each measured interleaved (thread settings alternate round by
round, so a busy machine hits both alike; compare the ratios):

1. fastnn's whole-epoch throughput with fastnn's BLAS (SciPy's OpenBLAS, found
   with threadpoolctl) limited to 1 thread and left at its default.
2. Each GEMM of the step (``workloads.gemm_calls``) through ``fastnn._blas.gemm``,
   with 1 and N threads: microseconds per call, and each call's share.
3. The other kernels of the step through their twins (bias add, activations
   forward and backward, fused softmax + cross-entropy, bias gradient GEMV,
   the batch gather), with the twin's own call overhead subtracted (measured
   on an empty call), so the numbers approximate the inlined kernels of the
   compiled loop. The sum is compared with the measured step time: the rest is
   what the model leaves out (per-epoch Python work, cache effects).

``--train-only SECONDS`` just trains fastnn for about that long (one ``fit``
of whole epochs, no output), as a target for ``perf record`` or
``py-spy record``; see bench/README.md.

``--epoch-once ROWS`` trains one epoch over ROWS uniform random rows (seeded,
so every run does the same work) and exits: the fixed run whose instruction
count callgrind measures, noise-free on a shared machine. Count only the
compiled epoch (the float32 net's ``train_epoch`` body) with

    OPENBLAS_NUM_THREADS=1 valgrind --tool=callgrind --collect-atstart=no \
        --toggle-collect='__pyx_pf_*train_epoch' \
        python bench/profile_step.py --net lecture --batch 10 --epoch-once 2000
    callgrind_annotate callgrind.out.<pid> | grep 'PROGRAM TOTALS'
"""

import argparse
import statistics
import time

import numpy as np

from workloads import NETS, fastnn_blas, gemm_calls, gemm_flops, load_data
from fastnn import _blas, _kernels
from fastnn.activations import get_activation
from trainers import FastnnTrainer, initial_weights


def _per_call(fn, args, min_seconds, min_calls=20):
    """(median, mean) seconds of single calls of fn(*args), each timed on its
    own, over about min_seconds. The median is the typical call; the mean
    includes the rare long stalls (a BLAS thread descheduled on a busy machine)."""
    samples = []
    clock = time.perf_counter
    end = clock() + min_seconds
    while len(samples) < min_calls or clock() < end:
        t0 = clock()
        fn(*args)
        samples.append(clock() - t0)
    return statistics.median(samples), statistics.fmean(samples)


def _gemm_jobs(spec, batch, dtype, rng):
    jobs = []
    for label, m, n, k, ta, tb in gemm_calls(spec, batch):
        A = (rng.random((k, m) if ta else (m, k)) * 0.1).astype(dtype)
        B = (rng.random((n, k) if tb else (k, n)) * 0.1).astype(dtype)
        C = np.zeros((m, n), dtype=dtype)
        upd = label.startswith("dW")
        # m = 0: the twin does all its checks, then returns before calling BLAS.
        A0 = np.zeros((k, 0) if ta else (0, k), dtype=dtype)
        jobs.append((f"{label} ({m}x{n}x{k})", _blas.gemm,
                     (A, B, C, ta, tb, -1e-6 if upd else 1.0, 1.0 if upd else 0.0),
                     (A0, B, C[:0], ta, tb, 1.0, 1.0 if upd else 0.0)))
    return jobs


def _other_jobs(spec, batch, dtype, rng, X):
    jobs = []
    n_layers = len(spec.layers)
    # Like the compiled loop: each call copies the next `batch` rows of a
    # random permutation (fresh rows, so the cache misses are real).
    order = rng.permutation(X.shape[0])
    xb = np.empty((batch, X.shape[1]), dtype=dtype)
    Xd = X.astype(dtype, copy=False)
    cursor = [0]

    def gather(count):
        start = cursor[0] if cursor[0] + count <= len(order) else 0
        cursor[0] = start + count
        np.take(Xd, order[start:start + count], 0, xb[:count])

    jobs.append((f"gather {batch} random rows of X", gather, (batch,), (0,)))
    ones = np.ones(batch, dtype=dtype)
    for l, (n_in, n_out) in enumerate(spec.layers):
        Y = (rng.random((batch, n_out)) - 0.5).astype(dtype)
        b = np.zeros(n_out, dtype=dtype)
        jobs.append((f"bias add {l + 1} ({batch}x{n_out})", _kernels.bias_add, (Y, b),
                     (Y[:0], b)))
        if l < n_layers - 1:
            code = get_activation(spec.activation).code
            G = (rng.random((batch, n_out)) * 1e-3).astype(dtype)
            jobs.append((f"{spec.activation} fwd {l + 1} ({batch}x{n_out})",
                         _kernels.activation_forward, (Y.copy(), code),
                         (Y[:0], code)))
            jobs.append((f"{spec.activation} bwd {l + 1} ({batch}x{n_out})",
                         _kernels.activation_backward, (np.abs(Y), G, code),
                         (Y[:0], G[:0], code)))
        else:
            labels = rng.integers(0, n_out, size=batch).astype(np.int64)
            ce = _kernels.LOSS_CODES["cross_entropy"]
            jobs.append((f"softmax+CE ({batch}x{n_out})", _kernels.output_delta,
                         (ce, Y.copy(), labels, 1.0 / batch, np.empty_like(Y)),
                         (ce, Y[:1, :1].copy(), labels[:1] * 0, 1.0, np.empty((1, 1), dtype))))
            jobs.append((f"count_correct ({batch}x{n_out})", _kernels.count_correct,
                         (np.abs(Y), labels), (np.abs(Y[:1, :1]), labels[:1] * 0)))
        delta = (rng.random((batch, n_out)) * 1e-3).astype(dtype)
        jobs.append((f"bias grad gemv {l + 1} ({batch}x{n_out})", _blas.gemv,
                     (delta, ones, b, True, -1e-6, 1.0),
                     (delta[:1, :0], ones[:1], b[:0], True, -1e-6, 1.0)))
    return jobs


def _epoch_once(spec, batch, dtype, rows, rule):
    """One shuffled epoch of ``spec`` over ``rows`` seeded random rows."""
    from fastnn import SGD, Adam
    gen = np.random.default_rng(0)
    X = gen.random((rows, spec.layers[0][0]), dtype=np.float32).astype(dtype)
    y = gen.integers(0, 10, rows).astype(np.int64)
    trainer = FastnnTrainer(spec, X, y, batch, initial_weights(spec, dtype))
    optimizer = {"sgd": SGD(lr=spec.lr), "momentum": SGD(lr=spec.lr, momentum=0.9),
                 "adam": Adam()}[rule]
    trainer.model.fit(X, y, epochs=1, batch_size=batch, optimizer=optimizer, shuffle=True,
                      verbose=0)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--net", default="lecture", choices=sorted(NETS))
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--window", type=float, default=0.5, help="seconds per epoch window")
    p.add_argument("--data", default=None)
    p.add_argument("--train-only", type=float, default=None, metavar="SECONDS")
    p.add_argument("--epoch-once", type=int, default=None, metavar="ROWS")
    p.add_argument("--optimizer", default="sgd", choices=["sgd", "momentum", "adam"],
                   help="update rule of --epoch-once")
    args = p.parse_args(argv)

    spec = NETS[args.net]
    if args.epoch_once is not None:
        _epoch_once(spec, args.batch, args.dtype, args.epoch_once, args.optimizer)
        return
    X, y, source = load_data(args.data, args.dtype)
    trainer = FastnnTrainer(spec, X, y, args.batch, initial_weights(spec, args.dtype))
    if args.train_only is not None:
        # One calibration epoch, then one fit() of whole epochs lasting about
        # SECONDS, so that loading the data is a small part of a profile.
        seconds, _ = trainer.run(0, X.shape[0])
        epochs = max(1, round(args.train_only / seconds))
        trainer.model.fit(X, y, epochs=epochs, batch_size=args.batch,
                          optimizer=trainer.optimizer, verbose=0)
        return

    from threadpoolctl import ThreadpoolController
    blas = fastnn_blas()
    controller = ThreadpoolController().select(filepath=blas["filepath"])
    default_threads = blas["num_threads"]
    settings = sorted({1, default_threads})
    print(f"{spec.name}, batch {args.batch}, {args.dtype}; data: {source}")
    print(f"fastnn's BLAS: {blas['internal_api']} {blas['version']} "
          f"({blas['filepath'].split('/')[-1]}), default {default_threads} threads")

    # 1. Whole epochs (windows), interleaved over thread settings.
    n = min(X.shape[0], args.batch * 20)
    rate = {}
    seconds, examples = trainer.run(0, n)                      # warm-up
    while seconds < args.window / 4 and n < X.shape[0]:
        n = min(X.shape[0], n * 4)
        seconds, examples = trainer.run(0, n)
    window = min(X.shape[0], max(args.batch, int(n * args.window / seconds) // args.batch
                                 * args.batch))
    rates = {t: [] for t in settings}
    for k in range(args.rounds):
        for t in (settings if k % 2 == 0 else settings[::-1]):
            with controller.limit(limits=t):
                s, e = trainer.run((k * window) % (X.shape[0] - window + 1), window)
            rates[t].append(e / s)
    print(f"\n1. fastnn training, window {window} examples, median of {args.rounds} (min-max)")
    for t in settings:
        rate[t] = statistics.median(rates[t])
        print(f"   {t} BLAS thread(s): {rate[t]:12,.0f} ex/s  ({min(rates[t]):,.0f}-"
              f"{max(rates[t]):,.0f})  = {1e6 * args.batch / rate[t]:9.1f} us/step, "
              f"{rate[t] * gemm_flops(spec, args.batch) / args.batch / 1e9:.1f} GEMM GFLOP/s")
    if len(settings) > 1:
        pairs = [a / b for a, b in zip(rates[1], rates[default_threads])]
        print(f"   1 thread / {default_threads} threads: {rate[1] / rate[default_threads]:.2f}x "
              f"(per round {min(pairs):.2f}-{max(pairs):.2f})")

    # 2 and 3. Components.
    rng = np.random.default_rng(0)
    gemms = _gemm_jobs(spec, args.batch, args.dtype, rng)
    others = _other_jobs(spec, args.batch, args.dtype, rng, X)
    # Each job is timed on its shapes and on empty ones (the twin checks its
    # arguments, then returns without computing; softmax+CE and count_correct
    # use 1x1); the difference removes the twin's Python overhead, which the
    # compiled loop does not pay. BLAS's own fixed cost per call stays in.
    times = {t: {} for t in settings}
    means = {t: {} for t in settings}
    per = max(0.02, args.window / 10)
    for k in range(args.rounds):
        for t in (settings if k % 2 == 0 else settings[::-1]):
            with controller.limit(limits=t):
                for label, fn, fargs, eargs in gemms + others:
                    full, full_mean = _per_call(fn, fargs, per)
                    empty, _ = _per_call(fn, eargs, per / 4)
                    times[t].setdefault(label, []).append(full - empty)
                    means[t].setdefault(label, []).append(full_mean - empty)
                    times[t].setdefault("overhead " + fn.__name__, []).append(empty)
    med = {t: {label: statistics.median(v) for label, v in times[t].items()} for t in settings}
    mean = {t: {label: statistics.median(v) for label, v in means[t].items()} for t in settings}
    best = {t: 1e6 * args.batch / rate[t] for t in settings}

    gemm_over = statistics.median(med[t]["overhead gemm"] for t in settings)
    d = default_threads
    print(f"\n2. GEMMs of one step via fastnn._blas.gemm, us/call: typical (median call) and "
          f"mean (with stalls);\n   median over {args.rounds} rounds; the twin's own overhead "
          f"({gemm_over * 1e6:.2f} us/call) subtracted; share = of the measured step at {d} thr")
    head = "".join(f"{str(t) + ' thr typ':>11}{'mean':>9}" for t in settings)
    print(f"   {'GEMM (m x n x k)':<34}{head}  {'GFLOP/s':>7}  share" +
          (f"  1thr/{d}thr typ, mean" if len(settings) > 1 else ""))

    def us(table, t, label):
        return max(0.0, table[t][label]) * 1e6

    totals = {t: [0.0, 0.0] for t in settings}
    for (label, _, _, _), (_, m, n_, k_, _, _) in zip(gemms, gemm_calls(spec, args.batch)):
        cols = ""
        for t in settings:
            typ, avg = us(med, t, label), us(mean, t, label)
            totals[t][0] += typ
            totals[t][1] += avg
            cols += f"{typ:11.1f}{avg:9.1f}"
        typ_d = us(med, d, label)
        gf = 2 * m * n_ * k_ / (typ_d * 1e3) if typ_d > 0 else float("nan")
        extra = ""
        if len(settings) > 1 and us(med, 1, label) > 0 and us(mean, 1, label) > 0:
            extra = (f"  {us(med, d, label) / us(med, 1, label):.2f}x, "
                     f"{us(mean, d, label) / us(mean, 1, label):.2f}x")
        print(f"   {label:<34}{cols}  {gf:7.1f}  {100 * typ_d / best[d]:4.0f}%{extra}")
    cols = "".join(f"{totals[t][0]:11.1f}{totals[t][1]:9.1f}" for t in settings)
    print(f"   {'all GEMMs':<34}{cols}  "
          f"{gemm_flops(spec, args.batch) / (totals[d][0] * 1e3):7.1f}  "
          f"{100 * totals[d][0] / best[d]:4.0f}%")
    print("   (ratios > 1 mean 1 thread is faster)")

    print("\n3. Other kernels of one step, us/call (typical; each twin's own overhead "
          "subtracted)")
    other_tot = {t: 0.0 for t in settings}
    for label, _, _, _ in others:
        cols = ""
        for t in settings:
            other_tot[t] += us(med, t, label)
            cols += f"{us(med, t, label):11.1f}{'':9}"
        print(f"   {label:<34}{cols}  {'':7}  {100 * us(med, d, label) / best[d]:4.0f}%")
    print("\n   step model (typical GEMMs + other kernels) vs the measured step, us:")
    for t in settings:
        model = totals[t][0] + other_tot[t]
        print(f"   {t} thread(s): model {model:9.1f} = GEMMs {totals[t][0]:.1f} + other "
              f"{other_tot[t]:.1f}; measured {best[t]:9.1f}; unexplained "
              f"{best[t] - model:+.1f} ({100 * (best[t] - model) / best[t]:+.0f}%)")


if __name__ == "__main__":
    main()
