"""pynn.Sequential: a feed-forward network whose numbers all live in one C++ core network.

Python holds the description (layers, loss, dtype, seed), validates every input, and
runs the epochs; the core runs every batch of an epoch with the GIL released.

May import: pynn.nn, pynn.distributed, pynn.io, pynn.training, pynn.lecture (autodiff, for custom losses), the base and pynn._core."""
from __future__ import annotations

import numpy as np

from .. import _checks, _core
from ..distributed.mpi import fit_data_parallel
from ..io.model_file import save as save_model_file
from ..io.onnx_export import to_onnx
from ..lecture.autodiff import custom_loss_gradient
from ..training.callbacks import History
from ..training.plotting import plot_history
from ..training.rows import feature_rows, predict_rows
from .initializers import initialize
from .layers import Dense, Dropout, Layer, PReLU
from .optimizers import Optimizer, as_optimizer
from .probabilities import sigmoid, softmax_rows
from .fitting import fit as fit_epochs
from .state import ModelState, Snapshot

__all__ = ["Sequential", "LOSSES", "DivergenceError"]

LOSSES = ("softmax_cross_entropy", "binary_cross_entropy", "mse")
DivergenceError = _core.DivergenceError
DivergenceError.__doc__ = ("Training produced a non-finite loss or gradient. The model is left "
                           "with its last finite parameters; lower the learning rate or scale the data.")


def _check_loss(loss):
    if callable(loss) and not isinstance(loss, str):
        return loss
    if not isinstance(loss, str):
        raise TypeError(f"loss must be a name ({', '.join(LOSSES)}) or a function of (outputs, targets), got {_checks.describe(loss)}")
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; expected one of {', '.join(LOSSES)} or a function")
    return loss


