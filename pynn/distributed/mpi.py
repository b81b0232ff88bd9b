"""Data-parallel training over MPI: `Sequential.fit(X_local, y_local, ..., comm=comm)`.

Every process of the communicator calls fit with its own shard of the rows. Python does
the per-fit work with mpi4py (agreeing that every process's arguments are good, the
broadcast of rank 0's parameters and optimizer state, the per-epoch validation and stop
decisions); the per-step work is the core's: train_epoch sums each step's gradient
buffer across the processes itself, through a Reducer that calls the MPI_Allreduce of
the libmpi mpi4py loaded (csrc/distributed/mpi_reducer.cpp), with no Python per step.

Supported: MPICH and its ABI (the `mpich` wheel from PyPI, Intel MPI, MVAPICH), whose
handles are C ints. Other MPIs (Open MPI: handles are pointers) are refused with a
ValueError naming comm.

May import: the base and pynn._core (MpiReducer: this module is its door); mpi4py lazily. The model is read through its public accessors."""
from __future__ import annotations

import os
import signal
import threading

import numpy as np

from .. import _core

__all__ = ["fit_data_parallel", "make_reducer", "MpiRun", "DataParallelError"]


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("fit(comm=...) needs mpi4py and an MPI library: pip install 'pynn[mpi]'") from exc
    return MPI


