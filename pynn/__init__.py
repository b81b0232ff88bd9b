"""pynn: fast feed-forward neural networks (MLPs) on the CPU.

A C++ core does every hot loop; this package holds the API. See README.md and
docs/lecture.md (the course's notation mapped to pynn).

May import: everything: it is the facade over all rooms."""
import sys as _sys
from importlib.util import find_spec as _find_spec

from . import _load_core  # noqa: F401  (first: a clear message if the core is missing)
from . import _core, datasets, io, lecture, nn, reference, training
from ._version import __version__
from .io import onnx_export  # noqa: F401
from .lecture import autodiff, neuron  # noqa: F401
from .lecture.neuron import Neuron, Perceptron
from .nn.functional import (derivative, elu, gelu, identity, leaky_relu, log_softmax, relu, sigmoid, silu,
                            softmax, softplus, tanh)
from .nn.loading import load
from .nn.layers import (ELU, GELU, LAYERS, Activation, Dense, Dropout, Identity, Layer, LayerKind, LeakyReLU, PReLU,
                        ReLU, Sigmoid, SiLU, Softplus, Tanh)
from .nn.optimizers import SGD, Adam, AdamW, Optimizer
from .nn.precision import get_bf16_kernel, get_float32_matmul_precision, set_bf16_kernel, set_float32_matmul_precision
from .nn.sequential import LOSSES, DivergenceError, Sequential
from .nn.state import ModelState
from .nn.threads import get_num_threads, set_num_threads
from .training import data_sources  # noqa: F401
from .training.callbacks import (Callback, EarlyStopping, History, LearningRateScheduler, ModelCheckpoint,
                                 ReduceLROnPlateau, TerminateOnNaN)
from .training.plotting import plot_history

# The modules' names from before the rooms (pynn.layers, pynn.neuron, ...) name the same
# modules, so code that imports or patches them keeps working. pynn.bench and pynn.config
# (the command line's room, not loaded with pynn) are two small files instead.
_MOVED = {"layers": nn.layers, "initializers": nn.initializers, "optimizers": nn.optimizers,
          "precision": nn.precision, "functional": nn.functional, "threads": nn.threads,
          "sequential": nn.sequential, "callbacks": training.callbacks, "progress": training.progress,
          "plotting": training.plotting, "data_sources": training.data_sources, "neuron": lecture.neuron,
          "autodiff": lecture.autodiff, "onnx_export": io.onnx_export}
for _name, _module in _MOVED.items():
    _sys.modules[f"{__name__}.{_name}"] = _module
    globals()[_name] = _module
del _name, _module

__all__ = [
    "Sequential", "LOSSES", "DivergenceError", "load", "ModelState",
    "Layer", "Dense", "Activation", "Identity", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "PReLU", "ELU",
    "GELU", "SiLU", "Softplus", "Dropout", "LayerKind", "LAYERS",
    "identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "silu", "softplus", "softmax",
    "log_softmax", "derivative",
    "Optimizer", "SGD", "Adam", "AdamW",
    "Callback", "History", "EarlyStopping", "ModelCheckpoint", "TerminateOnNaN", "LearningRateScheduler",
    "ReduceLROnPlateau", "plot_history",
    "Neuron", "Perceptron",
    "set_num_threads", "get_num_threads", "set_float32_matmul_precision", "get_float32_matmul_precision",
    "set_bf16_kernel", "get_bf16_kernel",
    "autodiff", "datasets", "reference",
]

# The scikit-learn estimators import scikit-learn (an optional extra): loaded on first use,
# and listed in __all__ only when scikit-learn is installed (so `import *` never fails).
_SKLEARN_NAMES = ("MLPClassifier", "MLPRegressor")
if _find_spec("sklearn") is not None:
    __all__ += list(_SKLEARN_NAMES)


def __getattr__(name):
    if name in _SKLEARN_NAMES:
        from . import sklearn as _sklearn_estimators
        return getattr(_sklearn_estimators, name)
    raise AttributeError(f"module 'pynn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SKLEARN_NAMES))
