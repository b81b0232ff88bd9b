"""pynn.config is pynn.cli.config (the command line's room); this name stays for the scripts that import it."""
import sys

from .cli import config as _moved

sys.modules[__name__] = _moved
