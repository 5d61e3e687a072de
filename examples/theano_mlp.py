"""The lecture's Theano example, written with fastnn's computation graph.

A relu hidden layer of 100 units and a softmax output, trained one example at
a time by SGD on MNIST, exactly as the slides build it:

    h = T.nnet.relu(T.dot(Wi, x) + bi)
    p_y_given_x = T.nnet.softmax(T.dot(Wo, h) + bo)
    cost = -T.log(p_y_given_x[0][ygold])
    gradients = T.grad(cost, params)
    upds = [(p, p - learning_rate * g) for p, g in zip(params, gradients)]

Here every line is an operation on ``fastnn.Tensor`` that records the graph as
it runs; ``fastnn.grad(cost, params)`` is ``T.grad``; the update list is
applied by the compiled SGD kernel (``optimizer.step``).

Run: ``python examples/theano_mlp.py [--epochs 1] [--lr 0.01]``. MNIST is
found where ``fastnn.datasets.load_mnist`` looks (``$FASTNN_DATA``, the cache, ...).
"""

import argparse
import time

import numpy as np

import fastnn
from fastnn import SGD, Tensor, grad, log, no_grad, relu, softmax
from fastnn.datasets import load_mnist


def uniform(rng, shape):
    """W ~ U[-sqrt(6 / (n_in + n_out)), +sqrt(6 / (n_in + n_out))], the lecture's
    "more recent" recipe, as a Tensor that requires a gradient."""
    n_out, n_in = shape
    limit = np.sqrt(6.0 / (n_in + n_out))
    return Tensor(rng.uniform(-limit, limit, size=shape).astype(np.float32), requires_grad=True)


def shared0s(shape):
    """A zero bias vector that requires a gradient (Theano's shared zeros)."""
    return Tensor(np.zeros(shape, dtype=np.float32), requires_grad=True)


def predict(X, params):
    """y_pred = argmax p(y | x) for a whole matrix X (n, 784), without a graph:
    the same expressions with one example per row (x W^T instead of W x)."""
    Wi, bi, Wo, bo = params
    with no_grad():
        h = relu(Tensor(X) @ Wi.T + bi)
        p = softmax(h @ Wo.T + bo)
    return p.data.argmax(axis=1)


def main(epochs=1, learning_rate=0.01, n_train=None, seed=0, path=None, verbose=True):
    """Train the lecture's Theano network on MNIST; returns the test accuracy."""
    (X_train, y_train), _, (X_test, y_test) = load_mnist(path=path)
    if n_train is not None:
        X_train, y_train = X_train[:n_train], y_train[:n_train]
    rng = np.random.default_rng(seed)

    # The parameters of the hidden layer
    H = 100                       # hidden layer size
    n_in = X_train.shape[1]       # dimension of inputs
    Wi = uniform(rng, [H, n_in])
    bi = shared0s([H])
    # parameters for the output layer
    NLABELS = 10
    Wo = uniform(rng, [NLABELS, H])
    bo = shared0s([NLABELS])
    # 1/ Store all the learnt parameters
    params = [Wi, bi, Wo, bo]
    optimizer = SGD(lr=learning_rate)

    start = time.perf_counter()
    for epoch in range(epochs):
        total = 0.0
        for i in rng.permutation(len(X_train)):
            x = Tensor(X_train[i])                          # one example, shape (784,)
            ygold = int(y_train[i])
            # define the hidden layer
            h = relu(Wi @ x + bi)
            # output layer and related variables
            p_y_given_x = softmax(Wo @ h + bo)
            # the cost function
            cost = -log(p_y_given_x[ygold])
            total += cost.item()
            # 2/ Get the gradients of everyone
            gradients = grad(cost, params)
            # 3/ The update list, applied in place by the compiled SGD kernel
            upds = [(p.data, g, False) for p, g in zip(params, gradients)]
            optimizer.step(upds)
        if verbose:
            print(f"epoch {epoch + 1}/{epochs}: mean cost {total / len(X_train):.4f} "
                  f"({time.perf_counter() - start:.1f}s)")

    accuracy = float(np.mean(predict(X_test, params) == y_test))
    if verbose:
        print(f"test accuracy: {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"fastnn {fastnn.__version__}: the lecture's Theano example")
    main(epochs=args.epochs, learning_rate=args.lr, seed=args.seed)
