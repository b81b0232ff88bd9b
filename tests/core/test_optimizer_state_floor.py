"""Optimizer state never lingers where the update's products are subnormal
(csrc/kernels/optimizers.h: state_floor, flush_below_floor, flush_subnormal).

When a weight's gradient is exactly 0 from some step on (a ReLU unit that stopped firing,
an input feature that is always 0), Adam's m and v and SGD's momentum buffer decay
geometrically; under torch's formulas they sink into the subnormal range and stick there,
and long before that the update's products ((1 - beta1) m, lr m / (1 - beta1^t),
momentum * buf) are subnormal. Subnormal arithmetic is slow on CPUs. pynn stores m and the
momentum buffer below 2^-100 (float32; 2^-996 in float64) as 0, and v below the smallest
normal number.

These tests start such values just above their threshold and check, step by step, on
every update path (the AVX-512 panel update of a float32 W, also in the packed layout of a
large first layer, the generic loop of the biases and of float64, the BLAS kernel), that
they go from at least the threshold straight to exactly 0, equal to pynn.reference's at
every step, that the weights agree with it, and that NaN is never flushed.
"""
import numpy as np
import pytest

import pynn
from pynn import _core
from pynn import reference as R

ZERO_FEATURE = 2
STEPS = 40
# (n_in, n_out): a small W, and one over 256 KB, which a float32 epoch keeps in the
# forward's panel layout with its moments (FastPath::packed_first) on AVX-512 CPUs.
SHAPES = [(5, 3), (600, 128)]
KERNELS = ["auto", "blas"]
DTYPES = ["float32", "float64"]


@pytest.fixture(autouse=True)
def _restore_kernel():
    yield
    _core.set_kernel("auto")


def _floor(dtype):
    return np.finfo(dtype).tiny * 2.0**26


def _tiny(dtype):
    return np.finfo(dtype).tiny


def test_floor_is_2_to_the_minus_100_in_float32():
    assert R.state_floor(np.float32) == 2.0**-100
    assert R.state_floor(np.float64) == 2.0**-996


def _model_with_small_state(dtype, opt, values, shape=SHAPES[0]):
    """A model trained one step with `opt`, whose zero-gradient weights' state buffers are
    then set to `values` (one array per buffer, repeated over the column)."""
    n_in, n_out = shape
    rng = np.random.default_rng(0)
    X = rng.normal(size=(16, n_in)).astype(dtype)
    X[:, ZERO_FEATURE] = 0.0  # dLoss/dW[:, ZERO_FEATURE] = dZ^T X[:, ZERO_FEATURE] is exactly 0
    y = rng.normal(size=(16, n_out)).astype(dtype)
    model = pynn.Sequential([pynn.Dense(n_in, n_out)], loss="mse", dtype=dtype, seed=0)
    model.fit(X, y, epochs=1, batch_size=len(X), optimizer=opt, shuffle=False, verbose=0)
    W = model.parameters()[0]
    flat = model.state().params
    assert np.shares_memory(W, flat) and np.array_equal(flat[:W.size].reshape(W.shape), W)
    cols = np.arange(n_out) * n_in + ZERO_FEATURE  # W[:, ZERO_FEATURE] in the flat buffer
    for buf, value in zip(model.state().optimizer_buffers, values):
        buf[cols] = np.resize(value, n_out)
    return model, X, y, cols


def _in_gap(a, threshold):
    a = np.abs(a)
    return (a > 0) & (a < threshold)


def _split(flat, model):
    """The flat buffer as the reference's per-parameter arrays (W, b)."""
    n_out, n_in = model.parameters()[0].shape
    return [flat[:n_out * n_in].reshape(n_out, n_in).copy(), flat[n_out * n_in:].copy()]


