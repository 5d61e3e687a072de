"""The lecture's experiments on real MNIST, one module each.

================== ========================== ==========================================
name               module                     what it shows
================== ========================== ==========================================
``depth``          ``depth``                  0-4 hidden sigmoid layers of 30 (the
                                              lecture's table)
``vanishing``      ``vanishing``              per-layer gradient norms ||delta^(l)||,
                                              sigmoid vs ReLU
``dropout``        ``dropout_comparison``     a wide ReLU net on 2,000 images, with and
                                              without dropout
``init``           ``initialization``         N(0, 1/sqrt(n_in)) vs Glorot vs N(0, 1)
                                              weights
``optimizers``     ``optimizer_comparison``   SGD, SGD 1/t, momentum, Adagrad, Adam
``regularization`` ``regularization``         L2 strength vs the train/validation gap
``pretraining``    ``pretraining_comparison`` deep sigmoid nets from random weights or
                                              greedy autoencoder pre-training
``solvers``        ``solver_comparison``      softmax regression: L-BFGS and CG vs SGD
                                              and Adagrad, objective vs passes and time
================== ========================== ==========================================

The name is what ``run(name)`` and the command line take; the modules are
named so that none reads like ``fastnn.optimizers``, ``fastnn.initializers``,
``fastnn.pretraining``, ``fastnn.solvers`` or the ``Dropout`` layer. Each
module owns its settings, its table and its plot.

Each runs from Python, ``fastnn.experiments.run("depth", quick=True, seeds=1,
out="dir")`` or ``fastnn.experiments.depth.run(...)``, or from the command
line, ``fastnn experiment depth --quick --out dir``. A run prints its table and,
given ``out``, writes ``results.json`` and PNG plots there (plots need
matplotlib: ``pip install 'fastnn[plot]'``). ``quick=True`` runs a reduced
version in seconds; the default is the full reproduction.
"""

from . import (depth, dropout_comparison, initialization, optimizer_comparison,
               pretraining_comparison, regularization, solver_comparison, vanishing)

__all__ = ["EXPERIMENTS", "run", "depth", "vanishing", "dropout_comparison", "initialization",
           "optimizer_comparison", "regularization", "pretraining_comparison",
           "solver_comparison"]

#: Experiment modules by name.
EXPERIMENTS = {module.NAME: module
               for module in (depth, vanishing, dropout_comparison, initialization,
                              optimizer_comparison, regularization, pretraining_comparison,
                              solver_comparison)}


def run(name, quick=False, seeds=1, out=None, **kwargs):
    """Run the experiment called ``name``.

    Parameters
    ----------
    name : str
        A key of ``EXPERIMENTS``.
    quick, seeds, out, **kwargs
        See ``fastnn.experiments.driver.execute`` (``dataset``, ``data_dir``,
        ``download``, ``verbose`` and the experiment's own options such as
        ``epochs``, ``n_train`` or ``variant``).

    Returns
    -------
    dict
        The record written to ``out/results.json``.
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {sorted(EXPERIMENTS)}, got {name!r}")
    return EXPERIMENTS[name].run(quick=quick, seeds=seeds, out=out, **kwargs)
