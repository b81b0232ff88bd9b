"""Training curves as a PNG: `model.plot_history(path)` or `pynn.plot_history(history, path)`.

Needs matplotlib (the `plot` extra: pip install "pynn[plot]"). It draws on a bare
matplotlib Figure with the Agg renderer, so it never opens a window, never touches
pyplot's global state and works on a headless machine.

May import: pynn._checks, pynn.training; matplotlib, lazily."""
from __future__ import annotations

import os

from .. import _checks
from .callbacks import History

__all__ = ["plot_history"]


def _history_dict(history) -> dict:
    if isinstance(history, History):
        return history.history
    if isinstance(history, dict):
        return history
    raise TypeError(f"history must be a pynn History (what fit returns) or a dict of lists, got {_checks.describe(history)}")


def plot_history(history, path, title: str | None = None, dpi: int = 100) -> str:
    """Write the loss curves (train and validation) and, when logged, the accuracy
    curves, one panel each, to `path` (format from the extension, PNG usually).
    Returns the path."""
    curves = _history_dict(history)
    if not curves or not any(len(v) for v in curves.values()):
        raise ValueError("the history is empty: train the model (fit) before plotting its history")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path, got {_checks.describe(path)}")
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plot_history needs matplotlib: pip install 'pynn[plot]' (or pip install matplotlib)") from None

    # Panels: the base metrics ("loss", "accuracy", ...), each with its val_ twin.
    bases = [k for k in curves if not k.startswith("val_")]
    bases += [k[4:] for k in curves if k.startswith("val_") and k[4:] not in bases]
    bases.sort(key=lambda k: (k != "loss", k))
    fig = Figure(figsize=(5.0 * len(bases), 3.8), dpi=dpi)
    FigureCanvasAgg(fig)
    for i, base in enumerate(bases):
        ax = fig.add_subplot(1, len(bases), i + 1)
        for key, label, style in ((base, "train", "-"), (f"val_{base}", "validation", "--")):
            values = curves.get(key)
            if values:
                ax.plot(range(1, len(values) + 1), values, style, marker="o" if len(values) < 30 else None,
                        markersize=3, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(base)
        ax.set_title(base)
        ax.grid(True, alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(os.fspath(path))
    return os.fspath(path)
