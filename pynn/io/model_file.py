"""Model files: what `model.save(path)` writes into a safetensors container
(pynn/io/safetensors_file.py), and the checks of that content that need no network:
format, metadata entries, tensor dtypes and shapes, the checksum. Building the model
back is `pynn.load` (pynn/nn/loading.py), which reads the architecture's shapes.

Tensors: one per parameter ("layers.<i>.W", "layers.<i>.b", "layers.<i>.slope") and,
with the optimizer, its flat state ("optimizer.momentum" for SGD, "optimizer.m" and
"optimizer.v" for Adam/AdamW). Metadata (all strings): the architecture as JSON layer
configs, loss, dtype, seed, versions, epochs done, the optimizer config and step count,
the dropout step counter, the training history, and a SHA-256 over metadata and
tensors. With these a loaded model predicts bit for bit as the saved one and resumes
training exactly where it stopped.

Writes are atomic: a temporary file in the target's directory, fsync, then os.replace,
so a crash mid-save leaves either the old file or the new one, never a broken one.
Two saves of one model hold the same tensors and metadata, but the package writes the
metadata entries in an order of its own that changes from process to process, so the
files' bytes (and a hash of them) may differ.

May import: pynn._files, pynn._version, pynn.io.safetensors_file, pynn.io.nesting.
The model is read through its public accessors (get_config, named_parameters, state(),
optimizer, history).
"""
from __future__ import annotations

import hashlib
import json

import numpy as np

from .._files import finite_json
from .._version import __version__
from .nesting import loads_json
from .safetensors_file import DTYPE_CODES, write_safetensors

__all__ = ["save", "FORMAT_NAME", "FORMAT_VERSION", "checksum", "int_meta", "json_meta", "check_tensors"]

FORMAT_NAME = "pynn"
FORMAT_VERSION = 1


def save(model, path, include_optimizer: bool = True, metadata: dict | None = None) -> None:
    """Save `model` (a pynn.Sequential) to `path` as safetensors, atomically.

    include_optimizer: also store the optimizer's config and state (moments, step
    count), so training resumes exactly. metadata: extra str -> str entries stored
    under "user." keys (load returns them as `model.metadata`, and saving that model
    again keeps them)."""
    if not callable(getattr(model, "state", None)) or not callable(getattr(model, "get_config", None)):
        raise TypeError(f"model must be a pynn.Sequential, got {type(model).__name__}")
    if not isinstance(include_optimizer, bool):
        raise TypeError(f"include_optimizer must be True or False, got {include_optimizer!r}")
    config = model.get_config()  # raises ValueError for a custom loss function
    state = model.state()
    tensors = {name: np.array(p) for name, p in model.named_parameters()}
    meta = {
        "format": FORMAT_NAME, "format_version": str(FORMAT_VERSION), "pynn_version": __version__,
        "architecture": json.dumps(config["layers"]), "loss": config["loss"], "dtype": config["dtype"],
        "seed": str(config["seed"]), "epochs_done": str(int(model.epochs_done)),
        "train_forwards": str(state.train_forwards),
    }
    if include_optimizer and model.optimizer is not None:
        opt_config = model.optimizer.get_config()
        meta["optimizer"] = json.dumps(opt_config)
        meta["optimizer_step"] = str(state.opt_step)
        for key, buffer in zip(model.optimizer.buffers, state.optimizer_buffers):
            tensors[key] = np.array(buffer)
    if model.history is not None and getattr(model.history, "history", None):
        meta["history"] = json.dumps(finite_json(model.history.history))
    user = dict(getattr(model, "metadata", None) or {})  # what load() found: a re-save keeps it
    user.update(metadata or {})
    for key, value in user.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"metadata must map str to str, got {key!r}: {type(value).__name__}")
        meta[f"user.{key}"] = value
    meta["sha256"] = checksum(meta, [np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")) for a in tensors.values()])
    write_safetensors(path, tensors, meta)


def checksum(metadata: dict, arrays: list) -> str:
    """SHA-256 over the metadata (but this entry) and the tensor bytes in save order, so
    a flipped bit anywhere that the structural checks cannot see is still caught."""
    digest = hashlib.sha256(json.dumps({k: v for k, v in metadata.items() if k != "sha256"},
                                       sort_keys=True).encode("utf-8"))
    for arr in arrays:
        digest.update(arr.tobytes())
    return digest.hexdigest()


def int_meta(metadata: dict, key: str, name: str, default=None) -> int:
    if key not in metadata:
        if default is not None:
            return default
        raise ValueError(f"{name}: metadata entry {key!r} is missing")
    try:
        value = int(metadata[key])
    except ValueError:
        raise ValueError(f"{name}: metadata {key!r} must be an integer, got {metadata[key]!r}") from None
    if value < 0:
        raise ValueError(f"{name}: metadata {key!r} must be >= 0, got {value}")
    return value


def json_meta(metadata: dict, key: str, name: str):
    try:
        return loads_json(metadata[key])
    except KeyError:
        raise ValueError(f"{name}: metadata entry {key!r} is missing") from None
    except ValueError as exc:
        raise ValueError(f"{name}: metadata {key!r} is not valid JSON ({exc})") from None


def check_tensors(tensors: dict, metadata: dict, expected: dict, dtype: str, name: str) -> None:
    """ValueError naming the problem unless `tensors` are exactly the `expected` ones
    (name -> shape), of `dtype`, finite, and match the file's checksum."""
    code = DTYPE_CODES[np.dtype(dtype)]
    for key, shape in expected.items():
        if key not in tensors:
            raise ValueError(f"{name}: tensor {key!r} is missing (the architecture needs it with shape {list(shape)})")
        tensor = tensors[key]
        tensor_code = tensor if isinstance(tensor, str) else DTYPE_CODES[tensor.dtype]
        if tensor_code != code:
            raise ValueError(f"{name}: tensor {key!r} has dtype {tensor_code}, the model's dtype {dtype} needs {code}")
        if tensor.shape != shape:
            raise ValueError(f"{name}: tensor {key!r} has shape {list(tensor.shape)}, the architecture needs {list(shape)}")
    extra = sorted(set(tensors) - set(expected))
    if extra:
        raise ValueError(f"{name}: unexpected tensors {extra} that the architecture does not use")
    # pynn writes pynn_version and sha256 together; files from other writers may have neither.
    if "pynn_version" in metadata and "sha256" not in metadata:
        raise ValueError(f"{name}: the SHA-256 checksum pynn writes is missing (corrupted metadata)")
    if "sha256" in metadata and checksum(metadata, [tensors[k] for k in expected]) != metadata["sha256"]:
        raise ValueError(f"{name}: the metadata or tensor data do not match the file's SHA-256 checksum (corrupted file)")
    for key in expected:
        if not np.isfinite(tensors[key]).all():
            raise ValueError(f"{name}: tensor {key!r} holds NaN or inf")
