"""The `pynn` command line (main), its TOML configs (config) and `pynn bench` (bench)."""
from .main import main

__all__ = ["main"]
