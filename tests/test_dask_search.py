"""fastnn.sklearn estimators in scikit-learn's searches on a dask.distributed
cluster, through joblib's dask backend (issue 13).

One real cluster for the module: a scheduler in this process and two worker
processes of one thread each, started by their nannies as ``dask worker``
starts them. On it:

- GridSearchCV and RandomizedSearchCV give exactly the serial search's
  scores, ranks, best_params_ and refitted predictions (each fit is
  deterministic given random_state, whatever process runs it);
- X and y are scattered once to every worker (joblib's ``scatter=``) and each
  fit task refers to them by key instead of carrying their bytes;
- a fitted estimator pickled here is rebuilt on a worker and predicts the same;
- the workers run fastnn's GEMMs on one thread (the nanny's
  OPENBLAS_NUM_THREADS=1, which fastnn follows at import);
- examples/dask_search.py runs in its quick form.

dask[distributed] comes with the ``test`` extra: without it these tests fail
(at import), as the ONNX tests do without onnxruntime.
"""

import operator
import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import SchedulerPlugin
from joblib import parallel_config
from scipy.stats import loguniform
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

import fastnn.blas_threads
from children import child_env
from fastnn.sklearn import MLPClassifier

ROOT = Path(__file__).resolve().parents[1]

#: Fields of cv_results_ that must agree exactly (the *_time fields need not).
SCORE_FIELDS = ("mean_test_score", "std_test_score", "rank_test_score", "mean_train_score",
                "std_train_score") + tuple(f"split{i}_{part}_score" for i in range(3)
                                           for part in ("test", "train"))


class TaskDependencies(SchedulerPlugin):
    """Records, for every task the scheduler starts, the keys of the data it
    depends on and their sizes: how the test sees what a fit task carries."""

    name = "task-dependencies"

    async def start(self, scheduler):
        self.scheduler = scheduler
        self.started = {}

    def transition(self, key, start, finish, *args, **kwargs):
        if finish == "processing":
            task = self.scheduler.tasks[key]
            self.started[key] = {dep.key: dep.nbytes for dep in task.dependencies}


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:600] / 16.0, y[:600]


@pytest.fixture(scope="module")
def cluster():
    """(client, the scheduler's TaskDependencies) of a two-worker cluster."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as local, Client(local) as client:
        client.register_plugin(TaskDependencies())
        yield client, local.scheduler.plugins[TaskDependencies.name]


def new_searches():
    """A grid and a randomized search of 4 candidates x 3 folds, short fits."""
    estimator = MLPClassifier(max_iter=8, batch_size=50, random_state=0)
    grid = GridSearchCV(estimator, {"hidden_layer_sizes": [(16,), (32,)],
                                    "alpha": [1e-4, 1e-2]},
                        cv=3, return_train_score=True)
    randomized = RandomizedSearchCV(estimator, {"hidden_layer_sizes": [(16,), (32,), (16, 16)],
                                                "alpha": loguniform(1e-5, 1e-1),
                                                "learning_rate_init": loguniform(1e-3, 1e-1)},
                                    n_iter=4, cv=3, return_train_score=True, random_state=0)
    return {"grid": grid, "randomized": randomized}


def fit_quietly(search, X, y):
    # The short fits stop at max_iter; scikit-learn passes this filter on to
    # the workers with each task.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return search.fit(X, y)


@pytest.fixture(scope="module")
def dask_searches(cluster, digits):
    """Both searches fitted on the cluster in one joblib dask context that
    scattered X and y: (searches, scattered keys -> workers holding them,
    dependencies of each task started meanwhile)."""
    client, dependencies = cluster
    X, y = digits
    searches = new_searches()
    dependencies.started.clear()
    with parallel_config(backend="dask", client=client, scatter=[X, y]) as config:
        # joblib's table of what it scattered: id(argument) -> future
        futures = list(config["backend"].data_futures.values())
        holders = {key: set(workers) for key, workers in client.who_has(futures).items()}
        for search in searches.values():
            fit_quietly(search, X, y)
    return searches, holders, dict(dependencies.started)


@pytest.mark.parametrize("kind", ["grid", "randomized"])
def test_search_on_dask_equals_the_serial_search(dask_searches, digits, kind):
    X, y = digits
    on_dask = dask_searches[0][kind]
    serial = fit_quietly(new_searches()[kind], X, y)
    assert on_dask.cv_results_["params"] == serial.cv_results_["params"]
    for field in SCORE_FIELDS:
        np.testing.assert_array_equal(on_dask.cv_results_[field], serial.cv_results_[field],
                                      err_msg=field)
    assert on_dask.best_params_ == serial.best_params_
    assert on_dask.best_score_ == serial.best_score_
    np.testing.assert_array_equal(on_dask.best_estimator_.predict_proba(X),
                                  serial.best_estimator_.predict_proba(X))
    # not a degenerate comparison: the candidates differ, and they learnt
    assert len(set(serial.cv_results_["mean_test_score"])) > 1
    assert serial.best_score_ > 0.5


def test_x_and_y_are_scattered_once_to_every_worker_and_fits_refer_to_them(
        dask_searches, cluster, digits):
    X, y = digits
    _, holders, started = dask_searches
    client, _ = cluster
    workers = set(client.scheduler_info()["workers"])
    assert len(holders) == 2 and all(held == workers for held in holders.values())
    # 2 searches x 4 candidates x 3 folds, in batches of one or more fits
    assert 2 <= len(started) <= 24
    for task, dependencies in started.items():
        assert set(holders) <= set(dependencies), task
        assert sorted(dependencies[key] for key in holders) == sorted([X.nbytes, y.nbytes])
        # and no other copy of X travels with a task (the rest: fold indices)
        others = [size for key, size in dependencies.items() if key not in holders]
        assert all(size < X.nbytes // 4 for size in others), (task, dependencies)


def test_an_estimator_pickled_here_predicts_the_same_on_a_worker(cluster, digits):
    client, _ = cluster
    X, y = digits
    estimator = fit_quietly(MLPClassifier((20,), max_iter=5, random_state=1), X, y)
    rebuilt = client.submit(pickle.loads, pickle.dumps(estimator), pure=False)
    proba = client.submit(operator.methodcaller("predict_proba", X), rebuilt)
    labels = client.submit(operator.methodcaller("predict", X), rebuilt)
    np.testing.assert_array_equal(proba.result(), estimator.predict_proba(X))
    np.testing.assert_array_equal(labels.result(), estimator.predict(X))
    assert client.who_has([rebuilt])[rebuilt.key]          # it lives on a worker


def test_workers_run_fastnn_on_one_thread(cluster):
    client, _ = cluster
    # The nanny starts each worker with distributed.nanny.pre-spawn-environ,
    # OPENBLAS_NUM_THREADS=1 by default; fastnn's policy follows it at import.
    assert set(client.run(os.environ.get, "OPENBLAS_NUM_THREADS").values()) == {"1"}
    policies = client.run(fastnn.blas_threads.policy)
    assert len(policies) == 2
    assert all(max_threads == 1 for _, max_threads, _ in policies.values()), policies


def test_the_example_runs_in_its_quick_form():
    done = subprocess.run([sys.executable, "examples/dask_search.py", "--quick"], cwd=ROOT,
                          env=child_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("serial:") for line in lines), done.stdout
    assert any(line.startswith("dask:") for line in lines), done.stdout
    assert "the same scores and best parameters: yes" in lines, done.stdout
    assert any(line.startswith("best parameters:") for line in lines), done.stdout
