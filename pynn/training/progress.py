"""What `fit(verbose=...)` prints: 0 nothing, 1 a progress bar, 2 one line per epoch.

The batches of an epoch run inside one C++ call (GIL released, no Python per batch), so
progress is reported per epoch: verbose=1 is one tqdm bar over the epochs of the fit,
its postfix showing the last epoch's metrics. A bar only makes sense where it can redraw
itself, so verbose=1 falls back to the verbose=2 lines (on stdout) without tqdm (the
`progress` extra) or when stderr is not a terminal or notebook (a log file, a pipe, CI).

May import: pynn.training; tqdm lazily (optional)."""
from __future__ import annotations

import sys
import time

from .callbacks import Callback

__all__ = ["ProgressLogger", "format_logs"]


def format_logs(logs: dict) -> str:
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())


def _interactive(stream) -> bool:
    """A terminal, or a Jupyter kernel (where tqdm.auto draws a widget)."""
    if "ipykernel" in sys.modules:
        return True
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class ProgressLogger(Callback):
    """The callback fit adds for verbose=1 or 2 (file: where to write, stdout for the
    epoch lines, stderr for the bar as tqdm does)."""

    def __init__(self, verbose: int = 1, file=None):
        self.verbose = verbose
        self.file = file
        self.bar = None
        self._start = 0.0

    def on_train_begin(self, logs=None):
        self.epochs = int(self.params.get("epochs", 0)) if isinstance(self.params, dict) else 0
        self.bar = None
        if self.verbose == 1 and _interactive(self.file or sys.stderr):
            try:
                from tqdm.auto import tqdm
            except ImportError:  # the fallback: plain epoch lines
                return
            self.bar = tqdm(total=self.epochs, unit="epoch", desc="fit", file=self.file or sys.stderr,
                            dynamic_ncols=True, leave=True)

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.bar is not None:
            self.bar.set_postfix_str(", ".join(f"{k}={v:.4g}" for k, v in logs.items()), refresh=False)
            self.bar.update(1)
            return
        seconds = time.perf_counter() - self._start
        took = f"{seconds:.2f}s" if seconds >= 1 else f"{seconds * 1e3:.0f}ms"
        print(f"Epoch {epoch + 1}/{self.epochs} - {took} - {format_logs(logs)}",
              file=self.file or sys.stdout, flush=True)

    def close(self) -> None:
        """Close the bar (fit calls it in a finally: also after an error or Ctrl-C)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def on_train_end(self, logs=None):
        self.close()
