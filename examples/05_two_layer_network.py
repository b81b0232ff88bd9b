"""Lecture sections 4-5: a two-layer network, with a sigmoid and with a softmax output.

    h = sigmoid(W x + b)                    hidden layer, W (n_hidden, n_in)
    y = sigmoid(U h + c)                    one output: binary classification
    y = softmax(U h + c)                    K outputs: K classes

Trains both on small 2-D problems (two rings; three interleaved arms), checks that
the model's outputs are exactly the formulas above computed with NumPy from
model.parameters(), and draws the decision regions and loss curves.
Writes 05_two_layer_network.png.

    python examples/05_two_layer_network.py --out figures/
"""

from _common import parse_args, save_figure  # first: selects the Agg backend
import matplotlib.pyplot as plt
import numpy as np

import pynn


def rings(rng, n=300):
    """Class 1 inside radius 1, class 0 on a ring around it."""
    y = rng.integers(0, 2, n)
    r = np.where(y == 1, rng.uniform(0, 1.0, n), rng.uniform(1.4, 2.2, n))
    a = rng.uniform(0, 2 * np.pi, n)
    return np.column_stack([r * np.cos(a), r * np.sin(a)]), y


def arms(rng, n=450, k=3):
    """k spiral arms, one class each."""
    y = rng.integers(0, k, n)
    t = rng.uniform(0.3, 2.0, n)
    a = 2 * np.pi * y / k + 1.6 * t + rng.normal(0, 0.12, n)
    return np.column_stack([t * np.cos(a), t * np.sin(a)]), y


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def by_hand(model, X, output):
    """The lecture's formulas, from the model's own weights."""
    W, b, U, c = model.parameters()
    h = sigmoid(X @ W.T + b)
    z = h @ U.T + c
    if output == "sigmoid":
        return sigmoid(z)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def regions(ax, model, X, y, title):
    g = np.linspace(-2.5, 2.5, 200)
    gx, gy = np.meshgrid(g, g)
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    proba = model.predict_proba(grid)
    if proba.shape[1] == 1:   # sigmoid output: p(class 1)
        p1 = proba[:, 0].reshape(gx.shape)
        ax.contourf(gx, gy, p1, levels=[0, 0.5, 1], colors=["C0", "C3"], alpha=0.25)
        lines = ax.contour(gx, gy, p1, levels=[0.1, 0.5, 0.9], colors="k", linewidths=[0.5, 1.5, 0.5])
        ax.clabel(lines, fontsize=7)
    else:                     # softmax output: the most probable class
        ax.contourf(gx, gy, proba.argmax(axis=1).reshape(gx.shape), levels=np.arange(-0.5, proba.shape[1]),
                    colors=["C0", "C1", "C2"], alpha=0.3)
    for k in np.unique(y):
        ax.scatter(*X[y == k].T, s=10, c=f"C{k}" if proba.shape[1] > 1 else ["C0", "C3"][k], label=f"class {k}")
    ax.set(xlim=(-2.5, 2.5), ylim=(-2.5, 2.5), xlabel="x1", ylabel="x2", title=title, aspect="equal")
    ax.legend(loc="upper right", fontsize=8)


def main():
    out = parse_args(__doc__).out
    rng = np.random.default_rng(0)
    fit = dict(epochs=200, batch_size=32, verbose=0)

    # Sigmoid output: one unit, binary cross-entropy on its logit (pynn fuses the two).
    X1, y1 = rings(rng)
    binary = pynn.Sequential([pynn.Dense(2, 8), pynn.Sigmoid(), pynn.Dense(8, 1)],
                             loss="binary_cross_entropy", dtype="float64", seed=0)
    h1 = binary.fit(X1, y1.reshape(-1, 1), optimizer=pynn.Adam(lr=0.05), **fit)
    gap = np.abs(binary.predict_proba(X1) - by_hand(binary, X1, "sigmoid")).max()
    print(f"sigmoid output: accuracy {binary.evaluate(X1, y1.reshape(-1, 1))['accuracy']:.3f}, "
          f"max |predict_proba - sigmoid(U sigmoid(W x + b) + c)| = {gap:.1e}")

    # Softmax output: K units, softmax cross-entropy on the logits.
    X2, y2 = arms(rng)
    multi = pynn.Sequential([pynn.Dense(2, 32), pynn.Sigmoid(), pynn.Dense(32, 3)],
                            loss="softmax_cross_entropy", dtype="float64", seed=0)
    h2 = multi.fit(X2, y2, optimizer=pynn.Adam(lr=0.05), **fit)
    gap = np.abs(multi.predict_proba(X2) - by_hand(multi, X2, "softmax")).max()
    print(f"softmax output: accuracy {multi.evaluate(X2, y2)['accuracy']:.3f}, "
          f"max |predict_proba - softmax(U sigmoid(W x + b) + c)| = {gap:.1e}")

    fig, axes = plt.subplots(1, 3, figsize=(16, 5))
    regions(axes[0], binary, X1, y1, "h = sigmoid(Wx+b), y = sigmoid(Uh+c): p(class 1)")
    regions(axes[1], multi, X2, y2, "h = sigmoid(Wx+b), y = softmax(Uh+c): argmax")
    axes[2].plot(h1.history["loss"], label="sigmoid output (binary cross-entropy)")
    axes[2].plot(h2.history["loss"], label="softmax output (cross-entropy)")
    axes[2].set(xlabel="epoch", ylabel="training loss", yscale="log", title="loss per epoch (Adam, lr 0.05)")
    axes[2].legend()
    save_figure(fig, out / "05_two_layer_network.png")


if __name__ == "__main__":
    main()
