"""Interleaved, calibrated timing of several contenders on one workload.

The machine is shared and noisy, so contenders are never timed one after the
other in blocks: after a warm-up that also calibrates a window per contender,
each round times every contender once (the order rotating from round to
round), and ratios can be taken round by round.

A window is a whole epoch (all n examples) when the calibration says an epoch
takes at most ``max_window`` seconds, otherwise the smallest number of whole
mini-batches that lasts about ``min_window`` seconds (and at least
``min_steps`` steps). Windows start at rotating offsets in the data set. A
window that ends in less than half of ``min_window`` (the warm-up ran into a
stall of a busy machine and under-estimated the rate) lengthens the next ones;
the table then shows the last window's size.

Every timed window starts with ``settle()``: a pause in which the previous
contender's BLAS and OpenMP worker threads stop spinning (see there).
"""

import math
import statistics
import time
import traceback
from dataclasses import dataclass, field

__all__ = ["Settings", "Result", "measure", "paired_ratio", "settle", "fmt_rate",
           "fmt_seconds"]

#: Seconds ``settle`` waits: OpenBLAS's idle workers spin for 2^28 cycles
#: (OPENBLAS_THREAD_TIMEOUT's default, about 0.1 s here) before they sleep.
SETTLE_SECONDS = 0.25


def settle():
    """Wait until the worker threads of whatever ran before have gone to sleep.

    One process here holds several thread pools: NumPy's OpenBLAS, SciPy's
    OpenBLAS (fastnn's), PyTorch's OpenMP. A pool's workers busy-wait for a
    while after each call, so a contender timed right after another one
    shares the two cores with the other's spinning threads: on 784-100-10
    predict_proba of 10,000 rows both fastnn and NumPy ran about 1.8x slower
    that way than after a pause (13.5 and 15.5 ms alone, 23-31 ms alternating).
    The pause gives each window the machine a user of that one library has.
    """
    time.sleep(SETTLE_SECONDS)


@dataclass
class Settings:
    repeats: int = 3           # timed windows per contender (the median is reported)
    min_window: float = 1.0    # seconds a partial-epoch window should last
    max_window: float = 2.0    # longest epoch timed whole
    calibrate: float = 0.15    # the warm-up grows until it lasts this long
    min_steps: int = 20        # fewest mini-batches in a window


@dataclass
class Result:
    """Throughputs (examples per second) of one contender, one per round."""

    name: str
    rates: list = field(default_factory=list)
    window: int = 0            # examples per timed window
    epoch: bool = False        # the window is the whole data set
    warmup_rate: float = None
    error: str = None
    regrown: bool = False      # a window ended too soon and the next ones were lengthened

    @property
    def ok(self):
        return self.error is None and bool(self.rates)

    @property
    def median(self):
        return statistics.median(self.rates) if self.rates else float("nan")

    @property
    def low(self):
        return min(self.rates) if self.rates else float("nan")

    @property
    def high(self):
        return max(self.rates) if self.rates else float("nan")

    def to_dict(self):
        return {"name": self.name, "rates": self.rates, "median": self.median if self.ok else None,
                "min": self.low if self.ok else None, "max": self.high if self.ok else None,
                "window": self.window, "epoch": self.epoch, "warmup_rate": self.warmup_rate,
                "regrown": self.regrown, "error": self.error}


def _round_up(n, batch):
    return max(batch, -(-n // batch) * batch)


def _error(exc):
    last = traceback.extract_tb(exc.__traceback__)[-1]
    return f"{type(exc).__name__}: {exc} (at {last.filename.split('/')[-1]}:{last.lineno})"


def measure(contenders, n_total, batch, settings, log=None):
    """Time ``contenders`` ({name: object with run(start, n) -> (seconds, examples)})
    interleaved on windows of a data set of ``n_total`` examples.

    Returns {name: Result}. A contender that raises is recorded with its error
    and left out of the later rounds; the others go on.
    """
    results = {name: Result(name) for name in contenders}
    # Warm-up and calibration.
    for name, c in contenders.items():
        r = results[name]
        n = min(n_total, _round_up(16, batch))
        try:
            while True:
                seconds, examples = c.run(0, n)
                if seconds >= settings.calibrate or n >= n_total:
                    break
                grow = 4 if seconds <= 0 else min(8.0, max(2.0, 1.5 * settings.calibrate / seconds))
                n = min(n_total, _round_up(int(n * grow), batch))
        except Exception as exc:  # recorded, shown in the table
            r.error = _error(exc)
            continue
        rate = examples / max(seconds, 1e-9)
        r.warmup_rate = rate
        if n_total / rate <= settings.max_window:
            r.window, r.epoch = n_total, True
        else:
            want = _round_up(math.ceil(rate * settings.min_window), batch)
            r.window = min(n_total, max(want, batch * settings.min_steps))
            r.epoch = r.window == n_total
        if log:
            log(f"    {name:8s} warm-up {rate:12.0f} ex/s -> window "
                f"{'epoch' if r.epoch else r.window}")
    names = [name for name in contenders if results[name].error is None]
    for k in range(settings.repeats):
        shift = k % len(names) if names else 0
        for name in names[shift:] + names[:shift]:
            r = results[name]
            if r.error is not None:
                continue
            start = 0 if r.epoch else (k * r.window) % max(1, n_total - r.window + 1)
            settle()
            try:
                seconds, examples = contenders[name].run(start, r.window)
            except Exception as exc:
                r.error = _error(exc)
                continue
            r.rates.append(examples / max(seconds, 1e-9))
            if not r.epoch and seconds < settings.min_window / 2:
                # The warm-up ran into a stall and under-estimated the rate:
                # lengthen the following windows.
                grow = settings.min_window / max(seconds, 1e-9)
                r.window = min(n_total, _round_up(int(r.window * grow), batch))
                r.epoch = r.window == n_total
                r.regrown = True
    return results


def paired_ratio(a, b):
    """Median over the rounds of a's rate / b's (Results of one ``measure``:
    a round times both, so a ratio's two sides share that round's noise);
    nan when either has no rates."""
    ratios = [x / y for x, y in zip(a.rates, b.rates)]
    return statistics.median(ratios) if ratios else float("nan")


def fmt_rate(x):
    """A throughput with 3 significant digits: 512, 9.81k, 213k, 1.23M."""
    if x is None or x != x:
        return "-"
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if x >= div:
            v = x / div
            return f"{v:.3g}{suffix}" if v < 999.5 else f"{v:.0f}{suffix}"
    return f"{x:.3g}" if x >= 1 else f"{x:.2g}"


def fmt_seconds(s):
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.1f} us"


def elapsed(fn, *args):
    """Seconds taken by fn(*args)."""
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0
