"""Property-based fuzzing of the public API, the short run (tools/fuzz.py holds the
properties; `python tools/fuzz.py --examples 10000` is the long run).

Each property: every generated call either works and agrees with pynn.reference, or
raises ValueError/TypeError/MemoryError (DivergenceError for training that diverges)
and leaves the model untouched. Derandomized, so CI always runs the same cases."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

import pynn

pytest.importorskip("hypothesis", reason="the fuzz properties are written with hypothesis")

_spec = importlib.util.spec_from_file_location("pynn_fuzz", Path(__file__).resolve().parents[2] / "tools" / "fuzz.py")
fuzz = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fuzz)

# ~700 cases in all, in proportion to the long run's weights.
EXAMPLES = {name: max(30, round(700 * weight)) for name, (_, weight) in fuzz.PROPERTIES.items()}


@pytest.mark.parametrize("name", sorted(fuzz.PROPERTIES))
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow in casts of the extreme values
def test_property(name):
    fuzz.run(name, EXAMPLES[name], derandomize=True)


def _misaligned(a):
    """The same values at an odd byte offset (as np.frombuffer on a sliced buffer gives)."""
    raw = np.zeros(a.nbytes + 1, dtype=np.uint8)
    out = raw[1:].view(a.dtype).reshape(a.shape)
    out[...] = a
    assert not out.flags.aligned
    return out


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_misaligned_arrays(dtype):
    """Regression (found by the fuzzer under UBSan): a misaligned array reached the
    kernels as a misaligned T*. The core now copies it; results equal the aligned input."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5)).astype(dtype)
    y = rng.integers(0, 3, 40)
    for f in (pynn.relu, pynn.gelu, pynn.sigmoid):
        np.testing.assert_array_equal(f(_misaligned(X)), f(X))
    np.testing.assert_array_equal(pynn.derivative("tanh", _misaligned(X)), pynn.derivative("tanh", X))
    models = [pynn.Sequential([pynn.Dense(5, 8), pynn.ReLU(), pynn.Dense(8, 3)], dtype=dtype, seed=0) for _ in range(2)]
    for model, data in zip(models, (X, _misaligned(X))):
        model.fit(data, y, epochs=2, batch_size=8, verbose=0)
        model.train_step(data, y)
    for a, b in zip(*(m.parameters() for m in models)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(models[0].predict_proba(_misaligned(X)), models[1].predict_proba(X))
