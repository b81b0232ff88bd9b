"""pynn.bench is pynn.cli.bench (the command line's room); this name stays for the scripts that import it."""
import sys

from .cli import bench as _moved

sys.modules[__name__] = _moved
