"""The import paths that README.md, docs/, examples/ and benchmarks/ use, and the module
names from before the rooms, still name the same objects; pynn.__all__ only grows."""
import importlib
import subprocess
import sys

import pytest

import pynn

# old module name -> the module of its room
MOVED = {"layers": "nn.layers", "initializers": "nn.initializers", "optimizers": "nn.optimizers",
         "precision": "nn.precision", "functional": "nn.functional", "threads": "nn.threads",
         "sequential": "nn.sequential", "callbacks": "training.callbacks", "progress": "training.progress",
         "plotting": "training.plotting", "data_sources": "training.data_sources", "neuron": "lecture.neuron",
         "autodiff": "lecture.autodiff", "onnx_export": "io.onnx_export", "bench": "cli.bench",
         "config": "cli.config"}

ALL_BEFORE = [
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


@pytest.mark.parametrize("old, new", MOVED.items())
def test_an_old_module_name_is_the_module_of_its_room(old, new):
    assert importlib.import_module(f"pynn.{old}") is importlib.import_module(f"pynn.{new}")


def test_the_paths_the_docs_and_examples_use():
    from pynn.autodiff import Tensor, custom_loss_gradient, graph  # noqa: F401
    from pynn.bench import main  # noqa: F401  (benchmarks/bench_train.py)
    from pynn.neuron import ConvergenceWarning, Neuron, Perceptron  # noqa: F401
    assert pynn.reference.MLP and pynn.datasets.load_digits and pynn.precision.bf16_supported
    assert pynn.layers.layer_from_config and pynn.io.save and pynn.load


def test_all_keeps_every_name_it_had():
    assert set(ALL_BEFORE) <= set(pynn.__all__)
    assert all(hasattr(pynn, name) for name in pynn.__all__)


@pytest.mark.parametrize("command", [["-m", "pynn", "--help"], ["-m", "pynn.cli.bench", "--help"]])
def test_the_commands_start(command):
    result = subprocess.run([sys.executable, *command], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "usage" in result.stdout.lower(), result.stderr
