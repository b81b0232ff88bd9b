"""Under mpiexec -n 1: what fit(comm=...) refuses before any collective. Writes OUT_DIR/rank0.json."""
import json
import sys

import numpy as np
from mpi4py import MPI

import pynn
from pynn.distributed import mpi as dmpi

out = {"rank": MPI.COMM_WORLD.Get_rank()}
X, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])


def error_of(fn):
    try:
        fn()
    except Exception as exc:  # noqa: BLE001
        return [type(exc).__name__, str(exc)]
    return None


model = pynn.Sequential([pynn.Dense(2, 2)], seed=0)
out["not_a_comm"] = error_of(lambda: model.fit(X, y, verbose=0, comm="world"))
out["custom_loss"] = error_of(lambda: pynn.Sequential([pynn.Dense(2, 1)], loss=lambda o, t: ((o - t) ** 2).mean())
                              .fit(X, y.astype(float), verbose=0, comm=MPI.COMM_WORLD))
real = MPI.Get_library_version
MPI.Get_library_version = lambda: "Open MPI v5.0.5, package: Open MPI"
out["open_mpi"] = error_of(lambda: model.fit(X, y, verbose=0, comm=MPI.COMM_WORLD))
MPI.Get_library_version = real
h = model.fit(X, y, epochs=2, verbose=0, comm=MPI.COMM_WORLD)  # one process: a plain fit
out["one_rank_loss"] = h.history["loss"]
with open(f"{sys.argv[1]}/rank0.json", "w") as f:
    json.dump(out, f)
