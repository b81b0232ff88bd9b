"""The core's activation table (csrc/kernels/activation_table.h) against pynn's layers: every
activation layer pynn exports runs a name the table lists, with the kind and 'auto' init the
table gives it; every elementwise name of the table runs through _core.activation; an unknown
name is a ValueError that lists the table's names."""
import numpy as np
import pytest

import pynn
from pynn import _core

TABLE = {row["name"]: row for row in _core.activation_table()}


def exported_activation_layers():
    return [getattr(pynn, n) for n in pynn.__all__
            if isinstance(getattr(pynn, n), type) and issubclass(getattr(pynn, n), (pynn.Activation, pynn.PReLU))
            and getattr(pynn, n) is not pynn.Activation]


def test_each_name_is_in_the_table_once():
    names = [row["name"] for row in _core.activation_table()]
    assert len(TABLE) == len(names), "a name appears twice in the table"


def test_every_exported_activation_layer_is_in_the_table():
    core_names = set()
    for cls in exported_activation_layers():
        layer = cls()
        name = layer.kind.name
        assert name in TABLE, f"{cls.__name__} runs {name!r}, which the core's table lacks"
        assert TABLE[name]["kind"] == ("learnable" if isinstance(layer, pynn.PReLU) else "elementwise")
        core_names.add(name)
    assert core_names == set(TABLE), f"table rows no pynn layer uses: {set(TABLE) - core_names}"


@pytest.mark.parametrize("layer, init", [(pynn.ReLU, "he"), (pynn.LeakyReLU, "he"), (pynn.PReLU, "he"),
                                         (pynn.Sigmoid, "glorot"), (pynn.Tanh, "glorot"), (pynn.Identity, "glorot")])
def test_init_rule_is_the_one_auto_uses(layer, init):
    # Sequential's 'auto' init: He uniform before ReLU-like units, Glorot uniform otherwise.
    # Their bounds differ (sqrt(6 / n_in) vs sqrt(6 / (n_in + n_out))), so W's largest entry
    # over a wide layer tells which one drew it.
    n_in, n_out = 400, 400
    model = pynn.Sequential([pynn.Dense(n_in, n_out), layer()], loss="mse", seed=0)
    w_max = np.abs(model.parameters()[0]).max()
    he, glorot = np.sqrt(6 / n_in), np.sqrt(6 / (n_in + n_out))
    drawn = "he" if w_max > glorot else "glorot"
    assert w_max <= he
    assert TABLE[layer().kind.name]["init"] == init == drawn
    assert layer().kind.he_init == (init == "he")


@pytest.mark.parametrize("name", [n for n, row in TABLE.items() if row["kind"] == "elementwise"])
def test_every_elementwise_name_runs(name):
    x = np.linspace(-2, 2, 9)
    y = _core.activation(x, name, 0.1)
    assert y.shape == x.shape and np.all(np.isfinite(y))


def test_unknown_name_lists_the_table():
    with pytest.raises(ValueError, match="unknown activation 'swish'") as err:
        _core.activation(np.zeros(3), "swish")
    for name, row in TABLE.items():
        if row["kind"] == "elementwise":
            assert name in str(err.value)