def _follow(model, opt, ref_opt, ref_buffers, thresholds, X, y, cols):
    """Train model and pynn.reference side by side for STEPS steps. At every step, each
    state buffer holds no value in (0, its threshold), and the zero-gradient weights'
    state equals the reference's (to rounding: a 0 on one side only fails). Returns the
    reference model and those weights' state per step."""
    params = [p.copy() for p in model.parameters()]
    ref_model = R.MLP([layer.get_config() for layer in model.layers], params, "mse")
    seen = []
    for step in range(STEPS):
        model.fit(X, y, epochs=1, batch_size=len(X), optimizer=opt, shuffle=False, verbose=0)
        ref_model.fit_epoch(X, y, len(X), ref_opt, np.arange(len(X)))
        bufs = model.state().optimizer_buffers
        for buf, ref_buf, threshold in zip(bufs, ref_buffers(), thresholds):
            assert not _in_gap(buf, threshold).any(), f"a state value in (0, {threshold}) after step {step}"
            assert not _in_gap(ref_buf[0], threshold).any()
            np.testing.assert_allclose(buf[cols], ref_buf[0][:, ZERO_FEATURE], rtol=1e-6, atol=0,
                                       err_msg=f"step {step}")
        seen.append([buf[cols].copy() for buf in bufs])
    return ref_model, seen


def _assert_weights_match(model, ref_model, dtype, W_after_flush):
    """W as the reference's within rounding: absolutely near 0 (a float64 weight of 3e-6
    differs in its 12th digit after 40 steps), and in float32 Adam more loosely, since it
    divides gradients that are rounding noise by their own size (docs/reliability.md).
    The zero-gradient column has not moved at all since its state became 0."""
    W, W_ref = model.parameters()[0], ref_model.params[0]
    rtol, atol = (1e-3, 2e-6) if dtype == "float32" else (1e-12, 1e-15)
    np.testing.assert_allclose(W, W_ref, rtol=rtol, atol=atol)
    np.testing.assert_array_equal(W[:, ZERO_FEATURE], W_after_flush)


def _adam_side_by_side(dtype, kernel, shape, opt, ref, m_values, v_values):
    _core.set_kernel(kernel)
    model, X, y, cols = _model_with_small_state(dtype, opt, [m_values, v_values], shape)
    m0, v0 = (b.copy() for b in model.state().optimizer_buffers)
    ref.state.t = model.state().opt_step
    ref.state.m, ref.state.v = _split(m0, model), _split(v0, model)
    ref_model, seen = _follow(model, opt, ref, lambda: (ref.state.m, ref.state.v),
                              (_floor(dtype), _tiny(dtype)), X, y, cols)
    return model, ref_model, seen


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_moments_go_from_their_thresholds_straight_to_zero(dtype, kernel, shape):
    # m needs 16 steps of beta1 = 0.9 to fall below the floor from 5x it; v from 1.5x the
    # smallest normal number needs 406 of beta2 = 0.999, so beta2 is 0.9 as well.
    opt = pynn.Adam(lr=1e-3, betas=(0.9, 0.9))
    ref = R.Adam(lr=1e-3, betas=(0.9, 0.9))
    m_values, v_values = 5 * _floor(dtype) * np.array([1, -1, 1]), 1.5 * _tiny(dtype)
    model, ref_model, seen = _adam_side_by_side(dtype, kernel, shape, opt, ref, m_values, v_values)
    m_seen, v_seen = np.array([s[0] for s in seen]), np.array([s[1] for s in seen])
    assert (np.abs(m_seen[0]) >= _floor(dtype)).all(), "m fell below the floor on the first step"
    assert (v_seen[0] >= _tiny(dtype)).all(), "v fell below the smallest normal number on the first step"
    assert (m_seen[-1] == 0).all() and (v_seen[-1] == 0).all(), "the decaying moments never reached 0"
    # v at ~1e-38 is below the floor but kept: flushing it with m kept would leave eps alone
    # in the denominator.
    assert ((v_seen > 0) & (v_seen < _floor(dtype))).any()
    flushed = int(np.argmax((m_seen == 0).all(axis=1)))
    W_now = model.parameters()[0][:, ZERO_FEATURE].copy()
    _assert_weights_match(model, ref_model, dtype, W_now)
    assert flushed < STEPS - 1


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_keeps_m_at_exactly_the_floor_then_flushes(dtype, kernel):
    """beta1 = 0.5 halves m exactly: 2 floor -> floor (kept: the test is |m| < floor) -> 0."""
    opt = pynn.AdamW(lr=1e-3, betas=(0.5, 0.9), weight_decay=0.0)
    ref = R.AdamW(lr=1e-3, betas=(0.5, 0.9), weight_decay=0.0)
    _, _, seen = _adam_side_by_side(dtype, kernel, SHAPES[0], opt, ref, 2 * _floor(dtype), _tiny(dtype) * 1e6)
    assert (seen[0][0] == _floor(dtype)).all() and (seen[1][0] == 0).all()


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_momentum_buffer_goes_from_the_floor_straight_to_zero(dtype, kernel, nesterov, shape):
    _core.set_kernel(kernel)
    opt = pynn.SGD(lr=0.01, momentum=0.9, nesterov=nesterov)
    model, X, y, cols = _model_with_small_state(dtype, opt, [5 * _floor(dtype) * np.array([1, -1, 1])], shape)
    (buf0,) = (b.copy() for b in model.state().optimizer_buffers)
    ref = R.SGD(lr=0.01, momentum=0.9, nesterov=nesterov)
    ref.state.t = model.state().opt_step
    ref.state.momentum_buffers = _split(buf0, model)
    ref_model, seen = _follow(model, opt, ref, lambda: (ref.state.momentum_buffers,), (_floor(dtype),), X, y, cols)
    bufs = np.array([s[0] for s in seen])
    assert (np.abs(bufs[0]) >= _floor(dtype)).all(), "the buffer fell below the floor on the first step"
    assert (bufs[-1] == 0).all(), "the decaying momentum buffers never reached 0"
    _assert_weights_match(model, ref_model, dtype, model.parameters()[0][:, ZERO_FEATURE].copy())


