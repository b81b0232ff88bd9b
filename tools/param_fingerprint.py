#!/usr/bin/env python3
"""A hash of the trained parameters (and predictions) of a matrix of small configurations.

A refactor of the C++ core must leave every result bit for bit as it was: run this before
and after, and diff the outputs (one line per configuration, `name  sha256-prefix`).

    python tools/param_fingerprint.py > before.txt     # on the old commit
    python tools/param_fingerprint.py > after.txt      # on the new one
    diff before.txt after.txt

The matrix: float32 and float64; every activation (with and without dropout); SGD, SGD
with Nesterov momentum, Adam, AdamW; softmax cross-entropy (labels and one-hot), binary
cross-entropy, MSE; the AVX-512 and BLAS float32 kernels; the fused step's two
schedules (a first layer small enough to split by rows, and one large enough to own
panels); float32 matmul precision "highest" and "medium" with each bf16 kernel this CPU
can run; 1 and 2 threads. Each hash covers the parameters after two epochs of fit, the
optimizer state, and predict / predict_proba on held-out rows. Lines of kernels this CPU
cannot run say so instead of a hash, so two runs on one machine always line up.
"""
from __future__ import annotations

import hashlib
import sys

import numpy as np

import pynn
from pynn import _core

ACTIVATIONS = ["Identity", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "PReLU", "ELU", "GELU", "SiLU", "Softplus"]
OPTIMIZERS = {
    "sgd": lambda: pynn.SGD(lr=0.05),
    "nesterov": lambda: pynn.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adam": lambda: pynn.Adam(lr=1e-3, weight_decay=1e-3),
    "adamw": lambda: pynn.AdamW(lr=1e-3, weight_decay=1e-2),
}


def data(n_in, n_out, loss, rows=150, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, n_in))
    if loss == "softmax_cross_entropy":
        y = rng.integers(0, n_out, rows)
    elif loss == "onehot":
        y = np.eye(n_out)[rng.integers(0, n_out, rows)]
    elif loss == "binary_cross_entropy":
        y = (rng.random((rows, n_out)) < 0.5).astype(np.float64)
    else:
        y = rng.standard_normal((rows, n_out))
    return X, y


def digest(model, X_test, classifier):
    h = hashlib.sha256()
    for p in model.parameters():
        h.update(np.ascontiguousarray(p).tobytes())
    for buffer in model.state().optimizer_buffers:
        h.update(np.ascontiguousarray(buffer).tobytes())
    h.update(np.ascontiguousarray(model.forward(X_test)).tobytes())
    if classifier:
        h.update(np.ascontiguousarray(model.predict_proba(X_test)).tobytes())
    h.update(np.ascontiguousarray(model.predict(X_test)).tobytes())
    return h.hexdigest()[:24]


def run(widths, act, loss, optimizer, dtype, dropout=0.0, batch_size=32, epochs=2):
    layers = []
    for i in range(len(widths) - 2):
        layers.append(pynn.Dense(widths[i], widths[i + 1]))
        layers.append(getattr(pynn, act)())
        if dropout:
            layers.append(pynn.Dropout(dropout))
    layers.append(pynn.Dense(widths[-2], widths[-1]))
    core_loss = "softmax_cross_entropy" if loss == "onehot" else loss
    model = pynn.Sequential(layers, loss=core_loss, dtype=dtype, seed=3)
    X, y = data(widths[0], widths[-1], loss)
    model.fit(X[:120], y[:120], epochs=epochs, batch_size=batch_size, optimizer=OPTIMIZERS[optimizer](),
              verbose=0)
    return digest(model, X[120:], core_loss != "mse")


def configs():
    small = [12, 20, 16, 5]
    for dtype in ("float32", "float64"):
        for act in ACTIVATIONS:
            for dropout in (0.0, 0.25):
                yield f"{dtype} act={act} dropout={dropout}", dict(widths=small, act=act, loss="softmax_cross_entropy",
                                                                     optimizer="adam", dtype=dtype, dropout=dropout)
        for opt in OPTIMIZERS:
            for loss in ("softmax_cross_entropy", "onehot", "binary_cross_entropy", "mse"):
                yield f"{dtype} opt={opt} loss={loss}", dict(widths=small, act="ReLU", loss=loss, optimizer=opt,
                                                             dtype=dtype)
    # The float32 fast path's schedules: rows split (small first layer), owned panels
    # (a first layer over 256 KB), layers of at least 128 x 128 weights for bf16.
    for shape_name, widths in (("rows", [40, 160, 140, 10]), ("panels", [300, 288, 130, 10])):
        for act in ("ReLU", "LeakyReLU", "Tanh"):
            for opt in ("nesterov", "adamw"):
                yield f"float32 fast={shape_name} act={act} opt={opt}", dict(
                    widths=widths, act=act, loss="softmax_cross_entropy", optimizer=opt, dtype="float32",
                    batch_size=45)


def settings():
    """(name, apply) for each kernel / precision / bf16 kernel this CPU can run."""
    out = []
    for kernel in ("avx512", "blas"):
        if kernel == "avx512" and not _core.avx512_supported():
            out.append((f"kernel={kernel}", None))
            continue
        out.append((f"kernel={kernel} highest", (kernel, "highest", "auto")))
    for bf16 in ("float32", "avx512-bf16", "amx-emulated"):
        name = f"kernel=avx512 medium bf16={bf16}"
        try:
            pynn.set_bf16_kernel(bf16)
        except ValueError:
            out.append((name, None))
            continue
        finally:
            pynn.set_bf16_kernel("auto")
        out.append((name, ("avx512", "medium", bf16)))
    return out


def main():
    all_configs = list(configs())
    for setting_name, setting in settings():
        for threads in (1, 2):
            for name, cfg in all_configs:
                # Precision and bf16 kernels only change float32 fast-path runs: the rest once.
                if setting and setting[1] == "medium" and "fast=" not in name:
                    continue
                if setting and setting[0] == "blas" and cfg["dtype"] == "float64" and threads == 2:
                    continue
                label = f"{setting_name} threads={threads} {name}"
                if setting is None:
                    print(f"{label}  (not on this CPU)")
                    continue
                kernel, precision, bf16 = setting
                _core.set_kernel(kernel)
                pynn.set_float32_matmul_precision(precision)
                pynn.set_bf16_kernel(bf16)
                pynn.set_num_threads(threads)
                try:
                    print(f"{label}  {run(**cfg)}")
                finally:
                    _core.set_kernel("auto")
                    pynn.set_float32_matmul_precision("highest")
                    pynn.set_bf16_kernel("auto")
                sys.stdout.flush()


if __name__ == "__main__":
    main()
