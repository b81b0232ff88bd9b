"""Epoch time of data-parallel training (fit(comm=...)) on the MNIST-shaped benchmark of
bench_train.py: 60,000 x 784 float32 rows, 784-256-ReLU-128-ReLU-10, softmax
cross-entropy, Adam(lr=1e-3), one thread per process (--threads).

    python benchmarks/bench_mpi.py --batch 128                   # 1 process
    mpiexec -n 2 python benchmarks/bench_mpi.py --batch 128      # 2 processes, 128 rows each per step
    mpiexec -n 2 python benchmarks/bench_mpi.py --batch 64       # 2 processes, 128 rows per step in all

Each process trains on rows r::size. Before timing it checks that after the timed epochs
every process holds the same parameters and the held-out loss is finite and below
chance. Prints (rank 0) one JSON line: per repeat the wall time of a one-epoch fit
(the slowest process) and the seconds inside the core's MPI_Allreduce calls."""
import argparse
import json
import math
import time

import numpy as np

import pynn


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=128, help="rows per step on each process")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="threads per process")
    args = ap.parse_args()
    try:
        from mpi4py import MPI
        comm = MPI.COMM_WORLD
    except ImportError:
        comm = None
    rank, size = (comm.Get_rank(), comm.Get_size()) if comm is not None else (0, 1)
    pynn.set_num_threads(args.threads)
    X, y = pynn.datasets.make_mnist_like(70000, seed=0)
    X, y, Xv, yv = X[:60000], y[:60000], X[60000:], y[60000:]
    Xr, yr = np.ascontiguousarray(X[rank::size]), y[rank::size]
    use = comm if size > 1 else None
    layers = lambda: [pynn.Dense(784, 256), pynn.ReLU(), pynn.Dense(256, 128), pynn.ReLU(), pynn.Dense(128, 10)]
    warm = pynn.Sequential(layers(), seed=1)
    warm.fit(Xr[:2000], yr[:2000], epochs=1, batch_size=args.batch, verbose=0, comm=use)
    times, reduce_s = [], []
    for _ in range(args.repeats):
        model = pynn.Sequential(layers(), seed=0)
        if comm is not None:
            comm.Barrier()
        time.sleep(0.3)  # idle thread pools stop spinning
        t0 = time.perf_counter()
        h = model.fit(Xr, yr, epochs=1, batch_size=args.batch, optimizer=pynn.Adam(lr=1e-3), shuffle=True,
                      verbose=0, comm=use)
        took = time.perf_counter() - t0
        if comm is not None:
            took = comm.allreduce(took, op=MPI.MAX)
        times.append(took)
        reduce_s.append(h.params.get("reduce_seconds", [0.0])[0])
        params = np.concatenate([p.ravel() for p in model.parameters()])
        if comm is not None:
            hi, lo = np.empty_like(params), np.empty_like(params)
            comm.Allreduce(params, hi, op=MPI.MAX)
            comm.Allreduce(params, lo, op=MPI.MIN)
            assert np.array_equal(hi, lo), "the processes' parameters differ"
        held_out = model.evaluate(Xv, yv)["loss"]
        assert math.isfinite(held_out) and held_out < math.log(10), held_out
    if rank == 0:
        print(json.dumps({"processes": size, "threads": args.threads, "batch_per_process": args.batch, "global_batch": args.batch * size,
                          "epoch_seconds": times, "median": float(np.median(times)),
                          "reduce_seconds": reduce_s, "reduce_median": float(np.median(reduce_s)),
                          "held_out_loss": held_out}))


if __name__ == "__main__":
    main()
