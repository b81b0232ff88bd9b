"""set_float32_matmul_precision("medium"): fit's products on bfloat16 operands.

Under "medium", with any bf16 kernel of the plan (vdpbf16ps, AMX tiles, or the tiles'
scalar backend), the fused training step rounds the operands of every Dense layer with at
least 128 x 128 weights -- its input, W and output gradient dZ -- to bfloat16 (round to
nearest even) and accumulates the products in float32. The checks below emulate exactly that in NumPy (bf16 rounding, then float64
products) on ragged shapes -- 701 inputs (odd: the last pair is padded), 100 or 131
outputs (partial panels), batches of 33 rows (odd: the last row pair is padded) -- and
show that emulations without a part of the rounding are further off, so the bf16 kernels
are really what ran.
"""
import numpy as np
import pytest

import pynn
from pynn import _core
from pynn import reference as R

# Every bf16 kernel this CPU can run (dispatch/plan.h), pinned in turn: the emulations
# below are the contract of all of them. "amx-emulated" (the AMX kernels' blocking on the
# scalar tile backend) runs on every CPU with AVX512_BF16 (both kinds this project runs on),
# so the tile path is tested on every machine of this kind; the real AMX backend only on a
# CPU with AMX-BF16.
_FEATURES = _core.cpu_features()
_REAL_BF16_KERNELS = [
    pytest.param("avx512-bf16", marks=pytest.mark.skipif(
        not _FEATURES.get("avx512bf16"), reason="this CPU has no AVX512_BF16 (vdpbf16ps)")),
    pytest.param("amx", marks=pytest.mark.skipif(
        not _core.cpu_info()["amx_usable"],
        reason=f"this CPU has no AMX-BF16 ({_core.cpu_info()['brand'] or 'unknown CPU'}): the tile kernels' "
               "scalar backend (amx-emulated) is tested instead")),
]
_EMULATED = pytest.param("amx-emulated", marks=pytest.mark.skipif(
    not _FEATURES.get("avx512bf16"), reason="this CPU has no AVX512_BF16, which converts the tile kernels' operands"))


@pytest.fixture(params=_REAL_BF16_KERNELS + [_EMULATED])
def bf16_kernel(request):
    pynn.set_bf16_kernel(request.param)
    yield request.param
    pynn.set_bf16_kernel("auto")


@pytest.fixture(params=_REAL_BF16_KERNELS)
def fast_bf16_kernel(request):  # for the tests that train for seconds (the scalar backend would take minutes)
    pynn.set_bf16_kernel(request.param)
    yield request.param
    pynn.set_bf16_kernel("auto")


needs_bf16 = pytest.mark.usefixtures("bf16_kernel")


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


def _mlp(widths, seed=0):
    """Dense-ReLU-...-Dense with the given layer widths (inputs first)."""
    layers = []
    for n_in, n_out in zip(widths[:-1], widths[1:]):
        layers += [pynn.Dense(n_in, n_out), pynn.ReLU()]
    return pynn.Sequential(layers[:-1], seed=seed)


def _params_after_fit(make_model, X, y, **fit_args):
    model = make_model()
    model.fit(X, y, verbose=0, **fit_args)
    return [p.copy() for p in model.parameters()]


def _assert_same_parameters(a, b):
    for pa, pb in zip(a, b):
        np.testing.assert_array_equal(pa, pb)


def _emulate_step(params, X, y, rounded, float32_dx_of=None, scales=None):
    """Loss and the (dW, db) of each Dense layer after one softmax cross-entropy step of a
    Dense-ReLU-...-Dense network, in float64, with the products of layer l on operands
    rounded to bf16 where rounded[l]: its input and W in the forward, dZ and its input in
    dW, dZ and W in dX (except layer float32_dx_of's dX). Values pynn keeps in float32 are
    rounded to float32 first. scales[l]: a Dropout after layer l's ReLU (its keep mask
    times 1 / (1 - p)), or None."""
    Ws = [np.asarray(p, dtype=np.float64) for p in params[0::2]]
    bs = [np.asarray(p, dtype=np.float64) for p in params[1::2]]
    f32 = lambda a: np.asarray(a, dtype=np.float32).astype(np.float64)  # noqa: E731
    ops = [bf16 if r else f32 for r in rounded]
    inputs, h = [], np.asarray(X, dtype=np.float64)
    for l, (W, b) in enumerate(zip(Ws, bs)):
        inputs.append(h)
        h = ops[l](h) @ ops[l](W).T + b
        if l + 1 < len(Ws):
            h = np.maximum(h, 0.0)
            if scales is not None and scales[l] is not None:
                h = f32(h * scales[l])
    z = h - h.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    n = len(X)
    loss = -np.mean(np.log(p[np.arange(n), y]))
    dz = p.copy()
    dz[np.arange(n), y] -= 1.0
    dz /= n
    grads = [None] * len(Ws)
    for l in reversed(range(len(Ws))):
        r = ops[l]
        grads[l] = (r(dz).T @ r(inputs[l]), dz.sum(axis=0))
        if l > 0:
            r = f32 if l == float32_dx_of else r
            dz = (r(dz) @ r(Ws[l])) * (inputs[l] > 0)
            if scales is not None and scales[l - 1] is not None:
                dz = f32(dz * scales[l - 1])
    return loss, grads


