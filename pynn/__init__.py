"""pynn: fast feed-forward neural networks (MLPs) on the CPU.

A C++ core does every hot loop; this package holds the API. See README.md and
docs/lecture.md (the course's notation mapped to pynn)."""
from importlib.util import find_spec as _find_spec

from . import _load_core  # noqa: F401  (first: a clear message if the core is missing)
from . import _core, autodiff, datasets, reference
from .callbacks import (Callback, EarlyStopping, History, LearningRateScheduler, ModelCheckpoint, ReduceLROnPlateau,
                        TerminateOnNaN)
from .functional import (derivative, elu, gelu, identity, leaky_relu, log_softmax, relu, sigmoid, silu,
                         softmax, softplus, tanh)
from .io import load
from .layers import (ELU, GELU, Activation, Dense, Dropout, Identity, Layer, LeakyReLU, PReLU, ReLU, Sigmoid,
                     SiLU, Softplus, Tanh)
from .neuron import Neuron, Perceptron
from .plotting import plot_history
from .optimizers import SGD, Adam, AdamW, Optimizer
from .sequential import LOSSES, DivergenceError, Sequential
from .threads import get_num_threads, set_num_threads
from .precision import get_bf16_kernel, get_float32_matmul_precision, set_bf16_kernel, set_float32_matmul_precision

__version__ = "0.1.0"

__all__ = [
    "Sequential", "LOSSES", "DivergenceError", "load",
    "Layer", "Dense", "Activation", "Identity", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "PReLU", "ELU",
    "GELU", "SiLU", "Softplus", "Dropout",
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
