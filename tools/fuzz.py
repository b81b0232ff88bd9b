#!/usr/bin/env python3
"""Property-based fuzzing of pynn's public API with hypothesis.

The contract under test: every call either works and agrees with pynn.reference (the
NumPy oracle), or raises ValueError / TypeError / MemoryError (pynn.DivergenceError for
training that diverges) and leaves the model as it was. Never a crash, a hang, a silent
NaN, or a write into the caller's arrays.

Generated: random architectures (Dense widths, every activation, PReLU, Dropout, with
or without bias), both dtypes, seeds, losses and their label forms; inputs in every
memory layout NumPy has (C, Fortran, strided, negative strides, read-only, unaligned,
broadcast, big-endian, lists) and many dtypes; extreme values (subnormals, +-1e30, NaN,
inf); batch sizes 1 .. n+7; thread counts 1..3; bad arguments of every kind.

    python tools/fuzz.py --examples 10000            # the long run (~10,000 cases)
    python tools/fuzz.py --examples 500 --only fit   # one property
tests/nn/test_fuzz_api.py runs the same properties with a few hundred cases.
"""
from __future__ import annotations

import argparse
import contextlib
import inspect
import os
import sys
import time
import traceback
import warnings

import numpy as np
from hypothesis import HealthCheck, assume, event, given, note, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

import pynn
from pynn import reference as R

ALLOWED = (ValueError, TypeError, MemoryError)
# Under AddressSanitizer operator new aborts instead of throwing std::bad_alloc, so only
# sizes the core rejects *before* allocating (int64 overflow, > vector::max_size) are
# generated there. tools/sanitize.sh sets this.
UNDER_ASAN = bool(os.environ.get("PYNN_FUZZ_ASAN"))

ACTIVATIONS = ["Identity", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU", "GELU", "SiLU", "Softplus"]
FUNCTIONAL = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "silu", "softplus"]
INPUT_DTYPES = ["float32", "float64", "float16", "int8", "int64", "uint8", "bool", ">f8", "<f4", "longdouble"]
LAYOUTS = ["c", "fortran", "strided", "negative", "readonly", "unaligned", "broadcast", "list"]

# Lipschitz constant of each activation (how much it can grow an error) and its value
# bound |f(x)| <= L |x| + c: used to bound rounding error layer by layer.
_LIPSCHITZ = {"Identity": 1.0, "Sigmoid": 0.25, "Tanh": 1.0, "ReLU": 1.0, "GELU": 1.13, "SiLU": 1.1,
              "Softplus": 1.0}


# ---------------------------------------------------------------------- strategies
@st.composite
def layer_stack(draw, n_in=None, max_width=9, max_dense=4):
    """Configs of a valid layer stack: Dense layers whose sizes chain, each optionally
    followed by an activation, a PReLU or a Dropout."""
    n_in = n_in or draw(st.integers(1, max_width))
    configs, width = [], n_in
    for _ in range(draw(st.integers(1, max_dense))):
        n_out = draw(st.integers(1, max_width))
        configs.append({"class": "Dense", "n_in": width, "n_out": n_out, "use_bias": draw(st.booleans()),
                        "init": draw(st.sampled_from(["auto", "glorot_uniform", "he_normal", "lecun_uniform",
                                                      "zeros"]))})
        width = n_out
        for _ in range(draw(st.integers(0, 2))):
            kind = draw(st.sampled_from(ACTIVATIONS + ["PReLU", "Dropout"]))
            if kind == "LeakyReLU":
                configs.append({"class": kind, "negative_slope": draw(st.floats(-2, 2))})
            elif kind == "ELU":
                configs.append({"class": kind, "alpha": draw(st.floats(-2, 2))})
            elif kind == "PReLU":
                configs.append({"class": kind, "num_parameters": draw(st.sampled_from([1, width])),
                                "init": draw(st.floats(-1, 1))})
            elif kind == "Dropout":
                configs.append({"class": kind, "p": draw(st.sampled_from([0.0, 0.1, 0.5, 0.9]))})
            else:
                configs.append({"class": kind})
    return configs, width


@st.composite
def model_spec(draw, max_width=9):
    configs, n_out = draw(layer_stack(max_width=max_width))
    losses = ["mse", "binary_cross_entropy"] + (["softmax_cross_entropy"] if n_out >= 2 else [])
    return {"configs": configs, "loss": draw(st.sampled_from(losses)),
            "dtype": draw(st.sampled_from(["float32", "float64"])), "seed": draw(st.integers(0, 2**63 - 1))}


def build(spec) -> pynn.Sequential:
    from pynn.layers import layer_from_config
    return pynn.Sequential([layer_from_config(c) for c in spec["configs"]], loss=spec["loss"],
                           dtype=spec["dtype"], seed=spec["seed"])


def reference_of(model) -> R.MLP:
    """The oracle holding a copy of the model's parameters and its dropout counter."""
    ref = R.MLP([l.get_config() for l in model.layers], [p.copy() for p in model.parameters()],
                model.loss, seed=model.seed)
    ref.step = int(model._net.train_forwards)
    return ref


