"""Under mpiexec -n W: rank r fits X[r::W] with batch B (comm=COMM_WORLD); rank 0 also
fits all of X with batch W*B in one process. Writes OUT_DIR/rank<r>.json.
Usage: equivalence.py OUT_DIR [float64|float32]"""
import json
import sys

import numpy as np
from mpi4py import MPI

import pynn

comm = MPI.COMM_WORLD
rank, W = comm.Get_rank(), comm.Get_size()
out_dir = sys.argv[1]
dtype = sys.argv[2] if len(sys.argv) > 2 else "float64"
B = 8
rng = np.random.default_rng(0)
N = 203  # not a multiple of W*B: a short last step, shards of different lengths
X = rng.normal(size=(N, 6))
y = rng.integers(0, 3, size=N)
optimizers = {
    "sgd_momentum": lambda: pynn.SGD(lr=0.05, momentum=0.9),
    "sgd_momentum_wd": lambda: pynn.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2),
    "adam": lambda: pynn.Adam(lr=1e-2),
    "adam_wd": lambda: pynn.Adam(lr=1e-2, weight_decay=1e-2),
    "adamw": lambda: pynn.AdamW(lr=1e-2),
    "adamw_wd": lambda: pynn.AdamW(lr=1e-2, weight_decay=0.1),
}


def model():
    return pynn.Sequential([pynn.Dense(6, 16), pynn.Tanh(), pynn.Dense(16, 12), pynn.ReLU(), pynn.Dense(12, 3)],
                           dtype=dtype, seed=3)


out = {"rank": rank, "size": W, "cases": {}}
for name, make in optimizers.items():
    dist = model()
    h = dist.fit(X[rank::W], y[rank::W], epochs=3, batch_size=B, optimizer=make(), shuffle=False, verbose=0,
                 comm=comm)
    params = np.concatenate([p.ravel() for p in dist.parameters()])
    hi, lo = np.empty_like(params), np.empty_like(params)
    comm.Allreduce(params, hi, op=MPI.MAX)
    comm.Allreduce(params, lo, op=MPI.MIN)
    case = {"loss": h.history["loss"], "accuracy": h.history["accuracy"], "samples": h.params["samples"],
            "ranks_agree": bool(np.array_equal(hi, lo))}
    if rank == 0:
        one = model()
        h1 = one.fit(X, y, epochs=3, batch_size=W * B, optimizer=make(), shuffle=False, verbose=0)
        ref = np.concatenate([p.ravel() for p in one.parameters()])
        case["rel_err"] = float(np.max(np.abs(params - ref)) / np.max(np.abs(ref)))
        case["ref_loss"] = h1.history["loss"]
        case["ref_accuracy"] = h1.history["accuracy"]
        case["opt_step"] = [int(dist._net.opt_step), int(one._net.opt_step)]
    out["cases"][name] = case
with open(f"{out_dir}/rank{rank}.json", "w") as f:
    json.dump(out, f)
