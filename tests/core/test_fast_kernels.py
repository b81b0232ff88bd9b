"""The AVX-512 float32 kernels against the plain OpenBLAS path and pynn.reference.

The fast path (csrc/kernels/avx512_gemm.cpp) replaces, for float32 Dense layers, the OpenBLAS
GEMMs and the separate bias / activation / derivative passes by one register-blocked
kernel per product with those steps fused into its store. It must compute the same
thing on every shape, including ragged ones (1, 7, 33, 257: tails of the 14-row and
32-column tiles, single rows and columns), with every activation (fused: identity, relu,
leaky relu with alpha >= 0; not fused: the others), and follow parameters written from
Python between calls. Float32 tolerance: the two paths sum in different orders.
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pynn
from pynn import _core
from pynn import reference as R

pytestmark = pytest.mark.skipif(not _core.avx512_supported(),
                                reason="this CPU has no AVX-512: only the OpenBLAS path exists here")

TOL32 = dict(rtol=2e-4, atol=2e-5)
SIZES = [1, 7, 33, 257]


@pytest.fixture(autouse=True)
def _restore_kernel():
    yield
    _core.set_kernel("auto")


def _act(name):
    return {"relu": pynn.ReLU, "leaky": lambda: pynn.LeakyReLU(0.1), "identity": pynn.Identity,
            "tanh": pynn.Tanh, "sigmoid": pynn.Sigmoid, "gelu": pynn.GELU, "elu": pynn.ELU,
            "leaky_negative": lambda: pynn.LeakyReLU(-0.3), "prelu": pynn.PReLU}[name]()


def _model(n_in, hidden, n_out, act, seed=0, loss="softmax_cross_entropy", dtype="float32"):
    layers = [pynn.Dense(n_in, hidden), _act(act), pynn.Dense(hidden, hidden), _act(act), pynn.Dense(hidden, n_out)]
    return pynn.Sequential(layers, loss=loss, seed=seed, dtype=dtype)


def _step(kernel, model, X, y):
    """(inference output, loss, gradients) of model with the given kernel."""
    _core.set_kernel(kernel)
    out = model.forward(X)
    loss = model.loss_and_gradients(X, y)
    return out, loss, [g.copy() for g in model.gradients()]


def _assert_same(a, b, tol=TOL32, what=""):
    (oa, la, ga), (ob, lb, gb) = a, b
    np.testing.assert_allclose(oa, ob, **tol, err_msg=f"{what} forward")
    np.testing.assert_allclose(la, lb, rtol=1e-4, err_msg=f"{what} loss")
    for i, (x, y) in enumerate(zip(ga, gb)):
        scale = max(np.abs(y).max(), 1e-3)  # gradients: compare relative to their size
        np.testing.assert_allclose(x / scale, y / scale, rtol=0, atol=5e-5, err_msg=f"{what} gradient {i}")


@pytest.mark.parametrize("batch", SIZES)
@pytest.mark.parametrize("n_in", SIZES)
@pytest.mark.parametrize("width", SIZES)
def test_ragged_shapes_match_blas(batch, n_in, width):
    rng = np.random.default_rng(batch * 1000 + n_in * 10 + width)
    X = rng.normal(size=(batch, n_in)).astype(np.float32)
    n_out = max(2, min(width, 33))
    y = rng.integers(0, n_out, batch)
    model = _model(n_in, width, n_out, "relu", seed=1)
    _assert_same(_step("avx512", model, X, y), _step("blas", model, X, y), what=f"B={batch} I={n_in} H={width}")


@pytest.mark.parametrize("act", ["relu", "leaky", "identity", "tanh", "sigmoid", "gelu", "elu", "leaky_negative",
                                 "prelu"])
@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "binary_cross_entropy", "mse"])
def test_every_activation_and_loss_matches_blas_and_reference(act, loss):
    rng = np.random.default_rng(3)
    B, I, H, O = 33, 37, 45, 7
    X = rng.normal(size=(B, I)).astype(np.float32)
    if loss == "softmax_cross_entropy":
        y = rng.integers(0, O, B)
    elif loss == "binary_cross_entropy":
        y = (rng.random((B, O)) < 0.5).astype(np.float32)
    else:
        y = rng.normal(size=(B, O)).astype(np.float32)
    model = _model(I, H, O, act, seed=2, loss=loss)
    fast = _step("avx512", model, X, y)
    _assert_same(fast, _step("blas", model, X, y), what=act)
    # and the NumPy oracle in float64 on the same parameters
    ref = R.MLP([layer.get_config() for layer in model.layers],
                [p.astype(np.float64) for p in model.parameters()], loss, seed=model.seed)
    out = ref.forward(X.astype(np.float64))
    np.testing.assert_allclose(fast[0], out, rtol=1e-4, atol=1e-4)
    ref_loss, ref_grads = ref.loss_and_gradients(X.astype(np.float64), y)
    np.testing.assert_allclose(fast[1], ref_loss, rtol=1e-4)
    for i, (g, r) in enumerate(zip(fast[2], ref_grads)):
        scale = max(np.abs(r).max(), 1e-3)
        np.testing.assert_allclose(g / scale, r / scale, rtol=0, atol=1e-4, err_msg=f"{act} gradient {i}")


def test_dropout_between_dense_and_activation():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(40, 30)).astype(np.float32)
    y = rng.integers(0, 5, 40)
    layers = [pynn.Dense(30, 50), pynn.Dropout(0.3), pynn.ReLU(), pynn.Dense(50, 40), pynn.ReLU(), pynn.Dropout(0.2),
              pynn.Dense(40, 5)]
    a = pynn.Sequential(layers, seed=5)
    b = pynn.Sequential([pynn.layers.layer_from_config(layer.get_config()) for layer in layers], seed=5)
    for pa, pb in zip(a.parameters(), b.parameters()):
        pb[...] = pa
    _assert_same(_step("avx512", a, X, y), _step("blas", b, X, y), what="dropout")


def test_training_epochs_match_blas():
    """A few epochs of fit (Adam, shuffling, a ragged last batch) take both paths to the
    same parameters: the fast forward also sees every update (weights re-packed)."""
    rng = np.random.default_rng(6)
    X = rng.normal(size=(203, 33)).astype(np.float32)
    y = rng.integers(0, 7, 203)
    params = {}
    for kernel in ["avx512", "blas"]:
        _core.set_kernel(kernel)
        model = _model(33, 64, 7, "relu", seed=7)
        hist = model.fit(X, y, epochs=3, batch_size=32, optimizer=pynn.Adam(1e-3), verbose=0)
        params[kernel] = ([p.copy() for p in model.parameters()], hist.history["loss"])
    for a, b in zip(params["avx512"][0], params["blas"][0]):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(params["avx512"][1], params["blas"][1], rtol=1e-4)


def test_parameters_written_from_python_are_used():
    """The packed copy of W is rebuilt on every call: writes through parameters() count."""
    rng = np.random.default_rng(8)
    X = rng.normal(size=(20, 33)).astype(np.float32)
    model = _model(33, 40, 3, "relu", seed=9)
    _core.set_kernel("avx512")
    before = model.forward(X)
    model.parameters()[0][...] *= -2.0
    after = model.forward(X)
    _core.set_kernel("blas")
    np.testing.assert_allclose(after, model.forward(X), **TOL32)
    assert not np.allclose(before, after)


def test_large_batch_inference_matches_blas():
    """predict in 4096-row chunks (row-block-major tiles) on a ragged row count."""
    rng = np.random.default_rng(10)
    X = rng.normal(size=(5000, 100)).astype(np.float32)
    model = _model(100, 70, 10, "relu", seed=11)
    _core.set_kernel("avx512")
    fast = model.predict_proba(X)
    _core.set_kernel("blas")
    np.testing.assert_allclose(fast, model.predict_proba(X), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("threads", [1, 2])
def test_bit_identical_across_thread_counts(threads):
    """Every output element is summed by one thread in a fixed order: the thread count
    does not change a single bit."""
    rng = np.random.default_rng(12)
    X = rng.normal(size=(100, 50)).astype(np.float32)
    y = rng.integers(0, 4, 100)
    old = pynn.get_num_threads()
    results = []
    try:
        for n in [1, threads]:
            pynn.set_num_threads(n)
            _core.set_kernel("avx512")
            model = _model(50, 64, 4, "relu", seed=13)
            model.fit(X, y, epochs=2, batch_size=16, verbose=0)
            results.append(np.concatenate([p.ravel() for p in model.parameters()]))
    finally:
        pynn.set_num_threads(old)
    np.testing.assert_array_equal(results[0], results[1])


def test_float64_never_uses_the_fast_kernels():
    """float64 runs through OpenBLAS whatever the switch says (same bits either way)."""
    rng = np.random.default_rng(14)
    X = rng.normal(size=(20, 9))
    y = rng.integers(0, 3, 20)
    model = _model(9, 17, 3, "relu", dtype="float64")
    a = _step("avx512", model, X, y)
    b = _step("blas", model, X, y)
    np.testing.assert_array_equal(a[0], b[0])
    for x, z in zip(a[2], b[2]):
        np.testing.assert_array_equal(x, z)


def test_set_kernel_rejects_unknown_names():
    with pytest.raises(ValueError, match="kernel must be 'auto', 'avx512' or 'blas', got 'fast'"):
        _core.set_kernel("fast")
    _core.set_kernel("blas")
    assert _core.get_kernel() == "blas"
    _core.set_kernel("auto")
    assert _core.get_kernel() == ("blas" if os.environ.get("PYNN_DISABLE_AVX512", "") not in ("", "0") else "avx512")


def test_env_var_forces_the_portable_path():
    """PYNN_DISABLE_AVX512=1 at import selects OpenBLAS; its results equal the fast path's
    within float32 tolerance (the portable path is what other CPUs run)."""
    code = textwrap.dedent("""
        import numpy as np, pynn
        from pynn import _core
        rng = np.random.default_rng(0)
        X = rng.normal(size=(33, 7)).astype(np.float32)
        m = pynn.Sequential([pynn.Dense(7, 33), pynn.ReLU(), pynn.Dense(33, 3)], seed=0)
        np.save(__import__("sys").argv[1], m.forward(X))
        print(_core.get_kernel())
    """)
    outs = {}
    for flag in ["1", "0"]:
        path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"pynn_fast_{os.getpid()}_{flag}.npy")
        env = dict(os.environ, PYNN_DISABLE_AVX512=flag)
        res = subprocess.run([sys.executable, "-c", code, path], env=env, capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr
        outs[flag] = (res.stdout.strip(), np.load(path))
        os.remove(path)
    assert outs["1"][0] == "blas"
    assert outs["0"][0] == "avx512"
    np.testing.assert_allclose(outs["1"][1], outs["0"][1], **TOL32)
