"""Peak memory of one training epoch, measured in a fresh process.

    python bench/memory_probe.py --impl fastnn --net lecture --batch 128 [--data DIR]

Loads the data set (60,000 x 784 float32), builds the contender, then records
the resident set size, resets the kernel's peak-RSS mark (writing 5 to
/proc/self/clear_refs; Linux only) and trains one epoch over the whole data
set. Prints one JSON object: ``growth_bytes`` is the peak RSS during the epoch
minus the RSS before it, so the data already loaded does not count, and an
implementation that copies the data set per epoch shows a growth of at least
``data_bytes``. Where the peak cannot be reset, ``method`` says "ru_maxrss"
and the peak includes everything since the process started.

run.py calls this once per contender; it is not meant to be imported.
"""

import argparse
import gc
import json
import resource

from workloads import NETS, load_data  # first: puts the checkout on sys.path


def _status_kib(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def _reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", required=True,
                        choices=["fastnn", "torch", "sklearn", "numpy"])
    parser.add_argument("--net", default="lecture", choices=sorted(NETS))
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--data", default=None)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)

    X, y, source = load_data(args.data, args.dtype)
    from trainers import TRAINERS, initial_weights
    if args.threads is not None:
        from threadpoolctl import threadpool_limits
        if args.impl == "torch":
            import torch
            torch.set_num_threads(args.threads)
        threadpool_limits(limits=args.threads)
    spec = NETS[args.net]
    trainer = TRAINERS[args.impl](spec, X, y, args.batch, initial_weights(spec, args.dtype))
    gc.collect()
    before = _status_kib("VmRSS") * 1024
    reset = _reset_peak()
    seconds, examples = trainer.run(0, X.shape[0])
    if reset:
        peak = _status_kib("VmHWM") * 1024
        method = "VmHWM after clear_refs"
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        method = "ru_maxrss"
    print(json.dumps({
        "impl": args.impl, "net": spec.name, "batch": args.batch, "dtype": args.dtype,
        "data_source": source, "data_bytes": int(X.nbytes + y.nbytes),
        "rss_before_bytes": before, "peak_bytes": peak, "growth_bytes": peak - before,
        "method": method, "epoch_seconds": seconds, "examples": examples}))


if __name__ == "__main__":
    main()
