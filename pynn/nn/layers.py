"""Layers of a `pynn.Sequential`. Each layer is a small description; the numbers live
in the C++ core, in the model's one parameter buffer.

Notation (Jurafsky & Martin): a layer computes h = g(W x + b) with W of shape
(n_out, n_in). Batches are rows, so on a batch X of shape (B, n_in) a Dense layer
computes X @ W.T + b, exactly like torch.nn.Linear.

LAYERS, at the end, is the one table of layer kinds: each class with its snake_case
name (the core's activation name, the estimators' `activation`), the settings a TOML
config may give and its ONNX operator. What the core computes for each name, and whether
'auto' init picks He for the Dense layer before it, is the core's activation table
(csrc/kernels/activation_table.h, read here through _core.activation_table()). Sequential, the TOML config, the estimators, ONNX export and
pynn.functional read it; adding an activation is its kernel in the core, a class here
and its row in LAYERS.

May import: pynn._core (its activation table), pynn._checks, pynn.nn.initializers.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import _checks, _core
from .initializers import check_name

__all__ = ["Layer", "Dense", "Activation", "Identity", "Sigmoid", "Tanh", "ReLU", "LeakyReLU",
           "PReLU", "ELU", "GELU", "SiLU", "Softplus", "Dropout", "LayerKind", "LAYERS", "ACTIVATION_NAMES",
           "layer_from_config"]


class Layer:
    """Base class. Subclasses describe themselves with `get_config()` (a dict with
    "class" and the constructor arguments) and add themselves to a core network."""

    def get_config(self) -> dict:
        return {"class": type(self).__name__}

    def output_width(self, n_in: int) -> int:
        return n_in

    def param_shapes(self, n_in: int) -> list[tuple[str, tuple[int, ...]]]:
        """Names and shapes of this layer's parameters, in buffer order."""
        return []

    @property
    def kind(self) -> LayerKind:
        """This layer's row of LAYERS (a subclass has its base's)."""
        return next(_KIND_OF[cls] for cls in type(self).__mro__ if cls in _KIND_OF)

    def _add_to(self, net) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "class")
        return f"{type(self).__name__}({args})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.get_config() == other.get_config()

    __hash__ = None


class Dense(Layer):
    """Fully connected layer: y = x W^T + b, W of shape (n_out, n_in), b of shape (n_out,).

    init: 'auto' (He when the next layer is ReLU-like, Glorot otherwise), or one of
    glorot_uniform, glorot_normal, he_uniform, he_normal, lecun_uniform, lecun_normal,
    zeros. Biases start at zero."""

    def __init__(self, n_in: int, n_out: int, use_bias: bool = True, init: str = "auto"):
        self.n_in = _checks.positive_int(n_in, "Dense n_in")
        self.n_out = _checks.positive_int(n_out, "Dense n_out")
        if not isinstance(use_bias, (bool, np.bool_)):  # np.bool_ too, as fit's shuffle accepts
            raise TypeError(f"Dense use_bias must be True or False, got {_checks.describe(use_bias)}")
        self.use_bias = bool(use_bias)  # a plain bool in get_config (JSON, safetensors metadata)
        self.init = check_name(init)

    def get_config(self) -> dict:
        return {"class": "Dense", "n_in": self.n_in, "n_out": self.n_out, "use_bias": self.use_bias,
                "init": self.init}

    def output_width(self, n_in: int) -> int:
        return self.n_out

    def param_shapes(self, n_in: int):
        shapes = [("W", (self.n_out, self.n_in))]
        if self.use_bias:
            shapes.append(("b", (self.n_out,)))
        return shapes

    def _add_to(self, net) -> None:
        net.add_dense(self.n_out, self.use_bias)

    def __repr__(self) -> str:
        return f"Dense({self.n_in}, {self.n_out}, use_bias={self.use_bias}, init={self.init!r})"


class Activation(Layer):
    """An elementwise activation y = f(z), with its exact derivative in the core."""

    def _alpha(self) -> float:
        return 0.0

    def _add_to(self, net) -> None:
        net.add_activation(self.kind.name, self._alpha())


class Identity(Activation):
    """f(z) = z"""


class Sigmoid(Activation):
    """f(z) = 1 / (1 + e^-z);  f' = f (1 - f)"""


class Tanh(Activation):
    """f(z) = (e^z - e^-z) / (e^z + e^-z);  f' = 1 - f^2"""


class ReLU(Activation):
    """f(z) = max(z, 0);  f' = 1 if z > 0 else 0"""


class LeakyReLU(Activation):
    """f(z) = z if z > 0 else negative_slope * z"""

    def __init__(self, negative_slope: float = 0.01):
        self.negative_slope = _checks.real(negative_slope, "LeakyReLU negative_slope")

    def _alpha(self) -> float:
        return self.negative_slope

    def get_config(self) -> dict:
        return {"class": "LeakyReLU", "negative_slope": self.negative_slope}