def _one_sgd_step(make_model, X, y, precision):
    """(parameters before, loss, gradients) of a one-batch epoch under `precision`."""
    pynn.set_float32_matmul_precision(precision)
    model = make_model()
    before = [p.copy() for p in model.parameters()]
    history = model.fit(X, y, epochs=1, batch_size=len(X), shuffle=False, verbose=0, optimizer=pynn.SGD(lr=0.01))
    return before, history.history["loss"][0], [g.copy() for g in model.gradients()]


def _assert_matches(got_loss, got_grads, loss, grads, db_atols=None):
    assert got_loss == pytest.approx(loss, rel=1e-5)
    for l, (dW, db) in enumerate(grads):
        scale = np.abs(dW).max()
        # A bf16 rounding of dZ or of an activation can fall the other way for an element
        # whose float32 and float64 values straddle a rounding boundary: one bf16 step
        # (2^-8) in one term.
        np.testing.assert_allclose(got_grads[2 * l], dW, rtol=0, atol=5e-3 * scale, err_msg=f"dW of layer {l}")
        # The bias gradient stays a float32 sum of dZ.
        db_atol = 1e-6 if db_atols is None else db_atols[l]
        np.testing.assert_allclose(got_grads[2 * l + 1], db, rtol=1e-3, atol=db_atol * np.abs(db).max(),
                                   err_msg=f"db of layer {l}")


@needs_bf16
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("batch", [33, 8, 1])
def test_one_step_matches_a_bf16_emulation(threads, batch):
    """A large first layer (panels) in bf16, a small second one (100 x 10) in float32."""
    pynn.set_num_threads(threads)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((batch, 701)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    results = {precision: _one_sgd_step(lambda: _mlp((701, 100, 10)), X, y, precision) for precision in ("medium", "highest")}
    for rounded, precision in (([True, False], "medium"), ([False, False], "highest")):
        before, got_loss, got_grads = results[precision]
        _assert_matches(got_loss, got_grads, *_emulate_step(before, X, y, rounded))
    # The two precisions really differ (the bf16 kernels ran under "medium").
    assert results["medium"][1] != pytest.approx(results["highest"][1], rel=1e-6)
    dW_medium, dW_highest = results["medium"][2][0], results["highest"][2][0]
    assert np.abs(dW_medium - dW_highest).max() > 1e-4 * np.abs(dW_highest).max()


def _rms(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2)))


@needs_bf16
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("batch", [33, 8, 1])
@pytest.mark.parametrize("widths", [(701, 161, 131, 10), (200, 99, 10), (65, 301, 261, 10)],
                         ids=["panels+rows", "rows", "rows+hidden panels"])
