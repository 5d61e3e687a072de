"""Data-parallel scaling over MPI: measurements on this machine and a cost
model that extrapolates them to a cluster.

    python bench/scaling.py                  # the whole study (starts mpiexec itself)
    python bench/scaling.py --quick          # small sizes, a few seconds per run

What it measures (each rank with one BLAS thread, FASTNN_NUM_THREADS=1):

- **Training throughput** of ``Sequential.fit(..., comm=MPI.COMM_WORLD)`` on
  1, 2 and 4 ranks (4 oversubscribe a 2-core machine) for the lecture's
  784-30-10 sigmoid net and 784-1024-1024-10 relu, both ways:
  *weak* scaling (each rank keeps the per-rank batch b and a shard of the
  same size: the global batch grows to R b) and *strong* scaling (a fixed
  global batch B and data set split over the ranks: b = B / R). The rate is
  global examples per second, the median over the timed epochs (rank 0's
  clock; the first epoch is a warm-up).
- **Allreduce cost** of one in-place ``MPI_Allreduce`` (sum, float32) as
  the compiled step calls it, on 2 and 4 ranks, from 4 bytes to the big
  net's gradient (7.5 MB): the median time per call. On one machine Open MPI
  moves the data through shared memory, so this is the loopback latency and
  bandwidth, the best case of any network.

The model. One step of a rank costs its compute time T_c(b), measured on one
rank, plus the ring Allreduce of the step's gradient of ``bytes``:

    T_ar(R) = 2 (R - 1) / R * bytes / bandwidth + 2 (R - 1) * latency
    rate(R) = R b / (T_c(b) * max(1, R / cores) + T_ar(R))

(the factor max(1, R/cores) is this machine's oversubscription; on a cluster
each node has its own cores). Latency and bandwidth are fitted to the
measured Allreduce times of the largest rank count (the smallest message
gives the latency, the largest the bandwidth). The model's prediction is
printed next to every measured rate, then used for 8 to 64 nodes over a
25 Gb/s network (``--network-gbps``, with ``--network-latency-us``, an
assumed per-message latency: 10 us is typical of MPI over TCP on 25 GbE,
2 to 3 us of RDMA). Local SGD (averaging every k steps instead of every
step) divides T_ar by k: the model's column ``k for 80%`` is the smallest
averaging period that would bring the efficiency to 80%.

The internal ``--rank`` and ``--allreduce`` modes are what mpiexec runs.
"""

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

#: net key -> (sizes, activation, per-rank batch of the weak runs, global batch of the strong)
NETS = {"lecture": ((784, 30, 10), "sigmoid", 10, 40),
        "big": ((784, 1024, 1024, 10), "relu", 128, 512)}
RANKS = (1, 2, 4)
#: rows per rank of the weak runs; the strong runs split twice as many over the ranks
ROWS = {"lecture": 50_000, "big": 2048}
SIZES = [4 * 4 ** i for i in range(12)]          # 4 B .. 16 MB (the big net: 7.5 MB)
CLUSTER_NODES = (8, 16, 32, 64)


def n_params(sizes):
    return sum(i * o + o for i, o in zip(sizes[:-1], sizes[1:]))


# ------------------------------------------------------------ under mpiexec ---

