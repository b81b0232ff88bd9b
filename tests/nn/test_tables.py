"""The two tables of pynn/nn/: LAYERS (layer kinds) and OPTIMIZERS, and the readers that
take their facts from them: the core runs every activation name the table gives, each
kind round-trips through its config, the TOML config, the estimators and pynn.functional
accept exactly the table's kinds, 'auto' init draws what the he_init column says, and
each optimizer's buffers are the ones a model file stores and a fit fills."""
import numpy as np
import pytest

import pynn
from pynn.cli.config import ConfigError, parse_config_dict
from pynn.nn.layers import ACTIVATION_NAMES, LAYERS, Activation, layer_from_config
from pynn.nn.optimizers import OPTIMIZERS, as_optimizer, optimizer_settings

KINDS = list(LAYERS.values())


def _example(kind):
    return kind.cls(3, 4) if kind.cls is pynn.Dense else kind.cls()


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_each_kind_is_its_class_row_and_round_trips_through_its_config(kind):
    layer = _example(kind)
    assert layer.kind is kind
    again = layer_from_config(layer.get_config())
    assert again == layer and again.kind is kind


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_the_core_runs_every_activation_name_of_the_table(name):
    x = np.linspace(-3, 3, 13)
    assert np.all(np.isfinite(pynn.derivative(name, x, 0.1)))


def test_activation_names_are_the_activation_layers():
    assert set(ACTIVATION_NAMES) == {k.name for k in KINDS if issubclass(k.cls, Activation)}
    assert set(pynn.__all__) >= {k.cls.__name__ for k in KINDS}


@pytest.mark.parametrize("kind", [k for k in KINDS if k.cls is not pynn.Dense], ids=lambda k: k.name)
def test_auto_init_draws_what_the_he_init_column_says(kind):
    # He uniform's bound sqrt(6 / n_in) exceeds Glorot's sqrt(6 / (n_in + n_out)): the
    # largest entry of a wide layer tells which one drew it.
    n = 400
    model = pynn.Sequential([pynn.Dense(n, n), kind.cls()], loss="mse", seed=0)
    w_max = np.abs(model.parameters()[0]).max()
    assert (w_max > np.sqrt(6 / (2 * n))) == kind.he_init
    assert w_max <= np.sqrt(6 / n)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_the_toml_config_takes_every_kind_by_any_spelling_of_its_name(kind):
    layers = [{"type": "Dense", "units": 4}]
    if kind.cls is not pynn.Dense:
        layers.append({"type": kind.name})  # snake_case, e.g. leaky_relu for LeakyReLU
    cfg = parse_config_dict({"model": {"layers": layers + [{"type": "Dense", "units": 3}]}})
    assert [spec["class"] for spec in cfg.layers[1:-1]] == ([kind.cls.__name__] if kind.cls is not pynn.Dense else [])


def test_the_toml_config_takes_a_kinds_settings_only():
    with pytest.raises(ConfigError, match=r"model.layers\[0\].unit: unknown key; did you mean 'units'"):
        parse_config_dict({"model": {"layers": [{"type": "Dense", "units": 4, "unit": 3}]}})
    cfg = parse_config_dict({"model": {"layers": [{"type": "Dense", "units": 4}, {"type": "PReLU", "num_parameters": "per_unit"},
                                                  {"type": "Dropout", "p": 0.5}, {"type": "Dense", "units": 3}]}})
    assert cfg.layers[1] == {"class": "PReLU", "num_parameters": "per_unit"} and cfg.layers[2] == {"class": "Dropout", "p": 0.5}
    with pytest.raises(ConfigError, match=r"model.layers\[1\].p: must be < 1.0"):
        parse_config_dict({"model": {"layers": [{"type": "Dense", "units": 4}, {"type": "Dropout", "p": 1.0}]}})


def test_the_estimators_offer_the_tables_units():
    sklearn_module = pytest.importorskip("pynn.sklearn", reason="the estimators need scikit-learn")
    units = {k.name: k.cls for k in KINDS if k.unit}
    assert sklearn_module.ACTIVATIONS == {"logistic": pynn.Sigmoid, **units}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_each_optimizer_by_name_with_its_settings_and_buffers(name):
    opt = as_optimizer(name)
    assert type(opt) is OPTIMIZERS[name] and opt.kind == name
    settings = optimizer_settings(name)
    assert "lr" in settings and all(key in opt.get_config() for key in settings)
    model = pynn.Sequential([pynn.Dense(3, 2)], loss="mse", seed=0)
    model.fit(np.ones((4, 3)), np.zeros((4, 2)), epochs=1, batch_size=2, optimizer=opt, verbose=0)
    state = model.state()
    assert len(state.optimizer_buffers) == len(opt.buffers)
    assert all(b.shape == state.params.shape for b in state.optimizer_buffers)
    assert state.optimizer_kind == name and state.opt_step == 2


def test_state_is_a_view_of_the_model():
    model = pynn.Sequential([pynn.Dense(3, 2)], loss="mse", seed=0)
    model.state().params[...] = 0.5
    assert all(np.all(p == 0.5) for p in model.parameters())
    assert model.state().optimizer_buffers == ()  # no optimizer bound yet