@st.composite
def values(draw, shape, regime=None):
    """float64 values of a regime: ordinary, tiny/subnormal, huge, mixed, or non-finite."""
    regime = regime or draw(st.sampled_from(["normal", "normal", "normal", "small", "subnormal", "huge",
                                             "mixed", "integers", "zeros", "nonfinite"]))
    event(f"values: {regime}")
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if regime == "normal":
        x = rng.normal(scale=draw(st.sampled_from([1e-3, 0.3, 1.0, 10.0])), size=shape)
    elif regime == "small":
        x = rng.normal(scale=1e-20, size=shape)
    elif regime == "subnormal":
        x = rng.choice([0.0, 1e-40, -1e-42, 1e-310, 5e-324, 1.0], size=shape)
    elif regime == "huge":
        x = rng.choice([1e30, -1e30, 3e38, -1e6, 1.0], size=shape)
    elif regime == "mixed":
        x = rng.normal(size=shape) * 10.0 ** rng.integers(-30, 30, size=shape)
    elif regime == "integers":
        x = rng.integers(-3, 4, size=shape).astype(np.float64)
    elif regime == "zeros":
        x = np.zeros(shape)
    else:
        x = rng.normal(size=shape)
        if x.size:
            x.flat[rng.integers(0, x.size)] = draw(st.sampled_from([np.nan, np.inf, -np.inf, 1e300]))
    return x


def as_dtype(x, name):
    with np.errstate(all="ignore"):
        if name == "bool":
            return x != 0
        if name.startswith(("int", "uint")):
            info = np.iinfo(name)
            return np.nan_to_num(np.clip(np.round(x), info.min, info.max)).astype(name)
        return x.astype(name)


def layout(draw, arr, kind=None):
    """The same logical values in another memory layout (or a list)."""
    kind = kind or draw(st.sampled_from(LAYOUTS))
    event(f"layout: {kind}")
    if arr.ndim == 0 or kind == "c":
        return np.ascontiguousarray(arr)
    if kind == "fortran":
        return np.asfortranarray(arr)
    if kind == "strided":
        big = np.zeros(tuple(s * 2 + 1 for s in arr.shape), dtype=arr.dtype)
        view = big[tuple(slice(1, None, 2) for _ in arr.shape)]
        view[...] = arr
        return view
    if kind == "negative":
        flipped = np.ascontiguousarray(arr[tuple(slice(None, None, -1) for _ in arr.shape)])
        return flipped[tuple(slice(None, None, -1) for _ in arr.shape)]
    if kind == "readonly":
        out = arr.copy()
        out.flags.writeable = False
        return out
    if kind == "unaligned" and arr.dtype.itemsize > 1:
        raw = np.zeros(arr.nbytes + 1, dtype=np.uint8)
        out = raw[1:].view(arr.dtype).reshape(arr.shape)
        out[...] = arr
        return out
    if kind == "broadcast":  # zero strides: every row the first row
        return np.broadcast_to(arr[:1], arr.shape)
    if kind == "list" and arr.size <= 64 and arr.dtype.kind in "biuf" and arr.dtype.byteorder in "=|<":
        return arr.tolist()
    return arr


@contextlib.contextmanager
def threads(n):
    old = pynn.get_num_threads()
    pynn.set_num_threads(n)
    try:
        yield
    finally:
        pynn.set_num_threads(old)


def logical(x):
    """The values a caller passed, as a fresh array (what the oracle sees)."""
    return np.array(x)


def unchanged(before, after):
    return all(np.array_equal(a, b, equal_nan=True) for a, b in zip(before, after))


def snapshot(model):
    net = model._net
    return [p.copy() for p in model.parameters()] + [net.first_moment().copy(), net.second_moment().copy(),
                                                      np.array([net.opt_step, net.train_forwards])]


# ---------------------------------------------------------------------- tolerances
def forward_bound(configs, params, X, dtype):
    """An upper bound on the rounding error of each output of a forward pass: every
    layer adds (fan_in + 2) eps |W||x| + eps |b| and activations grow errors by their
    Lipschitz constant. Computed in float64 on absolute values."""
    eps = float(np.finfo(dtype).eps)
    mag = np.abs(np.asarray(X, dtype=np.float64))
    err = np.zeros_like(mag)
    it = iter(params)
    for c in configs:
        name = c["class"]
        if name == "Dense":
            W = np.abs(next(it)).astype(np.float64)
            b = np.abs(next(it)).astype(np.float64) if c["use_bias"] else 0.0
            with np.errstate(all="ignore"):
                new_mag = mag @ W.T + b
                err = err @ W.T + (W.shape[1] + 2) * eps * new_mag
            mag = new_mag
        elif name == "Dropout":
            s = 1.0 / (1.0 - c["p"]) if c["p"] else 1.0
            mag, err = mag * s, err * s + eps * mag * s
        else:
            if name == "PReLU":
                L = max(1.0, float(np.abs(next(it)).max()))
            elif name == "LeakyReLU":
                L = max(1.0, abs(c["negative_slope"]))
            elif name == "ELU":
                L = max(1.0, abs(c["alpha"]))
            else:
                L = _LIPSCHITZ[name]
            mag = L * mag + 1.0
            err = L * err + 4 * eps * mag
    return err


def assert_close(got, want, tol, what):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    with np.errstate(all="ignore"):
        bad = ~(np.abs(got - want) <= tol)
    bad &= ~((got == want) | (np.isnan(got) & np.isnan(want)))
    if bad.any():
        i = np.flatnonzero(bad)[0]
        raise AssertionError(f"{what}: {bad.sum()} of {bad.size} differ; first at {i}: got {got.flat[i]!r}, "
                             f"want {want.flat[i]!r}, tolerance {np.broadcast_to(tol, bad.shape).flat[i]!r}")