def _loaded_libmpi() -> str:
    """The path of the libmpi this process has loaded (mpi4py loads it on import)."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as f:
            paths = {line.split(maxsplit=5)[-1].strip() for line in f if "libmpi" in line}
    except OSError:
        paths = set()
    found = sorted(p for p in paths if os.path.basename(p).startswith(("libmpi.so", "libmpich.so")))
    if not found and any(os.path.basename(p).startswith("libmpi_abi") for p in paths):
        raise ValueError("comm: mpi4py runs on the MPI standard ABI (libmpi_abi.so), whose handles are pointers; "
                         "pynn's data-parallel step supports MPICH's own ABI (libmpi.so.12, mpi4py's default "
                         "with the mpich wheel)")
    if not found:
        raise ValueError("comm: no libmpi.so is loaded in this process (looked in /proc/self/maps); "
                         "pynn's data-parallel step calls the MPI library mpi4py loaded")
    return found[0]


def make_reducer(comm) -> _core.MpiReducer:
    """A core Reducer over `comm` (an mpi4py intracommunicator), after checking the MPI
    is one whose handles are C ints (MPICH's ABI)."""
    MPI = _mpi()
    if not isinstance(comm, MPI.Intracomm):
        raise TypeError(f"comm must be an mpi4py intracommunicator (e.g. MPI.COMM_WORLD), got {type(comm).__name__}")
    if comm == MPI.COMM_NULL:
        raise ValueError("comm must be a valid communicator, got MPI.COMM_NULL")
    names = {"comm": comm, "MPI.FLOAT": MPI.FLOAT, "MPI.DOUBLE": MPI.DOUBLE, "MPI.INT64_T": MPI.INT64_T,
             "MPI.SUM": MPI.SUM, "MPI.MAX": MPI.MAX}
    handles = {name: MPI._handleof(obj) for name, obj in names.items()}
    version = MPI.Get_library_version().splitlines()[0].strip()
    odd = [name for name, h in handles.items() if not isinstance(h, int) or not -2**31 <= h < 2**31]
    if odd or "Open MPI" in version:
        raise ValueError(f"comm: pynn's data-parallel training supports MPIs whose handles are C ints (MPICH and "
                         f"its ABI, e.g. `pip install mpich`); got a communicator of {version!r} "
                         f"(handle {handles['comm']!r})")
    return _core.MpiReducer(_loaded_libmpi(), handles["comm"], handles["MPI.FLOAT"], handles["MPI.DOUBLE"],
                            handles["MPI.INT64_T"], handles["MPI.SUM"], handles["MPI.MAX"], int(MPI.IN_PLACE))


class DataParallelError(RuntimeError):
    """A process of a data-parallel fit failed before training; raised on every process."""


class MpiRun:
    """One data-parallel fit: the communicator, the core reducer, and the collectives
    fit makes outside the step loop. Sequential.fit finds it in `model._data_parallel`."""

    def __init__(self, comm):
        self.reducer = make_reducer(comm)
        self.comm = comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.started = False
        self.interrupted_on = 0  # processes that asked to stop after an epoch's last step

    # -------------------------------------------------------------- before the first step
    def agree(self, failure: BaseException | None, facts: dict | None = None) -> None:
        """The first collective of a fit: every process says whether its arguments were
        good (and, when they were, the facts that must match). Any failure, or a fact
        that differs, raises the same error on every process."""
        report = None if failure is None else (type(failure).__name__, str(failure))
        reports = self.comm.allgather((report, facts))
        self.started = True  # the others got past this collective too
        failed = [(r, rep) for r, (rep, _) in enumerate(reports) if rep is not None]
        if failed:
            r, (kind, text) = failed[0]
            more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
            cls = {"ValueError": ValueError, "TypeError": TypeError}.get(kind, DataParallelError)
            if all(k == kind for _, (k, _) in failed) and cls is not DataParallelError:
                raise cls(f"fit(comm=...): rank {r} of {self.size}{more}: {text}") from failure
            raise DataParallelError(f"fit(comm=...): rank {r} of {self.size}{more} failed: {kind}: {text}") from failure
        for key in facts:
            values = [f[key] for _, f in reports]
            if any(v != values[0] for v in values):
                raise ValueError(f"fit(comm=...): {key} must be the same on every process, got "
                                 + ", ".join(f"rank {r}: {v!r}" for r, v in enumerate(values)))

    def begin(self, model, params: dict, validation, shuffle: bool) -> None:
        """Agree, then give every process rank 0's parameters and optimizer state."""
        if not isinstance(model.loss, str):
            raise ValueError("comm needs a built-in loss (softmax_cross_entropy, binary_cross_entropy, mse), "
                             "got a custom loss function (it runs per batch in Python)")
        opt = model.optimizer
        facts = {"epochs": params["epochs"], "dtype": model.dtype, "layers": repr(model.layers),
                 "loss": model.loss, "optimizer": repr(opt), "validation": validation is not None,
                 "shuffle": bool(shuffle)}
        self.agree(None, facts)
        state = model.state()
        self.comm.Bcast(state.params, root=0)
        # A resumed run's optimizer state (an empty one broadcasts zeros: harmless).
        for buffer in state.optimizer_buffers:
            self.comm.Bcast(buffer, root=0)
        state.opt_step, state.optimizer_kind, model.epochs_done = self.comm.bcast(
            (state.opt_step, state.optimizer_kind, model.epochs_done), root=0)
        params["samples"] = self.comm.allreduce(params["samples"])
        # Per epoch, this process's seconds inside the core's reductions (MPI_Allreduce
        # calls, waiting for the slowest process included): what data parallelism costs.
        params["reduce_seconds"] = self._reduce_seconds = []
        self.reducer.seconds, self.reducer.calls = 0.0, 0

    # -------------------------------------------------------------- once per epoch
    def evaluate(self, model, X, targets, rows=None) -> dict:
        """Validation over all processes' validation shards: each evaluates its own (the
        rows of X that `rows` lists, all when None), the sums are reduced (the global mean
        loss and accuracy, the same on every process)."""
        n = X.shape[0] if rows is None else len(rows)
        sums = np.zeros(3)  # loss * rows, hits, accuracy's denominator
        if n:
            loss, hits, denominator = model._evaluate_counts(X, targets, rows)
            sums[:] = loss * n, hits, denominator or 0
        out = np.empty(4)
        self.comm.Allreduce(np.append(sums, float(n)), out)
        result = {"loss": out[0] / out[3]}
        if model.is_classifier:
            result["accuracy"] = out[1] / out[2]
        return result

    def end_epoch(self, stop_training: bool) -> bool:
        """After an epoch's callbacks: records the epoch's reduction time, and returns
        True on every process when one wants to stop (a callback's decision, or a Ctrl-C
        that came after the epoch's last step: then fit_data_parallel raises
        KeyboardInterrupt on every process)."""
        self._reduce_seconds.append(self.reducer.seconds)
        self.reducer.seconds = 0.0
        flags = np.array([bool(stop_training), self.reducer.stop_requested], dtype=np.int64)
        total = np.empty_like(flags)
        self.comm.Allreduce(flags, total)  # how many processes want to stop, how many were interrupted
        self.interrupted_on = int(total[1])
        return bool(total[0] or total[1])


def fit_data_parallel(model, comm, fit_args: dict):
    """Sequential.fit(..., comm=comm): the same fit on every process, model._data_parallel
    set for its duration so fit's few data-parallel hooks find the run."""
    if getattr(model, "_data_parallel", None) is not None:
        raise ValueError("fit(comm=...) is already running on this model")
    run = MpiRun(comm)
    model._data_parallel = run
    # Ctrl-C must not raise on this process alone while the others wait in a collective:
    # the handler only asks the core to stop, and every process stops at the same step
    # (or, after the last step, at end_epoch's agreement). A handler the user installed,
    # or SIGINT ignored, is left as it is.
    own_handler = (threading.current_thread() is threading.main_thread()
                   and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    if own_handler:
        signal.signal(signal.SIGINT, lambda signum, frame: setattr(run.reducer, "stop_requested", True))
    try:
        history = model.fit(**fit_args)
    except BaseException as exc:
        if not run.started:  # failed before the agreement: the others wait in it for this one
            run.agree(exc)
        raise
    finally:
        model._data_parallel = None
        if own_handler:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    if run.interrupted_on:
        raise KeyboardInterrupt(f"interrupted (on {run.interrupted_on} of {run.size} processes)")
    return history
