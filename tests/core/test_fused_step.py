"""The one-region training step of train_epoch (csrc/network/region_step.cpp) against the
layer-by-layer step.

Sequential.fit runs each epoch in the core: on the AVX-512 float32 path, for networks of
any layers after a first Dense, one parallel region per step splits the batch rows between
threads for the forward, loss and backward-dX chain, and the weight panels for dW and the
update. Sequential.train_step runs the same batch layer by layer (one parallel kernel per
product). Every output element is summed by the same kernel in the same order either way,
so an epoch of fit must equal the same batches through train_step *bit for bit*: any
row-split, offset or ownership mistake shows up as a difference. Ragged batch counts
(a last batch of 1 row, fewer rows than threads), every activation kind (fused into the
dense store or not), each loss, sample weights, every optimizer, 1 and 2 threads.
"""
import numpy as np
import pytest

import pynn
from pynn import _core

pytestmark = pytest.mark.skipif(not _core.avx512_supported(),
                                reason="the fused step is the AVX-512 float32 path; this CPU has no AVX-512")

ACTS = {"relu": pynn.ReLU, "leaky": lambda: pynn.LeakyReLU(0.1), "leaky_negative": lambda: pynn.LeakyReLU(-0.2),
        "tanh": pynn.Tanh, "sigmoid": pynn.Sigmoid, "gelu": pynn.GELU, "silu": pynn.SiLU,
        "identity": pynn.Identity}


@pytest.fixture(autouse=True)
def _threads():
    previous = pynn.get_num_threads()
    yield
    pynn.set_num_threads(previous)


def _pair(layers, loss, seed=0):
    return [pynn.Sequential(layers(), loss=loss, seed=seed) for _ in range(2)]


def _data(n, d, c, loss, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    if loss == "softmax_cross_entropy":
        y = rng.integers(0, c, n)
    elif loss == "binary_cross_entropy":
        y = (rng.random((n, c)) < 0.4).astype(np.float32)
    else:
        y = rng.standard_normal((n, c)).astype(np.float32)
    return X, y


def _fit_vs_steps(fused, plain, X, y, batch, optimizer, sample_weight=None):
    fused.fit(X, y, epochs=1, batch_size=batch, optimizer=optimizer, shuffle=False, verbose=0,
              sample_weight=sample_weight)
    for start in range(0, len(X), batch):
        sw = None if sample_weight is None else sample_weight[start:start + batch]
        plain.train_step(X[start:start + batch], y[start:start + batch], optimizer=optimizer, sample_weight=sw)
    _assert_same_state(fused, plain)


def _assert_same_state(fused, plain):
    """Parameters, last gradients and optimizer moments, bit for bit."""
    for a, b in zip(fused.parameters(), plain.parameters()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(fused.gradients(), plain.gradients()):
        np.testing.assert_array_equal(a, b)
    for moment in ("first_moment", "second_moment"):
        np.testing.assert_array_equal(getattr(fused._net, moment)(), getattr(plain._net, moment)())
    assert fused._net.opt_step == plain._net.opt_step


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("act", sorted(ACTS))
def test_every_activation_bit_identical(act, threads):
    pynn.set_num_threads(threads)
    X, y = _data(203, 37, 5, "softmax_cross_entropy")
    fused, plain = _pair(lambda: [pynn.Dense(37, 40), ACTS[act](), pynn.Dense(40, 33), ACTS[act](), pynn.Dense(33, 5)],
                         "softmax_cross_entropy")
    _fit_vs_steps(fused, plain, X, y, 50, pynn.Adam(lr=1e-2))  # 4 batches of 50 and one of 3


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "binary_cross_entropy", "mse"])
@pytest.mark.parametrize("weighted", [False, True])
def test_every_loss_with_and_without_sample_weights(loss, weighted, threads):
    pynn.set_num_threads(threads)
    X, y = _data(130, 20, 3, loss, seed=1)
    sw = np.random.default_rng(2).random(130).astype(np.float32) if weighted else None
    fused, plain = _pair(lambda: [pynn.Dense(20, 64), pynn.ReLU(), pynn.Dense(64, 3)], loss)
    _fit_vs_steps(fused, plain, X, y, 32, pynn.Adam(lr=1e-2), sample_weight=sw)


@pytest.mark.parametrize("optimizer", [pynn.SGD(lr=0.05), pynn.SGD(lr=0.05, momentum=0.9, nesterov=True),
                                       pynn.SGD(lr=0.05, momentum=0.9, weight_decay=1e-3),
                                       pynn.Adam(lr=1e-2, weight_decay=1e-3), pynn.AdamW(lr=1e-2, weight_decay=0.1)],
                         ids=repr)