def gradient_bound(configs, params, X, d_out_max):
    """An upper bound on |any gradient element|, from the largest |dL/doutput|: backward
    through each layer multiplies it by at most max_i sum_o |W_oi| (Dense) or the largest
    derivative (activations); dW sums B products |delta| |input|. Rounding error in the
    gradients is a multiple of eps times this bound -- not of the gradient itself, which
    can be tiny where an activation saturates (tanh' = 1 - y^2 loses every digit there)."""
    mags, mag = [], float(np.abs(X).max()) + 1.0
    it = iter(params)
    dense_W, derivs = [], []
    for c in configs:
        name = c["class"]
        if name == "Dense":
            W = np.abs(np.asarray(next(it), dtype=np.float64))
            b = float(np.abs(next(it)).max()) if c["use_bias"] else 0.0
            mags.append(mag)
            dense_W.append(W)
            derivs.append(None)
            mag = mag * float(W.sum(axis=1).max()) + b + 1.0
        else:
            if name == "PReLU":
                L = max(1.0, float(np.abs(next(it)).max()))
            elif name == "Dropout":
                L = 1.0 / (1.0 - c["p"])
            elif name == "LeakyReLU":
                L = max(1.0, abs(c["negative_slope"]))
            elif name == "ELU":
                L = max(1.0, abs(c["alpha"]))
            else:
                L = max(1.0, _LIPSCHITZ[name])
            derivs.append(L)
            mag = L * mag + 1.0
            mags.append(None)
    B = X.shape[0]
    bound, delta = 0.0, d_out_max
    for l in reversed(range(len(configs))):
        if derivs[l] is None:
            W = dense_W.pop()
            bound = max(bound, B * delta * mags[l], B * delta)
            delta *= float(W.sum(axis=0).max()) + 1e-300
        else:
            delta *= derivs[l]
            bound = max(bound, B * delta * (mag + 1.0))  # PReLU slope gradients
    return bound


def d_out_max(model, out, targets, w):
    """The largest |dL/doutput| of the loss (mean over the batch)."""
    B, C = out.shape
    wmax = 1.0 if w is None else float(np.abs(w).max())
    if model.loss == "mse":
        return wmax * 2.0 * float(np.abs(out - targets.reshape(B, C)).max()) / (B * C)
    if model.loss == "binary_cross_entropy":
        return wmax / (B * C)
    return wmax * 2.0 * (1.0 + (float(np.abs(targets).sum(axis=1).max()) if targets.ndim == 2 else 0.0)) / B


# ---------------------------------------------------------------------- properties
def prop_construction(data):
    """Sequential(...) with good and bad layers, sizes, losses, dtypes and seeds."""
    draw = data.draw
    huge = [2**31 - 1] if UNDER_ASAN else [2**31 - 1, 2**20]
    size = st.one_of(st.integers(1, 8), st.sampled_from([0, -1, 2**31, True, 3.0, "4", None, np.int32(5)] + huge))
    layers = []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["Dense", "Dense", "act", "PReLU", "Dropout", "junk"]))
        try:
            if kind == "Dense":
                n_in, n_out = draw(size), draw(size)
                if n_in in huge or n_out in huge:  # both huge: never an allocation that fits
                    n_in = n_out = draw(st.sampled_from(huge))
                layers.append(pynn.Dense(n_in, n_out, use_bias=draw(st.sampled_from([True, False, 1])),
                                         init=draw(st.sampled_from(["auto", "he_uniform", "bogus", 3]))))
            elif kind == "act":
                layers.append(getattr(pynn, draw(st.sampled_from(ACTIVATIONS)))())
            elif kind == "PReLU":
                layers.append(pynn.PReLU(draw(size), init=draw(st.sampled_from([0.25, -1.0, np.nan, "x"]))))
            elif kind == "Dropout":
                layers.append(pynn.Dropout(draw(st.sampled_from([0.0, 0.5, 0.99, 1.0, -0.1, np.nan, "0.5"]))))
            else:
                layers.append(draw(st.sampled_from([None, 3, "Dense", np.zeros(3), pynn.Dense])))
        except ALLOWED:
            event("construction: bad layer argument rejected")
    loss = draw(st.sampled_from(["softmax_cross_entropy", "binary_cross_entropy", "mse", "mae", 3, None]))
    dtype = draw(st.sampled_from(["float32", "float64", np.float32, "float16", "int32", None]))
    seed = draw(st.sampled_from([0, 1, 2**63 - 1, -1, 2**64, 1.5, None, np.uint64(7)]))
    layers_arg = draw(st.sampled_from(["list", "tuple", "single", "gen"]))
    arg = {"list": layers, "tuple": tuple(layers), "single": layers[0] if layers else [],
           "gen": (l for l in layers)}[layers_arg]
    try:
        model = pynn.Sequential(arg, loss=loss, dtype=dtype, seed=seed)
    except ALLOWED as exc:
        event(f"construction: {type(exc).__name__}")
        assert str(exc), "an error must say what was wrong"
        return
    event("construction: built")
    n = sum(int(np.prod(p.shape)) for p in model.parameters())
    assert model.count_params() == n
    for p, (name, _) in zip(model.parameters(), model.named_parameters()):
        assert np.isfinite(p).all(), name
    assert isinstance(repr(model), str) and isinstance(model.summary(print_fn=None), str)
    again = pynn.Sequential([pynn.layers.layer_from_config(c) for c in model.get_config()["layers"]],
                            loss=model.loss, dtype=model.dtype, seed=model.seed)
    assert unchanged(model.parameters(), again.parameters()), "the same config and seed must give the same init"


