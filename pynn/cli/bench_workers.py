"""The timed runs of `pynn bench` (pynn/cli/bench.py), each in a fresh process started as
`python -m pynn.cli.bench --worker JOB`: one epoch of a framework at a batch size, the
check of pynn's first step against pynn.reference, inference, the FMA peak.

May import: every room below pynn.cli; torch, scikit-learn and threadpoolctl lazily (optional)."""
from __future__ import annotations

import contextlib
import json
import os
import statistics
import time
import warnings

import numpy as np

from .. import reference as R
from ..nn import machine
from ..nn.layers import Dense, ReLU
from ..nn.optimizers import Adam
from ..nn.precision import set_float32_matmul_precision
from ..nn.sequential import Sequential
from ..nn.threads import set_num_threads

SIZES = [784, 256, 128, 10]


def _load(data_dir):
    d = {k: np.load(os.path.join(data_dir, f"{k}.npy")) for k in ["X", "y", "Xt", "yt", "perm"]}
    return d["X"], d["y"], d["Xt"], d["yt"], d["perm"]


def _heldout_loss(logits, y) -> float:
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())


def _pynn_model(seed=0):
    return Sequential([Dense(784, 256), ReLU(), Dense(256, 128), ReLU(),
                            Dense(128, 10)], loss="softmax_cross_entropy", seed=seed)


def _limit_numpy_blas(threads):
    """NumPy's own OpenBLAS (not pynn's vendored copy) to `threads` threads."""
    try:
        import threadpoolctl
    except ImportError:
        return
    np_dir = os.path.dirname(np.__file__)
    for lib in threadpoolctl.ThreadpoolController().lib_controllers:
        if lib.internal_api == "openblas" and os.path.realpath(lib.filepath).startswith(os.path.dirname(np_dir)) \
                and "pynn" not in lib.filepath:
            lib.set_num_threads(threads)


def _settle():
    """Let idle thread pools go to sleep before timing: OpenBLAS's server threads spin
    for ~0.1 s after they start or finish work, on the cores the timed run needs."""
    time.sleep(0.3)


def run_one(fw: str, batch: int, data_dir: str, threads: int) -> dict:
    """Time one epoch of `fw` at `batch`; returns seconds and the held-out loss."""

    X, y, Xt, yt, perm = _load(data_dir)
    nw = min(1024, len(Xt))  # warm-up rows
    init = _pynn_model()  # the shared initial parameters (pynn's initializers, seed 0)
    params = [p.copy() for p in init.parameters()]
    if fw in ("pynn", "pynn-bf16"):
        _limit_numpy_blas(1)  # NumPy's pool idles; pynn's OpenMP team owns the cores
        set_num_threads(threads)
        set_float32_matmul_precision("medium" if fw == "pynn-bf16" else "highest")
        warm = _pynn_model(1)
        warm.fit(Xt[:nw], yt[:nw], epochs=1, batch_size=batch, verbose=0)
        model = _pynn_model()
        _settle()
        t0 = time.perf_counter()
        model.fit(X, y, epochs=1, batch_size=batch, optimizer=Adam(lr=1e-3), shuffle=True, verbose=0)
        seconds = time.perf_counter() - t0
        logits = model.forward(Xt)
    elif fw == "numpy":
        _limit_numpy_blas(threads)
        configs = [layer.get_config() for layer in init.layers]
        R.MLP(configs, params, "softmax_cross_entropy").fit_epoch(Xt[:nw], yt[:nw], batch, R.Adam(lr=1e-3),
                                                                  np.arange(nw))
        ref = R.MLP(configs, params, "softmax_cross_entropy")
        _settle()
        t0 = time.perf_counter()
        ref.fit_epoch(X, y, batch, R.Adam(lr=1e-3), perm)
        seconds = time.perf_counter() - t0
        logits = ref.forward(Xt)
    elif fw in ("torch", "torch-bf16"):

        import torch
        torch.set_num_threads(threads)
        _limit_numpy_blas(1)

        def make():
            net = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128),
                                      torch.nn.ReLU(), torch.nn.Linear(128, 10))
            with torch.no_grad():
                for p, q in zip(net.parameters(), params):
                    p.copy_(torch.from_numpy(q))
            return net, torch.optim.Adam(net.parameters(), lr=1e-3)

        def epoch(net, opt, Xs, ys, order):
            for start in range(0, len(order), batch):
                idx = order[start:start + batch]
                xb, yb = Xs.index_select(0, idx), ys.index_select(0, idx)
                opt.zero_grad(set_to_none=True)
                with autocast():
                    loss = torch.nn.functional.cross_entropy(net(xb), yb)
                loss.backward()
                opt.step()

        def autocast():
            return torch.autocast("cpu", dtype=torch.bfloat16) if fw == "torch-bf16" else contextlib.nullcontext()

        Xs, ys = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
        net, opt = make()
        epoch(net, opt, torch.from_numpy(Xt[:nw]), torch.from_numpy(yt[:nw].astype(np.int64)), torch.arange(nw))
        net, opt = make()
        order = torch.from_numpy(perm)
        _settle()
        t0 = time.perf_counter()
        epoch(net, opt, Xs, ys, order)
        seconds = time.perf_counter() - t0
        with torch.no_grad():
            logits = net(torch.from_numpy(Xt)).numpy()
    elif fw == "sklearn":
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
        _limit_numpy_blas(threads)

        def make():
            return MLPClassifier(hidden_layer_sizes=(256, 128), activation="relu", solver="adam", alpha=0.0,
                                 batch_size=batch, learning_rate_init=1e-3, max_iter=1, shuffle=True,
                                 random_state=0, tol=0.0, n_iter_no_change=10 ** 9)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            make().fit(Xt[:nw], yt[:nw])
            clf = make()
            _settle()
            t0 = time.perf_counter()
            clf.fit(X, y)
            seconds = time.perf_counter() - t0
        proba = np.clip(clf.predict_proba(Xt), 1e-12, 1.0)
        logits = np.log(proba)
    else:
        raise ValueError(f"unknown framework {fw!r}")
    return {"fw": fw, "batch": batch, "seconds": seconds, "heldout_loss": _heldout_loss(logits, yt)}


