"""The graph path's overhead against PyTorch eager, per op and per training step.

    python bench/bench_graph.py                 # batch 32 and 1, one BLAS thread
    python bench/bench_graph.py --batches 32 --threads 2 --min-time 0.2

The network is the lecture's 784-100-10 MLP (relu hidden layer, softmax
output with the log-loss) in float32. For each batch size it times:

per op
    one recorded graph operation (inputs that require a gradient, so the
    node and what its backward needs are kept), in fastnn and in PyTorch, and
    the bare computation in NumPy / fastnn's kernels for reference: the
    difference is the framework's overhead.
per step
    a full training step: forward, backward, SGD update (``train_step`` with
    ``Dense`` layers called on Tensors; ``torch.nn.Linear`` +
    ``torch.optim.SGD``), and, for context, one step of the compiled fast path
    (``Sequential.fit``, one compiled call per epoch, time per mini-batch).

Contenders are timed in interleaved rounds (the machine is shared and noisy):
each round times every contender once, in rotating order; the median over
rounds is reported. "ratio" is fastnn / torch: below 1 means fastnn is faster.
PyTorch is optional: without it the torch columns read "missing".
Benchmarks are not tests: nothing here asserts a time.
"""

import argparse
import os
import statistics
import sys
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="fastnn graph path vs PyTorch eager",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--batches", type=int, nargs="+", default=[32, 1])
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS / PyTorch threads (set before numpy is imported)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    p.add_argument("--min-time", type=float, default=0.1,
                   help="seconds each contender runs per round")
    return p.parse_args(argv)


ARGS = parse_args()
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)
if any((ROOT / "fastnn").glob("_train*.so")):   # an in-place build; else the installed fastnn
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import fastnn  # noqa: E402
from fastnn import SGD, Dense, Sequential, Tensor  # noqa: E402
from fastnn import _kernels  # noqa: E402
from fastnn.ops import ops  # noqa: E402

try:
    import torch  # noqa: E402
    import torch.nn.functional as TF  # noqa: E402
    torch.set_num_threads(ARGS.threads)
except ImportError:
    torch = None


def calibrate(fn, min_time):
    """Calls per timing so that one timing lasts about min_time seconds."""
    number = 1
    while True:
        elapsed = timeit.timeit(fn, number=number)
        if elapsed >= min_time / 4 or number >= 1 << 22:
            return max(1, int(number * min_time / max(elapsed, 1e-9)))
        number *= 4


def interleaved(contenders, rounds, min_time):
    """Median seconds per call of each contender (None: missing), timed in
    rounds that visit every contender once, in rotating order."""
    live = {k: f for k, f in contenders.items() if f is not None}
    numbers = {k: calibrate(f, min_time) for k, f in live.items()}
    times = {k: [] for k in live}
    names = list(live)
    for r in range(rounds):
        for k in names[r % len(names):] + names[:r % len(names)]:
            times[k].append(timeit.timeit(live[k], number=numbers[k]) / numbers[k])
    return {k: (statistics.median(times[k]) if k in times else None) for k in contenders}


def us(seconds):
    return "missing" if seconds is None else f"{seconds * 1e6:9.1f}"


def ratio(a, b):
    return "missing" if a is None or b is None else f"{a / b:6.2f}"


def op_cases(B, rng):
    """(name, fastnn graph op, torch eager op, bare computation) for batch B."""
    X = rng.random((B, 784), dtype=np.float32)
    H = rng.standard_normal((B, 100), dtype=np.float32)
    L = rng.standard_normal((B, 10), dtype=np.float32)
    labels = rng.integers(0, 10, size=B)
    W1 = (rng.standard_normal((100, 784), dtype=np.float32) * 0.03)
    b1 = np.zeros(100, dtype=np.float32)
    W2 = (rng.standard_normal((10, 100), dtype=np.float32) * 0.1)
    one = np.ones((1, 1), dtype=np.float32)

    x = Tensor(X)
    h, logits = Tensor(H, requires_grad=True), Tensor(L, requires_grad=True)
    W1t, b1t, W2t = (Tensor(a, requires_grad=True) for a in (W1, b1, W2))
    tiny = Tensor(one, requires_grad=True)

    t = {}
    if torch is not None:
        t = dict(x=torch.from_numpy(X), h=torch.tensor(H, requires_grad=True),
                 logits=torch.tensor(L, requires_grad=True), y=torch.from_numpy(labels),
                 W1=torch.tensor(W1, requires_grad=True), b1=torch.tensor(b1, requires_grad=True),
                 W2=torch.tensor(W2, requires_grad=True),
                 tiny=torch.tensor(one, requires_grad=True))

    def torch_op(fn):
        return None if torch is None else (lambda: fn(t))

    def bare_relu():
        y = H.copy()
        ops.activation_forward(y, "relu")

    def bare_softmax():
        y = L.copy()
        ops.activation_forward(y, "softmax")

    def bare_linear():
        ops.bias_add(ops.gemm(X, W1, trans_b=True), b1)

    def bare_ce():
        ops.softmax_cross_entropy(L.copy(), labels, 1.0 / B)

    return [
        ("tiny add (1x1)", lambda: tiny + tiny, torch_op(lambda t: t["tiny"] + t["tiny"]),
         lambda: one + one),
        ("linear 784->100 (x W^T + b)", lambda: fastnn.linear(x, W1t, b1t),
         torch_op(lambda t: TF.linear(t["x"], t["W1"], t["b1"])), bare_linear),
        ("matmul h @ W2.T", lambda: h @ W2t.T, torch_op(lambda t: t["h"] @ t["W2"].T),
         lambda: ops.gemm(H, W2, trans_b=True)),
        ("add bias (B,100)+(100,)", lambda: h + b1t, torch_op(lambda t: t["h"] + t["b1"]),
         lambda: H + b1),
        ("mul (B,100)*(B,100)", lambda: h * h, torch_op(lambda t: t["h"] * t["h"]),
         lambda: H * H),
        ("relu (B,100)", lambda: fastnn.relu(h), torch_op(lambda t: torch.relu(t["h"])),
         bare_relu),
        ("sigmoid (B,100)", lambda: fastnn.sigmoid(h),
         torch_op(lambda t: torch.sigmoid(t["h"])),
         lambda: _kernels.activation_forward(H.copy(), 1)),
        ("sum (B,100)", lambda: h.sum(), torch_op(lambda t: t["h"].sum()), lambda: H.sum()),
        ("softmax (B,10)", lambda: fastnn.softmax(logits),
         torch_op(lambda t: torch.softmax(t["logits"], -1)), bare_softmax),
        ("cross_entropy (B,10)", lambda: fastnn.cross_entropy(logits, labels),
         torch_op(lambda t: TF.cross_entropy(t["logits"], t["y"])), bare_ce),
    ]


