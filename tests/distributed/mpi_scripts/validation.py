"""Under mpiexec -n W: each rank fits its rows X[r::W] with validation_split (the held-out
rows are listed, not copied, by fit) from a float32 X given to a float64 model (fit
converts it once, so every rank takes one core epoch per epoch). Writes OUT_DIR/rank<r>.json.
Usage: validation.py OUT_DIR"""
import json
import sys

import numpy as np
from mpi4py import MPI

import pynn

comm = MPI.COMM_WORLD
rank, W = comm.Get_rank(), comm.Get_size()
rng = np.random.default_rng(1)
X = rng.normal(size=(301, 5)).astype(np.float32)
y = rng.integers(0, 3, size=301)
model = pynn.Sequential([pynn.Dense(5, 12), pynn.ReLU(), pynn.Dense(12, 3)], dtype="float64", seed=2)
h = model.fit(X[rank::W], y[rank::W], epochs=3, batch_size=16, validation_split=0.25, verbose=0, comm=comm)
params = np.concatenate([p.ravel() for p in model.parameters()])
hi, lo = np.empty_like(params), np.empty_like(params)
comm.Allreduce(params, hi, op=MPI.MAX)
comm.Allreduce(params, lo, op=MPI.MIN)
with open(f"{sys.argv[1]}/rank{rank}.json", "w") as f:
    json.dump({"rank": rank, "history": h.history, "ranks_agree": bool(np.array_equal(hi, lo)),
               "finite": bool(np.isfinite(params).all())}, f)