def run_validate_step(data_dir: str, threads: int) -> dict:
    """pynn's gradients and first Adam step on 128 rows against pynn.reference (float32)."""

    set_num_threads(threads)
    X, y, _, _, perm = _load(data_dir)
    idx = perm[:128]
    model = _pynn_model()
    ref = R.MLP([layer.get_config() for layer in model.layers], [p.copy() for p in model.parameters()],
                "softmax_cross_entropy")
    model.loss_and_gradients(X[idx], y[idx])
    _, ref_grads = ref.loss_and_gradients(X[idx], y[idx])
    grad_err = max(float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12))
                   for a, b in zip(model.gradients(), ref_grads))
    ref.step = 0
    loss = model.train_step(X[idx], y[idx], optimizer=Adam(lr=1e-3))
    ref_loss = ref.train_step(X[idx], y[idx], R.Adam(lr=1e-3))
    # Adam's first step is ~lr * sign(g) where |g| >> eps, but g / (|g| + eps) where a
    # gradient is ~eps: those few parameters amplify float32 rounding. Hence a bound in
    # units of lr for the step, and a tight relative one for the gradients.
    step_err = max(float(np.max(np.abs(a - b))) for a, b in zip(model.parameters(), ref.params)) / 1e-3
    plans = {}
    for precision in ("highest", "medium"):
        set_float32_matmul_precision(precision)
        plans[precision] = [p["kernel"] for p in model.kernel_plan(128)]
    set_float32_matmul_precision("highest")
    return {"loss": float(loss), "ref_loss": float(ref_loss), "grad_rel_err": grad_err, "step_err_lr": step_err,
            "kernel": machine.get_kernel(), "cpu": machine.cpu_info(), "plans": plans}


def run_inference(data_dir: str, threads: int, repeats: int, precision: str = "highest") -> dict:
    _limit_numpy_blas(1)
    set_num_threads(threads)
    set_float32_matmul_precision(precision)
    X = _load(data_dir)[0]
    model = _pynn_model()
    model.predict_proba(X[:4096])
    times = []
    for _ in range(repeats):
        _settle()
        t0 = time.perf_counter()
        model.predict_proba(X)
        times.append(time.perf_counter() - t0)
    return {"rows": len(X), "seconds": statistics.median(times)}


def run_peak(threads: int) -> dict:
    if not machine.avx512_supported():
        return {"peak": None}
    return {"peak": max(machine.fma_peak_gflops(threads, 0.25) for _ in range(4))}


def worker_main(argv) -> int:
    job = json.loads(argv[0])
    kind = job.pop("kind")
    result = {"run": run_one, "validate": run_validate_step, "inference": run_inference, "peak": run_peak}[kind](**job)
    print("RESULT " + json.dumps(result), flush=True)
    return 0
