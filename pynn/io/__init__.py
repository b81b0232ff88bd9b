"""Model files: safetensors (save, load) and ONNX export."""
from .model_file import (FORMAT_NAME, FORMAT_VERSION, load, load_bytes, read_safetensors, save,  # noqa: F401
                         write_safetensors)

__all__ = ["save", "load", "load_bytes", "read_safetensors", "write_safetensors", "FORMAT_NAME", "FORMAT_VERSION"]