def test_every_optimizer(optimizer):
    pynn.set_num_threads(2)
    X, y = _data(300, 50, 4, "softmax_cross_entropy", seed=3)
    fused, plain = _pair(lambda: [pynn.Dense(50, 70), pynn.ReLU(), pynn.Dense(70, 4)], "softmax_cross_entropy")
    _fit_vs_steps(fused, plain, X, y, 64, optimizer)


@pytest.mark.parametrize("batch", [1, 2, 3, 7, 33])
def test_tiny_and_ragged_batches(batch):
    """Batches of 1 row (fewer rows than threads) and a last batch of 1 row."""
    pynn.set_num_threads(2)
    X, y = _data(67, 300, 10, "softmax_cross_entropy", seed=4)  # wide enough for 2 threads
    fused, plain = _pair(lambda: [pynn.Dense(300, 96), pynn.ReLU(), pynn.Dense(96, 10)], "softmax_cross_entropy")
    _fit_vs_steps(fused, plain, X, y, batch, pynn.Adam(lr=1e-3))


def test_single_dense_layer_and_activation_last():
    pynn.set_num_threads(2)
    X, y = _data(150, 300, 6, "mse", seed=5)
    fused, plain = _pair(lambda: [pynn.Dense(300, 6)], "mse")
    _fit_vs_steps(fused, plain, X, y, 40, pynn.Adam(lr=1e-3))
    fused, plain = _pair(lambda: [pynn.Dense(300, 64), pynn.Tanh(), pynn.Dense(64, 6), pynn.Sigmoid()], "mse")
    _fit_vs_steps(fused, plain, X, y, 40, pynn.Adam(lr=1e-3))
    fused, plain = _pair(lambda: [pynn.Dense(300, 64), pynn.Dense(64, 6), pynn.ReLU()], "mse")
    _fit_vs_steps(fused, plain, X, y, 40, pynn.Adam(lr=1e-3))


def test_same_parameters_for_any_thread_count():
    X, y = _data(500, 200, 10, "softmax_cross_entropy", seed=6)
    results = []
    for threads in (1, 2):
        pynn.set_num_threads(threads)
        m = pynn.Sequential([pynn.Dense(200, 128), pynn.ReLU(), pynn.Dense(128, 10)], seed=0)
        m.fit(X, y, epochs=2, batch_size=48, verbose=0)
        results.append([p.copy() for p in m.parameters()])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("threads", [1, 2])
def test_a_diverging_step_leaves_the_model_as_it_was(threads):
    """The fused step checks every gradient before any update, as the layer-by-layer one:
    inputs of 1e30 give finite outputs and loss (accumulated in double) but weight
    gradients dZ^T X that overflow float32."""
    pynn.set_num_threads(threads)
    X, y = _data(64, 300, 4, "mse", seed=7)
    X *= np.float32(1e30)
    m = pynn.Sequential([pynn.Dense(300, 64), pynn.ReLU(), pynn.Dense(64, 4)], loss="mse", seed=0)
    before = [p.copy() for p in m.parameters()]
    with pytest.raises(pynn.DivergenceError, match="gradient"):
        m.fit(X, y, epochs=1, batch_size=32, verbose=0, terminate_on_nan=False)
    for a, b in zip(before, m.parameters()):
        np.testing.assert_array_equal(a, b)
    assert m._net.opt_step == 0


@pytest.mark.parametrize("threads", [1, 2])
def test_the_core_itself_updates_nothing_when_a_gradient_overflows(threads):
    """As above, one level down: the core's train_epoch (no Python snapshot to restore)."""
    pynn.set_num_threads(threads)
    X, y = _data(64, 300, 4, "mse", seed=7)
    X *= np.float32(1e30)
    m = pynn.Sequential([pynn.Dense(300, 64), pynn.ReLU(), pynn.Dense(64, 4)], loss="mse", seed=0)
    before = [p.copy() for p in m.parameters()]
    config = m._bind_optimizer(pynn.Adam(lr=1e-3))
    with pytest.raises(pynn.DivergenceError, match="gradient"):
        m._net.train_epoch(X, m._targets(y, len(X)), np.arange(len(X), dtype=np.int64), 32, config)
    for a, b in zip(before, m.parameters()):
        np.testing.assert_array_equal(a, b)
    assert m._net.opt_step == 0


@pytest.mark.parametrize("act", ["relu", "tanh"])
@pytest.mark.parametrize("batch", [1, 7, 64])
def test_large_first_layer_split_by_owned_panels(act, batch):
    """A first layer over 256 KB (700 x 100 floats) takes the path where each thread owns
    panels of W0 for the forward, dW and update (phase 1); smaller ones are split by rows."""
    pynn.set_num_threads(2)
    X, y = _data(150, 700, 10, "softmax_cross_entropy", seed=8)
    fused, plain = _pair(lambda: [pynn.Dense(700, 100), ACTS[act](), pynn.Dense(100, 10)], "softmax_cross_entropy")
    _fit_vs_steps(fused, plain, X, y, batch, pynn.Adam(lr=1e-3))