def test_hidden_layers_take_bf16_too(threads, batch, widths):
    """Every Dense layer of at least 128 x 128 weights runs on bf16 operands: a hidden
    161 -> 131 layer (its forward, dW and dX; odd widths pad the last pair) after a
    first layer split by panels, a 200 -> 99 first layer split by rows (below 256 KB), or
    a 65 -> 301 first layer by rows before a 301 -> 261 hidden layer large enough to own
    its panels (its dW and update by owned panels); the 10-output layer stays float32."""
    pynn.set_num_threads(threads)
    rng = np.random.default_rng(6)
    X = rng.standard_normal((batch, widths[0])).astype(np.float32)
    y = rng.integers(0, 10, batch)

    before, got_loss, got_grads = _one_sgd_step(lambda: _mlp(widths), X, y, "medium")
    rounded = [n_in * n_out >= 128 * 128 for n_in, n_out in zip(widths[:-1], widths[1:])]
    loss, grads = _emulate_step(before, X, y, rounded)
    _assert_matches(got_loss, got_grads, loss, grads)
    # And not the emulations with a part of the last bf16 layer in float32: its dW (its
    # forward and dW products) and the dW of the layer before it (its dX) are several times
    # further from those.
    last = max(l for l, r in enumerate(rounded) if r)
    _, alt = _emulate_step(before, X, y, [r and l != last for l, r in enumerate(rounded)])
    assert 3 * _rms(got_grads[2 * last], grads[last][0]) < _rms(got_grads[2 * last], alt[last][0])
    if last > 0:
        _, alt = _emulate_step(before, X, y, rounded, float32_dx_of=last)
        prev = 2 * (last - 1)
        assert 3 * _rms(got_grads[prev], grads[last - 1][0]) < _rms(got_grads[prev], alt[last - 1][0])


@needs_bf16
@pytest.mark.parametrize("widths", [(701, 100, 10), (701, 161, 131, 10), (200, 99, 10), (65, 301, 261, 10)])
def test_same_parameters_for_any_thread_count(widths):
    pynn.set_float32_matmul_precision("medium")
    rng = np.random.default_rng(2)
    X = rng.standard_normal((300, widths[0])).astype(np.float32)
    y = rng.integers(0, 10, 300)
    results = []
    for threads in (1, 2):
        pynn.set_num_threads(threads)
        results.append(_params_after_fit(lambda: _mlp(widths), X, y, epochs=2, batch_size=37))
    _assert_same_parameters(*results)


@needs_bf16
def test_batch_size_changes_between_fits():
    """The bf16 operand buffers follow the workspace when a later fit uses larger batches
    (and keep working with smaller ones): fits at batch 8, 50 and 7 give the same parameters
    on 1 and 2 threads (the sanitizer job runs this under ASan)."""
    pynn.set_float32_matmul_precision("medium")
    rng = np.random.default_rng(7)
    X = rng.standard_normal((101, 200)).astype(np.float32)
    y = rng.integers(0, 10, 101)
    results = []
    for threads in (1, 2):
        pynn.set_num_threads(threads)
        model = _mlp((200, 161, 131, 10))
        for batch in (8, 50, 7):
            model.fit(X, y, epochs=1, batch_size=batch, verbose=0)
        results.append([p.copy() for p in model.parameters()])
    _assert_same_parameters(*results)
    assert all(np.isfinite(p).all() for p in results[0])


@needs_bf16
def test_predict_takes_the_plan_of_the_precision_in_force():
    """Under "medium" predict runs the bf16 layers on bf16 operands as fit does (X and W0
    rounded, float32 accumulation; the 100 x 10 layer float32); under "highest", after a
    medium epoch, it is float32 again (the epoch updated W0's bf16 copy only: predict must
    re-pack the float32 one)."""
    pynn.set_float32_matmul_precision("medium")
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 701)).astype(np.float32)
    y = rng.integers(0, 10, 300)
    model = _mlp((701, 100, 10))
    model.predict_proba(X[:4])  # packs the panels before training
    model.fit(X, y, epochs=1, batch_size=50, verbose=0)
    W0, b0, W1, b1 = (p.astype(np.float64) for p in model.parameters())

    def proba(first_operand):
        z = np.maximum(first_operand(X) @ first_operand(W0).T + b0, 0) @ W1.T + b1
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    exact, rounded = proba(lambda a: a.astype(np.float64)), proba(bf16)
    got = model.predict_proba(X)
    np.testing.assert_allclose(got, rounded, rtol=1e-4, atol=1e-6)
    assert np.abs(got - exact).max() > 10 * np.abs(got - rounded).max()  # the bf16 kernel really ran
    pynn.set_float32_matmul_precision("highest")
    np.testing.assert_allclose(model.predict_proba(X), exact, rtol=1e-4, atol=1e-6)


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


