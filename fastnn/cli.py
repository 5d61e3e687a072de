"""The ``fastnn`` command: train a network on MNIST, or run one of the lecture's
experiments.

::

    fastnn train --dataset mnist --layers 30,30 --activation sigmoid --epochs 30 \\
                 --batch-size 10 --lr 0.1 --weight-decay 1e-4 --seed 0 --save model.npz
    fastnn experiment depth --seeds 3 --out results/depth
    fastnn experiment vanishing --quick --out /tmp/vanishing

``python -m fastnn`` is the same command. Bad arguments exit with status 2 and
a message naming the option and the bad value; a failure while running (data
not found, training diverged, ...) exits with status 1.
"""

from __future__ import annotations

import argparse
import inspect
import math
import os
import re
import sys
import time
from pathlib import Path
from typing import Sequence

from . import __version__
from .callbacks import Callback
from .datasets import DatasetNotFoundError, DownloadError, IDXError
from .experiments import EXPERIMENTS
from .experiments.common import DATASETS, build_mlp, load_data
from .activations import ACTIVATIONS
from .initializers import INITIALIZERS
from .losses import LOSSES
from .optimizers import OPTIMIZERS, SCHEDULES
from .training import TrainingDivergedError
from .validation import DTYPES

__all__ = ["main", "build_parser"]

#: --optimizer choices: every optimizer of ``fastnn.optimizers.OPTIMIZERS``,
#: and "momentum", which is SGD with --momentum.
OPTIMIZER_CHOICES = {**OPTIMIZERS, "momentum": OPTIMIZERS["sgd"]}

#: Learning rates that suit MNIST better than the optimizer's own default.
MNIST_LR = {"momentum": 0.01, "adagrad": 0.05}

#: --activation choices: the elementwise activations (softmax is the output's).
HIDDEN_ACTIVATIONS = sorted(name for name, entry in ACTIVATIONS.items()
                            if entry.derivative is not None)


def default_lr(choice):
    """The learning rate of ``--optimizer choice`` when --lr is not given."""
    if choice in MNIST_LR:
        return MNIST_LR[choice]
    return inspect.signature(OPTIMIZER_CHOICES[choice]).parameters["lr"].default


# --------------------------------------------------------- argument types ---

def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}") \
            from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}")
    return value


def _number(text, low, low_open, what):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
    if not math.isfinite(value) or value < low or (low_open and value == low):
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
    return value


def _positive_float(text):
    return _number(text, 0.0, True, "a positive finite number")


def _nonnegative_float(text):
    return _number(text, 0.0, False, "a finite number >= 0")


def _probability(text):
    value = _number(text, 0.0, False, "a probability in [0, 1)")
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must be a probability in [0, 1), got {text!r}")
    return value


def _momentum(text):
    value = _number(text, 0.0, False, "a momentum in [0, 1)")
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must be a momentum in [0, 1), got {text!r}")
    return value


def _layers(text):
    """'30,30' -> [30, 30]; '' or '0' -> [] (no hidden layer)."""
    stripped = text.strip()
    if stripped in ("", "0"):
        return []
    sizes = []
    for part in stripped.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 1:
            raise argparse.ArgumentTypeError(
                f"must be comma-separated positive layer sizes such as 30,30 (or '' or 0 for "
                f"no hidden layer), got {text!r}")
        sizes.append(int(part))
    return sizes


def _save_path(text):
    """--save PATH: a file name in an existing directory, checked before any
    training (a bad path found after an hour of training loses the hour)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must be a file path, got {text!r}")
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"must be a file path, got the directory {text!r}")
    parent = path.parent
    if not parent.is_dir():
        raise argparse.ArgumentTypeError(
            f"the directory {str(parent)!r} of {text!r} does not exist (create it first)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot write into the directory {str(parent)!r} "
                                         f"of {text!r}")
    return text


def _out_dir(text):
    """--out DIR: a directory, or a path that can become one (its nearest
    existing ancestor is a writable directory)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must be a directory path, got {text!r}")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} exists and is not a directory")
    ancestor = path
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise argparse.ArgumentTypeError(
            f"cannot create the directory {text!r}: {str(ancestor)!r} is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot create or write the directory {text!r}: "
                                         f"{str(ancestor)!r} is not writable")
    return text


