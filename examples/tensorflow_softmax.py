"""The lecture's TensorFlow example, written with fastnn's computation graph.

Softmax regression on MNIST (the slides' "Example in Tensorflow"):

    x = tf.placeholder(tf.float32, [None, 784])
    W = tf.Variable(tf.zeros([784, 10]));  b = tf.Variable(tf.zeros([10]))
    y = tf.nn.softmax(tf.matmul(x, W) + b)
    cross_entropy = tf.reduce_mean(-tf.reduce_sum(y_ * tf.log(y), ...))
    train_step = tf.train.GradientDescentOptimizer(0.5).minimize(cross_entropy)
    for i in range(1000):
        batch_xs, batch_ys = mnist.train.next_batch(100)
        sess.run(train_step, feed_dict={x: batch_xs, y_: batch_ys})

There is no session and no placeholder here: the graph is recorded while the
step runs (define-by-run). ``fastnn.cross_entropy(logits, labels)`` is the
mean of -sum(y_ * log softmax(logits)) with the softmax fused in (it never
takes log(0)); ``train_step`` computes the gradients and applies one
compiled gradient-descent update.

Run: ``python examples/tensorflow_softmax.py [--steps 1000]``. MNIST is
found where ``fastnn.datasets.load_mnist`` looks (``$FASTNN_DATA``, the cache, ...).
"""

import argparse

import numpy as np

import fastnn
from fastnn import SGD, Tensor, cross_entropy, no_grad, train_step
from fastnn.datasets import load_mnist


class Batches:
    """``mnist.train.next_batch``: consecutive mini-batches of a shuffled
    order, reshuffled after each pass over the data."""

    def __init__(self, X, y, seed):
        self.X, self.y = X, y
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(X))
        self.position = 0

    def next_batch(self, size):
        if self.position + size > len(self.order):
            self.order = self.rng.permutation(len(self.X))
            self.position = 0
        rows = self.order[self.position:self.position + size]
        self.position += size
        return self.X[rows], self.y[rows]


def main(steps=1000, batch_size=100, learning_rate=0.5, seed=0, path=None, verbose=True):
    """Train softmax regression on MNIST; returns the test accuracy."""
    (X_train, y_train), (X_test, y_test) = load_mnist(path=path, split="train_test")
    mnist_train = Batches(X_train, y_train, seed)

    # Define the parameters as variables
    W = Tensor(np.zeros((784, 10), dtype=np.float32), requires_grad=True)
    b = Tensor(np.zeros(10, dtype=np.float32), requires_grad=True)
    optimizer = SGD(lr=learning_rate)          # GradientDescentOptimizer(0.5)

    for i in range(steps):
        batch_xs, batch_ys = mnist_train.next_batch(batch_size)
        x = Tensor(batch_xs)
        logits = x @ W + b                     # y = softmax(logits)
        loss = train_step(cross_entropy(logits, batch_ys), [W, b], optimizer)
        if verbose and (i + 1) % 200 == 0:
            print(f"step {i + 1}/{steps}: cross-entropy {loss:.4f}")

    with no_grad():
        y = (Tensor(X_test) @ W + b).data      # argmax softmax = argmax logits
    accuracy = float(np.mean(y.argmax(axis=1) == y_test))
    if verbose:
        print(f"test accuracy: {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"fastnn {fastnn.__version__}: the lecture's TensorFlow example")
    main(steps=args.steps, batch_size=args.batch_size, learning_rate=args.lr, seed=args.seed)
