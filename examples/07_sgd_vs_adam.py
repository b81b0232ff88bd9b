"""Lecture section 10: training with SGD and with Adam, loss curves side by side.

The same network (64 -> 32 ReLU -> 10, the same seed, so the same initial weights and
the same shuffles) is trained on the bundled 8x8 digits with plain SGD, SGD with
momentum and Adam at two learning rates; training and validation loss are plotted
per epoch. (Which optimizer "wins" depends on the learning rate each one gets: compare
them at rates tuned on the validation set, not at one shared number.)
Writes 07_sgd_vs_adam.png.

    SGD:       theta <- theta - lr g
    momentum:  v <- mu v + g;  theta <- theta - lr v
    Adam:      m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
               theta <- theta - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)

    python examples/07_sgd_vs_adam.py --out figures/ [--epochs 30]
"""

from _common import parse_args, save_figure  # first: selects the Agg backend
import matplotlib.pyplot as plt

import pynn

OPTIMIZERS = {
    "SGD (lr 0.05)": lambda: pynn.SGD(lr=0.05),
    "SGD + momentum 0.9 (lr 0.05)": lambda: pynn.SGD(lr=0.05, momentum=0.9),
    "Adam (lr 0.001, the usual default)": lambda: pynn.Adam(lr=1e-3),
    "Adam (lr 0.01)": lambda: pynn.Adam(lr=1e-2),
}


def main():
    args = parse_args(__doc__, epochs=30)

    X, y = pynn.datasets.load_digits()
    train, val = pynn.datasets.train_test_split_indices(len(X), 0.25, seed=0, stratify=y)

    fig, (ax_train, ax_val) = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for name, make in OPTIMIZERS.items():
        model = pynn.Sequential([pynn.Dense(64, 32), pynn.ReLU(), pynn.Dense(32, 10)],
                                loss="softmax_cross_entropy", seed=0)
        history = model.fit(X[train], y[train], epochs=args.epochs, batch_size=32, optimizer=make(),
                            validation_data=(X[val], y[val]), verbose=0).history
        print(f"{name:<36} train loss {history['loss'][-1]:.4f}   "
              f"validation loss {history['val_loss'][-1]:.4f}   accuracy {history['val_accuracy'][-1]:.3f}")
        epochs = range(1, len(history["loss"]) + 1)
        ax_train.plot(epochs, history["loss"], label=name)
        ax_val.plot(epochs, history["val_loss"], label=name)
    ax_train.set(xlabel="epoch", ylabel="cross-entropy", yscale="log", title="training loss (digits, 64-32-10)")
    ax_val.set(xlabel="epoch", yscale="log", title="validation loss")
    for ax in (ax_train, ax_val):
        ax.grid(alpha=0.3, which="both")
    ax_train.legend()
    save_figure(fig, args.out / "07_sgd_vs_adam.png")


if __name__ == "__main__":
    main()
