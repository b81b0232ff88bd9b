"""`model.to_onnx(path)`: the inference graph of a Sequential as an ONNX model.

Input "input" (batch, n_inputs); outputs "logits" (the raw network output) and
"probabilities": Softmax(logits) for softmax_cross_entropy, Sigmoid(logits) for
binary_cross_entropy, the logits themselves for mse. The batch dimension is dynamic.
The model's metadata_props carry the loss, the dtype and the user metadata (class names).

Each layer's operator is its row of the layer table (pynn.nn.layers.LAYERS, read as
`layer.kind`); W is (n_out, n_in), as in pynn and ONNX's Gemm with transB=1:
    Dense      Gemm(x, W, b, transB=1)       y = x W^T + b
    ReLU/Sigmoid/Tanh/LeakyReLU/ELU/Softplus  the ONNX operators of the same name
    PReLU      PRelu(x, slope)              slope (k,) broadcasts over the batch
    GELU       Gelu (opset >= 20), else 0.5 x (1 + Erf(x / sqrt 2)), the same exact GELU
    SiLU       x * Sigmoid(x)
    Dropout    nothing (the identity at inference); Identity likewise
The `onnx` package is an optional extra: pip install pynn[onnx].

May import: pynn._checks, pynn._files, pynn._version; onnx, lazily.
"""
from __future__ import annotations

import math
import os

import numpy as np

from .. import _checks
from .._files import atomic_write
from .._version import __version__

__all__ = ["to_onnx"]


def _require_onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError("model.to_onnx needs the 'onnx' package: pip install onnx (or pip install pynn[onnx])") from None
    return onnx


class _Graph:
    """Collects nodes and initializers with unique names."""

    def __init__(self, onnx, dtype):
        self.onnx, self.dtype, self.nodes, self.inits, self._n = onnx, np.dtype(dtype), [], [], 0

    def name(self, stem: str) -> str:
        self._n += 1
        return f"{stem}_{self._n}"

    def const(self, stem: str, value) -> str:
        name = self.name(stem)
        self.inits.append(self.onnx.numpy_helper.from_array(np.asarray(value, dtype=self.dtype), name))
        return name

    def node(self, op: str, inputs: list, output: str | None = None, **attrs) -> str:
        output = output or self.name(op.lower())
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [output], name=self.name(op), **attrs))
        return output


def _gelu(g: _Graph, x: str, opset: int) -> str:
    if opset >= 20:
        return g.node("Gelu", [x], approximate="none")
    erf = g.node("Erf", [g.node("Mul", [x, g.const("inv_sqrt2", 1 / math.sqrt(2))])])
    half_x = g.node("Mul", [x, g.const("half", 0.5)])
    return g.node("Mul", [half_x, g.node("Add", [erf, g.const("one", 1.0)])])


def _silu(g: _Graph, x: str, opset: int) -> str:
    return g.node("Mul", [x, g.node("Sigmoid", [x])])


# Operators of the layer table that are not one ONNX node at every opset.
_COMPOSITE = {"Gelu": _gelu, "SiLU": _silu}


def _layer(g: _Graph, layer, x: str, params, opset: int) -> str:
    kind = layer.kind
    if kind.onnx is None:
        return x
    if kind.onnx == "Gemm":
        inputs = [x, g.const("W", next(params))] + ([g.const("b", next(params))] if layer.use_bias else [])
        return g.node("Gemm", inputs, transB=1)
    if kind.onnx == "PRelu":
        return g.node("PRelu", [x, g.const("slope", next(params))])
    if kind.onnx in _COMPOSITE:
        return _COMPOSITE[kind.onnx](g, x, opset)
    return g.node(kind.onnx, [x], **{attr: float(getattr(layer, source)) for attr, source in kind.onnx_attributes.items()})


def to_onnx(model, path, opset: int = 17) -> None:
    """Write `model`'s inference graph to `path` (atomically, like model.save) and check
    it with onnx.checker. opset: 17..(the installed onnx's newest)."""
    onnx = _require_onnx()
    if not all(hasattr(model, a) for a in ("layers", "parameters", "loss", "dtype", "n_inputs", "n_outputs")):
        raise TypeError(f"model must be a pynn.Sequential, got {type(model).__name__}")
    newest = onnx.defs.onnx_opset_version()
    opset = _checks.positive_int(opset, "opset", minimum=17, maximum=newest)
    if not isinstance(model.loss, str):
        raise ValueError("a model with a custom loss function has no defined output; export needs a named loss")

    g = _Graph(onnx, model.dtype)
    params = iter(model.parameters())
    x = "input"
    for layer in model.layers:
        x = _layer(g, layer, x, params, opset)
    g.node("Identity", [x], output="logits")
    if model.loss == "softmax_cross_entropy":
        g.node("Softmax", ["logits"], output="probabilities", axis=-1)
    elif model.loss == "binary_cross_entropy":
        g.node("Sigmoid", ["logits"], output="probabilities")
    else:
        g.node("Identity", ["logits"], output="probabilities")

    elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(model.dtype))
    graph = onnx.helper.make_graph(
        g.nodes, "pynn_sequential",
        [onnx.helper.make_tensor_value_info("input", elem, ["batch", model.n_inputs])],
        [onnx.helper.make_tensor_value_info("logits", elem, ["batch", model.n_outputs]),
         onnx.helper.make_tensor_value_info("probabilities", elem, ["batch", model.n_outputs])],
        g.inits)
    proto = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)],
                                   producer_name="pynn", producer_version=__version__)
    # What a consumer needs to read the outputs: the loss, and the class names a CLI-trained
    # model carries (model.metadata["classes"], JSON).
    props = {"pynn_loss": model.loss, "pynn_dtype": model.dtype}
    props.update({f"pynn.{k}": v for k, v in (getattr(model, "metadata", None) or {}).items()})
    onnx.helper.set_model_props(proto, props)
    # IR version 8 is what onnxruntime releases since 1.14 read for opsets 17..19; newer
    # opsets get the oldest IR version that carries them. make_model's default, the installed
    # onnx's newest, can be more than the onnxruntime of a Python reads (on CPython 3.9 the
    # last releases are onnx 1.19, writing IR 12, and onnxruntime 1.19, reading up to IR 10).
    proto.ir_version = (min(proto.ir_version, 8) if opset < 20
                        else onnx.helper.find_min_ir_version_for(proto.opset_import))
    onnx.checker.check_model(proto, full_check=True)
    atomic_write(os.fspath(path), [proto.SerializeToString()])