def step_cases(B, rng):
    """(name, fastnn graph step, torch eager step, fastnn fast-path step)."""
    X = rng.random((B, 784), dtype=np.float32)
    labels = rng.integers(0, 10, size=B)
    l1, l2 = Dense(784, 100, "relu"), Dense(100, 10, "softmax")
    params = l1.parameters() + l2.parameters()
    opt = SGD(lr=0.01)
    x = Tensor(X)

    def graph_step():
        logits = l2(l1(x), logits=True)
        fastnn.train_step(fastnn.cross_entropy(logits, labels), params, opt)

    torch_step = None
    if torch is not None:
        n1, n2 = torch.nn.Linear(784, 100), torch.nn.Linear(100, 10)
        topt = torch.optim.SGD(list(n1.parameters()) + list(n2.parameters()), lr=0.01)
        tx, ty = torch.from_numpy(X), torch.from_numpy(labels)

        def torch_step():
            topt.zero_grad(set_to_none=True)
            loss = TF.cross_entropy(n2(torch.relu(n1(tx))), ty)
            loss.backward()
            topt.step()

    steps = max(200, 6400 // B)
    Xs = rng.random((steps * B, 784), dtype=np.float32)
    ys = rng.integers(0, 10, size=steps * B)
    model = Sequential([Dense(784, 100, "relu"), Dense(100, 10, "softmax")], seed=0)
    fast_opt = SGD(lr=0.01)

    class FastEpoch:
        """One fit epoch of ``steps`` mini-batches; called once per ``steps`` calls."""

        def __call__(self):
            model.fit(Xs, ys, epochs=1, batch_size=B, optimizer=fast_opt, shuffle=False,
                      verbose=0)

    return graph_step, torch_step, FastEpoch(), steps


def main():
    rng = np.random.default_rng(0)
    print(f"fastnn {fastnn.__version__}, numpy {np.__version__}, "
          f"torch {torch.__version__ if torch is not None else 'missing'}; "
          f"{ARGS.threads} BLAS thread(s); median of {ARGS.rounds} interleaved rounds")
    for B in ARGS.batches:
        print(f"\n=== batch {B}: per op (forward, graph recorded), microseconds ===")
        print(f"{'op':32s} {'bare':>9s} {'fastnn':>9s} {'torch':>9s} {'ratio':>7s}"
              f" {'fastnn overhead':>16s}")
        for name, ours, theirs, bare in op_cases(B, rng):
            t = interleaved({"bare": bare, "fastnn": ours, "torch": theirs}, ARGS.rounds,
                            ARGS.min_time)
            print(f"{name:32s} {us(t['bare'])} {us(t['fastnn'])} {us(t['torch'])} "
                  f"{ratio(t['fastnn'], t['torch']):>7s} {us(t['fastnn'] - t['bare']):>16s}")
        graph_step, torch_step, fast_epoch, steps = step_cases(B, rng)
        t = interleaved({"fastnn": graph_step, "torch": torch_step}, ARGS.rounds,
                        ARGS.min_time)
        fast = interleaved({"fast": fast_epoch}, ARGS.rounds, ARGS.min_time)["fast"] / steps
        print(f"\n--- batch {B}: one training step (forward + backward + SGD), "
              f"microseconds ---")
        print(f"{'graph path (fastnn)':32s} {us(t['fastnn'])}")
        print(f"{'PyTorch eager':32s} {us(t['torch'])}")
        print(f"{'fast path (Sequential.fit)':32s} {us(fast)}")
        print(f"{'ratio graph / torch':32s} {ratio(t['fastnn'], t['torch']):>9s}")
        print(f"{'ratio fast path / torch':32s} {ratio(fast, t['torch']):>9s}")


if __name__ == "__main__":
    main()