def prop_forward(data):
    """forward / predict / predict_proba / evaluate on inputs of any layout, dtype and scale."""
    draw = data.draw
    spec = draw(model_spec())
    model = build(spec)
    # Inference runs in chunks of 4096 rows: sizes around the chunk edges too.
    n = draw(st.one_of(st.integers(1, 12), st.sampled_from([4095, 4096, 4097, 8193])))
    n_in = model.n_inputs
    shape = draw(st.sampled_from([(n, n_in)] * 6 + [(n, n_in + 1), (n,), (n, n_in, 1), (0, n_in), (n, 0), ()]))
    x64 = draw(values(shape))
    in_dtype = draw(st.sampled_from(INPUT_DTYPES))
    X = layout(draw, as_dtype(x64, in_dtype))
    X_before = logical(X)
    before = snapshot(model)
    n_threads = draw(st.integers(1, 3))
    with threads(n_threads):
        try:
            out = model.forward(X)
        except ALLOWED as exc:
            event(f"forward: {type(exc).__name__}")
            clean = np.asarray(X_before, dtype=model.dtype) if X_before.dtype.kind in "biuf" else None
            assert (shape != (n, n_in) or clean is None or not np.isfinite(clean).all()), f"valid input rejected: {exc}"
            assert unchanged(before, snapshot(model))
            return
        Xc = np.asarray(X_before, dtype=model.dtype)
        assert shape == (n, n_in) and np.isfinite(Xc).all(), "invalid input accepted"
        assert out.dtype == np.dtype(model.dtype) and out.shape == (n, model.n_outputs)
        ref_out = reference_of(model).forward(Xc)
        if np.isfinite(ref_out).all():
            tol = forward_bound(spec["configs"], model.parameters(), Xc, model.dtype)
            assert_close(out, ref_out, tol, "forward")
        else:
            event("forward: reference overflows")
        assert np.array_equal(model.forward(X), out, equal_nan=True), "forward must be deterministic"
        pred = model.predict(X)
        if model.loss == "softmax_cross_entropy":
            assert pred.shape == (n,) and ((0 <= pred) & (pred < model.n_outputs)).all()
            proba = model.predict_proba(X)
            if np.isfinite(out).all():  # outputs that overflowed to inf have no probabilities
                assert np.isfinite(proba).all() and np.allclose(proba.sum(axis=1), 1, atol=1e-4)
        elif model.loss == "binary_cross_entropy":
            assert set(np.unique(pred)) <= {0, 1}
            proba = model.predict_proba(X)
            assert ((0 <= proba) & (proba <= 1)).all() or not np.isfinite(out).all()
        if np.isfinite(ref_out).all() and np.abs(ref_out).max() < 1e15:
            y = _valid_targets(draw, model, n)
            got = model.evaluate(X, y)
            ref_y = _ref_targets(model, y)
            want, _ = R.LOSSES[model.loss](np.asarray(ref_out, np.float64), ref_y)
            # The loss is Lipschitz in the outputs: 2 for the cross-entropies, 2 |out - y|
            # for mse; the outputs differ from the oracle's by at most their bound.
            fb = float(forward_bound(spec["configs"], model.parameters(), Xc, model.dtype).max())
            lip = 2.0 if model.loss != "mse" else 2.0 * (np.abs(ref_out).max() + np.abs(ref_y).max() + fb)
            eps = float(np.finfo(model.dtype).eps)
            assert abs(got["loss"] - float(want)) <= lip * fb + 1e3 * eps * (abs(float(want)) + 1), (got, want)
    assert unchanged(before, snapshot(model)), "inference must not change the model"
    assert np.array_equal(logical(X), X_before, equal_nan=True), "the caller's array was modified"


