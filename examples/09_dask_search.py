"""Hyperparameter search on a Dask cluster: scikit-learn's GridSearchCV over
pynn.MLPClassifier, its fits spread over the workers by joblib's dask backend.

The cluster here is a LocalCluster on this machine (2 worker processes, 1 thread each);
pointed at a real cluster, the same search runs there (docs/distributed.md). Each worker
runs one fit at a time on one thread, so 2 workers keep 2 cores busy without
oversubscribing them. The search's results are the ones a sequential search gives.
Prints the results table, best first, and the best model's accuracy on held-out digits;
writes the table to 09_dask_search.csv. Needs pip install "pynn[dask]".

    python examples/09_dask_search.py [--out DIR]
"""
import argparse
import csv
import time
from pathlib import Path

import joblib
from dask.distributed import Client, LocalCluster
from sklearn.model_selection import GridSearchCV

import pynn

GRID = {
    "hidden_layer_sizes": [(32,), (64,)],
    "alpha": [1e-4, 1e-2],
    "learning_rate_init": [1e-3, 1e-2],
}


def results_table(search):
    """The rows of cv_results_ best first: params, mean and std test score, rank."""
    r = search.cv_results_
    rows = [{"params": params, "mean_test_score": mean, "std_test_score": std, "rank_test_score": rank}
            for params, mean, std, rank in zip(r["params"], r["mean_test_score"], r["std_test_score"],
                                               r["rank_test_score"])]
    return sorted(rows, key=lambda row: row["rank_test_score"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("."), help="directory for 09_dask_search.csv")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    X, y = pynn.datasets.load_digits()
    train, test = pynn.datasets.train_test_split_indices(len(X), 0.25, seed=0, stratify=y)
    # n_iter_no_change/tol let each fit stop when its training loss levels off (no
    # ConvergenceWarning from the workers); random_state makes every fit repeatable.
    model = pynn.MLPClassifier(max_iter=200, batch_size=64, n_iter_no_change=5, tol=1e-3, random_state=0)
    search = GridSearchCV(model, GRID, cv=3, n_jobs=-1)

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      host="127.0.0.1") as cluster, Client(cluster) as client:
        print(f"Dask cluster: {len(client.scheduler_info()['workers'])} workers at {client.scheduler.address}")
        start = time.perf_counter()
        with joblib.parallel_config(backend="dask"):
            search.fit(X[train], y[train])
        seconds = time.perf_counter() - start
    n_fits = len(search.cv_results_["params"]) * search.n_splits_
    print(f"{n_fits} fits ({len(search.cv_results_['params'])} points x {search.n_splits_} folds) "
          f"and the refit in {seconds:.1f} s\n")

    rows = results_table(search)
    print(f"{'rank':>4}  {'mean':>6}  {'std':>6}  params")
    for row in rows:
        print(f"{row['rank_test_score']:>4}  {row['mean_test_score']:.4f}  {row['std_test_score']:.4f}  "
              f"{row['params']}")
    print(f"\nbest: {search.best_params_}, held-out accuracy {search.score(X[test], y[test]):.4f}")

    path = args.out / "09_dask_search.csv"
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {path}")


if __name__ == "__main__":  # the workers are new processes that import this file: start nothing then
    main()
