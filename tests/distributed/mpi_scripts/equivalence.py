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


def model(loss):
    return pynn.Sequential([pynn.Dense(6, 16), pynn.Tanh(), pynn.Dense(16, 12), pynn.ReLU(), pynn.Dense(12, 3)],
                           loss=loss, dtype=dtype, seed=3)


# The other losses (their mean is over rows x outputs) and sample weights: (loss, targets, weights).
sample_weight = rng.uniform(0.5, 2.0, size=N)
losses = {"softmax_cross_entropy": (y, None), "mse": (rng.normal(size=(N, 3)), None),
          "binary_cross_entropy_weighted": ((rng.uniform(size=(N, 3)) > 0.5).astype(float), sample_weight)}
cases = [(name, make, "softmax_cross_entropy") for name, make in optimizers.items()]
cases += [(f"{loss}_adam", optimizers["adam"], loss) for loss in losses if loss != "softmax_cross_entropy"]

out = {"rank": rank, "size": W, "cases": {}}
for name, make, loss in cases:
    t, w = losses[loss]
    kind = loss.replace("_weighted", "")
    dist = model(kind)
    h = dist.fit(X[rank::W], t[rank::W], epochs=3, batch_size=B, optimizer=make(), shuffle=False, verbose=0,
                 sample_weight=None if w is None else w[rank::W], comm=comm)
    params = np.concatenate([p.ravel() for p in dist.parameters()])
    hi, lo = np.empty_like(params), np.empty_like(params)
    comm.Allreduce(params, hi, op=MPI.MAX)
    comm.Allreduce(params, lo, op=MPI.MIN)
    case = {"loss": h.history["loss"], "accuracy": h.history.get("accuracy"), "samples": h.params["samples"],
            "ranks_agree": bool(np.array_equal(hi, lo))}
    if rank == 0:
        one = model(kind)
        h1 = one.fit(X, t, epochs=3, batch_size=W * B, optimizer=make(), shuffle=False, verbose=0, sample_weight=w)
        ref = np.concatenate([p.ravel() for p in one.parameters()])
        case["rel_err"] = float(np.max(np.abs(params - ref)) / np.max(np.abs(ref)))
        case["ref_loss"] = h1.history["loss"]
        case["ref_accuracy"] = h1.history.get("accuracy")
        case["opt_step"] = [int(dist._net.opt_step), int(one._net.opt_step)]
    out["cases"][name] = case
with open(f"{out_dir}/rank{rank}.json", "w") as f:
    json.dump(out, f)
