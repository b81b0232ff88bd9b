"""`pynn train [CONFIG.toml]`: a model trained as the config (or the defaults) says, on
one process or data-parallel over MPI, reported on its held-out rows and saved.

May import: pynn.cli.config, pynn.cli.errors, the rooms below pynn.cli; mpi4py lazily."""
from __future__ import annotations

import json
import os

import numpy as np

from .._files import atomic_write, finite_json
from .._version import __version__
from ..datasets import train_test_split_indices
from ..nn.sequential import DivergenceError
from ..nn.threads import set_num_threads
from ..training.data_sources import CsvChunks
from .config import TrainConfig, parse_config
from .errors import CliError

__all__ = ["train_command"]


def train_command(args) -> int:
    """`pynn train [CONFIG.toml]`: train, report on the held-out rows, save."""
    cfg = parse_config(args.config) if args.config else TrainConfig()
    for key in ("epochs", "batch_size", "seed", "output"):  # command-line flags win over the file
        if getattr(args, key) is not None:
            setattr(cfg, key, getattr(args, key))
    if args.lr is not None:
        cfg.optimizer["lr"] = args.lr
    for key in ("output", "history"):  # fail before training, not after it
        target = getattr(cfg, key)
        problem = None
        if target and not os.path.isdir(os.path.dirname(os.path.abspath(target))):
            problem = f"the directory of {target!r} does not exist"
        elif target and os.path.isdir(target):
            problem = f"{target!r} is a directory; give a file name"
        if problem and key == "output" and args.output is not None:
            raise CliError(f"--output: {problem}")
        if problem:
            cfg.fail(key, problem)
    comm = _communicator(cfg)
    rank, size = (comm.Get_rank(), comm.Get_size()) if comm is not None else (0, 1)
    say = print if rank == 0 else (lambda *args, **kwargs: None)  # rank 0 reports and writes
    X, y, classes, what = cfg.load_data()
    if isinstance(X, CsvChunks):
        if comm is not None:
            cfg.fail("distributed.backend", f"{what} is read in chunks (more than data.chunk_rows = "
                                            f"{X.chunk_rows} rows), which data-parallel training does not "
                                            f"shard; raise data.chunk_rows or train in one process")
        return _train_on_chunks(cfg, X, y, classes, what)
    model = cfg.build_model(X.shape[1])
    optimizer = cfg.build_optimizer()
    train, test = np.arange(len(X)), np.arange(0)
    if cfg.validation_split > 0:
        stratify = y if model.loss == "softmax_cross_entropy" and y.ndim == 1 else None
        train, test = train_test_split_indices(len(X), cfg.validation_split, seed=cfg.seed,
                                                       stratify=stratify)
        if len(train) == 0:
            cfg.fail("train.validation_split", f"{cfg.validation_split} leaves no training rows of the {len(X)}")
    held_out = (X[test], y[test]) if len(test) else None
    say(f"pynn {__version__}: training on {what} ({len(train)} train / {len(test)} held-out rows)"
        + (f", data-parallel over {size} MPI processes (batch_size {cfg.batch_size} each)" if comm is not None else ""))
    model.summary(print_fn=say)
    if comm is not None:
        # Data-parallel: each process trains on, and validates with, its rows r::size.
        train, test = train[rank::size], test[rank::size]
        _fit(cfg, model, X[train], y[train], optimizer=optimizer, shuffle=cfg.shuffle,
             validation_data=(X[test], y[test]) if held_out is not None else None,
             verbose=2 if rank == 0 else 0, comm=comm)
        if rank != 0:
            return 0
    else:
        # Without held-out rows X goes to fit as it is: a memory-mapped .npy is then read in place.
        X_train, y_train = (X[train], y[train]) if len(test) else (X, y)
        _fit(cfg, model, X_train, y_train, optimizer=optimizer, shuffle=cfg.shuffle, validation_data=held_out)
    return _finish(cfg, model, held_out, classes)


def _train_on_chunks(cfg, chunks, y, classes, what) -> int:
    """A CSV of more than data.chunk_rows rows: fit reads it chunk by chunk every epoch
    (rows shuffled within each chunk), so it need not fit in memory."""
    if cfg.validation_split > 0:
        cfg.fail("train.validation_split", f"{what} has {chunks.n_rows} rows, more than data.chunk_rows = "
                                           f"{chunks.chunk_rows}, so it is read in chunks, which hold no rows out; "
                                           f"set train.validation_split = 0 (or raise data.chunk_rows)")
    model = cfg.build_model(len(chunks.feature_cols))
    print(f"pynn {__version__}: training on {what} ({chunks.n_rows} rows, read {chunks.chunk_rows} at a time)")
    model.summary()
    _fit(cfg, model, chunks.pairs(y), optimizer=cfg.build_optimizer(), shuffle=cfg.shuffle)
    return _finish(cfg, model, None, classes)


def _fit(cfg, model, X, y=None, verbose=2, **kwargs) -> None:
    try:
        model.fit(X, y, epochs=cfg.epochs, batch_size=cfg.batch_size, verbose=verbose, **kwargs)
    except (ValueError, TypeError) as exc:
        if isinstance(exc, DivergenceError):
            raise
        cfg.fail("data", str(exc))  # labels that do not fit the loss or the output layer


def _finish(cfg, model, held_out, classes) -> int:
    """Report on the held-out rows, save the model and the history."""
    if held_out is not None:
        result = model.evaluate(*held_out)
        if "accuracy" in result:
            print(f"held-out accuracy: {result['accuracy']:.4f}  (loss {result['loss']:.4f})")
        else:
            print(f"held-out loss: {result['loss']:.4f}")
    if cfg.output:
        meta = {"classes": json.dumps(classes.tolist())} if classes is not None else {}
        if cfg.data["source"] == "csv":  # so evaluate/predict find (or leave out) the same column
            meta["label_column"] = json.dumps(cfg.data.get("label", "label"))
        model.save(cfg.output, metadata=meta)
        print(f"saved the model to {cfg.output}")
    if cfg.history:
        atomic_write(cfg.history, [json.dumps(finite_json(model.history.history), indent=1).encode()])
        print(f"saved the history to {cfg.history}")
    return 0


def _communicator(cfg: TrainConfig):
    """MPI.COMM_WORLD when the config has [distributed] backend = "mpi", else None. Unless
    OMP_NUM_THREADS says otherwise, the processes on one machine share its cores (each
    process defaulting to all cores would oversubscribe them: ~10x slower epochs here)."""
    if cfg.distributed is None:
        return None
    try:
        from mpi4py import MPI
    except ImportError:
        cfg.fail("distributed.backend", "\"mpi\" needs mpi4py and an MPI: pip install 'pynn[mpi]', then run "
                                        "mpiexec -n 2 pynn train CONFIG.toml")
    if "OMP_NUM_THREADS" not in os.environ:
        local = MPI.COMM_WORLD.Split_type(MPI.COMM_TYPE_SHARED)
        set_num_threads(max(1, (os.cpu_count() or 1) // local.Get_size()))
        local.Free()
    return MPI.COMM_WORLD
