"""Lecture section 1: one neural unit, y = f(w . x + b).

Prints the course's example (z = 0.87, sigmoid(z) = 0.70) and draws the unit's
output over a line of inputs for each activation. Writes 01_neural_unit.png.

    python examples/01_neural_unit.py --out figures/
"""

from _common import parse_args, save_figure  # first: selects the Agg backend
import matplotlib.pyplot as plt
import numpy as np

from pynn.neuron import Neuron


def main():
    out = parse_args(__doc__).out

    w, b, x = [0.2, 0.3, 0.9], 0.5, [0.5, 0.6, 0.1]
    unit = Neuron(w, b, activation="sigmoid")
    print(f"z = w.x + b = {unit.z(x):.2f}")            # 0.87
    print(f"y = sigmoid(z) = {unit(x):.2f}")           # 0.70

    # Move the input along x + t * w: z grows linearly in t, y follows f.
    t = np.linspace(-4, 4, 201)
    X = np.asarray(x) + t[:, None] * np.asarray(w)
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in ["sigmoid", "tanh", "relu", "step"]:
        unit = Neuron(w, b, activation=name)
        ax.plot(unit.z(X), unit(X), label=name)
    ax.plot([0.87], [Neuron(w, b)(x)], "ko", label="course example: z = 0.87, y = 0.70")
    ax.set(xlabel="z = w.x + b", ylabel="y = f(z)", ylim=(-1.2, 2.2),
           title="One unit, four activations")
    ax.legend()
    save_figure(fig, out / "01_neural_unit.png")


if __name__ == "__main__":
    main()