def rank_main(args):
    """One rank of a training run: prints rank 0's JSON record."""
    from mpi4py import MPI

    import fastnn

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    sizes, activation, _, _ = NETS[args.net]
    rng = np.random.default_rng(rank)
    X = rng.random((args.rows, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], size=args.rows)
    layers = [fastnn.Dense(i, o, activation) for i, o in zip(sizes[:-2], sizes[1:-1])]
    model = fastnn.Sequential(layers + [fastnn.Dense(sizes[-2], sizes[-1], "softmax")],
                              seed=0)
    ends = []

    class Clock(fastnn.Callback):
        def on_epoch_end(self, epoch, logs=None):
            ends.append(time.perf_counter())

    comm.Barrier()
    start = time.perf_counter()
    model.fit(X, y, epochs=args.epochs, batch_size=args.batch, optimizer=fastnn.SGD(lr=0.01),
              verbose=0, comm=comm, callbacks=[Clock()])
    epochs = np.diff([start] + ends)[1:]          # the first epoch warms up
    if rank == 0:
        steps = -(-args.rows // args.batch)
        print(json.dumps({"ranks": size, "net": args.net, "batch": args.batch,
                          "rows": args.rows, "steps_per_epoch": steps,
                          "epoch_seconds": epochs.tolist(),
                          "rate": size * args.rows / statistics.median(epochs)}), flush=True)


def allreduce_main(args):
    """Median seconds per in-place float32 Allreduce of each size in SIZES."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    results = {}
    for nbytes in SIZES:
        if nbytes > args.max_bytes:
            break
        buffer = np.ones(nbytes // 4, dtype=np.float32)
        calls = 1
        while True:                               # calibrate on rank 0's clock
            comm.Barrier()
            start = time.perf_counter()
            for _ in range(calls):
                comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
            elapsed = comm.bcast(time.perf_counter() - start)
            if elapsed > args.window / 4 or calls > 10 ** 6:
                break
            calls *= 4
        times = []
        for _ in range(5):
            comm.Barrier()
            start = time.perf_counter()
            for _ in range(calls):
                comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
            times.append(comm.bcast((time.perf_counter() - start) / calls))
        results[nbytes] = statistics.median(times)
    if comm.Get_rank() == 0:
        print(json.dumps({"ranks": comm.Get_size(), "seconds": results}), flush=True)


# ----------------------------------------------------------------- driver ---

def mpiexec(ranks, arguments, timeout=900):
    """Run this script on ``ranks`` ranks; returns rank 0's JSON record."""
    found = shutil.which("mpiexec") or str(Path(sys.executable).parent / "mpiexec")
    command = [found, "-n", str(ranks), "--oversubscribe"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-run-as-root")
    command += [sys.executable, str(Path(__file__).resolve()), *arguments]
    env = dict(os.environ, FASTNN_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               OMP_NUM_THREADS="1")
    if (ROOT / "fastnn").is_dir() and any((ROOT / "fastnn").glob("_train*.so")):
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def fit_ring(measured, ranks):
    """(latency, bandwidth) of the ring model from Allreduce times on
    ``ranks`` ranks: latency from the smallest message, bandwidth from the
    largest (after taking the latency term out)."""
    sizes = sorted(measured)
    latency = measured[sizes[0]] / (2 * (ranks - 1))
    big = sizes[-1]
    transfer = max(measured[big] - 2 * (ranks - 1) * latency, 1e-12)
    return latency, 2 * (ranks - 1) / ranks * big / transfer


def ring_seconds(ranks, nbytes, latency, bandwidth):
    if ranks == 1:
        return 0.0
    return 2 * (ranks - 1) / ranks * nbytes / bandwidth + 2 * (ranks - 1) * latency


def predicted_rate(ranks, batch, compute, nbytes, latency, bandwidth, cores=None, every=1):
    """Global examples/s of R ranks, each a step of ``batch`` rows taking
    ``compute`` seconds, averaging ``nbytes`` every ``every`` steps."""
    share = max(1.0, ranks / cores) if cores else 1.0
    return ranks * batch / (compute * share + ring_seconds(ranks, nbytes, latency,
                                                            bandwidth) / every)


def study(args):
    cores = os.cpu_count() or 1
    load = os.getloadavg()[0]
    print(f"data-parallel scaling: {cores} CPUs, load average {load:.2f} at start"
          f"{' (busy: numbers are noisy)' if load > 0.5 else ''}; every rank 1 BLAS thread")
    scale = 8 if args.quick else 1
    epochs = 3 if args.quick else 4
    # ---- Allreduce
    largest = 4 * n_params(NETS["big"][0])
    ring = {}
    print("\nALLREDUCE (in place, float32 sum; median seconds per call)")
    for ranks in (2, 4):
        record = mpiexec(ranks, ["--allreduce", "--max-bytes", str(largest * 2),
                                 "--window", str(0.2 if args.quick else 1.0)])
        measured = {int(k): v for k, v in record["seconds"].items()}
        ring[ranks] = (measured, *fit_ring(measured, ranks))
        cells = "  ".join(f"{_bytes(n)} {v * 1e6:.1f}us" for n, v in measured.items())
        print(f"  {ranks} ranks: {cells}")
        print(f"  {ranks} ranks: ring fit latency {ring[ranks][1] * 1e6:.2f} us per message, "
              f"bandwidth {ring[ranks][2] / 1e9:.2f} GB/s")
    latency, bandwidth = ring[4][1], ring[4][2]
    # ---- training
    print("\nTRAINING (global examples/s, rank 0's median epoch; model: the ring fit of "
          "4 ranks, compute from 1 rank)")
    print(f"  {'net':<20} {'scaling':<7} {'R':>2} {'batch/rank':>10} {'ex/s':>10} "
          f"{'speed-up':>8} {'model ex/s':>10}")
    records = []
    computes = {}

    def compute_seconds(key, batch, rows):
        """T_c(batch): seconds per step on one rank (measured once per batch)."""
        if (key, batch) not in computes:
            record = mpiexec(1, ["--rank", "--net", key, "--batch", str(batch), "--rows",
                                 str(max(rows, batch)), "--epochs", str(epochs)])
            computes[(key, batch)] = batch / record["rate"]
        return computes[(key, batch)]

    for key, (sizes, activation, weak_batch, global_batch) in NETS.items():
        nbytes = 4 * n_params(sizes)
        name = f"{'-'.join(map(str, sizes))} {activation}"
        for kind in ("weak", "strong"):
            base = None
            for ranks in RANKS:
                batch = weak_batch if kind == "weak" else global_batch // ranks
                rows = (ROWS[key] if kind == "weak" else 2 * ROWS[key] // ranks) // scale
                record = mpiexec(ranks, ["--rank", "--net", key, "--batch", str(batch),
                                         "--rows", str(max(rows, batch)),
                                         "--epochs", str(epochs)])
                if ranks == 1:
                    base = record["rate"]
                    computes.setdefault((key, batch), batch / record["rate"])
                model = predicted_rate(ranks, batch, compute_seconds(key, batch, rows), nbytes,
                                       latency, bandwidth, cores)
                record.update(kind=kind, model_rate=model, speedup=record["rate"] / base)
                records.append(record)
                print(f"  {name:<20} {kind:<7} {ranks:>2} {batch:>10} {record['rate']:>10,.0f} "
                      f"{record['speedup']:>7.2f}x {model:>10,.0f}")
    # ---- cluster
    net_bw = args.network_gbps * 1e9 / 8
    net_lat = args.network_latency_us * 1e-6
    print(f"\nMODEL: N nodes over {args.network_gbps:g} Gb/s, {args.network_latency_us:g} us "
          f"per message (assumed), compute per step as measured on one rank here; "
          f"weak scaling (batch per node fixed)")
    print(f"  {'net':<20} {'batch':>5} {'grad MB':>7} {'step ms':>7}  "
          + "  ".join(f"{'N=' + str(n) + ' speed-up':>14}" for n in CLUSTER_NODES)
          + f"  {'k for 80% at 64':>15}")
    cluster = []
    for key, (sizes, activation, weak_batch, _) in NETS.items():
        nbytes = 4 * n_params(sizes)
        for batch in sorted({weak_batch, weak_batch * 4}):
            compute = compute_seconds(key, batch, ROWS[key] // scale)
            speedups = [predicted_rate(n, batch, compute, nbytes, net_lat, net_bw) * compute
                        / batch for n in CLUSTER_NODES]
            comm = ring_seconds(CLUSTER_NODES[-1], nbytes, net_lat, net_bw)
            # efficiency compute / (compute + comm / k) >= 0.8  <=>  k >= 4 comm / compute
            k = max(1, math.ceil(4 * comm / compute))
            name = f"{'-'.join(map(str, sizes))} {activation}"
            print(f"  {name:<20} {batch:>5} {nbytes / 1e6:>7.2f} {compute * 1e3:>7.3f}  "
                  + "  ".join(f"{s:>13.1f}x" for s in speedups) + f"  {k:>15}")
            cluster.append({"net": key, "batch": batch, "bytes": nbytes,
                            "compute_seconds": compute, "speedups": speedups, "k_for_80": k})
    if args.out:
        Path(args.out).write_text(json.dumps(
            {"cores": cores, "load": load, "allreduce": {r: {"seconds": m, "latency": a,
                                                               "bandwidth": b}
                                                          for r, (m, a, b) in ring.items()},
             "training": records, "cluster": cluster,
             "network": {"gbps": args.network_gbps, "latency_us": args.network_latency_us}},
            indent=1))
        print(f"\nwrote {args.out}")


def _bytes(n):
    for unit, size in (("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= size:
            return f"{n / size:g}{unit}"
    return f"{n}B"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small shards, 3 epochs")
    p.add_argument("--network-gbps", type=float, default=25.0)
    p.add_argument("--network-latency-us", type=float, default=10.0)
    p.add_argument("--out", default=None, help="write the results as JSON")
    p.add_argument("--rank", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--allreduce", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--net", choices=list(NETS), default="lecture", help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, default=10, help=argparse.SUPPRESS)
    p.add_argument("--rows", type=int, default=6000, help=argparse.SUPPRESS)
    p.add_argument("--epochs", type=int, default=4, help=argparse.SUPPRESS)
    p.add_argument("--max-bytes", type=int, default=1 << 24, help=argparse.SUPPRESS)
    p.add_argument("--window", type=float, default=1.0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.rank:
        rank_main(args)
    elif args.allreduce:
        allreduce_main(args)
    else:
        study(args)


if __name__ == "__main__":
    main()
