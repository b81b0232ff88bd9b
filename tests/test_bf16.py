"""set_float32_matmul_precision("medium"): fit's first-layer products on bfloat16 operands.

Under "medium", on a CPU with AVX512_BF16, the fused training step rounds the batch rows,
the first layer's W and its output gradient dZ0 to bfloat16 (round to nearest even) and
accumulates the products in float32 (vdpbf16ps). The checks below emulate exactly that in
NumPy (bf16 rounding, then float64 products) on ragged shapes -- 701 inputs (odd: the
last pair is padded), 100 outputs (a partial panel), batches of 33 rows (odd: the last
row pair is padded) -- and show that "highest" differs from the emulation where "medium"
matches it, so the bf16 kernels are really what ran.
"""
import numpy as np
import pytest

import pynn
from pynn import _core

needs_bf16 = pytest.mark.skipif(not _core.bf16_supported(),
                                reason="this CPU has no AVX512_BF16: 'medium' precision runs float32 here")


@pytest.fixture(autouse=True)
def _restore():
    threads, precision = pynn.get_num_threads(), pynn.get_float32_matmul_precision()
    yield
    pynn.set_num_threads(threads)
    pynn.set_float32_matmul_precision(precision)


def test_the_setting_round_trips_and_rejects_bad_values():
    assert pynn.get_float32_matmul_precision() == "highest"  # the default
    for p in ("medium", "high", "highest"):
        pynn.set_float32_matmul_precision(p)
        assert pynn.get_float32_matmul_precision() == p
    with pytest.raises(ValueError, match="precision must be one of .*'medium'.*got 'low'"):
        pynn.set_float32_matmul_precision("low")
    with pytest.raises(TypeError, match="precision must be a str.*got int"):
        pynn.set_float32_matmul_precision(16)
    assert pynn.get_float32_matmul_precision() == "highest"


