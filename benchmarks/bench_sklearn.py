"""pynn.MLPClassifier against sklearn.neural_network.MLPClassifier, same hyperparameters.

    python benchmarks/bench_sklearn.py            # the full run (minutes; digits + 60,000 x 784)
    python benchmarks/bench_sklearn.py --quick    # seconds: small sizes, checks the machinery

Data sets: the bundled 8x8 digits (1,797 rows, a stratified 75/25 split) and
pynn.datasets.make_mnist_like: 60,000 training rows x 784 features, 10 classes, and
10,000 held-out rows from the same distribution. Both libraries get the same
hyperparameters (below) and the same float32 arrays; each fit runs in a fresh
subprocess (no warm caches or thread pools shared between the two libraries), with
every core the machine has. Reported: held-out accuracy, fit time (the median of the
repeats), epochs run and the time per epoch. A run on a busy machine says so: the
1-minute load average is printed before and after.

The accuracy is the check that comes first: a speed-up only counts if pynn reaches
scikit-learn's accuracy (the table marks it).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# One set of hyperparameters per data set, given to both libraries unchanged.
SETTINGS = {
    "digits": dict(hidden_layer_sizes=(100,), solver="adam", alpha=1e-4, batch_size=200, learning_rate_init=1e-3,
                   max_iter=200, tol=1e-4, n_iter_no_change=10, random_state=0),
    "mnist_like": dict(hidden_layer_sizes=(256, 128), solver="adam", alpha=1e-4, batch_size=200,
                       learning_rate_init=1e-3, max_iter=15, tol=1e-4, n_iter_no_change=10, random_state=0),
}
QUICK = {
    "digits": dict(SETTINGS["digits"], max_iter=5),
    "mnist_like": dict(SETTINGS["mnist_like"], max_iter=1),
}
SIZES = {"full": {"mnist_like": (60000, 10000)}, "quick": {"mnist_like": (2000, 500)}}


def load(name: str, mode: str):
    import numpy as np

    import pynn

    if name == "digits":
        X, y = pynn.datasets.load_digits()
        train, test = pynn.datasets.train_test_split_indices(len(X), 0.25, seed=0, stratify=y)
        return X[train], y[train], X[test], y[test]
    n_train, n_test = SIZES[mode][name]
    X, y = pynn.datasets.make_mnist_like(n=n_train + n_test, seed=0)
    return (np.ascontiguousarray(X[:n_train]), y[:n_train], np.ascontiguousarray(X[n_train:]), y[n_train:])


def worker(library: str, name: str, mode: str) -> dict:
    """One fit in this process; prints a JSON line with the results."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    Xtr, ytr, Xte, yte = load(name, mode)
    params = (QUICK if mode == "quick" else SETTINGS)[name]
    if library in ("pynn", "pynn-bf16"):
        import pynn
        if library == "pynn-bf16":  # bf16 operands for layers of >= 128 x 128 weights (a no-op where none is)
            pynn.set_float32_matmul_precision("medium")
        est = pynn.MLPClassifier(**params)
    else:
        from sklearn.neural_network import MLPClassifier
        est = MLPClassifier(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        est.fit(Xtr, ytr)
        seconds = time.perf_counter() - start
    return {"library": library, "data": name, "fit_seconds": seconds, "accuracy": float(est.score(Xte, yte)),
            "epochs": int(est.n_iter_), "train_rows": int(len(Xtr)), "test_rows": int(len(Xte))}


def run_worker(library: str, name: str, mode: str, threads: int | None) -> dict:
    env = dict(os.environ)
    if threads:  # both libraries: OpenMP (pynn's core) and OpenBLAS (NumPy's, and pynn's inside its pool)
        env.update(OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", library, name, mode],
                         capture_output=True, text=True, check=False, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{library} on {name} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def versions() -> str:
    import numpy
    import sklearn

    import pynn
    return (f"pynn {pynn.__version__} ({pynn.get_num_threads()} threads), scikit-learn {sklearn.__version__}, "
            f"numpy {numpy.__version__}, {os.cpu_count()} CPUs")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and few epochs (a smoke run)")
    parser.add_argument("--repeats", type=int, default=None, help="fits per library and data set (median taken)")
    parser.add_argument("--data", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for both libraries (default: each library's own default, all cores)")
    parser.add_argument("--output", help="also write the markdown table to this file")
    parser.add_argument("--bf16", action="store_true",
                        help="also fit pynn after set_float32_matmul_precision('medium') (CPUs with AVX512_BF16)")
    parser.add_argument("--worker", nargs=3, metavar=("LIBRARY", "DATA", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return 0
    mode = "quick" if args.quick else "full"
    header = [versions() + (f"; both limited to {args.threads} thread(s)" if args.threads else ""),
              f"1-minute load average before: {os.getloadavg()[0]:.2f}"]
    print("\n".join(header))
    rows = []
    for name in args.data:
        repeats = args.repeats or (1 if args.quick else 3 if name == "digits" else 1)
        libraries = ("sklearn", "pynn") + (("pynn-bf16",) if args.bf16 else ())
        runs = {library: [] for library in libraries}
        for _ in range(repeats):  # interleaved: a load change hits both libraries alike
            for library in libraries:
                runs[library].append(run_worker(library, name, mode, args.threads))
        result = {}
        for library, results in runs.items():
            result[library] = dict(results[0], fit_seconds=statistics.median(r["fit_seconds"] for r in results))
        rows.append((name, result))
        print(f"  {name}: done ({repeats} fit(s) per library)", flush=True)
    header.append(f"1-minute load average after: {os.getloadavg()[0]:.2f}")
    print(header[-1])
    table = render(rows, mode)
    print(table)
    if args.output:
        with open(args.output, "w") as f:
            f.write("\n".join(f"    {line}" for line in header) + "\n\n" + table + "\n")
    return 0


def render(rows, mode: str) -> str:
    lines = ["| data set | rows (train / test) | library | accuracy | fit time (s) | epochs | s / epoch | speed-up |",
             "|---|---|---|---|---|---|---|---|"]
    for name, result in rows:
        sk = result["sklearn"]
        for lib in result:
            r = result[lib]
            speed = ""
            if lib != "sklearn":
                per_epoch = (sk["fit_seconds"] / sk["epochs"]) / (r["fit_seconds"] / r["epochs"])
                ok = "" if r["accuracy"] >= sk["accuracy"] - 0.005 else " (accuracy below scikit-learn's)"
                speed = f"{sk['fit_seconds'] / r['fit_seconds']:.1f}x fit, {per_epoch:.1f}x per epoch{ok}"
            lines.append(f"| {name} | {r['train_rows']:,} / {r['test_rows']:,} | {lib} | {r['accuracy']:.4f} | "
                         f"{r['fit_seconds']:.2f} | {r['epochs']} | {r['fit_seconds'] / r['epochs']:.3f} | {speed} |")
    lines.append("")
    settings = QUICK if mode == "quick" else SETTINGS
    for name, _ in rows:
        lines.append(f"{name}: {', '.join(f'{k}={v}' for k, v in settings[name].items())}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