def _valid_targets(draw, model, n):
    """Targets of a valid form for the model's loss (labels in many dtypes/shapes)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    C = model.n_outputs
    if model.loss == "softmax_cross_entropy":
        form = draw(st.sampled_from(["int64", "int8", "uint8", "float", "column", "list", "onehot", "probs"]))
        event(f"labels: {form}")
        labels = rng.integers(0, C, n)
        if form == "onehot":
            return np.eye(C)[labels]
        if form == "probs":
            p = rng.random((n, C))
            return p / p.sum(axis=1, keepdims=True)
        if form == "column":
            return labels.reshape(-1, 1)
        if form == "list":
            return labels.tolist()
        return labels.astype({"float": "float64"}.get(form, form))
    if model.loss == "binary_cross_entropy":
        y = rng.integers(0, 2, (n, C)).astype(draw(st.sampled_from(["float32", "int64", "bool", "float64"])))
        if draw(st.booleans()):
            y = rng.random((n, C))  # soft labels in [0, 1]
        return y.reshape(n) if C == 1 and draw(st.booleans()) else y
    y = rng.normal(size=(n, C))
    return y.reshape(n) if C == 1 and draw(st.booleans()) else y


def _ref_targets(model, y):
    y = np.asarray(y)
    if model.loss == "softmax_cross_entropy":
        if y.ndim == 2 and y.shape[1] == model.n_outputs and model.n_outputs > 1:
            return y.astype(np.float64)
        return y.reshape(-1).astype(np.int64)
    return y.reshape(y.shape[0], -1).astype(np.float64)


@st.composite
def bad_targets(draw, model, n):
    C = model.n_outputs
    kind = draw(st.sampled_from(["short", "long", "nan", "inf", "range", "negative", "fraction", "3d", "str",
                                 "object", "complex", "wide", "scalar", "none"]))
    event(f"bad targets: {kind}")
    base = np.zeros((n, C)) if model.loss != "softmax_cross_entropy" else np.zeros(n, np.int64)
    if kind == "short":
        return base[:-1] if n > 1 else base[:0]
    if kind == "long":
        return np.concatenate([base, base[:1]])
    if kind == "nan":
        b = base.astype(np.float64)
        b.flat[0] = np.nan
        return b
    if kind == "inf":
        b = base.astype(np.float64)
        b.flat[-1] = np.inf
        return b
    if kind == "range":
        if model.loss == "mse":
            return np.zeros((n, C, 1))
        return base + (C if model.loss == "softmax_cross_entropy" else 2)
    if kind == "negative":
        if model.loss == "mse":
            return np.full((n, C + 2), -1.0)
        return base - 1
    if kind == "fraction":
        if model.loss == "softmax_cross_entropy":
            return base + 0.5
        return np.full((n, C), 1.5) if model.loss == "binary_cross_entropy" else np.zeros((n, C, 1))
    if kind == "3d":
        return np.zeros((n, C, 2))
    if kind == "str":
        return "labels"
    if kind == "object":
        return np.array([object()] * n)
    if kind == "complex":
        return np.zeros((n, C), dtype=complex)
    if kind == "wide":
        return np.zeros((n, C + 1))
    if kind == "scalar":
        return 1.0
    return None


def prop_gradients(data):
    """loss_and_gradients (loss, every gradient) against the oracle, with sample
    weights, dropout and every label form; bad targets and weights are refused."""
    draw = data.draw
    spec = draw(model_spec())
    model = build(spec)
    n = draw(st.integers(1, 10))
    x64 = draw(values((n, model.n_inputs), draw(st.sampled_from(["normal", "normal", "small", "subnormal",
                                                                  "integers", "zeros"]))))
    X = layout(draw, as_dtype(x64, draw(st.sampled_from(["float32", "float64", "int8", ">f8"]))))
    bad = draw(st.integers(0, 4)) == 0
    y = draw(bad_targets(model, n)) if bad else _valid_targets(draw, model, n)
    w = None
    if draw(st.booleans()):
        w = draw(st.sampled_from(["ok", "ok", "ok", "negative", "nan", "short", "2d"]))
        event(f"sample_weight: {w}")
        rng = np.random.default_rng(n)
        w = {"ok": rng.random(n) * 3, "negative": -np.ones(n), "nan": np.full(n, np.nan),
             "short": np.ones(n + 1), "2d": np.ones((n, 1))}[w]
    y_in = layout(draw, np.asarray(y)) if not bad and isinstance(y, np.ndarray) and y.dtype.kind in "biuf" else y
    ref = reference_of(model)
    before = snapshot(model)
    with threads(draw(st.integers(1, 3))):
        try:
            loss = model.loss_and_gradients(X, y_in, sample_weight=w)
        except ALLOWED as exc:
            event(f"gradients: {type(exc).__name__}")
            assert bad or (w is not None and not (np.asarray(w).shape == (n,) and (np.asarray(w) >= 0).all())), \
                f"valid call refused: {exc}"
            assert unchanged(before[:-3], snapshot(model)[:-3])
            return
    assert not bad, f"bad targets accepted: {y!r}"
    Xc = np.asarray(logical(X), dtype=model.dtype)
    want_loss, want_grads = ref.loss_and_gradients(Xc, _ref_targets(model, logical(y_in)), None if w is None else
                                                   np.asarray(w, dtype=model.dtype))
    if not (np.isfinite(want_loss) and all(np.isfinite(g).all() for g in want_grads)):
        event("gradients: reference not finite")
        return
    eps = float(np.finfo(model.dtype).eps)
    out = R.MLP(ref.configs, ref.params, model.loss, seed=model.seed)
    out.step = ref.step - 1  # replay the oracle's training forward (same dropout masks)
    out = out.forward(Xc, training=True).astype(np.float64)
    targets = _ref_targets(model, logical(y_in))
    wts = None if w is None else np.asarray(w, np.float64)
    # Loss: Lipschitz in the outputs, whose rounding error forward_bound bounds.
    fb = float(forward_bound(ref.configs, ref.params, Xc, model.dtype).max()) if ref.params else 0.0
    lip = (2.0 if model.loss != "mse" else 2.0 * (np.abs(out).max() + np.abs(targets).max() + fb)) * (
        1.0 if wts is None else np.abs(wts).max())
    assert abs(loss - float(want_loss)) <= lip * fb + 1e3 * eps * (abs(float(want_loss)) + 1), (loss, want_loss)
    G = gradient_bound(ref.configs, ref.params, Xc, d_out_max(model, out, targets, wts))
    width = max([model.n_inputs] + [c.get("n_out", 0) for c in ref.configs])
    tol = 16 * (len(ref.configs) + width + n + 4) * eps * G + 1e-300
    for got, want, name in zip(model.gradients(), want_grads, [nm for nm, _ in model.named_parameters()]):
        assert_close(got, want, tol, f"gradient {name}")


def _optimizer(draw):
    kind = draw(st.sampled_from(["sgd", "momentum", "nesterov", "adam", "adamw"]))
    lr = draw(st.sampled_from([1e-3, 0.01, 0.1]))
    wd = draw(st.sampled_from([0.0, 0.0, 0.01]))
    if kind == "sgd":
        return pynn.SGD(lr, weight_decay=wd), R.SGD(lr, weight_decay=wd)
    if kind in ("momentum", "nesterov"):
        return (pynn.SGD(lr, momentum=0.9, nesterov=kind == "nesterov", weight_decay=wd),
                R.SGD(lr, momentum=0.9, nesterov=kind == "nesterov", weight_decay=wd))
    betas = draw(st.sampled_from([(0.9, 0.999), (0.5, 0.9)]))
    if kind == "adam":
        return pynn.Adam(lr, betas=betas, weight_decay=wd), R.Adam(lr, betas=betas, weight_decay=wd)
    return pynn.AdamW(lr, betas=betas, weight_decay=wd), R.AdamW(lr, betas=betas, weight_decay=wd)


def param_tol(model, opt, steps, ref_params, start_params):
    """Parameters after training: SGD propagates gradient rounding linearly; Adam divides
    by sqrt(v), so a gradient that is rounding noise (|g| ~ eps) can move a parameter by
    up to lr per step in float32 -- the honest bound there is lr * steps. A trajectory
    that explodes (parameters 100x their start, a learning rate too large for the data)
    amplifies rounding as fast as the parameters grow: there only the leading digits
    must agree (1e-2 relative in float32, 1e-6 in float64)."""
    eps = float(np.finfo(model.dtype).eps)
    start = max((float(np.abs(p).max()) for p in start_params if p.size), default=0.0) + 1.0
    end = max((float(np.abs(p).max()) for p in ref_params if p.size), default=0.0)
    exploding = end > 100.0 * start
    if exploding:
        event("training: exploding trajectory")
    tols = []
    for p in ref_params:
        t = 1e3 * steps * eps * (np.abs(p) + 1.0)
        if opt.kind in ("adam", "adamw"):
            # float64 keeps more digits, but a saturated tanh/sigmoid still leaves its
            # derivative (1 - y^2) with a relative error of eps / (1 - y^2), which Adam
            # passes on as a relative error of its step.
            t = t + 2.0 * opt.lr * steps * (1.0 if model.dtype == "float32" else 1e-6)
        if exploding:
            t = np.maximum(t, (1e-2 if model.dtype == "float32" else 1e-6) * np.abs(p))
        tols.append(t)
    return tols


def prop_train_step(data):
    """train_step with SGD (momentum, Nesterov, weight decay), Adam and AdamW against
    the oracle's optimizers, step by step."""
    draw = data.draw
    spec = draw(model_spec(max_width=6))
    model = build(spec)
    n = draw(st.integers(1, 8))
    X = draw(values((n, model.n_inputs), "normal")).astype(model.dtype)
    y = _valid_targets(draw, model, n)
    opt, ref_opt = _optimizer(draw)
    ref = reference_of(model)
    start = [p.copy() for p in ref.params]
    steps = draw(st.integers(1, 3))
    with threads(draw(st.integers(1, 3))):
        for _ in range(steps):
            try:
                same_values = draw(st.sampled_from([k for k in LAYOUTS if k != "broadcast"]))
                loss = model.train_step(layout(draw, X, same_values), y, optimizer=opt)
            except pynn.DivergenceError:
                event("train_step: diverged")
                assert all(np.isfinite(p).all() for p in model.parameters())
                return
            want = ref.train_step(X, _ref_targets(model, y), ref_opt)
            assert np.isfinite(loss)
            assert abs(loss - float(want)) <= 1e-3 * (abs(float(want)) + 1) if model.dtype == "float32" \
                else abs(loss - float(want)) <= 1e-8 * (abs(float(want)) + 1), (loss, want)
    for got, want, tol in zip(model.parameters(), ref.params, param_tol(model, opt, steps, ref.params, start)):
        assert_close(got, want, tol, "parameters after train_step")


