"""Under mpiexec -n 2: the fused float32 step on 2 threads per process (the reduction runs
on the calling thread between the dW and update phases, the other thread waiting at the
barrier), optionally under "medium" precision. Writes OUT_DIR/rank<r>.json.
Usage: threads.py OUT_DIR [highest|medium]"""
import json
import sys

import numpy as np
from mpi4py import MPI

import pynn

comm = MPI.COMM_WORLD
rank, W = comm.Get_rank(), comm.Get_size()
pynn.set_num_threads(2)
precision = sys.argv[2] if len(sys.argv) > 2 else "highest"
if precision == "medium" and not pynn._core.bf16_supported():
    precision = "highest"
pynn.set_float32_matmul_precision(precision)
X, y = pynn.datasets.make_mnist_like(1536, seed=0)
layers = lambda: [pynn.Dense(784, 256), pynn.ReLU(), pynn.Dense(256, 128), pynn.ReLU(), pynn.Dense(128, 10)]
model = pynn.Sequential(layers(), seed=0)
plan = model.kernel_plan(128)
model.fit(X[rank::W], y[rank::W], epochs=1, batch_size=128, shuffle=False, verbose=0, comm=comm)
p = np.concatenate([a.ravel() for a in model.parameters()])
hi, lo = np.empty_like(p), np.empty_like(p)
comm.Allreduce(p, hi, op=MPI.MAX)
comm.Allreduce(p, lo, op=MPI.MIN)
out = {"rank": rank, "precision": precision, "threads": [s["threads"] for s in plan],
       "agree": bool(np.array_equal(hi, lo))}
if rank == 0:
    one = pynn.Sequential(layers(), seed=0)
    one.fit(X, y, epochs=1, batch_size=128 * W, shuffle=False, verbose=0)
    q = np.concatenate([a.ravel() for a in one.parameters()])
    out["rel_err"] = float(np.abs(p - q).max() / np.abs(q).max())
with open(f"{sys.argv[1]}/rank{rank}.json", "w") as f:
    json.dump(out, f)
