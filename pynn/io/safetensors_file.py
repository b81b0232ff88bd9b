"""The safetensors container: tensors and string metadata written atomically, and read
back with every length, offset, dtype and shape checked, with a message a user can act
on for a truncated, corrupted or foreign file.

A safetensors file is data only (no pickle, nothing executable): an 8-byte header
length, a JSON header (each tensor's dtype, shape and byte offsets, plus string
metadata), then the tensors' raw bytes. pynn reads and writes it with the `safetensors`
package, the format's reference implementation, so any tool opens pynn's files
(`safetensors.numpy.load_file`) and loading an untrusted file cannot run code.

May import: pynn._files, pynn.io.nesting."""
from __future__ import annotations

import os
import struct

import numpy as np
import safetensors
import safetensors.numpy

from .._files import atomic_write
from .nesting import loads_json

__all__ = ["write_safetensors", "read_safetensors", "parse_safetensors", "DTYPE_CODES"]

# The only dtypes pynn writes; the codes are those of the safetensors header.
DTYPE_CODES = {np.dtype("float32"): "F32", np.dtype("float64"): "F64"}
_NUMPY = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8")}


def write_safetensors(path, tensors: dict, metadata: dict) -> None:
    """Write `tensors` (name -> float32/float64 array) and `metadata` (str -> str)
    atomically to `path`. An OSError (full disk, missing directory, ...) propagates and
    leaves any existing file at `path` untouched."""
    arrays = {}
    for name, arr in tensors.items():
        arr = np.asarray(arr)
        if arr.dtype not in DTYPE_CODES:
            raise TypeError(f"tensor {name!r} must be float32 or float64, got {arr.dtype}")
        # The package copies from the array's memory as it lies: it must be contiguous.
        arrays[name] = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"metadata must map str to str, got {key!r}: {type(value).__name__}")
    # Serialized in memory, then written by atomic_write: the package's save_file
    # writes the target in place, which a crash mid-save would leave broken.
    atomic_write(os.fspath(path), [safetensors.numpy.save(arrays, metadata=dict(metadata))])


def read_safetensors(path) -> tuple[dict, dict]:
    """(tensors, metadata) of a safetensors file: tensors maps each name to a read-only
    NumPy array for F32/F64 tensors and to its header code (a str, e.g. "BF16") for any
    other dtype, which pynn never writes; metadata maps str to str.

    Raises ValueError naming the problem for a truncated, corrupted or foreign file."""
    name = os.fspath(path)
    with open(name, "rb") as f:
        return parse_safetensors(f.read(), name)


def parse_safetensors(raw: bytes, name: str) -> tuple[dict, dict]:
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
        metadata = loads_json(raw[8:8 + n]).get("__metadata__") or {}
    except (ValueError, AttributeError) as exc:  # should Python's json refuse what the package took
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
