"""`model.to_onnx(path)`: the inference graph of a Sequential as an ONNX model.

Input "input" (batch, n_inputs); outputs "logits" (the raw network output) and
"probabilities": Softmax(logits) for softmax_cross_entropy, Sigmoid(logits) for
binary_cross_entropy, the logits themselves for mse. The batch dimension is dynamic.
The model's metadata_props carry the loss, the dtype and the user metadata (class names).

Layer mapping (W is (n_out, n_in), as in pynn and ONNX's Gemm with transB=1):
    Dense      Gemm(x, W, b, transB=1)       y = x W^T + b
    ReLU/Sigmoid/Tanh/LeakyReLU/ELU/Softplus  the ONNX operators of the same name
    PReLU      PRelu(x, slope)              slope (k,) broadcasts over the batch
    GELU       Gelu (opset >= 20), else 0.5 x (1 + Erf(x / sqrt 2)), the same exact GELU
    SiLU       x * Sigmoid(x)
    Dropout    nothing (the identity at inference); Identity likewise
The `onnx` package is an optional extra: pip install pynn[onnx].
"""
from __future__ import annotations

import math
import os

import numpy as np

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


def _activation(g: _Graph, layer, x: str, opset: int) -> str:
    from . import layers as L

    if isinstance(layer, (L.Identity, L.Dropout)):
        return x
    if isinstance(layer, L.ReLU):
        return g.node("Relu", [x])
    if isinstance(layer, L.Sigmoid):
        return g.node("Sigmoid", [x])
    if isinstance(layer, L.Tanh):
        return g.node("Tanh", [x])
    if isinstance(layer, L.LeakyReLU):
        return g.node("LeakyRelu", [x], alpha=float(layer.negative_slope))
    if isinstance(layer, L.ELU):
        return g.node("Elu", [x], alpha=float(layer.alpha))
    if isinstance(layer, L.Softplus):
        return g.node("Softplus", [x])
    if isinstance(layer, L.SiLU):
        return g.node("Mul", [x, g.node("Sigmoid", [x])])
    if isinstance(layer, L.GELU):
        if opset >= 20:
            return g.node("Gelu", [x], approximate="none")
        erf = g.node("Erf", [g.node("Mul", [x, g.const("inv_sqrt2", 1 / math.sqrt(2))])])
        half_x = g.node("Mul", [x, g.const("half", 0.5)])
        return g.node("Mul", [half_x, g.node("Add", [erf, g.const("one", 1.0)])])
    raise ValueError(f"layer {type(layer).__name__} has no ONNX export")


def to_onnx(model, path, opset: int = 17) -> None:
    """Write `model`'s inference graph to `path` (atomically, like model.save) and check
    it with onnx.checker. opset: 17..(the installed onnx's newest)."""
    onnx = _require_onnx()
    from . import _checks
    from .io import _atomic_write
    from .layers import Dense, PReLU
    from .sequential import Sequential

    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a pynn.Sequential, got {type(model).__name__}")
    newest = onnx.defs.onnx_opset_version()
    opset = _checks.positive_int(opset, "opset", minimum=17, maximum=newest)
    if not isinstance(model.loss, str):
        raise ValueError("a model with a custom loss function has no defined output; export needs a named loss")

    g = _Graph(onnx, model.dtype)
    params = iter(model.parameters())
    x = "input"
    for layer in model.layers:
        if isinstance(layer, Dense):
            W = g.const("W", next(params))
            inputs = [x, W] + ([g.const("b", next(params))] if layer.use_bias else [])
            x = g.node("Gemm", inputs, transB=1)
        elif isinstance(layer, PReLU):
            x = g.node("PRelu", [x, g.const("slope", next(params))])
        else:
            x = _activation(g, layer, x, opset)
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
    from . import __version__
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
    _atomic_write(os.fspath(path), [proto.SerializeToString()])