def prop_fit(data):
    """fit over batch sizes 1..n+7, shuffled or not, 1-2 epochs, thread counts 1-3,
    optional validation data: the parameters equal the oracle's epoch loop."""
    draw = data.draw
    spec = draw(model_spec(max_width=6))
    model = build(spec)
    n = draw(st.integers(1, 16))
    X = draw(values((n, model.n_inputs), draw(st.sampled_from(["normal", "integers", "small"]))))
    y = _valid_targets(draw, model, n)
    opt, ref_opt = _optimizer(draw)
    batch_size = draw(st.integers(1, n + 7))
    epochs = draw(st.integers(1, 2))
    shuffle = draw(st.booleans())
    validation = (X[:3], np.asarray(y)[:3]) if draw(st.booleans()) else None
    ref = reference_of(model)
    start = [p.copy() for p in ref.params]
    Xin = layout(draw, as_dtype(X, draw(st.sampled_from(["float32", "float64", "<f4", ">f8"]))))
    Xc = np.asarray(logical(Xin), dtype=model.dtype)
    extra = {}
    if "terminate_on_nan" in inspect.signature(model.fit).parameters:
        extra["terminate_on_nan"] = draw(st.booleans())
    with threads(draw(st.integers(1, 3))), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the divergence warning of terminate_on_nan
        try:
            hist = model.fit(Xin, y, epochs=epochs, batch_size=batch_size, optimizer=opt, shuffle=shuffle,
                             validation_data=validation, verbose=0, **extra)
        except pynn.DivergenceError:
            event("fit: diverged (raised)")
            assert not extra.get("terminate_on_nan", False)
            assert all(np.isfinite(p).all() for p in model.parameters())
            return
    if "diverged_epoch" in (getattr(hist, "params", None) or {}):
        event("fit: diverged (stopped)")
        assert all(np.isfinite(p).all() for p in model.parameters())
        return
    losses = []
    for e in range(epochs):
        perm = (R.epoch_order(n, model.seed, e) if shuffle else np.arange(n))
        losses.append(ref.fit_epoch(Xc, _ref_targets(model, y), batch_size, ref_opt, perm))
    if not all(np.isfinite(p).all() for p in ref.params):
        # The oracle overflowed (it computes losses in the model's dtype; the core
        # accumulates them in double), so it has no answer to compare with. pynn must
        # still hold finite parameters: it never hands back a NaN model.
        event("fit: reference overflowed")
        assert all(np.isfinite(p).all() for p in model.parameters())
        return
    steps = epochs * -(-n // batch_size)
    for got, want, tol in zip(model.parameters(), ref.params, param_tol(model, opt, steps, ref.params, start)):
        assert_close(got, want, tol, "parameters after fit")
    assert len(hist.history["loss"]) == epochs and np.isfinite(hist.history["loss"]).all()
    assert ref.step == model._net.train_forwards, "dropout counters must advance alike"
    if validation is not None:
        assert "val_loss" in hist.history


def prop_bad_fit_arguments(data):
    """fit/train_step/predict with wrong argument types and values: ValueError/TypeError,
    model untouched."""
    draw = data.draw
    model = build(draw(model_spec(max_width=4)))
    n = 5
    X = np.ones((n, model.n_inputs))
    y = _valid_targets(draw, model, n)
    which = draw(st.sampled_from(["epochs", "batch_size", "shuffle", "verbose", "optimizer", "validation",
                                  "callbacks", "X", "sample_weight"]))
    bad = {"epochs": [0, -1, 1.5, "2", None, True, 2**40],
           "batch_size": [0, -3, 2.0, "8", None, 2**40],
           "shuffle": ["yes", 1, None],
           "verbose": [3, -1, "1", 0.5],
           "optimizer": ["rmsprop", 3, object(), pynn.SGD],
           "validation": [(X,), X, (X, y, None, None), (np.ones((2, model.n_inputs + 1)), y[:2])],
           "callbacks": [[3], ["x"], [pynn.SGD()]],
           "X": [np.ones((n, model.n_inputs + 1)), "X", np.ones((n, model.n_inputs), dtype=complex), [[1, 2], [3]],
                 np.array([[object()] * model.n_inputs] * n)],
           "sample_weight": [np.ones(n + 1), -np.ones(n), np.full(n, np.nan), "w", np.ones((n, 2))]}[which]
    value = draw(st.sampled_from(bad))
    kwargs = {"epochs": 1, "batch_size": 2, "verbose": 0}
    args = [X, y]
    if which == "validation":
        kwargs["validation_data"] = value
    elif which == "X":
        args[0] = value
    else:
        kwargs[which] = value
    before = snapshot(model)
    try:
        model.fit(*args, **kwargs)
    except ALLOWED as exc:
        event(f"bad fit argument {which}: {type(exc).__name__}")
        assert unchanged(before[:-3], snapshot(model)[:-3]), "a refused call changed the parameters"
        return
    raise AssertionError(f"fit accepted {which}={value!r}")


def prop_functional(data):
    """pynn.relu & co., derivative, softmax and log_softmax on arrays of any shape,
    dtype, layout and value (NaN and inf included) against the oracle."""
    draw = data.draw
    name = draw(st.sampled_from(FUNCTIONAL + ["softmax", "log_softmax", "derivative"]))
    shape = draw(st.sampled_from([(), (1,), (7,), (3, 4), (2, 3, 2), (0,), (2, 0), (1, 1, 1, 5)]))
    x64 = draw(values(shape))
    in_dtype = draw(st.sampled_from(["float32", "float64", "float16", "int64", "uint8", "bool", ">f4"]))
    x = as_dtype(x64, in_dtype)
    xin = layout(draw, x) if x.ndim else (x[()] if draw(st.booleans()) else x)
    x_before = logical(xin)
    with threads(draw(st.integers(1, 3))), np.errstate(all="ignore"):
        try:
            if name == "derivative":
                act = draw(st.sampled_from(FUNCTIONAL + ["bogus"]))
                alpha = draw(st.sampled_from([0.0, 0.01, 1.5]))
                got = pynn.derivative(act, xin, alpha)
            elif name in ("softmax", "log_softmax"):
                axis = draw(st.integers(-3, 3))
                got = getattr(pynn, name)(xin, axis=axis)
            elif name in ("leaky_relu", "elu"):
                alpha = draw(st.sampled_from([0.01, 1.0, -0.5, 2.0]))
                got = getattr(pynn, name)(xin, alpha)
            else:
                got = getattr(pynn, name)(xin)
        except ALLOWED as exc:
            event(f"functional: {type(exc).__name__}")
            ok_reasons = (name == "derivative" and act == "bogus") or (name in ("softmax", "log_softmax") and (
                x.ndim == 0 or not -x.ndim <= axis < x.ndim or 0 in shape))
            assert ok_reasons, f"{name} refused {x!r}: {exc}"
            return
    assert not (name == "derivative" and act == "bogus"), "unknown activation accepted"
    if name in ("softmax", "log_softmax") and x.ndim:  # NumPy reduces a 0-d array over axis 0 or -1
        assert -x.ndim <= axis < x.ndim, f"axis {axis} accepted for a {x.ndim}-D array"
    xf = np.asarray(x_before)
    work = xf if xf.dtype in (np.float32, np.float64) else xf.astype(np.float64)
    work = work.astype(work.dtype.newbyteorder("="))
    with np.errstate(all="ignore"):
        if name == "derivative":
            cfg = {"class": ACTIVATIONS[FUNCTIONAL.index(act)], "negative_slope": alpha, "alpha": alpha}
            y = R.activation_forward(cfg, work)
            want = R.activation_backward(cfg, np.ones_like(work), work, y)
        elif name in ("softmax", "log_softmax") and work.size == 0:
            want = np.zeros(work.shape)  # nothing to normalize (the oracle's max() refuses empty input)
        elif name == "softmax":
            want = R.softmax(work.astype(np.float64), axis=axis)
        elif name == "log_softmax":
            want = R.log_softmax(work.astype(np.float64), axis=axis)
        else:
            cls = ACTIVATIONS[FUNCTIONAL.index(name)]
            want = R.activation_forward({"class": cls, "negative_slope": alpha if name == "leaky_relu" else 0,
                                         "alpha": alpha if name == "elu" else 0}, work)
    got_arr = np.asarray(got)
    assert got_arr.shape == np.shape(want), (got_arr.shape, np.shape(want))
    dt = work.dtype  # the precision the core computed in (a 0-d result comes back as a Python float)
    eps = float(np.finfo(dt).eps)
    with np.errstate(all="ignore"):
        tol = 64 * eps * (np.abs(np.asarray(want, np.float64)) + 1e-300) + (
            64 * eps if name in ("softmax", "log_softmax", "derivative", "gelu", "silu", "softplus", "elu")
            else 0) * (np.abs(work.astype(np.float64)) + 1 if name == "log_softmax" else 1)
    if name in ("softmax", "log_softmax") and not np.isfinite(work).all():
        event("functional: softmax of non-finite")  # NaN rows: just no crash
    else:
        assert_close(got_arr, want, tol, name)
    assert np.array_equal(logical(xin), x_before, equal_nan=True), "the caller's array was modified"


PROPERTIES = {
    "construction": (prop_construction, 0.12),
    "forward": (prop_forward, 0.22),
    "gradients": (prop_gradients, 0.18),
    "train_step": (prop_train_step, 0.12),
    "fit": (prop_fit, 0.14),
    "bad_fit_arguments": (prop_bad_fit_arguments, 0.07),
    "functional": (prop_functional, 0.15),
}


def run(name: str, examples: int, seed: int | None = None, derandomize: bool = False) -> None:
    """Run one property for `examples` generated cases (raises on the first failure,
    after hypothesis has shrunk it to a minimal example)."""
    fn, _ = PROPERTIES[name]
    test = settings(max_examples=examples, deadline=None, database=None, derandomize=derandomize,
                    suppress_health_check=list(HealthCheck), print_blob=True)(given(st.data())(fn))
    if seed is not None:
        test = hypothesis_seed(seed)(test)
    test()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=10_000, help="total generated cases (default 10000)")
    ap.add_argument("--only", choices=sorted(PROPERTIES), action="append", help="run only these properties")
    ap.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: random, printed)")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore", RuntimeWarning)  # overflow in casts of the extreme values, by design
    seed = args.seed if args.seed is not None else int(time.time()) % 2**31
    names = args.only or list(PROPERTIES)
    total_weight = sum(PROPERTIES[n][1] for n in names)
    print(f"pynn fuzz: {args.examples} cases over {len(names)} properties, seed {seed}, "
          f"pynn from {os.path.dirname(pynn.__file__)}", flush=True)
    failures, done, start = [], 0, time.perf_counter()
    for name in names:
        k = max(1, round(args.examples * PROPERTIES[name][1] / total_weight))
        t0 = time.perf_counter()
        try:
            run(name, k, seed=seed)
            status = "ok"
        except Exception as exc:  # report every property, then fail
            failures.append(name)
            status = f"FAILED: {type(exc).__name__}: {str(exc)[:300]}"
            traceback.print_exception(exc)  # the shrunk falsifying example and where it failed
        done += k
        print(f"  {name:<18} {k:6d} cases  {time.perf_counter() - t0:7.1f} s  {status}", flush=True)
    print(f"{done} cases in {time.perf_counter() - start:.0f} s; "
          f"{'all properties hold' if not failures else 'failed: ' + ', '.join(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
