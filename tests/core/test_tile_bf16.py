"""The bfloat16 tile kernels (csrc/kernels/tile_bf16.h) through their test bindings.

The scalar tile backend runs everywhere the bindings can pack operands (AVX512_BF16): it
is checked against a float64 NumPy emulation of bf16 operands (round to nearest even) on
ragged shapes -- rows of 1, 7, 33, 257 (partial 16-row tiles), outputs likewise (partial
16- and 32-column tiles) and summed dimensions of 1, 31, 32, 33, 701 (odd: a padded pair;
K tails of 1..15 pairs) -- within the error bound of float32 accumulation, and is shown to
be further off from emulations that skip the rounding of one operand. On operands whose
sums NumPy gets exactly it is compared bit for bit with an emulation of TDPBF16PS as the
Intel SDM describes it (even and odd products summed apart per instruction). Where the
CPU has AMX-BF16 the amx backend must give the scalar backend's bits exactly (and a
failure says which description the silicon follows); the existing avx512 (vdpbf16ps)
kernels must agree with it within float32 rounding.
"""
import itertools
import re

import numpy as np
import pytest

from pynn import _core

pytestmark = pytest.mark.skipif(
    not _core.cpu_features().get("avx512bf16", False),
    reason="this CPU has no AVX512_BF16: the tile bindings pack operands with the avx512 bf16 packers")


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^flags\s*:(.*)$", f.read(), re.M)
        return set(m.group(1).split()) if m else set()
    except OSError:
        return set()


needs_amx = pytest.mark.skipif(not _core.amx_usable(),
                               reason=f"this CPU has no AMX-BF16 ({_core.amx_status()})")

U = 2.0 ** -24  # unit roundoff of float32
SIZES = [1, 7, 33, 257]
SUMMED = [1, 31, 32, 33, 701]  # K tails: 1, 16 (no tail), 16, 17, 351 pairs
WIDE = SIZES + [50]  # output columns: + a last panel of 18 (two tiles, the second ragged)
ACTS = [("identity", 0.0), ("relu", 0.0), ("leaky_relu", 0.1)]


