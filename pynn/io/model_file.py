"""Model files: `model.save(path)` / `pynn.load(path)` in the safetensors format.

A safetensors file is data only (no pickle, nothing executable): an 8-byte header
length, a JSON header (each tensor's dtype, shape and byte offsets, plus string
metadata), then the tensors' raw bytes. pynn reads and writes it with the `safetensors`
package, the format's reference implementation, so any tool opens pynn's files
(`safetensors.numpy.load_file`) and loading an untrusted file cannot run code.

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
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import struct

import numpy as np
import safetensors
import safetensors.numpy

__all__ = ["save", "load", "load_bytes", "read_safetensors", "write_safetensors", "FORMAT_NAME", "FORMAT_VERSION"]

FORMAT_NAME = "pynn"
FORMAT_VERSION = 1
# The only dtypes pynn writes; the codes are those of the safetensors header.
_CODES = {np.dtype("float32"): "F32", np.dtype("float64"): "F64"}
_NUMPY = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8")}
_CODE_OF = {dtype.str: code for code, dtype in _NUMPY.items()}
_OPT_TENSORS = {"SGD": ("optimizer.momentum",), "Adam": ("optimizer.m", "optimizer.v"),
                "AdamW": ("optimizer.m", "optimizer.v")}


# ---------------------------------------------------------------------------- raw format
def write_safetensors(path, tensors: dict, metadata: dict) -> None:
    """Write `tensors` (name -> float32/float64 array) and `metadata` (str -> str)
    atomically to `path`. An OSError (full disk, missing directory, ...) propagates and
    leaves any existing file at `path` untouched."""
    arrays = {}
    for name, arr in tensors.items():
        arr = np.asarray(arr)
        if arr.dtype not in _CODES:
            raise TypeError(f"tensor {name!r} must be float32 or float64, got {arr.dtype}")
        # The package copies from the array's memory as it lies: it must be contiguous.
        arrays[name] = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"metadata must map str to str, got {key!r}: {type(value).__name__}")
    # Serialized in memory, then written by _atomic_write: the package's save_file
    # writes the target in place, which a crash mid-save would leave broken.
    _atomic_write(os.fspath(path), [safetensors.numpy.save(arrays, metadata=dict(metadata))])


def _atomic_write(path: str, parts: list[bytes]) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # os.open with 0o666 lets the umask decide the mode, as for any file the user creates.
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as exc:  # name the file the user asked for, not the temporary one
        raise type(exc)(exc.errno, f"cannot write {path!r}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            for part in parts:
                f.write(part)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable (POSIX); not possible or needed on Windows."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_safetensors(path) -> tuple[dict, dict]:
    """(tensors, metadata) of a safetensors file: tensors maps each name to a read-only
    NumPy array for F32/F64 tensors and to its header code (a str, e.g. "BF16") for any
    other dtype, which pynn never writes; metadata maps str to str.

    Raises ValueError naming the problem for a truncated, corrupted or foreign file."""
    name = os.fspath(path)
    with open(name, "rb") as f:
        return _parse(f.read(), name)


def _parse(raw: bytes, name: str) -> tuple[dict, dict]:
    # The whole file is in memory: a file truncated or rewritten while it loads cannot
    # fault a memory map (safe_open maps the file).
    try:
        entries = safetensors.deserialize(raw)  # checks every length, offset, dtype and shape
    except safetensors.SafetensorError as exc:
        raise ValueError(_explain(raw, name, exc)) from None
    tensors = {}
    for key, entry in entries:
        dtype = _NUMPY.get(entry["dtype"])
        # np.frombuffer reads the little-endian bytes on any host; other dtypes (the
        # package's own numpy.load has no bfloat16 or float8) stay codes for load's message.
        tensors[key] = entry["dtype"] if dtype is None else np.frombuffer(entry["data"], dtype).reshape(entry["shape"])
    # The package's bytes API returns the tensors only; the metadata is the header's
    # "__metadata__" entry, which deserialize has just checked to be JSON mapping str to str.
    (n,) = struct.unpack("<Q", raw[:8])
    try:
        metadata = json.loads(raw[8:8 + n].decode("utf-8")).get("__metadata__") or {}
    except (ValueError, RecursionError, AttributeError) as exc:  # should Python's json refuse what the package took
        raise ValueError(f"{name}: the header is not valid JSON ({exc}); corrupted or not a safetensors file") from None
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise ValueError(f"{name}: __metadata__ must map strings to strings")
    return tensors, metadata


def _explain(raw: bytes, name: str, exc: Exception) -> str:
    """pynn's message for a file the safetensors package refused: what is wrong in the
    user's words, then the package's own diagnosis. Its wording differs between
    versions (0.4 prints variant names such as HeaderTooLarge), so both are matched."""
    detail = f"(safetensors: {exc})"
    if len(raw) < 8:
        return f"{name}: not a model file: {len(raw)} bytes, shorter than the 8-byte header length (truncated?)"
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        return (f"{name}: header length {n} goes beyond the file size {len(raw)} "
                f"(truncated file, or not a safetensors file)")
    text = str(exc).lower().replace(" ", "")
    if any(word in text for word in ("json", "utf-8", "utf8", "headerdeserialization", "invalidheader")):
        return (f"{name}: the header is not valid JSON, or not the JSON object of tensor entries that "
                f"safetensors needs; corrupted or not a safetensors file {detail}")
    if "headertoolarge" in text:
        return f"{name}: header length {n} is larger than safetensors allows (corrupted file) {detail}"
    if "notfullycovered" in text or "incompletebuffer" in text or "metadataincomplete" in text:
        return (f"{name}: the tensors do not cover exactly the {len(raw) - 8 - n} bytes after the header "
                f"(truncated file, or bytes appended) {detail}")
    if "offset" in text or "tensorinvalidinfo" in text or "shape" in text:
        return (f"{name}: a tensor's data_offsets are out of bounds, overlap another's, or do not match "
                f"its shape and dtype (corrupted file) {detail}")
    return f"{name}: not a valid safetensors file (corrupted?) {detail}"


# ---------------------------------------------------------------------------- models
def _finite_json(value):
    """JSON has no NaN/inf; a diverged history entry becomes null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_json(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return _finite_json(value.item())
    return value


def save(model, path, include_optimizer: bool = True, metadata: dict | None = None) -> None:
    """Save `model` (a pynn.Sequential) to `path` as safetensors, atomically.

    include_optimizer: also store the optimizer's config and state (moments, step
    count), so training resumes exactly. metadata: extra str -> str entries stored
    under "user." keys (load returns them as `model.metadata`, and saving that model
    again keeps them)."""
    from .. import __version__
    from ..nn.sequential import Sequential

    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a pynn.Sequential, got {type(model).__name__}")
    if not isinstance(include_optimizer, bool):
        raise TypeError(f"include_optimizer must be True or False, got {include_optimizer!r}")
    config = model.get_config()  # raises ValueError for a custom loss function
    net = model._net
    tensors = {name: np.array(p) for name, p in model.named_parameters()}
    meta = {
        "format": FORMAT_NAME, "format_version": str(FORMAT_VERSION), "pynn_version": __version__,
        "architecture": json.dumps(config["layers"]), "loss": config["loss"], "dtype": config["dtype"],
        "seed": str(config["seed"]), "epochs_done": str(int(model.epochs_done)),
        "train_forwards": str(int(net.train_forwards)),
    }
    if include_optimizer and model.optimizer is not None:
        opt_config = model.optimizer.get_config()
        meta["optimizer"] = json.dumps(opt_config)
        meta["optimizer_step"] = str(int(net.opt_step))
        names = _OPT_TENSORS[opt_config["class"]]
        for which, key in enumerate(names):
            tensors[key] = np.array(net.optimizer_buffer(which))
    if model.history is not None and getattr(model.history, "history", None):
        meta["history"] = json.dumps(_finite_json(model.history.history))
    user = dict(getattr(model, "metadata", None) or {})  # what load() found: a re-save keeps it
    user.update(metadata or {})
    for key, value in user.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"metadata must map str to str, got {key!r}: {type(value).__name__}")
        meta[f"user.{key}"] = value
    meta["sha256"] = _checksum(meta, [np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")) for a in tensors.values()])
    write_safetensors(path, tensors, meta)


def _checksum(metadata: dict, arrays: list) -> str:
    """SHA-256 over the metadata (but this entry) and the tensor bytes in save order, so
    a flipped bit anywhere that the structural checks cannot see is still caught."""
    digest = hashlib.sha256(json.dumps({k: v for k, v in metadata.items() if k != "sha256"},
                                       sort_keys=True).encode("utf-8"))
    for arr in arrays:
        digest.update(arr.tobytes())
    return digest.hexdigest()


def _int_meta(metadata: dict, key: str, name: str, default=None) -> int:
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


def _json_meta(metadata: dict, key: str, name: str):
    try:
        return json.loads(metadata[key])
    except KeyError:
        raise ValueError(f"{name}: metadata entry {key!r} is missing") from None
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{name}: metadata {key!r} is not valid JSON ({exc})") from None


def _expected_shapes(layers, name: str) -> dict:
    """name -> shape of every parameter of the architecture, without building a network."""
    from ..nn.layers import Dense

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


def load(path):
    """Load a model saved by `model.save(path)`: the same architecture, parameters,
    loss, dtype and seed, and (when saved) the optimizer with its state, so
    `model.fit(...)` continues the interrupted run bit for bit.

    Everything is validated before the model is built; a truncated, corrupted or
    foreign file raises ValueError naming the problem. Nothing in the file is executed.
    A model saved with its optimizer continues with it when fit gets no optimizer;
    passing a new optimizer object starts a fresh optimizer state, as everywhere in pynn."""
    name = os.fspath(path)
    with open(name, "rb") as f:
        return load_bytes(f.read(), name)


def load_bytes(raw: bytes, name: str = "<bytes>"):
    """pynn.load on the bytes of a model file (e.g. from a database or a download);
    `name` is used in error messages."""
    from .. import _checks
    from ..training.callbacks import History
    from ..nn.layers import layer_from_config
    from ..nn.optimizers import optimizer_from_config
    from ..nn.sequential import LOSSES, Sequential

    tensors, metadata = _parse(raw, name)
    if metadata.get("format") != FORMAT_NAME:
        raise ValueError(f"{name}: not a pynn model file (a safetensors file without pynn's metadata; "
                         f"its metadata keys are {sorted(metadata)[:8]})")
    version = _int_meta(metadata, "format_version", name)
    if version > FORMAT_VERSION:
        raise ValueError(f"{name}: model file format version {version} is newer than this pynn reads "
                         f"({FORMAT_VERSION}); upgrade pynn")
    layer_configs = _json_meta(metadata, "architecture", name)
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
    seed = _int_meta(metadata, "seed", name)
    epochs_done = _int_meta(metadata, "epochs_done", name, default=0)
    train_forwards = _int_meta(metadata, "train_forwards", name, default=0)

    expected = _expected_shapes(layers, name)
    optimizer = None
    if "optimizer" in metadata:
        try:
            optimizer = optimizer_from_config(_json_meta(metadata, "optimizer", name))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{name}: bad optimizer config: {exc}") from None
        n_params = sum(math.prod(s) for s in expected.values())
        for key in _OPT_TENSORS[type(optimizer).__name__]:
            expected[key] = (n_params,)
        opt_step = _int_meta(metadata, "optimizer_step", name)
    code = _CODES[np.dtype(dtype)]
    for key, shape in expected.items():
        if key not in tensors:
            raise ValueError(f"{name}: tensor {key!r} is missing (the architecture needs it with shape {list(shape)})")
        tensor = tensors[key]
        tensor_code = tensor if isinstance(tensor, str) else _CODE_OF[tensor.dtype.str]
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
    if "sha256" in metadata and _checksum(metadata, [tensors[k] for k in expected]) != metadata["sha256"]:
        raise ValueError(f"{name}: the metadata or tensor data do not match the file's SHA-256 checksum (corrupted file)")
    for key in expected:
        if not np.isfinite(tensors[key]).all():
            raise ValueError(f"{name}: tensor {key!r} holds NaN or inf")
    history = _json_meta(metadata, "history", name) if "history" in metadata else None

    try:
        model = Sequential(layers, loss=loss, dtype=dtype, seed=_checks.positive_int(seed, "seed", minimum=0,
                                                                                     maximum=2**63 - 1))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name}: the architecture does not build: {exc}") from None
    for key, param in model.named_parameters():
        param[...] = tensors[key]
    net = model._net
    model.epochs_done = epochs_done
    net.train_forwards = train_forwards
    if optimizer is not None:
        _restore_optimizer(model, optimizer, [tensors[k] for k in _OPT_TENSORS[type(optimizer).__name__]], opt_step)
    if isinstance(history, dict):
        model.history = History()
        model.history.history = {k: list(v) for k, v in history.items() if isinstance(v, list)}
        model.history.epoch = list(range(max((len(v) for v in model.history.history.values()), default=0)))
    model.metadata = {k[5:]: v for k, v in metadata.items() if k.startswith("user.")}
    return model


def _restore_optimizer(model, optimizer, buffers: list, step: int) -> None:
    """Install `optimizer` with its saved state in the model's core network. The core
    is told which optimizer the state belongs to, or its first update would reset it."""
    net = model._net
    net.reset_optimizer_state()
    net.optimizer_kind = optimizer.kind
    model.optimizer = optimizer
    for which, buf in enumerate(buffers):
        net.optimizer_buffer(which)[...] = buf
    net.opt_step = step
