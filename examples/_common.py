"""What every example shares: a --out directory for its figures, and matplotlib's Agg
backend (files only, no display), selected before any example imports pyplot."""
import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")


def parse_args(doc: str, **extra) -> argparse.Namespace:
    """--out DIR (created if missing) plus `extra` integer options {name: default}."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("."), help="directory for the figures")
    for name, default in extra.items():
        parser.add_argument(f"--{name}", type=int, default=default)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def save_figure(fig, path) -> None:
    """Lay out, write at 120 dpi, and say where it went."""
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")
