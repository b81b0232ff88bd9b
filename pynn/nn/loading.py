"""`pynn.load`: a Sequential from a model file (pynn/io/model_file.py writes them).

Everything is validated before the model is built: the container and its checksum by
pynn.io, the architecture, loss, dtype, optimizer and tensor shapes here; a truncated,
corrupted or foreign file raises ValueError naming the problem. Nothing in the file is
executed.

May import: pynn._checks, pynn.io, pynn.training (History), pynn.nn."""
from __future__ import annotations

import math
import os

from .. import _checks
from ..io.model_file import FORMAT_NAME, FORMAT_VERSION, check_tensors, int_meta, json_meta
from ..io.safetensors_file import parse_safetensors
from ..training.callbacks import History
from .layers import Dense, layer_from_config
from .optimizers import optimizer_from_config
from .sequential import LOSSES, Sequential

__all__ = ["load", "load_bytes"]


def load(path) -> Sequential:
    """Load a model saved by `model.save(path)`: the same architecture, parameters,
    loss, dtype and seed, and (when saved) the optimizer with its state, so
    `model.fit(...)` continues the interrupted run bit for bit.

    A model saved with its optimizer continues with it when fit gets no optimizer;
    passing a new optimizer object starts a fresh optimizer state, as everywhere in pynn."""
    name = os.fspath(path)
    with open(name, "rb") as f:
        return load_bytes(f.read(), name)


def load_bytes(raw: bytes, name: str = "<bytes>") -> Sequential:
    """pynn.load on the bytes of a model file (e.g. from a database or a download);
    `name` is used in error messages."""
    tensors, metadata = parse_safetensors(raw, name)
    if metadata.get("format") != FORMAT_NAME:
        raise ValueError(f"{name}: not a pynn model file (a safetensors file without pynn's metadata; "
                         f"its metadata keys are {sorted(metadata)[:8]})")
    version = int_meta(metadata, "format_version", name)
    if version > FORMAT_VERSION:
        raise ValueError(f"{name}: model file format version {version} is newer than this pynn reads "
                         f"({FORMAT_VERSION}); upgrade pynn")
    layer_configs = json_meta(metadata, "architecture", name)
    if not isinstance(layer_configs, list):
        raise ValueError(f"{name}: metadata 'architecture' must be a JSON list of layer configs")
    try:
        layers = [layer_from_config(c) for c in layer_configs]
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name}: bad architecture: {exc}") from None
    loss = metadata.get("loss")
    if loss not in LOSSES:
        raise ValueError(f"{name}: metadata 'loss' must be one of {', '.join(LOSSES)}, got {loss!r}")
    dtype = metadata.get("dtype")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"{name}: metadata 'dtype' must be float32 or float64, got {dtype!r}")
    seed = int_meta(metadata, "seed", name)
    epochs_done = int_meta(metadata, "epochs_done", name, default=0)
    train_forwards = int_meta(metadata, "train_forwards", name, default=0)

    expected = _expected_shapes(layers, name)
    optimizer = None
    if "optimizer" in metadata:
        try:
            optimizer = optimizer_from_config(json_meta(metadata, "optimizer", name))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{name}: bad optimizer config: {exc}") from None
        n_params = sum(math.prod(s) for s in expected.values())
        for key in optimizer.buffers:
            expected[key] = (n_params,)
        opt_step = int_meta(metadata, "optimizer_step", name)
    check_tensors(tensors, metadata, expected, dtype, name)
    history = json_meta(metadata, "history", name) if "history" in metadata else None

    try:
        model = Sequential(layers, loss=loss, dtype=dtype, seed=_checks.positive_int(seed, "seed", minimum=0,
                                                                                     maximum=2**63 - 1))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name}: the architecture does not build: {exc}") from None
    for key, param in model.named_parameters():
        param[...] = tensors[key]
    state = model.state()
    model.epochs_done = epochs_done
    state.train_forwards = train_forwards
    if optimizer is not None:
        state.install_optimizer(optimizer, [tensors[k] for k in optimizer.buffers], opt_step)
    if isinstance(history, dict):
        model.history = History()
        model.history.history = {k: list(v) for k, v in history.items() if isinstance(v, list)}
        model.history.epoch = list(range(max((len(v) for v in model.history.history.values()), default=0)))
    model.metadata = {k[5:]: v for k, v in metadata.items() if k.startswith("user.")}
    return model


def _expected_shapes(layers, name: str) -> dict:
    """name -> shape of every parameter of the architecture, without building a network."""
    if not layers or not isinstance(layers[0], Dense):
        raise ValueError(f"{name}: the architecture must start with a Dense layer")
    shapes, width = {}, layers[0].n_in
    for i, layer in enumerate(layers):
        if isinstance(layer, Dense) and layer.n_in != width:
            raise ValueError(f"{name}: architecture layer {i} is Dense({layer.n_in}, {layer.n_out}) after "
                             f"a layer of width {width}")
        for pname, shape in layer.param_shapes(width):
            shapes[f"layers.{i}.{pname}"] = tuple(shape)
        width = layer.output_width(width)
    return shapes
