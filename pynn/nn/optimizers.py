"""Optimizers with torch.optim's update formulas, step for step. Their state (momentum
buffer, Adam's moments, the step count) lives in the C++ core next to the parameters;
these objects hold the hyperparameters. g is the gradient, p a parameter, t the step.

SGD:    g <- g + wd p;  if momentum: buf <- mu buf + g (buf = g at t = 1);
        g <- g + mu buf if nesterov else buf;  p <- p - lr g
Adam:   g <- g + wd p (L2);  m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
        p <- p - lr/(1 - b1^t) * m / (sqrt(v)/sqrt(1 - b2^t) + eps)
AdamW:  p <- p (1 - lr wd), then Adam without the L2 term (decoupled weight decay)

OPTIMIZERS, at the end, is the one table of them: the names `fit(optimizer="adam")`,
the TOML configs and model files use, each with its class; a class's constructor
arguments are the settings a config may give, its `buffers` the core state it uses.

May import: pynn._checks, pynn._core (the OptimizerConfig the core network takes)."""
from __future__ import annotations

import inspect

from .. import _checks
from .._core import OptimizerConfig

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "OPTIMIZERS", "optimizer_settings", "optimizer_from_config",
           "as_optimizer"]


def _lr(lr) -> float:
    return _checks.real(lr, "lr", low=0.0, low_open=True)


def _betas(betas) -> tuple[float, float]:
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise TypeError(f"betas must be a pair (beta1, beta2), got {_checks.describe(betas)}")
    b1 = _checks.real(betas[0], "betas[0]", low=0.0, high=1.0, high_open=True)
    b2 = _checks.real(betas[1], "betas[1]", low=0.0, high=1.0, high_open=True)
    return b1, b2


class Optimizer:
    kind = ""  # the optimizer's name in OPTIMIZERS and in the core
    buffers: tuple[str, ...] = ()  # its flat state buffers in the core, named as model files store them

    def _config(self) -> OptimizerConfig:
        raise NotImplementedError

    def get_config(self) -> dict:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "class")
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum and L2 weight decay.

    torch.optim.SGD's update step for step (dampening 0), with one difference: a momentum
    buffer value below 2^-100 (~7.9e-31 in float32) is stored as 0, as Adam's moments are.
    Otherwise the buffer of a weight whose gradient has become exactly 0 decays into the
    subnormal range and sticks at a subnormal, and subnormal arithmetic slows every later
    step (measured: 10,417 such buffers after one epoch of the benchmark network at batch
    128). A flushed value would have moved its weight by at most lr * (1 + momentum) * 7.9e-31.
    """

    kind = "sgd"
    buffers = ("optimizer.momentum",)  # the core passes it to every SGD step, momentum or not

    def __init__(self, lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0):
        self.lr = _lr(lr)
        self.momentum = _checks.real(momentum, "momentum", low=0.0)
        if not isinstance(nesterov, bool):
            raise TypeError(f"nesterov must be True or False, got {_checks.describe(nesterov)}")
        if nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0")
        self.nesterov = nesterov
        self.weight_decay = _checks.real(weight_decay, "weight_decay", low=0.0)

    def _config(self) -> OptimizerConfig:
        return OptimizerConfig("sgd", self.lr, self.momentum, self.nesterov, self.weight_decay)

    def get_config(self) -> dict:
        return {"class": "SGD", "lr": self.lr, "momentum": self.momentum, "nesterov": self.nesterov,
                "weight_decay": self.weight_decay}


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015); weight_decay adds an L2 term to the gradient as torch.optim.Adam.

    torch's update step for step, with one difference: m below 2^-100 (~7.9e-31 in
    float32, 2^-996 in float64) and v below the smallest normal number are stored as 0.
    Otherwise the m of a weight whose gradient has become exactly 0 (a ReLU unit that no
    longer fires) decays towards the subnormal range, where the update's products
    (1 - beta1) m and lr m / (1 - beta1^t) turn subnormal well before m itself does, and
    under torch's formulas m sticks at a subnormal: subnormal arithmetic is slow on CPUs.
    A flushed m would have moved its weight by at most lr / (1 - beta1^t) * 2^-100 / eps
    (at most 8e-25 with lr = 1e-3, eps = 1e-8; pynn.reference.state_floor).
    """

    kind = "adam"
    buffers = ("optimizer.m", "optimizer.v")
    _default_wd = 0.0

    def __init__(self, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float | None = None):
        self.lr = _lr(lr)
        self.betas = _betas(betas)
        self.eps = _checks.real(eps, "eps", low=0.0, low_open=True)
        self.weight_decay = _checks.real(self._default_wd if weight_decay is None else weight_decay,
                                         "weight_decay", low=0.0)

    def _config(self) -> OptimizerConfig:
        return OptimizerConfig(self.kind, self.lr, 0.0, False, self.weight_decay, self.betas[0], self.betas[1], self.eps)

    def get_config(self) -> dict:
        return {"class": type(self).__name__, "lr": self.lr, "betas": list(self.betas), "eps": self.eps,
                "weight_decay": self.weight_decay}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019), as torch.optim.AdamW."""

    kind = "adamw"
    _default_wd = 0.01


OPTIMIZERS = {cls.kind: cls for cls in (SGD, Adam, AdamW)}
_NAMES = ", ".join(repr(name) for name in OPTIMIZERS)
_CLASSES = {cls.__name__: cls for cls in OPTIMIZERS.values()}


def optimizer_settings(name: str) -> dict:
    """The keyword arguments of optimizer `name` (a key of OPTIMIZERS), in order, with
    their defaults."""
    return {key: p.default for key, p in inspect.signature(OPTIMIZERS[name]).parameters.items()}


def optimizer_from_config(config: dict) -> Optimizer:
    """Rebuild an optimizer from `get_config()` output (used by model files)."""
    if not isinstance(config, dict) or config.get("class") not in _CLASSES:
        raise ValueError(f"unknown optimizer config {config!r}; expected class {', '.join(_CLASSES)}")
    kwargs = {k: v for k, v in config.items() if k != "class"}
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    return _CLASSES[config["class"]](**kwargs)


def as_optimizer(value) -> Optimizer:
    """Accept an Optimizer, or a name (a key of OPTIMIZERS) with default settings."""
    if isinstance(value, Optimizer):
        return value
    if isinstance(value, str):
        if value.lower() in OPTIMIZERS:
            return OPTIMIZERS[value.lower()]()
        raise ValueError(f"unknown optimizer {value!r}; expected {_NAMES} or a pynn optimizer")
    raise TypeError(f"optimizer must be a pynn optimizer ({', '.join('pynn.' + c for c in _CLASSES)}) or a name, "
                    f"got {_checks.describe(value)}")