@pytest.mark.parametrize("case", ["small layers", "float64"])
def test_medium_changes_nothing_where_it_does_not_apply(case):
    """bf16 is for float32 layers of >= 128 x 128 weights in the one-region step: small
    layers (50 x 100, 100 x 10) or a float64 model train bit-identically under "medium"
    and "highest"."""
    rng = np.random.default_rng(5)
    n_in, dtype = (50, "float32") if case == "small layers" else (701, "float64")
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
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("batch", [33, 8, 1])
def test_dropout_networks_take_bf16_too(threads, batch):
    """A network with Dropout takes the one-region step, so "medium" runs its large layers
    on bf16 operands too: one step equals the emulation with the keep masks of
    pynn.reference.dropout_keep_mask (train step 0, the Dropout layers' indices) applied
    after each ReLU, and not the float32 one."""
    pynn.set_num_threads(threads)
    rng = np.random.default_rng(7)
    X = rng.standard_normal((batch, 701)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    p1, p2 = 0.3, 0.2

    def make():
        return pynn.Sequential([pynn.Dense(701, 161), pynn.ReLU(), pynn.Dropout(p1), pynn.Dense(161, 131), pynn.ReLU(),
                                pynn.Dropout(p2), pynn.Dense(131, 10)], seed=3)

    scales = [R.dropout_keep_mask(3, 0, index, (batch, width), p) / (1.0 - p)
              for index, width, p in ((2, 161, p1), (5, 131, p2))] + [None]
    before, got_loss, got_grads = _one_sgd_step(make, X, y, "medium")
    loss, grads = _emulate_step(before, X, y, [True, True, False], scales=scales)
    # db of the hidden layers is a sum over rows that can cancel, of dZ computed from
    # bf16-rounded operands: one element whose float32 and float64 values straddle a bf16
    # rounding boundary moves it by ~2^-8 of one term. Measured over the kernels, batches
    # and threads here, beyond rtol: 3.1e-5 of max |db| (layer 0, under layer 1's bf16 dX)
    # and 4.6e-6 (layer 1). The output layer's db (p - y) stays as tight as ever.
    _assert_matches(got_loss, got_grads, loss, grads, db_atols=[2e-4, 5e-5, 1e-6])
    _, float32_grads = _emulate_step(before, X, y, [False, False, False], scales=scales)
    assert 3 * _rms(got_grads[0], grads[0][0]) < _rms(got_grads[0], float32_grads[0][0])
    assert {p["kernel"] for p in make().kernel_plan(batch)} == {pynn.get_bf16_kernel()["kernel"], "avx512"}


@pytest.mark.usefixtures("fast_bf16_kernel")
def test_medium_learns_as_well_as_highest():
    """Held-out loss after three epochs on an MNIST-shaped problem: within 10%."""
    X, y = pynn.datasets.make_mnist_like(6000, seed=1)
    Xte, yte = pynn.datasets.make_mnist_like(2000, seed=2)
    losses = {}
    for precision in ("highest", "medium"):
        pynn.set_float32_matmul_precision(precision)
        model = pynn.Sequential([pynn.Dense(784, 256), pynn.ReLU(), pynn.Dense(256, 128), pynn.ReLU(),
                                 pynn.Dense(128, 10)], seed=0)
        model.fit(X, y, epochs=3, batch_size=64, verbose=0, optimizer=pynn.Adam(lr=1e-3))
        p = model.predict_proba(Xte)
        losses[precision] = -np.mean(np.log(p[np.arange(len(yte)), yte]))
    assert losses["medium"] == pytest.approx(losses["highest"], rel=0.10), losses


@needs_bf16
def test_prelu_and_dropout_networks_under_medium_are_thread_count_invariant():
    """PReLU and Dropout networks take the one-region step, so "medium" applies to them:
    two epochs give the same parameters on 1 and 2 threads, and not those of "highest"."""
    rng = np.random.default_rng(8)
    X = rng.standard_normal((300, 701)).astype(np.float32)
    y = rng.integers(0, 10, 300)

    def make():
        return pynn.Sequential([pynn.Dense(701, 161), pynn.PReLU(161), pynn.Dropout(0.2), pynn.Dense(161, 131),
                                pynn.PReLU(), pynn.Dense(131, 10)], seed=4)

    results = {}
    for precision, threads in (("medium", 1), ("medium", 2), ("highest", 2)):
        pynn.set_float32_matmul_precision(precision)
        pynn.set_num_threads(threads)
        results[precision, threads] = _params_after_fit(make, X, y, epochs=2, batch_size=37)
    _assert_same_parameters(results["medium", 1], results["medium", 2])
    assert not np.array_equal(results["medium", 2][0], results["highest", 2][0])
