"""Lecture section 3: the perceptron computes AND and OR, and cannot learn XOR.

Prints the truth tables of the course's hand-set perceptrons, trains perceptrons on
AND, OR and XOR, and draws their decision lines and XOR's mistakes per epoch.
Writes 03_perceptron_xor.png. (The two-layer solution of XOR is example 05.)

    python examples/03_perceptron_xor.py --out figures/
"""
import argparse
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display needed
import matplotlib.pyplot as plt
import numpy as np

from pynn.neuron import ConvergenceWarning, Perceptron

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
TABLES = {"AND": [0, 0, 0, 1], "OR": [0, 1, 1, 1], "XOR": [0, 1, 1, 0]}


def draw(ax, name, p):
    y = np.array(TABLES[name])
    ax.scatter(*X[y == 1].T, marker="o", s=80, label="1")
    ax.scatter(*X[y == 0].T, marker="x", s=80, label="0")
    w, b = p.w, p.b
    if w[1] != 0:  # the line w1 x1 + w2 x2 + b = 0
        xs = np.array([-0.5, 1.5])
        ax.plot(xs, -(w[0] * xs + b) / w[1], "k--")
    verdict = "converged" if p.converged_ else "did NOT converge"
    ax.set(xlim=(-0.5, 1.5), ylim=(-0.5, 1.5), xlabel="x1", ylabel="x2",
           title=f"{name}: {verdict} ({p.n_epochs_} epochs)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("."), help="directory for the PNG")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)

    for name, w, b in [("AND", [1, 1], -1), ("OR", [1, 1], 0)]:
        p = Perceptron(w, b)
        print(f"{name} (w={w}, b={b}):", {tuple(x): p(x) for x in X.tolist()})

    fig, axes = plt.subplots(1, 4, figsize=(16, 4))
    for ax, name in zip(axes, TABLES):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            p = Perceptron().fit(X, TABLES[name], epochs=30)
        for warning in caught:
            print(f"{name}: {warning.message}")
        print(f"{name}: converged_={p.converged_}, mistakes per epoch {p.errors_}")
        draw(ax, name, p)
        if name == "XOR":
            axes[3].plot(range(1, p.n_epochs_ + 1), p.errors_, marker=".")
            axes[3].set(xlabel="epoch", ylabel="mistakes", ylim=(0, 4.5),
                        title="XOR: mistakes never reach 0")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(out / "03_perceptron_xor.png", dpi=120)
    print(f"wrote {out / '03_perceptron_xor.png'}")


if __name__ == "__main__":
    main()
