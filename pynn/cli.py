"""The `pynn` command line: `pynn train` trains a default network on the bundled digits."""
from __future__ import annotations

import argparse
import sys

import numpy as np


def _train_default(args) -> int:
    import pynn

    X, y = pynn.datasets.load_digits()
    train, test = pynn.datasets.train_test_split_indices(len(X), 0.2, seed=args.seed, stratify=y)
    model = pynn.Sequential([pynn.Dense(64, 128), pynn.ReLU(), pynn.Dropout(0.1), pynn.Dense(128, 10)],
                            loss="softmax_cross_entropy", seed=args.seed)
    print(f"pynn {pynn.__version__}: training on the 8x8 digits ({len(train)} train / {len(test)} held-out rows)")
    model.summary()
    model.fit(X[train], y[train], epochs=args.epochs, batch_size=args.batch_size,
              optimizer=pynn.Adam(lr=args.lr), validation_data=(X[test], y[test]), verbose=1)
    result = model.evaluate(X[test], y[test])
    print(f"held-out accuracy: {result['accuracy']:.4f}  (loss {result['loss']:.4f})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pynn", description="Train feed-forward neural networks (MLPs) on the CPU with pynn's C++ core.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    train = sub.add_parser("train", help="train a network (default: the bundled 8x8 digits)",
                           description="Train a 64-128-10 ReLU network on the bundled 8x8 digits and report "
                                       "per-epoch loss/accuracy and the held-out accuracy.")
    train.add_argument("--epochs", type=int, default=30, help="passes over the training data (default 30)")
    train.add_argument("--batch-size", type=int, default=32, help="rows per mini-batch (default 32)")
    train.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    train.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    train.set_defaults(func=_train_default)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
