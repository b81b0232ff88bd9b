"""Files written whole or not at all, and JSON without NaN: the helpers that model files,
ONNX export, the command line and its data writers share.

May import: the standard library and NumPy only."""
from __future__ import annotations

import math
import os
import secrets

import numpy as np

__all__ = ["atomic_write", "finite_json"]


def atomic_write(path: str, parts: list[bytes]) -> None:
    """Write `parts` to `path` so that `path` holds either its old content or all of the
    new one: a temporary file in the same directory, fsync'd, then renamed over `path`."""
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
    fsync_directory(directory)


def fsync_directory(directory: str) -> None:
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


def finite_json(value):
    """JSON has no NaN/inf; a diverged history entry becomes null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return finite_json(value.item())
    return value
