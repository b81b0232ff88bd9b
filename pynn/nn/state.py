"""The model's numbers as the core holds them, for the rooms that save, restore,
broadcast or roll them back: `Sequential.state()` returns a ModelState; nothing outside
pynn/nn/ reaches the core network any other way.

May import: NumPy; the core network it is given is Sequential's."""
from __future__ import annotations

import numpy as np


def optimizer_buffer_ids(optimizer) -> tuple[int, ...]:
    """The core optimizer buffers `optimizer` uses: SGD one (the momentum; the core
    passes it to every SGD step, momentum or not), Adam and AdamW two (m, v).

    Reading a buffer through the binding (`net.first_moment()`, `net.second_moment()`) allocates it, so
    the snapshot and the pickled state read only these: an SGD run carries no unused
    second buffer."""
    if optimizer is None:
        return ()
    return tuple(range(len(optimizer.buffers)))


class ModelState:
    """Views of a model's flat buffers and its counters.

    - ``params``: every parameter, one flat writeable view (layer order, as
      Sequential.parameters() lists them).
    - ``optimizer_buffers``: the buffers the model's optimizer uses (SGD: momentum; Adam,
      AdamW: m, v), flat writeable views; () before an optimizer is bound.
    - ``opt_step``: the optimizer's step count (Adam's bias correction reads it).
    - ``train_forwards``: training forwards so far (dropout masks are drawn from it).
    - ``optimizer_kind``: which optimizer the core's state belongs to ("sgd", "adam", "adamw").
    """

    def __init__(self, model, net):
        self._model, self._net = model, net

    @property
    def params(self) -> np.ndarray:
        return self._net.param_view(0, [self._net.n_params])

    @property
    def optimizer_buffers(self) -> tuple[np.ndarray, ...]:
        moments = (self._net.first_moment, self._net.second_moment)
        return tuple(moments[i]() for i in optimizer_buffer_ids(self._model.optimizer))

    @property
    def opt_step(self) -> int:
        return int(self._net.opt_step)

    @opt_step.setter
    def opt_step(self, value: int) -> None:
        self._net.opt_step = value

    @property
    def train_forwards(self) -> int:
        return int(self._net.train_forwards)

    @train_forwards.setter
    def train_forwards(self, value: int) -> None:
        self._net.train_forwards = value

    @property
    def optimizer_kind(self) -> str:
        return self._net.optimizer_kind

    @optimizer_kind.setter
    def optimizer_kind(self, kind: str) -> None:
        self._net.optimizer_kind = kind

    def install_optimizer(self, optimizer, buffers, step: int) -> None:
        """Bind `optimizer` to the model with a saved state (its buffers, in the order
        optimizer_buffers lists them, and its step count). The core is told which
        optimizer the state belongs to, or its first update would reset it."""
        net = self._net
        net.reset_optimizer_state()
        net.optimizer_kind = optimizer.kind
        self._model.optimizer = optimizer
        for view, saved in zip(self.optimizer_buffers, buffers):
            view[...] = saved
        net.opt_step = step


def _zero_bits(a: np.ndarray) -> bool:
    """True when every element of the 1-D buffer a has all bits zero (+0.0; -0.0 is not:
    restoring +0.0 for it would change a bit). A buffer that is not zero nearly always
    shows it in its first element, so the scan (which has no early exit) is rarely paid."""
    if a.size and a[0] != 0:  # NaN too
        return False
    return not a.view(np.uint32 if a.itemsize == 4 else np.uint64).any()


class Snapshot:
    """A copy of everything an update changes: the flat parameter buffer, the optimizer
    buffers in use, the optimizer's step count and the dropout counter. take() copies
    into the same arrays every time; restore() writes them back, so a failed step or
    epoch leaves the model as it was. Allocated once per fit: an epoch of a small network
    takes well under a millisecond, so fresh arrays per epoch would count.

    A buffer whose bits are all zero (a fresh optimizer's moments, before the first
    update) is remembered as such instead of copied: its copy would be fresh memory,
    whose first touch costs a page fault per 4 KiB (on a cloud VM ~3 us each; for the
    benchmark's 784-256-128-10 network, Adam's two moments are ~470 pages, ~1.5 ms of a
    fresh model's fit). The copy is allocated when a buffer is first seen non-zero."""

    def __init__(self, state: ModelState):
        self.state = state
        # Views stay valid: the core allocates its buffers once (the parameters at
        # finalize, an optimizer buffer on first use) and never resizes them after.
        self.params = state.params  # the live parameters (a view)
        self._sources = [self.params, *state.optimizer_buffers]
        self._copies: list[np.ndarray | None] = [None] * len(self._sources)
        self._zero = [False] * len(self._sources)  # the source was all zero bits at take()
        self.step = self.forwards = 0

    def take(self) -> Snapshot:
        for i, source in enumerate(self._sources):
            self._zero[i] = _zero_bits(source)
            if self._zero[i]:
                continue
            if self._copies[i] is None:
                self._copies[i] = np.empty_like(source)
            np.copyto(self._copies[i], source)
        self.step, self.forwards = self.state.opt_step, self.state.train_forwards
        return self

    def restore(self) -> None:
        for zero, copy, source in zip(self._zero, self._copies, self._sources):
            if zero:
                source.fill(0)
            else:
                np.copyto(source, copy)
        self.state.opt_step, self.state.train_forwards = self.step, self.forwards
