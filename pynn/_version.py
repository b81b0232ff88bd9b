"""The version of pynn, in one place (pynn.__version__, model files, ONNX export, the CLI).

May import: nothing."""
__version__ = "0.1.0"
