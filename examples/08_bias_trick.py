"""Lecture section 9: the bias trick. A bias is a weight on an input that is always 1.

    x' = [1, x1, ..., xn],   W' = [b | W],   W' x' = W x + b

Builds a layer with a bias, Dense(3, 4), and one without, Dense(4, 4, use_bias=False),
whose weights are [b | W]; feeds the second the inputs with a column of ones in front;
prints how far apart their outputs and gradients are (rounding error only), and draws
W, b, W' and the two layers' outputs against each other. Writes 08_bias_trick.png.

    python examples/08_bias_trick.py --out figures/
"""

from _common import parse_args, save_figure  # first: selects the Agg backend
import matplotlib.pyplot as plt
import numpy as np

import pynn


def main():
    out = parse_args(__doc__).out

    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    targets = rng.normal(size=(50, 4))
    X_aug = np.hstack([np.ones((len(X), 1)), X])          # x0 = 1 in front of every input

    with_bias = pynn.Sequential([pynn.Dense(3, 4)], loss="mse", dtype="float64", seed=0)
    no_bias = pynn.Sequential([pynn.Dense(4, 4, use_bias=False)], loss="mse", dtype="float64")
    W, b = with_bias.parameters()
    b[...] = [1.0, -0.5, 2.0, 0.0]                          # biases start at 0: give them values
    (W_aug,) = no_bias.parameters()
    W_aug[...] = np.hstack([b[:, None], W])                 # W' = [b | W], shape (4, 1 + 3)

    out_bias, out_aug = with_bias.forward(X), no_bias.forward(X_aug)
    print("W' = [b | W] =\n", np.round(W_aug, 3))
    print(f"max |W x + b - W' x'| = {np.abs(out_bias - out_aug).max():.1e}")

    loss = with_bias.loss_and_gradients(X, targets)
    loss_aug = no_bias.loss_and_gradients(X_aug, targets)
    gW, gb = with_bias.gradients()
    (gW_aug,) = no_bias.gradients()
    print(f"losses {loss:.6f} and {loss_aug:.6f}; "
          f"max |dL/dW' - [dL/db | dL/dW]| = {np.abs(gW_aug - np.hstack([gb[:, None], gW])).max():.1e}")

    fig, axes = plt.subplots(1, 4, figsize=(16, 4), gridspec_kw={"width_ratios": [3, 1, 4, 4]})
    lim = np.abs(W_aug).max()
    for ax, M, title, labels in [
            (axes[0], W, "W (4 x 3)", ["x1", "x2", "x3"]),
            (axes[1], b[:, None], "b", ["1"]),
            (axes[2], W_aug, "W' = [b | W] (4 x 4)", ["x0 = 1", "x1", "x2", "x3"])]:
        ax.imshow(M, cmap="RdBu_r", vmin=-lim, vmax=lim)
        for (i, j), v in np.ndenumerate(M):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if abs(v) > 0.6 * lim else "black")
        ax.set(title=title, xticks=range(M.shape[1]), xticklabels=labels, yticks=range(4),
               yticklabels=[f"unit {i}" for i in range(4)])
    axes[2].axvline(0.5, color="k", lw=2)  # the bar in [b | W]
    axes[3].plot(out_bias.ravel(), out_aug.ravel(), ".", alpha=0.6)
    span = [out_bias.min(), out_bias.max()]
    axes[3].plot(span, span, "k--", lw=0.8)
    axes[3].set(xlabel="W x + b  (Dense(3, 4))", ylabel="W' x'  (Dense(4, 4, use_bias=False))",
                title="the same outputs", aspect="equal")
    save_figure(fig, out / "08_bias_trick.png")


if __name__ == "__main__":
    main()
