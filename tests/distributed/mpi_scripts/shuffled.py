"""Under mpiexec -n W: shuffled data-parallel fits (float32 Dropout network: the
layer-by-layer step; float32 Dense-ReLU: the fused step), each run twice from the same
seed, with validation shards. Writes OUT_DIR/rank<r>.json: whether the runs repeat
bit for bit, whether the ranks hold identical parameters, and the History."""
import json
import sys

import numpy as np
from mpi4py import MPI

import pynn

comm = MPI.COMM_WORLD
rank, W = comm.Get_rank(), comm.Get_size()
out_dir = sys.argv[1]
rng = np.random.default_rng(1)
X = rng.normal(size=(301, 10)).astype(np.float32)
y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1)
Xv, yv = X[:90] + 0.1, y[:90]


def same_on_all_ranks(a):
    hi, lo = np.empty_like(a), np.empty_like(a)
    comm.Allreduce(a, hi, op=MPI.MAX)
    comm.Allreduce(a, lo, op=MPI.MIN)
    return bool(np.array_equal(hi, lo))


def run(layers):
    model = pynn.Sequential(layers(), seed=7)
    h = model.fit(X[rank::W], y[rank::W], epochs=3, batch_size=16, optimizer=pynn.Adam(lr=1e-2), shuffle=True,
                  validation_data=(Xv[rank::W], yv[rank::W]), verbose=0, comm=comm)
    return model, h


nets = {
    "dropout": lambda: [pynn.Dense(10, 32), pynn.ReLU(), pynn.Dropout(0.3), pynn.Dense(32, 3)],
    "fused": lambda: [pynn.Dense(10, 32), pynn.ReLU(), pynn.Dense(32, 3)],
}
out = {"rank": rank, "cases": {}}
for name, layers in nets.items():
    m1, h1 = run(layers)
    m2, h2 = run(layers)
    p1 = np.concatenate([p.ravel() for p in m1.parameters()])
    p2 = np.concatenate([p.ravel() for p in m2.parameters()])
    opt = np.concatenate([m1._net.first_moment(), m1._net.second_moment()])
    full = m1.evaluate(Xv, yv)  # every rank: the whole validation set, no comm
    out["cases"][name] = {
        "repeatable": bool(np.array_equal(p1, p2)) and h1.history == h2.history,
        "params_agree": same_on_all_ranks(p1), "optimizer_agree": same_on_all_ranks(opt),
        "history": h1.history, "samples": h1.params["samples"], "full_val": full}
with open(f"{out_dir}/rank{rank}.json", "w") as f:
    json.dump(out, f)