# ----------------------------------------------------------------- parser ---

class _Parser(argparse.ArgumentParser):
    """ArgumentParser that reads "-1e-4" or "-inf" as a (bad) value, not as an option.

    argparse only recognises plain negative numbers ("-1", "-.5"), so
    ``--weight-decay -1e-4`` would fail with "expected one argument" instead
    of naming the bad value. (``_negative_number_matcher`` is argparse's own
    hook for this; if a future Python drops it, such values are simply
    reported the old way.)
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(
            r"^-(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$|^-(inf|infinity|nan)$", re.IGNORECASE)


class _HelpFormatter(argparse.HelpFormatter):
    """Appends "(default: ...)" to the help of options that have a real default."""

    def _get_help_string(self, action):
        text = action.help or ""
        if ("%(default)" not in text and action.option_strings
                and action.default not in (None, False, argparse.SUPPRESS)):
            text += " (default: %(default)s)"
        return text


def build_parser() -> argparse.ArgumentParser:
    """The ``fastnn`` argument parser (subcommands ``train`` and ``experiment``)."""
    parser = _Parser(
        prog="fastnn",
        description="Small fully connected networks trained fast on the CPU: train one on "
                    "MNIST or run the lecture's experiments.")
    parser.add_argument("--version", action="version", version=f"fastnn {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    train = commands.add_parser(
        "train", formatter_class=_HelpFormatter,
        help="train a network and report its validation and test accuracy",
        description="Train a fully connected network on the 50,000 training images, report "
                    "the accuracy on the 10,000 validation images after every epoch and on "
                    "the 10,000 test images at the end.")
    data = train.add_argument_group("data")
    _data_arguments(data)
    data.add_argument("--limit", type=_positive_int, metavar="N",
                      help="train on the first N training images only (quick trials; "
                           "default: all 50,000)")
    net = train.add_argument_group("network")
    net.add_argument("--layers", type=_layers, default="30", metavar="SIZES",
                     help="hidden layer sizes, comma-separated (e.g. 30,30); '' or 0 for "
                          "none (softmax regression)")
    net.add_argument("--activation", choices=HIDDEN_ACTIVATIONS, default="sigmoid",
                     help="activation of the hidden layers")
    net.add_argument("--init", choices=sorted(INITIALIZERS), default="normal",
                     help="weight initialisation of every layer (normal = N(0, 1/sqrt(n_in)))")
    net.add_argument("--loss", choices=sorted(LOSSES), default="cross_entropy",
                     help="cross_entropy uses a softmax output layer, binary_cross_entropy "
                          "and mse a sigmoid one")
    net.add_argument("--dropout", type=_probability, default=0.0, metavar="P",
                     help="dropout probability on the hidden units (0: none)")
    net.add_argument("--dtype", choices=DTYPES, default="float32",
                     help="floating-point type of the weights and computations")
    opt = train.add_argument_group("training")
    opt.add_argument("--epochs", type=_positive_int, default=30, help="passes over the data")
    opt.add_argument("--batch-size", type=_positive_int, default=10,
                     help="examples per mini-batch")
    opt.add_argument("--optimizer", choices=sorted(OPTIMIZER_CHOICES), default="sgd",
                     help="momentum is SGD with --momentum")
    opt.add_argument("--lr", type=_positive_float, default=None,
                     help="learning rate (default: " + ", ".join(
                         f"{k} {default_lr(k):g}" for k in sorted(OPTIMIZER_CHOICES)) + ")")
    opt.add_argument("--momentum", type=_momentum, default=0.9, metavar="MU",
                     help="momentum coefficient of --optimizer momentum")
    opt.add_argument("--schedule", choices=sorted(SCHEDULES),
                     default="constant",
                     help="learning-rate schedule: inverse_time is eta_0 / (1 + t / "
                          "updates per epoch); step halves eta every 10 epochs")
    opt.add_argument("--weight-decay", type=_nonnegative_float, default=0.0, metavar="LAMBDA",
                     help="L2 weight decay per update (Nielsen's lambda = 5 over 50,000 "
                          "images is 1e-4)")
    opt.add_argument("--seed", type=_seed, default=None,
                     help="seed of the initial weights, shuffling and dropout (default: "
                          "fresh randomness, printed so the run can be repeated)")
    train.add_argument("--save", type=_save_path, metavar="PATH",
                       help="write the trained model to PATH (an .npz archive, see "
                            "fastnn.serialization)")
    train.set_defaults(handler=_train, subparser=train)

    names = sorted(EXPERIMENTS)
    experiment = commands.add_parser(
        "experiment", formatter_class=argparse.RawDescriptionHelpFormatter,
        help="run one of the lecture's experiments (tables, results.json, plots)",
        description="Run one of the lecture's experiments on MNIST, print its table and "
                    "write results.json and PNG plots into --out.\n\n" + "\n".join(
                        f"  {name:<15} {EXPERIMENTS[name].TITLE}" for name in names))
    experiment.add_argument("name", choices=names, metavar="NAME",
                            help="the experiment: " + ", ".join(names))
    experiment.add_argument("--quick", action="store_true",
                            help="a reduced run (seconds) instead of the full reproduction")
    experiment.add_argument("--seeds", type=_positive_int, default=1, metavar="K",
                            help="repeat every configuration with seeds 0..K-1 (default 1)")
    experiment.add_argument("--jobs", type=_positive_int, default=None, metavar="N",
                            help="runs (configurations x seeds) trained at once, one per "
                                 "thread on one BLAS thread each (default: one per core; the "
                                 "results do not change)")
    experiment.add_argument("--out", type=_out_dir, metavar="DIR", default=None,
                            help="directory for results.json and the plots "
                                 "(default results/NAME, or results/NAME-quick)")
    _data_arguments(experiment)
    experiment.add_argument("--epochs", type=_positive_int, default=None,
                            help="override the experiment's number of epochs")
    experiment.add_argument("--train-size", type=_positive_int, default=None, metavar="N",
                            help="override the number of training images")
    experiment.add_argument("--variant", choices=("softmax", "nielsen"), default=None,
                            help="depth and vanishing only: softmax + log-loss output (the "
                                 "lecture, default) or sigmoid + binary cross-entropy "
                                 "(Nielsen's network2.py)")
    experiment.set_defaults(handler=_experiment, subparser=experiment)
    return parser


def _data_arguments(group):
    group.add_argument("--dataset", choices=sorted(DATASETS), default="mnist",
                       help="which dataset")
    group.add_argument("--data-dir", metavar="DIR", default=None,
                       help="directory holding the IDX files, or a parent of mnist/ and "
                            "fashion-mnist/ (default: $FASTNN_DATA, then the user cache, "
                            "then /usr/share/datasets)")
    group.add_argument("--no-download", action="store_true",
                       help="never download missing dataset files")


# --------------------------------------------------------------- commands ---

class _EpochPrinter(Callback):
    """One line per epoch on stdout."""

    def __init__(self, epochs):
        self.epochs = epochs
        self.width = len(str(epochs))

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        print(f"epoch {epoch + 1:>{self.width}}/{self.epochs}  "
              f"loss {logs['loss']:.4f}  train acc {100 * logs['accuracy']:.2f}%  "
              f"val loss {logs['val_loss']:.4f}  val acc {100 * logs['val_accuracy']:.2f}%  "
              f"({time.perf_counter() - self.start:.1f} s)", flush=True)


def _make_optimizer(args):
    lr = default_lr(args.optimizer) if args.lr is None else args.lr
    extra = {"momentum": args.momentum} if args.optimizer == "momentum" else {}
    return OPTIMIZER_CHOICES[args.optimizer](lr=lr, weight_decay=args.weight_decay,
                                             schedule=args.schedule, **extra)


def _train(args):
    parser = args.subparser
    if args.dropout and not args.layers:
        parser.error("argument --dropout: needs at least one hidden layer (--layers), got "
                     f"--layers '' with --dropout {args.dropout:g}")
    try:
        model = build_mlp(args.layers, args.activation, args.init, loss=args.loss,
                          dropout=args.dropout, dtype=args.dtype, seed=args.seed)
    except MemoryError as exc:
        parser.error(f"argument --layers: the network does not fit in memory: {exc}")
    data = load_data(args.dataset, args.data_dir, dtype=args.dtype, n_train=None,
                     download=not args.no_download)
    X, y = data.X_train, data.y_train
    if args.limit is not None:
        if args.limit > X.shape[0]:
            parser.error(f"argument --limit: at most {X.shape[0]} training images, got "
                         f"{args.limit}")
        X, y = X[:args.limit], y[:args.limit]
    optimizer = _make_optimizer(args)
    print(model.summary())
    print(f"data: {args.dataset}, {X.shape[0]:,} training, {data.X_val.shape[0]:,} "
          f"validation, {data.X_test.shape[0]:,} test images")
    print(f"optimizer: {optimizer!r}; {args.epochs} epochs, batch {args.batch_size}; "
          f"seed {model.seed}", flush=True)
    start = time.perf_counter()
    model.fit(X, y, epochs=args.epochs, batch_size=args.batch_size, optimizer=optimizer,
              validation_data=(data.X_val, data.y_val), verbose=0,
              callbacks=[_EpochPrinter(args.epochs)])
    seconds = time.perf_counter() - start
    val = model.evaluate(data.X_val, data.y_val)
    test = model.evaluate(data.X_test, data.y_test)
    print(f"trained in {seconds:.1f} s (including the validation after every epoch)")
    print(f"validation accuracy {100 * val['accuracy']:.2f}%  test accuracy "
          f"{100 * test['accuracy']:.2f}%")
    if args.save:
        from .serialization import save
        print(f"saved the model to {save(model, args.save)}")
    return 0


def _experiment(args):
    parser = args.subparser
    module = EXPERIMENTS[args.name]
    options = {"epochs": args.epochs, "n_train": args.train_size}
    if args.variant is not None:
        if "variant" not in module.OPTIONS:
            with_variants = ", ".join(n for n, m in sorted(EXPERIMENTS.items())
                                      if "variant" in m.OPTIONS)
            parser.error(f"argument --variant: experiment {args.name!r} has no variants "
                         f"(only {with_variants}), got --variant {args.variant}")
        options["variant"] = args.variant
    if args.train_size is not None and args.train_size > 50_000:
        parser.error(f"argument --train-size: at most 50000 training images, got "
                     f"{args.train_size}")
    default_out = f"results/{args.name}-quick" if args.quick else f"results/{args.name}"
    out = args.out if args.out is not None else default_out
    module.run(quick=args.quick, seeds=args.seeds, out=out, dataset=args.dataset,
               data_dir=args.data_dir, download=not args.no_download, jobs=args.jobs,
               **options)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``fastnn`` command with ``argv`` (default ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 on success, 1 when the run failed. Argument errors
        raise ``SystemExit(2)`` after printing the usage and the error.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (DatasetNotFoundError, DownloadError, IDXError, TrainingDivergedError) as exc:
        print(f"fastnn: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fastnn: interrupted", file=sys.stderr)
        return 130