class Sequential:
    """A stack of layers trained with one loss.

    >>> model = pynn.Sequential([pynn.Dense(4, 8), pynn.ReLU(), pynn.Dense(8, 3)],
    ...                         loss="softmax_cross_entropy", seed=0)

    loss: "softmax_cross_entropy" (targets: class indices or probability rows),
    "binary_cross_entropy" (targets 0/1 of shape (n, n_outputs); multi-label works),
    "mse", or a function fn(outputs, targets) written with pynn.autodiff operations.
    dtype: "float32" (default) or "float64". seed: every random draw (initialization,
    dropout masks, shuffling) comes from it.
    """

    _data_parallel = None  # the MPI run of a fit(comm=...) while it runs (pynn/distributed/mpi.py)

    def __init__(self, layers, loss="softmax_cross_entropy", dtype="float32", seed=0):
        if isinstance(layers, Layer):
            layers = [layers]
        if not isinstance(layers, (list, tuple)):
            raise TypeError(f"layers must be a list of pynn layers, got {_checks.describe(layers)}")
        if not layers:
            raise ValueError("layers must not be empty")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layers[{i}] must be a pynn layer (e.g. pynn.Dense, pynn.ReLU), got {_checks.describe(layer)}")
        if not isinstance(layers[0], Dense):
            raise ValueError(f"the first layer must be a Dense layer (it defines the number of inputs), got {type(layers[0]).__name__}")
        self.loss = _check_loss(loss)
        self.dtype = _checks.dtype_name(dtype)
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % 2**63)
        self.seed = _checks.positive_int(seed, "seed", minimum=0, maximum=2**63 - 1)
        self.layers = list(layers)
        self._widths = self._check_chain()
        self._build()
        self.optimizer: Optimizer | None = None
        self._optimizer_token = None
        self.epochs_done = 0
        self.stop_training = False
        self.history: History | None = None

    # ------------------------------------------------------------------ construction
    def _check_chain(self) -> list[int]:
        """Widths of the input and of each layer's output; Dense sizes must chain."""
        width = self.layers[0].n_in
        widths = [width]
        for i, layer in enumerate(self.layers):
            if isinstance(layer, Dense) and layer.n_in != width:
                raise ValueError(f"layers[{i}] is Dense({layer.n_in}, {layer.n_out}) but the layer before it "
                                 f"outputs {width} features; adjacent Dense sizes must chain")
            if isinstance(layer, PReLU) and layer.num_parameters not in (1, width):
                raise ValueError(f"layers[{i}] PReLU num_parameters must be 1 or the layer width {width}, "
                                 f"got {layer.num_parameters}")
            width = layer.output_width(width)
            widths.append(width)
        if isinstance(self.loss, str) and self.loss == "softmax_cross_entropy" and width < 2:
            raise ValueError("softmax_cross_entropy needs at least 2 outputs; use binary_cross_entropy for one output")
        return widths

    def _init_name(self, i: int) -> str:
        layer = self.layers[i]
        if layer.init != "auto":
            return layer.init
        nxt = next((l for l in self.layers[i + 1:] if not isinstance(l, Dropout)), None)
        return "he_uniform" if nxt is not None and nxt.kind.he_init else "glorot_uniform"

    def _build(self) -> None:
        core_cls = _core.NetworkF32 if self.dtype == "float32" else _core.NetworkF64
        net = core_cls(self.layers[0].n_in, self.seed)
        for layer in self.layers:
            layer._add_to(net)
        net.set_loss(self.loss if isinstance(self.loss, str) else "none")
        net.finalize()
        self._net = net
        self._params, self._grads, self._names = [], [], []
        offsets = net.layer_offsets()
        for i, (layer, off) in enumerate(zip(self.layers, offsets)):
            for name, shape in layer.param_shapes(self._widths[i]):
                start = {"W": off["w_off"], "b": off["b_off"], "slope": off["slope_off"]}[name]
                self._params.append(net.param_view(start, list(shape)))
                self._grads.append(net.grad_view(start, list(shape)))
                self._names.append(f"layers.{i}.{name}")
        self._initialize()

    def _initialize(self) -> None:
        rng = np.random.default_rng([self.seed, 0])
        views = iter(self._params)
        for i, layer in enumerate(self.layers):
            if isinstance(layer, Dense):
                next(views)[...] = initialize(self._init_name(i), rng, layer.n_in, layer.n_out)
                if layer.use_bias:
                    next(views)[...] = 0
            elif isinstance(layer, PReLU):
                next(views)[...] = layer.init

    # ------------------------------------------------------------------ introspection
    @property
    def n_inputs(self) -> int:
        return self._widths[0]

    @property
    def n_outputs(self) -> int:
        return self._widths[-1]

    @property
    def is_classifier(self) -> bool:
        return self.loss in ("softmax_cross_entropy", "binary_cross_entropy")

    def parameters(self) -> list[np.ndarray]:
        """Writeable NumPy views into the core's parameter buffer, in layer order
        (Dense: W (n_out, n_in), then b (n_out,); PReLU: its slopes). Writing into them
        changes the model."""
        return list(self._params)

    def gradients(self) -> list[np.ndarray]:
        """Views into the gradient buffer, same order and shapes as parameters()."""
        return list(self._grads)

    def named_parameters(self) -> list[tuple[str, np.ndarray]]:
        return list(zip(self._names, self._params))

    def state(self) -> ModelState:
        """The flat buffers and counters behind the model (see pynn.nn.state.ModelState):
        the parameters as one flat view, the optimizer's state buffers, its step count and
        the dropout counter. What saving, restoring, broadcasting and rolling back read and
        write; the core network itself stays private to this class."""
        return ModelState(self, self._net)

    def count_params(self) -> int:
        return int(self._net.n_params)

    def get_config(self) -> dict:
        if not isinstance(self.loss, str):
            raise ValueError("a model with a custom loss function has no serializable config")
        return {"layers": [layer.get_config() for layer in self.layers], "loss": self.loss,
                "dtype": self.dtype, "seed": self.seed}

    def summary(self, print_fn=print) -> str:
        """A table of layers, output shapes and parameter counts (printed and returned)."""
        rows = [("Layer (type)", "Output Shape", "Param #")]
        for i, layer in enumerate(self.layers):
            n = sum(int(np.prod(s)) for _, s in layer.param_shapes(self._widths[i]))
            rows.append((f"{i}: {layer!r}", f"(None, {self._widths[i + 1]})", f"{n:,}"))
        w = [max(len(r[c]) for r in rows) for c in range(3)]
        line = "-" * (sum(w) + 6)
        text = [line] + [f"{a:<{w[0]}}   {b:<{w[1]}}   {c:>{w[2]}}" for a, b, c in rows[:1]] + ["=" * len(line)]
        text += [f"{a:<{w[0]}}   {b:<{w[1]}}   {c:>{w[2]}}" for a, b, c in rows[1:]]
        loss = self.loss if isinstance(self.loss, str) else getattr(self.loss, "__name__", "custom")
        text += ["=" * len(line), f"Total params: {self.count_params():,}",
                 f"Input: (None, {self.n_inputs})   loss: {loss}   dtype: {self.dtype}   seed: {self.seed}", line]
        out = "\n".join(text)
        if print_fn is not None:
            print_fn(out)
        return out

    def kernel_plan(self, batch_size: int = 32) -> list[dict]:
        """What each Dense layer's products run on in ``fit`` with batches of `batch_size`
        rows, under the current thread count and float32 matmul precision: one dict per
        Dense layer with its index in `layers`, ``n_in``, ``n_out``, ``kernel`` ("avx512",
        "blas", or under "medium" the CPU's bf16 kernel: "avx512-bf16", "amx",
        "amx-emulated"), ``split`` ("panels": each thread keeps its own panels of W;
        "rows": the batch rows are split) and ``threads``. See pynn.precision."""
        batch_size = _checks.positive_int(batch_size, "batch_size")
        return [dict(p) for p in self._net.kernel_plan(batch_size)]

    def __repr__(self) -> str:
        body = "\n".join(f"  ({i}): {layer!r}" for i, layer in enumerate(self.layers))
        loss = self.loss if isinstance(self.loss, str) else getattr(self.loss, "__name__", "custom")
        return f"Sequential(\n{body}\n), loss={loss!r}, dtype={self.dtype!r}, seed={self.seed}, params={self.count_params():,}"

    # ------------------------------------------------------------------ input handling
    def _X(self, X, name="X") -> np.ndarray:
        return _checks.features(X, name, self.dtype, self.n_inputs)

    def _targets(self, y, n: int, sample_weight=None, name="y") -> tuple:
        """(labels int32 | None, dense | None, weights | None) as the core takes them."""
        w = _checks.sample_weights(sample_weight, n, self.dtype)
        if not isinstance(self.loss, str):
            if w is not None:  # fn(outputs, targets) has no place for them; ignoring them would be silent
                raise ValueError("sample_weight is not supported with a custom loss function; "
                                 "weight the examples inside the loss instead")
            arr = _checks.numeric_array(y, name)
            if arr.shape[:1] != (n,):
                raise ValueError(f"{name} has {arr.shape[0] if arr.ndim else 0} samples but X has {n}")
            arr = np.ascontiguousarray(arr, dtype=np.float64)
            if arr.ndim == 1 and self.n_outputs == 1:
                arr = arr.reshape(-1, 1)  # as the built-in losses do: (n,) - (n, 1) would broadcast to (n, n)
            if not _checks.all_finite(arr):
                raise ValueError(f"{name} contains NaN or inf")
            return (None, arr, None)
        if self.loss == "softmax_cross_entropy":
            arr = _checks.numeric_array(y, name)
            if arr.ndim == 2 and arr.shape[1] == self.n_outputs and self.n_outputs > 1:
                dense = _checks.dense_targets(arr, name, self.n_outputs, n, self.dtype, low=0.0)
                return (None, dense, w)
            return (_checks.class_labels(arr, name, self.n_outputs, n), None, w)
        if self.loss == "binary_cross_entropy":
            return (None, _checks.dense_targets(y, name, self.n_outputs, n, self.dtype, low=0.0, high=1.0), w)
        return (None, _checks.dense_targets(y, name, self.n_outputs, n, self.dtype), w)

    def _bind_optimizer(self, optimizer) -> _core.OptimizerConfig:
        """The core keeps one optimizer state; a different optimizer object starts it anew
        (as creating a new torch.optim optimizer would)."""
        opt = as_optimizer(optimizer) if optimizer is not None else (self.optimizer or as_optimizer("adam"))
        if opt is not self.optimizer:
            self._net.reset_optimizer_state()
            self.optimizer = opt
        return opt._config()

    # ------------------------------------------------------------------ core calls
    def forward(self, X, training: bool = False) -> np.ndarray:
        """Raw outputs (B, n_outputs): logits for the cross-entropies, values for mse.
        training=True applies dropout (and advances its step counter)."""
        if not isinstance(training, (bool, np.bool_)):  # bool("False") would be True
            raise TypeError(f"training must be True or False, got {_checks.describe(training)}")
        if training:
            return self._net.predict(self._X(X), True)
        return self._predict_rows(feature_rows(X, "X", self.dtype, self.n_inputs))

    def _predict_rows(self, X, rows=None) -> np.ndarray:
        return predict_rows(lambda block: self._net.predict(block, False), X, self.dtype, rows)

    def loss_and_gradients(self, X, y, sample_weight=None) -> float:
        """Forward (training mode), loss and backward; fills gradients(); returns the loss."""
        X = self._X(X)
        targets = self._targets(y, X.shape[0], sample_weight)
        if not isinstance(self.loss, str):
            return self._custom_loss_gradients(X, targets[1])
        loss, _ = self._net.loss_and_gradients(X, targets)
        return float(loss)

    def train_step(self, X, y, optimizer=None, sample_weight=None) -> float:
        """One forward, backward and update in one core call; returns the batch loss
        before the update. A non-finite loss raises DivergenceError, model unchanged."""
        X = self._X(X)
        targets = self._targets(y, X.shape[0], sample_weight)
        config = self._bind_optimizer(optimizer)
        snapshot = Snapshot(self.state()).take()  # after binding: only the optimizer's buffers are copied
        try:
            if isinstance(self.loss, str):
                loss, _ = self._net.train_step(X, targets, config)
            else:
                loss = self._custom_loss_gradients(X, targets[1])
                self._net.apply_update(config)
            self._check_finite_params()
        except BaseException:
            snapshot.restore()
            raise
        return float(loss)

    def _custom_loss_gradients(self, X, targets) -> float:
        out = self._net.predict(X, True)
        loss, d_out = custom_loss_gradient(self.loss, out.astype(np.float64), targets)
        if not np.isfinite(loss):
            raise DivergenceError("the loss is not finite")
        self._net.backward_from(X, np.ascontiguousarray(d_out, dtype=self.dtype))
        return float(loss)

    def _check_finite_params(self, flat=None) -> None:
        """DivergenceError unless every parameter is finite (`flat`: a view of the whole
        parameter buffer, if the caller has one)."""
        if flat is None:
            flat = self._net.param_view(0, [self._net.n_params])
        if flat.size and not _checks.all_finite(flat):
            raise DivergenceError("the parameters became non-finite; lower the learning rate")

    # ------------------------------------------------------------------ pickling
    # The core network is not picklable: a pickle holds the description (layers, loss,
    # dtype, seed, optimizer, history) plus copies of the parameter buffer, the optimizer
    # state and the dropout counter, so an unpickled model predicts bit-identically and
    # trains on exactly as the original would (copy.deepcopy goes the same way).
    def __getstate__(self) -> dict:
        core = self.state()
        state = {k: v for k, v in self.__dict__.items() if k not in ("_net", "_params", "_grads", "_names")}
        state["_core_state"] = {
            "params": core.params.copy(),
            "optimizer_buffers": [b.copy() for b in core.optimizer_buffers] if self.optimizer else None,
            "opt_step": core.opt_step, "train_forwards": core.train_forwards}
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        core = state.pop("_core_state")
        self.__dict__.update(state)
        self._build()
        state = self.state()
        state.params[...] = core["params"]
        if self.optimizer is not None and core["optimizer_buffers"] is not None:
            state.install_optimizer(self.optimizer, core["optimizer_buffers"], core["opt_step"])
        state.opt_step = core["opt_step"]
        state.train_forwards = core["train_forwards"]

    # ------------------------------------------------------------------ training
    def fit(self, X, y=None, epochs: int = 1, batch_size: int = 32, optimizer=None, shuffle: bool = True,
            validation_data=None, verbose: int = 1, sample_weight=None, callbacks=None,
            validation_split: float = 0.0, terminate_on_nan: bool = True, comm=None) -> History:
        """Train for `epochs` passes over (X, y) in mini-batches of `batch_size`.

        Returns a History: history.history["loss"] (and "accuracy" for classification,
        "val_loss"/"val_accuracy" with validation data) per epoch. optimizer defaults to
        the one of the previous fit, else Adam(lr=1e-3). The batch loop of each epoch
        runs in the core with the GIL released; Ctrl-C stops between batches.

        validation_split: hold out this fraction of (X, y) for validation, drawn at
        random from the model's seed (the same split on every fit of this model) and,
        for class labels, stratified (each class keeps its share in both parts);
        never "the last rows". validation_data=(X_val, y_val[, w_val]) gives one instead.
        verbose: 0 silent, 1 a tqdm progress bar over the epochs (plain lines without
        tqdm), 2 one line per epoch. callbacks: pynn.Callback objects (EarlyStopping,
        ModelCheckpoint, LearningRateScheduler, ...). terminate_on_nan: add a
        TerminateOnNaN, so a diverging run stops with a RuntimeWarning and keeps the
        parameters of its last good epoch; False makes fit raise DivergenceError.

        X may be a memory map (np.load(path, mmap_mode="r")): its rows are read in place,
        not copied (see docs/distributed.md, "Data larger than memory"). With y=None, X
        is the data in chunks: a list of (X_chunk, y_chunk) pairs (or triples with sample
        weights), a function returning a fresh iterator of them per epoch, or an iterator
        (one epoch only); see pynn/training/chunks.py for the epoch and shuffle rules.

        comm: an mpi4py communicator for data-parallel training (docs/distributed.md):
        every process calls fit with its own rows; each step trains on the union of the
        processes' batches, and History holds the global numbers on every process."""
        if comm is not None:
            args = {k: v for k, v in locals().items() if k not in ("self", "comm")}  # fit's arguments
            return fit_data_parallel(self, comm, args)
        return fit_epochs(self, X, y, epochs, batch_size, optimizer, shuffle, validation_data, verbose,
                          sample_weight, callbacks, validation_split, terminate_on_nan)

    def plot_history(self, path, title: str | None = None) -> str:
        """Loss (and accuracy) curves of the last fit, train and validation, as an image
        at `path` (PNG by extension). Needs matplotlib (the `plot` extra)."""
        if self.history is None:
            raise ValueError("this model has no history yet: call fit first")
        return plot_history(self.history, path, title=title)

    # ------------------------------------------------------------------ inference
    def _accuracy_denominator(self, rows: int) -> int | None:
        """What the hit count over `rows` rows is divided by for accuracy: the rows
        (softmax_cross_entropy: one class per row) or every output of them
        (binary_cross_entropy: one decision per output); None for a loss without accuracy."""
        if self.loss == "softmax_cross_entropy":
            return rows
        if self.loss == "binary_cross_entropy":
            return rows * self.n_outputs
        return None

    def _evaluate_counts(self, X, targets, rows=None) -> tuple[float, int, int | None]:
        """(mean loss, hits, accuracy's denominator or None) of the rows of X that `rows`
        lists (all when None); targets: of those rows. Counts, so that processes can add
        them up (pynn.distributed.mpi)."""
        out = self._predict_rows(X, rows)
        if not isinstance(self.loss, str):
            return custom_loss_gradient(self.loss, out.astype(np.float64), targets[1])[0], 0, None
        loss, correct = _core_loss(self.loss, out, targets)
        return loss, correct, self._accuracy_denominator(out.shape[0])

    def _evaluate(self, X, targets, rows=None) -> dict:
        """Metrics of the rows of X that `rows` lists (all when None); targets: of those rows."""
        loss, hits, denominator = self._evaluate_counts(X, targets, rows)
        return {"loss": loss} if denominator is None else {"loss": loss, "accuracy": hits / denominator}

    def evaluate(self, X, y, sample_weight=None) -> dict:
        """{"loss": ..., "accuracy": ...} (accuracy for classification losses), inference mode."""
        X = feature_rows(X, "X", self.dtype, self.n_inputs)
        return self._evaluate(X, self._targets(y, X.shape[0], sample_weight))

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities: softmax rows (softmax_cross_entropy) or per-output
        sigmoids (binary_cross_entropy), in the model's dtype (float32 by default)."""
        if self.loss == "softmax_cross_entropy":
            return softmax_rows(self.forward(X))
        if self.loss == "binary_cross_entropy":
            return sigmoid(self.forward(X))
        raise ValueError(f"predict_proba needs a classification loss, this model's loss is {self.loss!r}")

    def predict(self, X) -> np.ndarray:
        """Class indices (softmax_cross_entropy), 0/1 per output (binary_cross_entropy),
        or the outputs themselves in the model's dtype (mse and custom losses)."""
        out = self.forward(X)
        if self.loss == "softmax_cross_entropy":
            return out.argmax(axis=1)
        if self.loss == "binary_cross_entropy":
            return (out > 0).astype(np.int64)
        return out

    # ------------------------------------------------------------------ files
    def save(self, path, include_optimizer: bool = True, metadata: dict | None = None) -> None:
        """Save to `path` as safetensors (atomic write; see pynn.io). With the optimizer
        state, `pynn.load(path).fit(...)` continues the run bit for bit."""
        save_model_file(self, path, include_optimizer=include_optimizer, metadata=metadata)

    def to_onnx(self, path, opset: int = 17) -> None:
        """Export the inference graph to ONNX (needs the `onnx` package; see pynn.onnx_export).
        Outputs "logits" and "probabilities"; the batch dimension is dynamic."""
        to_onnx(self, path, opset=opset)


def _core_loss(loss: str, outputs: np.ndarray, targets: tuple) -> tuple[float, int]:
    """Loss (and hit count) of finished outputs, through the same core kernels as training."""
    value, correct = _core.loss(loss, outputs, targets)
    if not np.isfinite(value):
        # Outputs that overflowed (a model trained into huge weights, or huge inputs):
        # evaluating them is not an error, the loss is inf (NaN if an output is NaN),
        # so fit's val_loss reaches TerminateOnNaN instead of escaping fit.
        value = float("nan") if np.isnan(outputs).any() else float("inf")
    return float(value), int(correct)
