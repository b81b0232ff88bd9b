"""Under mpiexec -n W: rank 0 resumes a model it trained alone (parameters, Adam state,
epoch count); the other ranks start from fresh models with other seeds. fit(comm=...)
must start every rank from rank 0's state: afterwards all ranks agree, and equal one
process that continued rank 0's model on the union batches. Writes OUT_DIR/rank<r>.json."""
import copy
import json
import sys

import numpy as np
from mpi4py import MPI

import pynn

comm = MPI.COMM_WORLD
rank, W = comm.Get_rank(), comm.Get_size()
rng = np.random.default_rng(5)
X = rng.normal(size=(96, 4))
y = rng.integers(0, 3, size=96)
layers = lambda: [pynn.Dense(4, 8), pynn.Tanh(), pynn.Dense(8, 3)]
model = pynn.Sequential(layers(), dtype="float64", seed=10 + rank)
if rank == 0:
    model.fit(X, y, epochs=1, batch_size=16, shuffle=False, verbose=0)  # Adam(lr=1e-3), alone
    reference = copy.deepcopy(model)
model.fit(X[rank::W], y[rank::W], epochs=1, batch_size=8, shuffle=False, verbose=0, comm=comm)
state = np.concatenate([p.ravel() for p in model.parameters()] +
                       [model._net.first_moment(), model._net.second_moment()] + [np.array([float(model._net.opt_step)])])
hi, lo = np.empty_like(state), np.empty_like(state)
comm.Allreduce(state, hi, op=MPI.MAX)
comm.Allreduce(state, lo, op=MPI.MIN)
out = {"rank": rank, "agree": bool(np.array_equal(hi, lo)), "opt_step": int(model._net.opt_step),
       "epochs_done": model.epochs_done}
if rank == 0:
    reference.fit(X, y, epochs=1, batch_size=8 * W, shuffle=False, verbose=0)
    ref = np.concatenate([p.ravel() for p in reference.parameters()] +
                         [reference._net.first_moment(), reference._net.second_moment()] +
                         [np.array([float(reference._net.opt_step)])])
    out["rel_err"] = float(np.max(np.abs(state - ref)) / np.max(np.abs(ref)))
with open(f"{sys.argv[1]}/rank{rank}.json", "w") as f:
    json.dump(out, f)
