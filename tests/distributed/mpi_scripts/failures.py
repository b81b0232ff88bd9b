"""Under mpiexec -n W: one rank (the last) gets bad input, diverges, or is interrupted;
every rank must raise the same error, none may block. Writes OUT_DIR/rank<r>.json with
the error each rank saw. Usage: failures.py OUT_DIR MODE
  bad_x      the last rank's X holds a NaN (caught by fit's input checks)
  bad_y      the last rank's labels are out of range
  epochs     the last rank asks for another number of epochs
  diverge    the last rank's shard has a row that overflows float32 in its 3rd batch
             (the fused float32 step)
  diverge_layered   the same through the layer-by-layer step (the portable kernels)
  nan_stop   as diverge, with fit's default TerminateOnNaN: every rank stops cleanly
  interrupt  the last rank gets SIGINT during a long fit
  interrupt_between  the last rank gets SIGINT in Python between two epochs (a callback)
  long       a long fit (the test sends SIGINT to mpiexec, which forwards it to every rank)"""
import json
import os
import signal
import sys
import threading

import numpy as np
from mpi4py import MPI

import pynn

comm = MPI.COMM_WORLD
rank, W = comm.Get_rank(), comm.Get_size()
out_dir, mode = sys.argv[1], sys.argv[2]
last = rank == W - 1
rng = np.random.default_rng(rank)
n, epochs, terminate_on_nan = 64, 2, False
X = rng.normal(size=(n, 5)).astype(np.float32)
y = rng.integers(0, 3, size=n)
if mode == "bad_x" and last:
    X[5, 2] = np.nan
if mode == "bad_y" and last:
    y[7] = 3
if mode == "epochs" and last:
    epochs = 3
if mode in ("diverge", "diverge_layered", "nan_stop") and last:
    X[2 * 8 + 3] = 3e38  # batch 2 (of 8 rows): its forward overflows to inf
if mode == "nan_stop":
    terminate_on_nan = True
layers = [pynn.Dense(5, 16), pynn.ReLU(), pynn.Dense(16, 3)]
if mode == "diverge_layered":
    pynn._core.set_kernel("blas")  # without the AVX-512 kernels fit takes the layer-by-layer step
if mode in ("interrupt", "interrupt_between", "long"):
    n, epochs = 20000, 1000
    X = rng.normal(size=(n, 64)).astype(np.float32)
    y = rng.integers(0, 3, size=n)
    layers = [pynn.Dense(64, 64), pynn.ReLU(), pynn.Dense(64, 3)]
model = pynn.Sequential(layers, seed=0)
callbacks = []
if last and mode == "interrupt":
    # The signal must land inside fit's epochs: a timer from the script's start fired, on a
    # loaded machine, before fit's first collective, and the ranks then met in different
    # collectives (the interrupted one in the Allreduce below) and hung.
    class InterruptDuringEpoch1(pynn.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                threading.Timer(0.05, lambda: os.kill(os.getpid(), signal.SIGINT)).start()

    callbacks.append(InterruptDuringEpoch1())
if last and mode == "interrupt_between":
    class InterruptAfterEpoch1(pynn.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                os.kill(os.getpid(), signal.SIGINT)  # handled at once, in this Python code

    callbacks.append(InterruptAfterEpoch1())
if mode == "long":
    open(f"{out_dir}/started{rank}", "w").close()
result = {"rank": rank, "error": None, "message": None}
try:
    h = model.fit(X, y, epochs=epochs, batch_size=8, verbose=0, comm=comm, terminate_on_nan=terminate_on_nan,
                  callbacks=callbacks)
    result["history"] = h.history
    result["diverged_epoch"] = h.params.get("diverged_epoch")
except BaseException as exc:  # noqa: BLE001 - KeyboardInterrupt too: report it
    result["error"], result["message"] = type(exc).__name__, str(exc)
params = np.concatenate([p.ravel() for p in model.parameters()])
hi, lo = np.empty_like(params), np.empty_like(params)
comm.Allreduce(params, hi, op=MPI.MAX)
comm.Allreduce(params, lo, op=MPI.MIN)
result["params_agree"] = bool(np.array_equal(hi, lo))
result["params_finite"] = bool(np.isfinite(params).all())
result["epochs_done"] = model.epochs_done
with open(f"{out_dir}/rank{rank}.json", "w") as f:
    json.dump(result, f)
