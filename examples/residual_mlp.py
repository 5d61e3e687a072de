"""A model a Sequential cannot express: a residual MLP, trained end to end.

    h_0 = relu(W_in x + b_in)
    h_k = h_(k-1) + relu(W_k dropout(h_(k-1)) + b_k)      k = 1..K (skip connections)
    logits = W_out dropout(h_K) + b_out

Each block adds its output to its input, so the gradient reaches the first
layer through the identity path as well as through the blocks (the lecture's
vanishing-gradient concern). The model is a ``fastnn.Model``: its layers are
attributes, ``forward`` is ordinary Python on Tensors, and ``fit`` trains it
with the compiled SGD kernel one mini-batch at a time (weight decay on the
weight matrices only). Dropout is on in ``fit`` and off in ``evaluate``.

Run: ``python examples/residual_mlp.py [--epochs 3] [--blocks 2]``. MNIST is
found where ``fastnn.datasets.load_mnist`` looks (``$FASTNN_DATA``, the cache, ...).
"""

import argparse
import time

import fastnn
from fastnn import SGD, Dense, Dropout, Model
from fastnn.datasets import load_mnist


class ResidualMLP(Model):
    """784 -> hidden, ``blocks`` residual relu blocks of width ``hidden``, -> 10 logits."""

    def __init__(self, hidden=128, blocks=2, p=0.1, seed=0):
        super().__init__(seed=seed)
        self.inp = Dense(784, hidden, "relu", init="he_normal")
        self.blocks = [Dense(hidden, hidden, "relu", init="he_normal") for _ in range(blocks)]
        self.drop = Dropout(p)
        self.out = Dense(hidden, 10)

    def forward(self, x):
        h = self.inp(x)
        for block in self.blocks:
            h = h + block(self.drop(h))          # the skip connection
        return self.out(self.drop(h))            # logits, for cross_entropy


def main(epochs=3, hidden=128, blocks=2, batch_size=64, n_train=None, seed=0, path=None,
         verbose=True):
    """Train the residual MLP on MNIST; returns the test accuracy."""
    (X_train, y_train), (X_val, y_val), (X_test, y_test) = load_mnist(path=path)
    if n_train is not None:
        X_train, y_train = X_train[:n_train], y_train[:n_train]
    model = ResidualMLP(hidden=hidden, blocks=blocks, seed=seed)
    start = time.perf_counter()
    model.fit(X_train, y_train, loss="cross_entropy", epochs=epochs, batch_size=batch_size,
              optimizer=SGD(lr=0.05, momentum=0.9, weight_decay=1e-4),
              validation_data=(X_val, y_val), verbose=2 if verbose else 0)
    accuracy = model.evaluate(X_test, y_test)["accuracy"]
    if verbose:
        print(f"trained in {time.perf_counter() - start:.1f}s; test accuracy: {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"fastnn {fastnn.__version__}: a residual MLP on the computation graph")
    main(epochs=args.epochs, hidden=args.hidden, blocks=args.blocks,
         batch_size=args.batch_size, seed=args.seed)
