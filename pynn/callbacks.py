"""Training callbacks and the History that `fit` returns (Keras-style hooks)."""
from __future__ import annotations

__all__ = ["Callback", "History"]


class Callback:
    """Base class: override any hook. `self.model` is set before training starts;
    set `self.model.stop_training = True` to stop after the current epoch."""

    model = None

    def set_model(self, model) -> None:
        self.model = model

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...


class History(Callback):
    """What `fit` returns: `history.history["loss"]`, `["val_loss"]`, `["accuracy"]`, ...
    one value per epoch, and `history.epoch`, the epoch numbers."""

    def __init__(self):
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.params: dict = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def __repr__(self) -> str:
        last = {k: round(v[-1], 4) for k, v in self.history.items() if v}
        return f"History(epochs={len(self.epoch)}, last={last})"
