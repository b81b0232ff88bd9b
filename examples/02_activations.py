"""Lecture section 2: activation functions and their derivatives.

Plots each activation f(z) next to its derivative f'(z), both computed by pynn's C++
core (pynn.sigmoid etc. and pynn.derivative(name, z), the code the layers run), and
checks every derivative against a central finite difference. Writes 02_activations.png.

    python examples/02_activations.py --out figures/
"""

from _common import parse_args, save_figure  # first: selects the Agg backend
import matplotlib.pyplot as plt
import numpy as np

import pynn

FUNCTIONS = {  # name -> the pynn function
    "sigmoid": pynn.sigmoid,
    "tanh": pynn.tanh,
    "relu": pynn.relu,
    "leaky_relu": pynn.leaky_relu,   # slope 0.01 below 0
    "elu": pynn.elu,
    "gelu": pynn.gelu,
    "silu": pynn.silu,
    "softplus": pynn.softplus,
}
ALPHA = {"leaky_relu": 0.01, "elu": 1.0}  # the defaults of the functions above


def main():
    out = parse_args(__doc__).out

    z = np.linspace(-5, 5, 401)
    h = 1e-6
    heads = ["f(-2)", "f(0)", "f(2)", "f'(-2)", "f'(0)", "f'(2)"]
    print(f"{'activation':<11} " + " ".join(f"{h_:>8}" for h_ in heads) + "   max |f' - finite difference|")
    fig, axes = plt.subplots(2, 4, figsize=(14, 6.5), sharex=True)
    for ax, (name, f) in zip(axes.flat, FUNCTIONS.items()):
        alpha = ALPHA.get(name, 0.0)
        d = pynn.derivative(name, z, alpha)
        # Away from z = 0, where ReLU-like functions have a kink, f' is the slope of f.
        smooth = np.abs(z) > 1e-3
        fd = (f(z + h) - f(z - h)) / (2 * h)
        err = np.abs(d - fd)[smooth].max()
        pts = np.array([-2.0, 0.0, 2.0])
        vals = " ".join(f"{v:8.4f}" for v in np.concatenate([f(pts), pynn.derivative(name, pts, alpha)]))
        print(f"{name:<11} {vals}   {err:.1e}")
        ax.plot(z, f(z), label="f(z)")
        ax.plot(z, d, "--", label="f'(z)")
        ax.axhline(0, color="gray", lw=0.5)
        ax.axvline(0, color="gray", lw=0.5)
        ax.set(title=name, ylim=(-1.2, 2.5))
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("z")
    axes[0, 0].legend(loc="upper left")
    fig.suptitle("Activations (solid) and their derivatives (dashed): sigmoid and tanh saturate, ReLU does not")
    save_figure(fig, out / "02_activations.png")


if __name__ == "__main__":
    main()