@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_keeps_the_buffer_at_exactly_the_floor_then_flushes(dtype):
    opt = pynn.SGD(lr=0.01, momentum=0.5)
    model, X, y, cols = _model_with_small_state(dtype, opt, [2 * _floor(dtype)])
    got = []
    for _ in range(2):
        model.fit(X, y, epochs=1, batch_size=len(X), optimizer=opt, shuffle=False, verbose=0)
        got.append(model.state().optimizer_buffers[0][cols].copy())
    assert (got[0] == _floor(dtype)).all() and (got[1] == 0).all()


def test_sgd_without_momentum_leaves_the_buffer_alone():
    opt = pynn.SGD(lr=0.01)
    model, X, y, cols = _model_with_small_state("float32", opt, [np.float32(1e-40)])
    before = model.state().optimizer_buffers[0].copy()
    model.fit(X, y, epochs=2, batch_size=len(X), optimizer=opt, shuffle=False, verbose=0)
    np.testing.assert_array_equal(model.state().optimizer_buffers[0], before)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("which", ["adam-m", "adam-v", "sgd"])
def test_flush_keeps_nan(which, dtype, kernel):
    """|NaN| < threshold is false: a NaN state value makes a NaN weight, which fit reports
    as divergence (and undoes), instead of being hidden as 0."""
    _core.set_kernel(kernel)
    if which == "sgd":
        opt, values = pynn.SGD(lr=0.01, momentum=0.9), [_floor(dtype)]
    else:
        opt, values = pynn.Adam(lr=1e-3, betas=(0.9, 0.9)), [5 * _floor(dtype), 1.5 * _tiny(dtype)]
    model, X, y, cols = _model_with_small_state(dtype, opt, values)
    model.state().optimizer_buffers[1 if which == "adam-v" else 0][cols[0]] = np.nan
    before = model.state().params.copy()
    with pytest.warns(RuntimeWarning, match="diverged"):
        model.fit(X, y, epochs=1, batch_size=len(X), optimizer=opt, shuffle=False, verbose=0)
    np.testing.assert_array_equal(model.state().params, before)