def bf16(a):
    """float32 -> nearest bfloat16 (ties to even), returned as float64."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    return u.astype(np.uint32).view(np.float32).astype(np.float64)


def f64(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def _rng(*shape):
    return np.random.default_rng(abs(hash(shape)) % 2**32)


def _act(z, act, alpha):
    if act == "relu":
        return np.maximum(z, 0.0)
    if act == "leaky_relu":
        return np.where(z > 0, z, z * np.float64(np.float32(alpha)))
    return z


def _check_bound(got, ref, S, n):
    """|got - ref| within the bound of a float32 sum of n products (each add rounded once)
    and two more roundings (bias add, alpha), relative to S = the sum of |products|."""
    err = np.abs(got.astype(np.float64) - ref)
    tol = 1.0001 * (n + 2) * U * S
    worst = np.max(err / np.maximum(tol, np.finfo(np.float64).tiny), initial=0.0)
    assert np.all(err <= tol), f"error {worst:.3g} x the float32 bound"


def _check_rounding_matters(got, S, exact, *skipped):
    """Each emulation in `skipped` (one operand's rounding left out) must be clearly
    further from `got` than the exact emulation is, on average over the outputs (relative
    to S): the kernels really rounded that operand. Needs 16 outputs or more (on a single
    one the skipped roundings may cancel by chance)."""
    if got.size < 16:
        return
    rel = lambda ref: np.mean(np.abs(got.astype(np.float64) - ref) / np.maximum(S, 1e-300))  # noqa: E731
    ok = rel(exact)
    for name, ref in skipped:
        off = rel(ref)
        assert off > 10 * max(ok, U), f"without rounding {name}: {off:.3g} vs {ok:.3g} with it"


# ---------------------------------------------------------------- forward
FORWARD_SHAPES = list(itertools.product(SIZES, sorted(set(SUMMED + [7, 257])), WIDE))


@pytest.mark.parametrize("B,I,O", FORWARD_SHAPES)
def test_forward_scalar_matches_bf16_emulation(B, I, O):
    act, alpha = ACTS[(B + I + O) % 3]
    rng = _rng(B, I, O)
    X = rng.standard_normal((B, I)).astype(np.float32)
    W = rng.standard_normal((O, I)).astype(np.float32)
    b = rng.standard_normal(O).astype(np.float32) if (B + O) % 2 else None
    Y = _core._tile_forward("scalar", X, W, b, act, alpha)
    assert Y.shape == (B, O) and Y.dtype == np.float32
    bias = f64(b) if b is not None else 0.0
    S = np.abs(bf16(X)) @ np.abs(bf16(W)).T + np.abs(bias)
    ref = _act(bf16(X) @ bf16(W).T + bias, act, alpha)
    _check_bound(Y, ref, S, I)
    if act == "identity":  # relu zeroes the rounding differences of half the outputs
        _check_rounding_matters(Y, S, ref, ("X", f64(X) @ bf16(W).T + bias), ("W", bf16(X) @ f64(W).T + bias))


# ---------------------------------------------------------------- dX
DX_SHAPES = list(itertools.product(SIZES, WIDE, SUMMED))  # B, I (columns), O (summed)


@pytest.mark.parametrize("B,I,O", DX_SHAPES)
def test_dx_scalar_matches_bf16_emulation(B, I, O):
    act, alpha = ACTS[(B + I + O) % 3]
    rng = _rng(B, I, O, 1)
    dY = rng.standard_normal((B, O)).astype(np.float32)
    W = rng.standard_normal((O, I)).astype(np.float32)
    y_prev = rng.standard_normal((B, I)).astype(np.float32) if act != "identity" else None
    dX = _core._tile_dx("scalar", dY, W, y_prev, act, alpha)
    assert dX.shape == (B, I)
    grad = 1.0 if y_prev is None else np.where(y_prev > 0, 1.0, np.float64(np.float32(alpha)))
    S = np.abs(bf16(dY)) @ np.abs(bf16(W))
    _check_bound(dX, (bf16(dY) @ bf16(W)) * grad, S, O)
    if act == "identity":
        _check_rounding_matters(dX, S, bf16(dY) @ bf16(W), ("dY", f64(dY) @ bf16(W)), ("W", bf16(dY) @ f64(W)))


# ---------------------------------------------------------------- dW, db
DW_SHAPES = list(itertools.product([1, 7, 31, 32, 33, 257], SIZES, sorted(set(SUMMED + [7, 257]))))  # B, O, I


def _sequential_column_sums(dY):
    acc = np.zeros(dY.shape[1], dtype=np.float32)
    for row in dY:
        acc += row  # one float32 add per row, in row order
    return acc


@pytest.mark.parametrize("B,O,I", DW_SHAPES)
def test_dw_scalar_matches_bf16_emulation(B, O, I):
    rng = _rng(B, O, I, 2)
    dY = rng.standard_normal((B, O)).astype(np.float32)
    X = rng.standard_normal((B, I)).astype(np.float32)
    dW, db, finite = _core._tile_dw("scalar", dY, X, True)
    assert finite is True and dW.shape == (O, I)
    S = np.abs(bf16(dY)).T @ np.abs(bf16(X))
    exact = bf16(dY).T @ bf16(X)
    _check_bound(dW, exact, S, B)
    _check_rounding_matters(dW, S, exact, ("dY", f64(dY).T @ bf16(X)), ("X", bf16(dY).T @ f64(X)))
    np.testing.assert_array_equal(db, _sequential_column_sums(dY))
    dW2, db2, _ = _core._tile_dw("scalar", dY, X, False)
    assert db2 is None
    np.testing.assert_array_equal(dW2, dW)


def test_dw_flags_inf_and_nan():
    rng = np.random.default_rng(5)
    dY = rng.standard_normal((33, 20)).astype(np.float32)
    X = rng.standard_normal((33, 40)).astype(np.float32)
    assert _core._tile_dw("scalar", dY, X)[2] is True
    Xi = X.copy()
    Xi[32, 39] = np.inf  # the padded last row pair, the last column of a partial panel
    dW, _, finite = _core._tile_dw("scalar", dY, Xi)
    assert finite is False and not np.all(np.isfinite(dW[:, 39]))
    dYn = dY.copy()
    dYn[7, 19] = np.nan
    dW, db, finite = _core._tile_dw("scalar", dYn, X)
    assert finite is False and np.isnan(db[19]) and np.all(np.isnan(dW[19]))
    assert _core._tile_dw("scalar", dYn, X, False)[2] is False  # dW alone
    dYo = dY.copy()
    dYo[0, 3] = dYo[1, 3] = 2e38  # db overflows; dW stays finite (small X in those rows)
    X = X.copy()
    X[:2] *= 1e-3
    dW, db, finite = _core._tile_dw("scalar", dYo, X)
    assert np.all(np.isfinite(dW)) and np.isinf(db[3]) and finite is False
    assert _core._tile_dw("scalar", dYo, X, False)[2] is True


# ---------------------------------------------------------------- TDPBF16PS itself
def _tdpbf16ps_emulation(A, Bm, sequential=False):
    """C = A (M, K) Bm (K, N) as tiles of 16 k pairs accumulate it, in float32, K padded to
    pairs and split into instructions of 16 pairs from k = 0 (as the kernels block it).

    The Intel SDM's TDPBF16PS: per instruction and element, the even and the odd products
    are summed apart (FMA chains from 0), then c += even + odd. sequential=True: the older
    text (Intrinsics Guide): one chain through c, per pair k the even then the odd product.
    A and Bm hold bf16 values with exponents in -6..6: every sum is a multiple of 2^-26
    below 2^22, exact in float64, so each float64 add rounded to float32 is one rounded
    FP32 add or FMA."""
    A, Bm = np.asarray(A, np.float64), np.asarray(Bm, np.float64)
    if A.shape[1] % 2:
        A, Bm = np.pad(A, ((0, 0), (0, 1))), np.pad(Bm, ((0, 1), (0, 0)))
    f32 = lambda a: a.astype(np.float32).astype(np.float64)  # noqa: E731
    pairs = A.shape[1] // 2
    C = np.zeros((A.shape[0], Bm.shape[1]))
    for k0 in range(0, pairs, 16):
        ks = range(k0, min(k0 + 16, pairs))
        if sequential:
            for k in ks:
                for h in (0, 1):
                    C = f32(C + np.outer(A[:, 2 * k + h], Bm[2 * k + h]))
        else:
            even, odd = np.zeros_like(C), np.zeros_like(C)
            for k in ks:
                even = f32(even + np.outer(A[:, 2 * k], Bm[2 * k]))
                odd = f32(odd + np.outer(A[:, 2 * k + 1], Bm[2 * k + 1]))
            C = f32(C + f32(even + odd))
    return C.astype(np.float32)


EXACT_SHAPES = [(1, 1, 1), (7, 33, 7), (16, 32, 32), (17, 35, 33), (5, 66, 40), (33, 101, 19)]


def _exact_operands(B, I, O):
    rng = np.random.default_rng(B * 1000 + I)

    def operand(*shape):  # bf16 values: 8-bit significands, exponents -6..6, either sign
        m = rng.integers(128, 256, shape) / 128.0 * 2.0 ** rng.integers(-6, 7, shape)
        return (m * rng.choice([-1.0, 1.0], shape)).astype(np.float32)

    return operand(B, I), operand(O, I), operand(B, O)


def _exact_checks(backend, B, I, O):
    """(name, kernel output, X/W/dY emulation inputs) of the three products."""
    X, W, dY = _exact_operands(B, I, O)
    dW, _, _ = _core._tile_dw(backend, dY, X)
    return [("forward", _core._tile_forward(backend, X, W), (f64(X), f64(W).T)),
            ("dX", _core._tile_dx(backend, dY, W), (f64(dY), f64(W))),
            ("dW", dW, (f64(dY).T, f64(X)))]


@pytest.mark.parametrize("B,I,O", EXACT_SHAPES)
def test_scalar_backend_is_tdpbf16ps_bit_for_bit(B, I, O):
    for name, got, (a, b) in _exact_checks("scalar", B, I, O):
        np.testing.assert_array_equal(got, _tdpbf16ps_emulation(a, b), err_msg=name)
        if a.shape[1] > 2:  # the two orders differ, or this test could not tell them apart
            assert not np.array_equal(got, _tdpbf16ps_emulation(a, b, sequential=True)), name


def test_scalar_backend_flushes_denormal_results():
    # (1e-20)^2 = 1e-40 is a float32 denormal: TDPBF16PS flushes each product's sum to zero
    # (unflushed, dX would be -2e-40 and 2e-40, float32 denormals).
    dY = np.array([[1e-20, 1e-20]], dtype=np.float32)
    W = np.array([[-1e-20, 1e-20], [-1e-20, 1e-20]], dtype=np.float32)
    np.testing.assert_array_equal(_core._tile_dx("scalar", dY, W), [[0.0, 0.0]])
    # and a denormal never enters as an operand: the packers round it to zero
    X = np.array([[3e-39, 1.0]], dtype=np.float32)
    np.testing.assert_array_equal(_core._tile_forward("scalar", X, np.array([[1.0, 0.0]], np.float32)), [[0.0]])


# ---------------------------------------------------------------- avx512 and amx
def _all_ops(backend, B, I, O, seed, special=False):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((B, I)).astype(np.float32)
    W = rng.standard_normal((O, I)).astype(np.float32)
    b = rng.standard_normal(O).astype(np.float32)
    dY = rng.standard_normal((B, O)).astype(np.float32)
    y_prev = rng.standard_normal((B, I)).astype(np.float32)
    if special:  # inf, NaN and zeros of both signs through every path
        X[0, 0], W[-1, -1], dY[-1, 0] = np.inf, np.nan, -0.0
        y_prev[0, -1] = -0.0
    out = [_core._tile_forward(backend, X, W, b, act, alpha) for act, alpha in ACTS]
    out += [_core._tile_dx(backend, dY, W, None if act == "identity" else y_prev, act, alpha) for act, alpha in ACTS]
    dW, db, finite = _core._tile_dw(backend, dY, X)
    return out + [dW, db], finite


AGREE_SHAPES = [(1, 1, 1), (7, 31, 33), (33, 32, 7), (257, 33, 257), (33, 701, 257), (16, 48, 16)]


@pytest.mark.parametrize("B,I,O", AGREE_SHAPES)
def test_scalar_agrees_with_avx512_vdpbf16ps(B, I, O):
    ours, f1 = _all_ops("scalar", B, I, O, seed=B + I + O)
    theirs, f2 = _all_ops("avx512", B, I, O, seed=B + I + O)
    assert f1 is f2 is True
    n = [I] * 3 + [O] * 3 + [B]
    rng = np.random.default_rng(B + I + O)  # the same operands again, for the sums of |products|
    X, W = rng.standard_normal((B, I)).astype(np.float32), rng.standard_normal((O, I)).astype(np.float32)
    b, dY = rng.standard_normal(O).astype(np.float32), rng.standard_normal((B, O)).astype(np.float32)
    S = [np.abs(bf16(X)) @ np.abs(bf16(W)).T + np.abs(f64(b))] * 3 + [np.abs(bf16(dY)) @ np.abs(bf16(W))] * 3
    S += [np.abs(bf16(dY)).T @ np.abs(bf16(X))]
    for a, c, k, s in zip(ours, theirs, n, S):
        err = np.abs(a.astype(np.float64) - c)
        assert np.all(err <= 2.0002 * (k + 2) * U * s)  # two float32 sums in different orders
    np.testing.assert_array_equal(ours[-1], theirs[-1])  # db: the same float32 adds in the same order


@needs_amx
@pytest.mark.parametrize("B,I,O", list(itertools.product(SIZES, SUMMED, WIDE)))
def test_amx_is_bit_identical_to_scalar(B, I, O):
    amx, f1 = _all_ops("amx", B, I, O, seed=B * I + O)
    ref, f2 = _all_ops("scalar", B, I, O, seed=B * I + O)
    assert f1 is f2
    for a, r in zip(amx, ref):
        np.testing.assert_array_equal(a.view(np.uint32), r.view(np.uint32))


@needs_amx
@pytest.mark.parametrize("B,I,O", EXACT_SHAPES)
def test_amx_follows_the_sdm_pseudo_code(B, I, O):
    for name, got, (a, b) in _exact_checks("amx", B, I, O):
        if not np.array_equal(got, _tdpbf16ps_emulation(a, b)):
            other = np.array_equal(got, _tdpbf16ps_emulation(a, b, sequential=True))
            pytest.fail(f"{name}: AMX differs from the SDM's TDPBF16PS; it "
                        + ("matches the older sequential text" if other else "matches neither emulation"))


@needs_amx
@pytest.mark.parametrize("B,I,O", [(7, 33, 7), (33, 701, 257)])
def test_amx_is_bit_identical_to_scalar_with_inf_nan_and_signed_zeros(B, I, O):
    amx, f1 = _all_ops("amx", B, I, O, seed=3, special=True)
    ref, f2 = _all_ops("scalar", B, I, O, seed=3, special=True)
    assert f1 is f2 is False
    for a, r in zip(amx, ref):
        np.testing.assert_array_equal(a, r)  # NaNs match NaNs whatever their payload
        np.testing.assert_array_equal(np.signbit(a[~np.isnan(a)]), np.signbit(r[~np.isnan(r)]))


# ---------------------------------------------------------------- bindings
def test_amx_usable_follows_the_cpu():
    assert isinstance(_core.amx_usable(), bool)
    assert (_core.amx_status() == "usable") == _core.amx_usable()
    if not {"amx_tile", "amx_bf16"} <= _cpu_flags():
        assert _core.amx_usable() is False
        assert "CPUID" in _core.amx_status() or "not" in _core.amx_status()


def test_bad_backend_names_raise():
    X, W = np.ones((2, 3), np.float32), np.ones((4, 3), np.float32)
    with pytest.raises(ValueError, match="backend must be 'scalar', 'amx' or 'avx512', got 'tpu'"):
        _core._tile_forward("tpu", X, W)
    if not _core.amx_usable():
        for call in (lambda: _core._tile_forward("amx", X, W), lambda: _core._tile_dx("amx", np.ones((2, 4), np.float32), W),
                     lambda: _core._tile_dw("amx", X, X)):
            with pytest.raises(ValueError, match="backend 'amx'"):
                call()
    with pytest.raises(ValueError, match="W must have shape"):
        _core._tile_forward("scalar", X, np.ones((4, 2), np.float32))