LARGE_FIRST = lambda: [pynn.Dense(700, 100), pynn.ReLU(), pynn.Dense(100, 10)]  # W0 280 KB: owned panels


@pytest.mark.parametrize("threads", [1, 2])
def test_large_first_layer_kept_packed_between_optimizers_and_edits(threads):
    """A large first layer keeps W, its gradient and moments in the panel layout for the
    whole epoch and writes them back at its end (FastPath::packed_first): fits with Adam,
    SGD with momentum (no second moment), then Adam again, with W edited through its
    parameter view between fits, leave parameters, gradients and moments equal to the
    layer-by-layer step's."""
    pynn.set_num_threads(threads)
    X, y = _data(150, 700, 10, "softmax_cross_entropy", seed=11)
    fused, plain = _pair(LARGE_FIRST, "softmax_cross_entropy")
    for optimizer in [pynn.Adam(lr=1e-3), pynn.SGD(lr=0.05, momentum=0.9), pynn.Adam(lr=1e-3, weight_decay=1e-3)]:
        _fit_vs_steps(fused, plain, X, y, 40, optimizer)
        for model in (fused, plain):
            model.parameters()[0][:5, :3] = 0.25  # the next epoch must start from the edit
    _fit_vs_steps(fused, plain, X, y, 40, pynn.Adam(lr=1e-3))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("batch", [188, 250])
def test_large_first_layer_large_batch_sweeps_input_panels_first(batch, threads):
    """Batches whose rows of X pass 512 KB (188 and more rows of 700 floats) run the owned
    dW tiles input panel by input panel instead of row block by row block (region_step.cpp,
    phase 3); the last batches (74 and 200 rows) take the other order. Same bits either way."""
    pynn.set_num_threads(threads)
    X, y = _data(450, 700, 10, "softmax_cross_entropy", seed=10)
    fused, plain = _pair(LARGE_FIRST, "softmax_cross_entropy")
    _fit_vs_steps(fused, plain, X, y, batch, pynn.Adam(lr=1e-3))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("optimizer", [pynn.SGD(lr=0.05), pynn.SGD(lr=0.05, momentum=0.9, nesterov=True),
                                       pynn.SGD(lr=0.05, momentum=0.9, weight_decay=1e-3),
                                       pynn.Adam(lr=1e-3, weight_decay=1e-3), pynn.AdamW(lr=1e-3, weight_decay=0.1)],
                         ids=repr)
def test_large_first_layer_with_every_optimizer(optimizer, threads):
    """A large first layer's dW, update and re-pack run per owned panel (100 outputs: the
    last panel is zero padded): parameters, gradients and moments equal the layer-by-layer
    step's after each of two fits in a row, and so do the predictions (the packed copy)."""
    pynn.set_num_threads(threads)
    X, y = _data(150, 700, 10, "softmax_cross_entropy", seed=9)
    fused, plain = _pair(LARGE_FIRST, "softmax_cross_entropy")
    _fit_vs_steps(fused, plain, X, y, 40, optimizer)
    _fit_vs_steps(fused, plain, X, y, 40, optimizer)
    np.testing.assert_array_equal(fused.predict_proba(X[:5]), plain.predict_proba(X[:5]))


@pytest.mark.parametrize("threads", [1, 2])
def test_large_first_layer_divergence_mid_epoch_keeps_the_finished_batches(threads):
    """A batch that overflows a gradient halfway through the epoch: the core stops there,
    with the state after the batches before it (and nothing of the bad one)."""
    pynn.set_num_threads(threads)
    X, y = _data(160, 700, 10, "mse", seed=10)
    X[96:] *= np.float32(1e30)  # batches 0-2 of 32 are fine, batch 3 overflows dZ^T X (as above)
    fused, plain = _pair(LARGE_FIRST, "mse")
    config = fused._bind_optimizer(pynn.Adam(lr=1e-3))
    with pytest.raises(pynn.DivergenceError, match="gradient"):
        fused._net.train_epoch(X, fused._targets(y, len(X)), np.arange(len(X), dtype=np.int64), 32, config)
    assert fused._net.opt_step == 3
    adam = pynn.Adam(lr=1e-3)
    for start in range(0, 96, 32):
        plain.train_step(X[start:start + 32], y[start:start + 32], optimizer=adam)
    # The diverging batch's gradient is not kept by either (the plain step computed none).
    for a, b in zip(fused.parameters(), plain.parameters()):
        np.testing.assert_array_equal(a, b)
    for moment in ("first_moment", "second_moment"):
        np.testing.assert_array_equal(getattr(fused._net, moment)(), getattr(plain._net, moment)())



