"""The first layer kept packed for an epoch (FastPath::packed_first, on CPUs with AVX-512):
its gradient and Adam moments live in one allocation (gradient | m | v) during the epoch
and are written back into the flat buffers when it ends. Two fits, each packing and
writing back, train as pynn.reference's Adam: parameters and both moments."""
import numpy as np

import pynn
from pynn import reference as R


def test_two_fits_of_a_large_first_layer_match_the_reference_parameters_and_moments():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 1024)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    # 1024 x 520: W (2.1 MB) owns panels; 520 outputs are not a multiple of the 32-wide
    # panels, so the packed state has zero padding rows the write-back must skip.
    model = pynn.Sequential([pynn.Dense(1024, 520), pynn.ReLU(), pynn.Dense(520, 3)], seed=0)
    ref = R.MLP([layer.get_config() for layer in model.layers], [p.copy() for p in model.parameters()], model.loss)
    ref_opt = R.Adam(lr=1e-3)
    for epoch in range(2):
        model.fit(X, y, epochs=1, batch_size=16, verbose=0, optimizer=pynn.Adam(lr=1e-3) if epoch == 0 else None,
                  shuffle=False)
        ref.fit_epoch(X, y, 16, ref_opt, np.arange(len(X)))
    # float32 sums in another order, amplified by Adam where a gradient is ~0 (m / sqrt(v)
    # is then noise): 7 of the 532,480 weights differ by more than 2e-6, at most 1.8e-5. A
    # moment not written back or two moments in one place moves thousands, by ~1e-3.
    flat_ref = np.concatenate([p.ravel() for p in ref.params])
    m, v = model.state().optimizer_buffers
    ref_m, ref_v = (np.concatenate([a.ravel() for a in b]) for b in (ref_opt.state.m, ref_opt.state.v))
    for name, got, want, atol in (("parameters", model.state().params, flat_ref, 2e-6), ("m", m, ref_m, 2e-8),
                                  ("v", v, ref_v, 1e-11)):
        off = np.abs(got - want) > atol + 1e-3 * np.abs(want)
        assert off.sum() <= 50 and np.abs(got - want).max() < 1e-4, f"{name}: {off.sum()} elements off"
