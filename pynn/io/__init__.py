"""File formats: the safetensors container (safetensors_file), what a model file holds
(model_file: `model.save`) and ONNX export (onnx_export: `model.to_onnx`). Reading a
model back builds a network, so it is `pynn.load` (pynn/nn/loading.py).

May import: pynn._files, pynn._version, pynn._checks; models are read through their
public accessors, never by importing pynn.nn."""
from .model_file import FORMAT_NAME, FORMAT_VERSION, save
from .onnx_export import to_onnx
from .safetensors_file import read_safetensors, write_safetensors

__all__ = ["save", "to_onnx", "read_safetensors", "write_safetensors", "FORMAT_NAME", "FORMAT_VERSION"]