@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("net", ["small", "large_first", "between_dense", "p0_after_relu", "p0_after_dense", "last"])
@pytest.mark.parametrize("batch", [1, 7, 50])
def test_dropout_bit_identical(net, batch, threads):
    """Dropout in the one-region step: each thread draws the masks of its own rows (an
    element's mask depends on its index in the batch and the step, kernels/dropout.h), so
    fit equals train_step's layer-by-layer masks and updates bit for bit -- after a fused
    ReLU or a tanh, between two dense layers, with p = 0 (the identity) after a ReLU and
    right after a dense layer (whose gradient must then still be copied to where its dW
    reads it), last, and with a large first layer (owned panels); batches of 1 row (fewer
    rows than threads) and ragged last batches. The networks are wide enough that batches
    of 7 and more take both threads (checked through the plan)."""
    pynn.set_num_threads(threads)
    d = 700 if net == "large_first" else 300
    X, y = _data(151, d, 5, "softmax_cross_entropy", seed=12)
    layers = {
        "small": lambda: [pynn.Dense(d, 64), pynn.ReLU(), pynn.Dropout(0.3), pynn.Dense(64, 33), pynn.Tanh(),
                          pynn.Dropout(0.5), pynn.Dense(33, 5)],
        "large_first": lambda: [pynn.Dense(d, 100), pynn.ReLU(), pynn.Dropout(0.2), pynn.Dense(100, 5)],
        "between_dense": lambda: [pynn.Dense(d, 64), pynn.Dropout(0.4), pynn.Dense(64, 5)],
        "p0_after_relu": lambda: [pynn.Dense(d, 64), pynn.ReLU(), pynn.Dropout(0.0), pynn.Dense(64, 5)],
        "p0_after_dense": lambda: [pynn.Dense(d, 64), pynn.Dropout(0.0), pynn.Dense(64, 5)],
        "last": lambda: [pynn.Dense(d, 64), pynn.ReLU(), pynn.Dense(64, 5), pynn.Dropout(0.1)],
    }[net]
    fused, plain = _pair(layers, "softmax_cross_entropy")
    assert fused.kernel_plan(batch)[0]["threads"] == (min(threads, pynn.get_num_threads()) if batch >= 7 else 1)
    _fit_vs_steps(fused, plain, X, y, batch, pynn.Adam(lr=1e-2))
    _fit_vs_steps(fused, plain, X, y, batch, pynn.Adam(lr=1e-2))  # a second epoch: other steps, other masks
    assert fused._net.train_forwards == plain._net.train_forwards


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("net", ["shared", "per_unit", "large_first", "last", "with_dropout", "wide"])
@pytest.mark.parametrize("batch", [1, 7, 50, 128])
def test_prelu_bit_identical(net, batch, threads):
    """PReLU in the one-region step: each thread computes its rows' forward and dX, and
    after the rows' barrier one thread a layer sums the slope gradient over all rows in
    row order (kernels/activations.h, prelu_slope_gradient), as the layer-by-layer step
    does: parameters (the slopes too), gradients and moments equal train_step's bit for
    bit -- one shared slope or one per unit, two PReLU layers (one for each thread), a
    large first layer (owned panels), PReLU last, and with Dropout; and a PReLU of 520
    units, whose slope gradient train_step splits by columns between threads at batch 128
    (over 32,768 elements) where fit's one thread sums it whole."""
    pynn.set_num_threads(threads)
    d = 700 if net == "large_first" else 300
    X, y = _data(151, d, 5, "softmax_cross_entropy", seed=13)
    layers = {
        "shared": lambda: [pynn.Dense(d, 64), pynn.PReLU(), pynn.Dense(64, 33), pynn.PReLU(), pynn.Dense(33, 5)],
        "per_unit": lambda: [pynn.Dense(d, 64), pynn.PReLU(64), pynn.Dense(64, 33), pynn.PReLU(33, init=-0.1),
                             pynn.Dense(33, 5)],
        "large_first": lambda: [pynn.Dense(d, 100), pynn.PReLU(100), pynn.Dense(100, 5)],
        "last": lambda: [pynn.Dense(d, 64), pynn.ReLU(), pynn.Dense(64, 5), pynn.PReLU(5)],
        "with_dropout": lambda: [pynn.Dense(d, 64), pynn.PReLU(64), pynn.Dropout(0.3), pynn.Dense(64, 5)],
        "wide": lambda: [pynn.Dense(d, 520), pynn.PReLU(520), pynn.Dense(520, 5)],
    }[net]
    fused, plain = _pair(layers, "softmax_cross_entropy")
    assert fused.kernel_plan(batch)[0]["threads"] == (min(threads, pynn.get_num_threads()) if batch >= 7 else 1)
    _fit_vs_steps(fused, plain, X, y, batch, pynn.Adam(lr=1e-3))
    _fit_vs_steps(fused, plain, X, y, batch, pynn.SGD(lr=0.002, momentum=0.9))