class ELU(Activation):
    """f(z) = z if z > 0 else alpha (e^z - 1)"""

    def __init__(self, alpha: float = 1.0):
        self.alpha = _checks.real(alpha, "ELU alpha")

    def _alpha(self) -> float:
        return self.alpha

    def get_config(self) -> dict:
        return {"class": "ELU", "alpha": self.alpha}


class GELU(Activation):
    """f(z) = z Phi(z) = z/2 (1 + erf(z / sqrt 2))  (exact, not the tanh approximation)"""


class SiLU(Activation):
    """f(z) = z sigmoid(z)  (a.k.a. swish)"""


class Softplus(Activation):
    """f(z) = log(1 + e^z);  f' = sigmoid(z)"""


class PReLU(Layer):
    """Parametric ReLU: f(z) = z if z > 0 else a z, with a learnable slope `a`:
    one shared (num_parameters=1) or one per unit (num_parameters = layer width)."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25):
        self.num_parameters = _checks.positive_int(num_parameters, "PReLU num_parameters")
        self.init = _checks.real(init, "PReLU init")

    def get_config(self) -> dict:
        return {"class": "PReLU", "num_parameters": self.num_parameters, "init": self.init}

    def param_shapes(self, n_in: int):
        return [("slope", (self.num_parameters,))]

    def _add_to(self, net) -> None:
        net.add_prelu(self.num_parameters)


class Dropout(Layer):
    """Inverted dropout: in training each unit is kept with probability 1 - p and scaled
    by 1/(1 - p); at inference it is the identity. Masks come from the model's seed."""

    def __init__(self, p: float = 0.5):
        self.p = _checks.real(p, "Dropout p", low=0.0, high=1.0, high_open=True)

    def get_config(self) -> dict:
        return {"class": "Dropout", "p": self.p}

    def _add_to(self, net) -> None:
        net.add_dropout(self.p)


@dataclass(frozen=True)
class LayerKind:
    """One row of LAYERS.

    - ``cls``: the layer class; its name is the "class" of get_config() and a TOML ``type``.
    - ``name``: snake_case: the core's name for it, the estimators' ``activation`` value.
    - ``settings``: what a TOML layer table may set: key -> "units" (Dense's n_out), "int",
      "per_unit" (an int, or "per_unit" for the layer's width), "float", "probability"
      (a float in [0, 1)), "bool" or "init" (an initializer name).
    - ``onnx``: the ONNX operator at inference (None: the identity), and ``onnx_attributes``:
      ONNX attribute -> the layer's attribute holding its value.
    - ``unit``: an activation function (the estimators' ``activation`` choices).
    """

    cls: type
    name: str
    settings: dict = field(default_factory=dict)
    onnx: str | None = None
    onnx_attributes: dict = field(default_factory=dict)
    unit: bool = True

    @property
    def he_init(self) -> bool:
        """'auto' init picks He (not Glorot) for the Dense layer before this one, as the
        core's activation table says (layers the table lacks, Dense and Dropout: Glorot)."""
        return _CORE_INIT_RULES.get(self.name) == "he"


_CORE_INIT_RULES = {row["name"]: row["init"] for row in _core.activation_table()}


LAYERS = {kind.cls.__name__: kind for kind in (
    LayerKind(Dense, "dense", {"units": "units", "use_bias": "bool", "init": "init"}, onnx="Gemm", unit=False),
    LayerKind(Identity, "identity"),
    LayerKind(Sigmoid, "sigmoid", onnx="Sigmoid"),
    LayerKind(Tanh, "tanh", onnx="Tanh"),
    LayerKind(ReLU, "relu", onnx="Relu"),
    LayerKind(LeakyReLU, "leaky_relu", {"negative_slope": "float"}, onnx="LeakyRelu",
              onnx_attributes={"alpha": "negative_slope"}),
    LayerKind(PReLU, "prelu", {"num_parameters": "per_unit", "init": "float"}, onnx="PRelu"),
    LayerKind(ELU, "elu", {"alpha": "float"}, onnx="Elu", onnx_attributes={"alpha": "alpha"}),
    LayerKind(GELU, "gelu", onnx="Gelu"),
    LayerKind(SiLU, "silu", onnx="SiLU"),
    LayerKind(Softplus, "softplus", onnx="Softplus"),
    LayerKind(Dropout, "dropout", {"p": "probability"}, unit=False),
)}
_KIND_OF = {kind.cls: kind for kind in LAYERS.values()}
# The activations the core computes by name (pynn.functional, the Activation layers).
ACTIVATION_NAMES = tuple(k.name for k in LAYERS.values() if issubclass(k.cls, Activation))


def layer_from_config(config: dict) -> Layer:
    """Rebuild a layer from `get_config()` output (used by model files)."""
    if not isinstance(config, dict) or "class" not in config:
        raise ValueError(f"a layer config must be a dict with a 'class' key, got {config!r}")
    kind = LAYERS.get(config["class"])
    if kind is None:
        raise ValueError(f"unknown layer class {config['class']!r}; expected one of {', '.join(LAYERS)}")
    kwargs = {k: v for k, v in config.items() if k != "class"}
    try:
        return kind.cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"bad arguments for layer {config['class']}: {exc}") from None
