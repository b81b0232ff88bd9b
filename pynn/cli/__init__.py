"""The `pynn` command line (main), its TOML configs (config) and `pynn bench` (bench).

May import: pynn.cli and every room below it."""
from .main import main

__all__ = ["main"]
