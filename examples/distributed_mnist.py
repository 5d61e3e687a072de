"""Data-parallel training of the lecture's network on MNIST over MPI.

    pip install "fastnn[mpi]"
    mpiexec -n 2 python examples/distributed_mnist.py --epochs 5
    (as root add --allow-run-as-root; --oversubscribe for more ranks than cores)

Every rank loads MNIST, keeps its own shard of the training images (rank r
takes every R-th image from r on), and trains with ``comm=MPI.COMM_WORLD``:
per-rank batches of --batch-size, one gradient Allreduce per step, the same
weights on every rank. Rank 0 prints the epochs and the test accuracy.
"""

import argparse
import time

from mpi4py import MPI

import fastnn
from fastnn.datasets import load_mnist


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=10, help="per rank")
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--hidden", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    (X_train, y_train), (X_test, y_test) = load_mnist(split="train_test")
    X_shard, y_shard = X_train[rank::size], y_train[rank::size]
    model = fastnn.Sequential([fastnn.Dense(784, args.hidden, activation="sigmoid"),
                               fastnn.Dense(args.hidden, 10, activation="softmax")],
                              seed=args.seed)
    start = time.perf_counter()
    model.fit(X_shard, y_shard, epochs=args.epochs, batch_size=args.batch_size,
              optimizer=fastnn.SGD(lr=args.lr), verbose=2, comm=comm)
    seconds = time.perf_counter() - start
    if rank == 0:
        test = model.evaluate(X_test, y_test)
        print(f"{size} rank(s), {seconds:.1f} s: test accuracy {test['accuracy']:.4f}")


if __name__ == "__main__":
    main()