def bf16(a):
    """float32 -> nearest bfloat16 (ties to even), returned as float64."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    return u.astype(np.uint32).view(np.float32).astype(np.float64)


def _net(n_in=701, hidden=100, classes=10, seed=0):
    return pynn.Sequential([pynn.Dense(n_in, hidden), pynn.ReLU(), pynn.Dense(hidden, classes)], seed=seed)


def _params_after_fit(make_model, X, y, **fit_args):
    model = make_model()
    model.fit(X, y, verbose=0, **fit_args)
    return [p.copy() for p in model.parameters()]


def _assert_same_parameters(a, b):
    for pa, pb in zip(a, b):
        np.testing.assert_array_equal(pa, pb)


def _emulate_first_step(params, X, y, round_to_bf16):
    """Loss, dW0 and db0 of one softmax cross-entropy step, float64, with the first layer's
    operands rounded to bf16 (or not)."""
    W0, b0, W1, b1 = (np.asarray(p, dtype=np.float64) for p in params)
    r = bf16 if round_to_bf16 else (lambda a: np.asarray(a, dtype=np.float64))
    Xr = r(X)
    h = np.maximum(Xr @ r(W0).T + b0, 0.0)
    z = h @ W1.T + b1
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    n = len(X)
    loss = -np.mean(np.log(p[np.arange(n), y]))
    dz = p.copy()
    dz[np.arange(n), y] -= 1.0
    dz /= n
    dh = (dz @ W1) * (h > 0)
    dz0 = r(dh.astype(np.float32)) if round_to_bf16 else dh
    return loss, dz0.T @ Xr, dh.sum(axis=0)


@needs_bf16
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("batch", [33, 8, 1])
def test_one_step_matches_a_bf16_emulation(threads, batch):
    pynn.set_num_threads(threads)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((batch, 701)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    results = {}
    for precision in ("medium", "highest"):
        pynn.set_float32_matmul_precision(precision)
        model = _net()
        before = [p.copy() for p in model.parameters()]
        history = model.fit(X, y, epochs=1, batch_size=batch, shuffle=False, verbose=0, optimizer=pynn.SGD(lr=0.01))
        results[precision] = (history.history["loss"][0], model.gradients()[0].copy(), model.gradients()[1].copy())
    for round_to_bf16, precision in ((True, "medium"), (False, "highest")):
        loss, dW0, db0 = _emulate_first_step(before, X, y, round_to_bf16)
        got_loss, got_dW0, got_db0 = results[precision]
        scale = np.abs(dW0).max()
        assert got_loss == pytest.approx(loss, rel=1e-5)
        # A bf16 rounding of dZ0 can fall the other way for an element whose float32 and
        # float64 values straddle a rounding boundary: one bf16 step (2^-8) in one term.
        np.testing.assert_allclose(got_dW0, dW0, rtol=0, atol=5e-3 * scale)
        np.testing.assert_allclose(got_db0, db0, rtol=1e-4, atol=1e-7)  # the bias gradient stays float32
    # The two precisions really differ (the bf16 kernels ran under "medium").
    assert results["medium"][0] != pytest.approx(results["highest"][0], rel=1e-6)
    assert np.abs(results["medium"][1] - results["highest"][1]).max() > 1e-4 * np.abs(results["highest"][1]).max()


@needs_bf16
def test_same_parameters_for_any_thread_count():
    pynn.set_float32_matmul_precision("medium")
    rng = np.random.default_rng(2)
    X = rng.standard_normal((300, 701)).astype(np.float32)
    y = rng.integers(0, 10, 300)
    results = []
    for threads in (1, 2):
        pynn.set_num_threads(threads)
        results.append(_params_after_fit(_net, X, y, epochs=2, batch_size=37))
    _assert_same_parameters(*results)


@needs_bf16
def test_predict_after_a_medium_epoch_is_float32():
    """The epoch updates the bf16 copy of W0 only; predict must re-pack the float32 one."""
    pynn.set_float32_matmul_precision("medium")
    rng = np.random.default_rng(3)
    X = rng.standard_normal((200, 701)).astype(np.float32)
    y = rng.integers(0, 10, 200)
    model = _net()
    model.predict_proba(X[:4])  # packs the float32 panels before training
    model.fit(X, y, epochs=1, batch_size=50, verbose=0)
    W0, b0, W1, b1 = (p.astype(np.float64) for p in model.parameters())
    z = np.maximum(X.astype(np.float64) @ W0.T + b0, 0) @ W1.T + b1
    expected = np.exp(z - z.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(model.predict_proba(X), expected, rtol=1e-4, atol=1e-6)


@needs_bf16
def test_a_diverging_step_changes_nothing():
    pynn.set_float32_matmul_precision("medium")
    rng = np.random.default_rng(4)
    X = rng.standard_normal((64, 701)).astype(np.float32) * np.float32(1e30)  # dZ0^T X overflows
    y = rng.standard_normal((64, 4)).astype(np.float32)
    model = pynn.Sequential([pynn.Dense(701, 100), pynn.ReLU(), pynn.Dense(100, 4)], loss="mse", seed=0)
    before = [p.copy() for p in model.parameters()]
    with pytest.raises(pynn.DivergenceError, match="gradient"):
        model.fit(X, y, epochs=1, batch_size=32, verbose=0, terminate_on_nan=False)
    _assert_same_parameters(before, model.parameters())


@pytest.mark.parametrize("case", ["small first layer", "float64"])
def test_medium_changes_nothing_where_it_does_not_apply(case):
    """bf16 is for a large float32 first layer (over 256 KB); others stay bit-identical."""
    rng = np.random.default_rng(5)
    n_in, dtype = (50, "float32") if case == "small first layer" else (701, "float64")
    X = rng.standard_normal((120, n_in)).astype(dtype)
    y = rng.integers(0, 10, 120)
    results = []
    for precision in ("highest", "medium"):
        pynn.set_float32_matmul_precision(precision)
        results.append(_params_after_fit(
            lambda: pynn.Sequential([pynn.Dense(n_in, 100), pynn.ReLU(), pynn.Dense(100, 10)], dtype=dtype, seed=0),
            X, y, epochs=1, batch_size=32))
    _assert_same_parameters(*results)


@needs_bf16
def test_medium_learns_as_well_as_highest():
    """Held-out loss after three epochs on an MNIST-shaped problem: within 10%."""
    X, y = pynn.datasets.make_mnist_like(6000, seed=1)
    Xte, yte = pynn.datasets.make_mnist_like(2000, seed=2)
    losses = {}
    for precision in ("highest", "medium"):
        pynn.set_float32_matmul_precision(precision)
        model = pynn.Sequential([pynn.Dense(784, 256), pynn.ReLU(), pynn.Dense(256, 10)], seed=0)
        model.fit(X, y, epochs=3, batch_size=64, verbose=0, optimizer=pynn.Adam(lr=1e-3))
        p = model.predict_proba(Xte)
        losses[precision] = -np.mean(np.log(p[np.arange(len(yte)), yte]))
    assert losses["medium"] == pytest.approx(losses["highest"], rel=0.10), losses
