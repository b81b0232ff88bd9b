"""Lecture sections 3-4: the perceptron computes AND and OR but cannot learn XOR;
two layers with ReLU can.

Prints the truth tables of the course's hand-set perceptrons, trains perceptrons on
AND, OR and XOR, and draws their decision lines and XOR's mistakes per epoch
(03_perceptron_xor.png). Then sets the course's two-layer ReLU network by hand
(W = [[1, 1], [1, 1]], b = [0, -1], U = [[1, -2]]), prints its table of h and y, trains
a network on XOR from random weights, and draws the decision regions of both and the
hidden space where XOR becomes linearly separable (03_two_layer_xor.png).

    python examples/03_perceptron_xor.py --out figures/
"""
import warnings

from _common import parse_args, save_figure  # first: selects the Agg backend
import matplotlib.pyplot as plt
import numpy as np

import pynn
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
    out = parse_args(__doc__).out

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
    save_figure(fig, out / "03_perceptron_xor.png")
    two_layers(out)


def hand_set_xor():
    """The course's solution: h = ReLU(W x + b), y = U h."""
    model = pynn.Sequential([pynn.Dense(2, 2), pynn.ReLU(), pynn.Dense(2, 1, use_bias=False)],
                            loss="mse", dtype="float64")
    W, b, U = model.parameters()   # writeable views into the model's memory
    W[...] = [[1, 1], [1, 1]]
    b[...] = [0, -1]
    U[...] = [[1, -2]]
    hidden = pynn.Sequential(model.layers[:2], loss="mse", dtype="float64")  # the first two layers
    hidden.parameters()[0][...], hidden.parameters()[1][...] = W, b
    return model, hidden


def regions(ax, score, title):
    """Shade where the network's score is above 0.5 (it says 1), and mark XOR's points."""
    g = np.linspace(-0.5, 1.5, 201)
    gx, gy = np.meshgrid(g, g)
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    s = score(grid).reshape(gx.shape)
    # says 0: light orange, says 1: light blue, the colours of the points
    ax.contourf(gx, gy, s, levels=[-np.inf, 0.5, np.inf], colors=["#f8e3d4", "#d6e3f5"])
    ax.contour(gx, gy, s, levels=[0.5], colors="k", linewidths=1)
    y = np.array(TABLES["XOR"])
    ax.scatter(*X[y == 1].T, marker="o", s=80, c="C0", label="XOR = 1")
    ax.scatter(*X[y == 0].T, marker="x", s=80, c="C1", label="XOR = 0")
    ax.set(xlim=(-0.5, 1.5), ylim=(-0.5, 1.5), xlabel="x1", ylabel="x2", title=title)


def two_layers(out):
    model, hidden = hand_set_xor()
    h, y = hidden.predict(X), model.predict(X)[:, 0]
    print("two layers, hand-set:  x -> h = ReLU(W x + b) -> y = U h")
    for xi, hi, yi in zip(X.tolist(), h, y):
        print(f"  x={tuple(xi)}  h=({hi[0]:g}, {hi[1]:g})  y={yi:g}")

    # From random weights: 8 hidden ReLUs (with only 2, a dead unit often leaves the
    # network stuck: most seeds fail), sigmoid output with binary cross-entropy, Adam.
    trained = pynn.Sequential([pynn.Dense(2, 8), pynn.ReLU(), pynn.Dense(8, 1)],
                              loss="binary_cross_entropy", seed=0)
    history = trained.fit(X, np.array(TABLES["XOR"]).reshape(-1, 1), epochs=300, batch_size=4,
                          optimizer=pynn.Adam(lr=0.02), verbose=0)
    print(f"trained from random weights: predictions {trained.predict(X)[:, 0].tolist()}, "
          f"final loss {history.history['loss'][-1]:.4f}")

    fig, axes = plt.subplots(1, 4, figsize=(17, 4))
    regions(axes[0], lambda x: model.predict(x)[:, 0],
            "hand-set: y = U ReLU(W x + b) > 0.5")
    # Hidden space: (0,1) and (1,0) both land on (1,0); a line now separates the classes.
    ax = axes[1]
    y_true = np.array(TABLES["XOR"])
    ax.scatter(*h[y_true == 1].T, marker="o", s=80, c="C0", label="XOR = 1")
    ax.scatter(*h[y_true == 0].T, marker="x", s=80, c="C1", label="XOR = 0")
    for xi, hi in zip(X.tolist(), h):
        ax.annotate(f"x={tuple(xi)}", hi, textcoords="offset points", xytext=(6, -12 if xi == [1, 0] else 4))
    hs = np.array([-0.5, 2.5])
    ax.plot(hs, (hs - 0.5) / 2, "k--", label="U h = 0.5")
    ax.set(xlim=(-0.5, 2.8), ylim=(-0.5, 1.5), xlabel="h1", ylabel="h2",
           title="hidden space: XOR is linearly separable")
    ax.legend(loc="upper left")
    regions(axes[2], lambda x: trained.predict_proba(x)[:, 0], "trained (8 ReLUs, seed 0): p(y=1) > 0.5")
    axes[3].plot(history.history["loss"])
    axes[3].set(xlabel="epoch", ylabel="binary cross-entropy", yscale="log", title="training loss")
    axes[0].legend(loc="upper right", fontsize=8)
    save_figure(fig, out / "03_two_layer_xor.png")


if __name__ == "__main__":
    main()
