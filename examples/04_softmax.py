"""Lecture section 6: softmax turns K scores into a probability distribution.

    softmax(z)_i = e^{z_i} / sum_j e^{z_j}

Prints the course's example (z = [0.6, 1.1, -1.5, 1.2, 3.2, -1.1]), shows that adding a
constant to every score changes nothing (which is why pynn subtracts max z and never
overflows, even at z = 1000), that two-class softmax is the sigmoid of z1 - z2, and
that a classifier's predict_proba is the softmax of its logits. Writes 04_softmax.png.

    python examples/04_softmax.py --out figures/
"""

from _common import parse_args, save_figure  # first: selects the Agg backend
import matplotlib.pyplot as plt
import numpy as np

import pynn


def main():
    out = parse_args(__doc__).out

    z = np.array([0.6, 1.1, -1.5, 1.2, 3.2, -1.1])
    p = pynn.softmax(z)
    print("z          =", z)
    print("softmax(z) =", np.round(p, 3), f" sum = {p.sum():.6f}")   # [0.055 0.09 0.007 0.1 0.738 0.01]

    # Shift invariance: e^{z_i + c} / sum_j e^{z_j + c} = e^{z_i} / sum_j e^{z_j}.
    with np.errstate(over="ignore", invalid="ignore"):
        naive = np.exp(z + 1000) / np.exp(z + 1000).sum()   # inf / inf
    print("softmax(z + 1000) =", np.round(pynn.softmax(z + 1000), 3), "  naive formula:", naive)

    # Two classes: softmax([z1, z2])_1 = 1 / (1 + e^{-(z1 - z2)}) = sigmoid(z1 - z2).
    d = np.linspace(-6, 6, 121)
    two = pynn.softmax(np.column_stack([d, np.zeros_like(d)]), axis=1)[:, 0]
    print("max |softmax([d, 0])_1 - sigmoid(d)| =", np.abs(two - pynn.sigmoid(d)).max())

    # A classifier's last Dense layer gives logits; predict_proba applies softmax.
    model = pynn.Sequential([pynn.Dense(4, 8), pynn.ReLU(), pynn.Dense(8, 3)],
                            loss="softmax_cross_entropy", dtype="float64", seed=0)
    X = np.random.default_rng(0).normal(size=(5, 4))
    gap = np.abs(model.predict_proba(X) - pynn.softmax(model.forward(X), axis=1)).max()
    print("max |predict_proba - softmax(forward)| =", gap)

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    k = np.arange(len(z))
    axes[0].bar(k - 0.2, z, width=0.4, label="score z")
    axes[0].bar(k + 0.2, p, width=0.4, label="softmax(z)")
    for i, pi in enumerate(p):
        axes[0].annotate(f"{pi:.3f}", (i + 0.2, pi), ha="center", va="bottom", fontsize=8)
    axes[0].axhline(0, color="gray", lw=0.5)
    axes[0].set(xticks=k, xlabel="class", title="the course's example")
    axes[0].legend()

    for temperature in (0.5, 1, 2, 5):
        axes[1].plot(k, pynn.softmax(z / temperature), "o-", label=f"softmax(z / {temperature:g})")
    axes[1].set(xticks=k, xlabel="class", ylabel="probability",
                title="dividing z by T > 1 flattens, T < 1 sharpens")
    axes[1].legend()

    axes[2].plot(d, two, lw=3, label="softmax([z1, z2])_1")
    axes[2].plot(d, pynn.sigmoid(d), "k--", label="sigmoid(z1 - z2)")
    axes[2].set(xlabel="z1 - z2", ylabel="probability of class 1", title="two classes: softmax = sigmoid")
    axes[2].legend()
    save_figure(fig, out / "04_softmax.png")


if __name__ == "__main__":
    main()
