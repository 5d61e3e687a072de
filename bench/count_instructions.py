"""Instructions per element of the elementwise kernels, under valgrind's callgrind.

    python bench/count_instructions.py                 # every kernel, both dtypes
    python bench/count_instructions.py sigmoid tanh    # a few

Wall-clock timings need a quiet machine; instruction counts do not: callgrind
counts the instructions executed (Ir) inside the ``fastnn._kernels`` twin of a
kernel (``--toggle-collect`` on the twin's C function, so Python, NumPy and
the interpreter are not counted), for ``CALLS`` calls on a 128 x 1024 array (a
hidden layer) or an 8192 x 10 one (softmax rows as wide as the lecture's output
layer), and this script divides by the number of elements. The twin's own
overhead (argument parsing, about a thousand instructions per call) is spread
over about 131,000 elements, so it adds under 0.01 per element.

Valgrind emulates the CPU it runs on up to AVX2 (it has no AVX-512), so the
counts are those of the AVX2 kernels on an AVX2 machine (``FASTNN_SIMD`` in
the environment picks another; ``baseline`` shows the SSE2 kernels). An
instruction count is not a time -- a division or a gather costs more than an
add -- but it moves with vector width and with the work per element, and it
does not depend on the load of the machine.
"""

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROWS, COLS, CALLS = 128, 1024, 4
WIDE, NARROW = (ROWS, COLS), (8192, 10)   # a hidden layer; the lecture's output layer
KERNELS = {
    # name: (the twin whose C function callgrind counts, the statement, the shape)
    "exp": ("exp", "k.exp(Y.ravel())", WIDE),
    "sigmoid": ("activation_forward", "k.activation_forward(Y, codes['sigmoid'])", WIDE),
    "tanh": ("activation_forward", "k.activation_forward(Y, codes['tanh'])", WIDE),
    "softmax": ("activation_forward", "k.activation_forward(Y, codes['softmax'])", WIDE),
    "softmax_10": ("activation_forward", "k.activation_forward(Y, codes['softmax'])", NARROW),
    "sigmoid_backward": ("activation_backward",
                         "k.activation_backward(P, G, codes['sigmoid'])", WIDE),
    "tanh_backward": ("activation_backward", "k.activation_backward(P, G, codes['tanh'])",
                      WIDE),
    "cross_entropy_10": ("output_delta",
                         "k.output_delta(losses['cross_entropy'], Z, labels, 1.0, D)", NARROW),
    "binary_cross_entropy": ("output_delta",
                             "k.output_delta(losses['binary_cross_entropy'], Z, labels, 1.0, D)",
                             WIDE),
}
DRIVER = """
import numpy as np
from fastnn import _kernels as k
codes, losses = k.ACTIVATION_CODES, k.LOSS_CODES
dtype = np.{dtype}
rng = np.random.default_rng(0)
X = (rng.standard_normal(({rows}, {cols})) * 3).astype(dtype)
P = rng.random(({rows}, {cols})).astype(dtype)
G = rng.random(({rows}, {cols})).astype(dtype)
labels = rng.integers(0, 2, size={rows}).astype(np.int64)
D = np.empty_like(X)
for _ in range({calls}):
    Y = X.copy()
    Z = X.copy()
    {statement}
"""


def driver(name, dtype, shape=None, calls=CALLS):
    """The Python program that calls kernel ``name`` ``calls`` times on an
    array of ``shape`` (the kernel's own by default)."""
    rows, cols = shape or KERNELS[name][2]
    return DRIVER.format(dtype=dtype, rows=rows, cols=cols, calls=calls,
                         statement=KERNELS[name][1])


def count(name, dtype, env=None):
    """Instructions per element of kernel ``name`` in ``dtype`` (a NumPy type name)."""
    twin = KERNELS[name][0]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                        f"--toggle-collect=*_kernels*{twin}*", sys.executable, "-c",
                        driver(name, dtype)],
                       check=True, capture_output=True, env=env,
                       cwd=Path(__file__).resolve().parent.parent)
        summary = re.search(r"^summary: (\d+)", out.read_text(), re.M)
    rows, cols = KERNELS[name][2]
    return int(summary.group(1)) / (rows * cols * CALLS)


def main(names):
    env = dict(os.environ)
    print(f"instructions per element, FASTNN_SIMD={env.get('FASTNN_SIMD', '(auto)')}")
    print(f"{'kernel':24s} {'shape':>10s} {'float32':>9s} {'float64':>9s}")
    for name in names or KERNELS:
        counts = [count(name, dtype, env) for dtype in ("float32", "float64")]
        shape = "x".join(map(str, KERNELS[name][2]))
        print(f"{name:24s} {shape:>10s} {counts[0]:9.2f} {counts[1]:9.2f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
