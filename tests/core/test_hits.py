"""The hit count of softmax cross-entropy (accuracy in fit's history and in evaluate) is
taken in the loss's own row pass from the row maximum; it must equal NumPy's argmax rule
exactly: the first of tied maxima, the first NaN when a row has one, and for probability
targets the first maximum of the target row."""
import numpy as np
import pytest

from pynn import _core


def _numpy_hits(z, target_index):
    return int((np.argmax(z, axis=1) == target_index).sum())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("C", [1, 2, 3, 10, 70])  # 70: past the 64 exps the loss keeps per row
def test_hits_follow_numpy_argmax(dtype, C):
    rng = np.random.default_rng(C)
    z = rng.integers(-2, 3, size=(400, C)).astype(dtype)  # small integers: many ties
    z[rng.random(z.shape) < 0.02] = np.nan  # some rows with NaN, at any position
    labels = rng.integers(0, C, 400).astype(np.int32)
    _, hits = _core.loss("softmax_cross_entropy", z, (labels, None, None))
    assert hits == _numpy_hits(z, labels)
    probs = rng.integers(0, 3, size=(400, C)).astype(dtype)  # ties in the targets too
    _, hits = _core.loss("softmax_cross_entropy", z, (None, probs, None))
    assert hits == _numpy_hits(z, np.argmax(probs, axis=1))
