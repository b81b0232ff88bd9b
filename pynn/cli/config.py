"""TOML training configs for `pynn train CONFIG.toml` (see examples/configs/).

    seed = 0                          # every random draw (init, dropout, shuffling, split)
    output = "model.safetensors"      # optional: save the trained model (relative to the cwd)
    history = "history.json"          # optional: per-epoch metrics as JSON (relative to the cwd)

    [data]                            # paths are relative to the config file
    source = "csv"                    # digits | mnist_like | csv | npy | npz (default: from path/x, else digits)
    path = "train.csv"                # csv / npz
    label = "species"                 # csv: label column name or index (default "label")
    # delimiter = ","  header = "auto"  x = "X.npy"  y = "y.npy"  x_key = "X"  y_key = "y"  n_samples = 10000
    # chunk_rows = 100000             # csv: a file with more rows is read this many at a time
    #                                 # (needs train.validation_split = 0); x / y .npy are memory-mapped

    [model]
    loss = "softmax_cross_entropy"    # binary_cross_entropy | mse
    dtype = "float32"
    layers = [{type = "Dense", units = 128}, {type = "ReLU"}, {type = "Dropout", p = 0.1},
              {type = "Dense", units = 3}]

    [optimizer]
    name = "adam"                     # sgd | adam | adamw, with lr, momentum, nesterov, weight_decay, betas, eps

    [train]
    epochs = 30
    batch_size = 32
    shuffle = true
    validation_split = 0.2            # held-out rows (stratified for classification); 0 = none

    [distributed]                     # optional: data-parallel training, run as
    backend = "mpi"                   #   mpiexec -n 2 pynn train config.toml (docs/distributed.md)

Every problem (TOML syntax, unknown key, wrong type, out-of-range value, missing file,
absent label column) raises ConfigError with one line naming the file and the key.

May import: pynn.nn, pynn.training, pynn.io, the base; tomllib (tomli before Python 3.11)."""
from __future__ import annotations

import difflib
import math
import os
import sys
from dataclasses import dataclass, field

import numpy as np

from ..io.nesting import check_nesting
from ..nn.initializers import check_name
from ..nn.layers import LAYERS
from ..nn.optimizers import OPTIMIZERS, optimizer_settings
from ..nn.sequential import LOSSES, Sequential
from ..training.data_sources import CsvChunks, DataError, load_bundled, read_npy, read_npz

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python < 3.11
    import tomli as tomllib

__all__ = ["ConfigError", "TrainConfig", "parse_config", "parse_config_text", "parse_config_dict"]


class ConfigError(ValueError):
    """A config that cannot be used; the message is one line naming the file and key."""


# ---------------------------------------------------------------------------- checkers
def _type_name(value) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
            dict: "a table"}.get(type(value), type(value).__name__)


class _Checker:
    def __init__(self, source: str):
        self.source = source

    def fail(self, key: str, message: str):
        raise ConfigError(f"{self.source}: {key}: {message}" if key else f"{self.source}: {message}")

    def table(self, value, key: str, allowed) -> dict:
        if not isinstance(value, dict):
            self.fail(key, f"must be a table, got {_type_name(value)}")
        for k in value:
            if k not in allowed:
                close = difflib.get_close_matches(k, list(allowed), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                self.fail(f"{key}.{k}" if key else k, f"unknown key{hint} (expected one of: {', '.join(allowed)})")
        return value

    def int_(self, value, key, minimum=None, maximum=None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"must be an integer, got {_type_name(value)} {value!r}")
        if minimum is not None and value < minimum or maximum is not None and value > maximum:
            self.fail(key, f"must be an integer in [{minimum}, {maximum if maximum is not None else 'inf'}], got {value}")
        return value

    def float_(self, value, key, low=None, high=None, low_open=False, high_open=False) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(key, f"must be a number, got {_type_name(value)} {value!r}")
        value = float(value)
        if not math.isfinite(value):
            self.fail(key, f"must be finite, got {value}")
        if low is not None and (value < low or low_open and value == low):
            self.fail(key, f"must be {'>' if low_open else '>='} {low}, got {value}")
        if high is not None and (value > high or high_open and value == high):
            self.fail(key, f"must be {'<' if high_open else '<='} {high}, got {value}")
        return value

    def bool_(self, value, key) -> bool:
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, got {_type_name(value)} {value!r}")
        return value

    def str_(self, value, key, choices=None) -> str:
        if not isinstance(value, str):
            self.fail(key, f"must be a string, got {_type_name(value)} {value!r}")
        if choices is not None and value not in choices:
            close = difflib.get_close_matches(value, list(choices), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            self.fail(key, f"must be one of {', '.join(choices)}; got {value!r}{hint}")
        return value


# ---------------------------------------------------------------------------- layers
# A layer table's `type` is a class name of pynn.nn.layers.LAYERS, in any case, with or
# without underscores (Dense, leaky_relu, LeakyReLU); its other keys are the kind's settings.
_LAYER_NAMES = tuple(LAYERS)
_LAYER_TYPES = {name.lower(): kind for name, kind in LAYERS.items()}


def _layer_spec(c: _Checker, spec, key: str) -> dict:
    if not isinstance(spec, dict):
        c.fail(key, f"must be a table like {{type = \"Dense\", units = 64}}, got {_type_name(spec)}")
    if "type" not in spec:
        c.fail(key, f"needs a 'type' ({', '.join(_LAYER_NAMES)})")
    name = c.str_(spec["type"], f"{key}.type")
    kind = _LAYER_TYPES.get(name.lower().replace("_", ""))
    if kind is None:
        close = difflib.get_close_matches(name, list(_LAYER_NAMES), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        c.fail(f"{key}.type", f"unknown layer type {name!r}{hint}; expected one of {', '.join(_LAYER_NAMES)}")
    c.table(spec, key, ["type", *kind.settings])
    out = {"class": kind.cls.__name__}
    for setting, form in kind.settings.items():
        if setting not in spec:
            if form == "units":
                c.fail(key, f"a {kind.cls.__name__} layer needs '{setting}' (its number of outputs)")
            continue
        value, k = spec[setting], f"{key}.{setting}"
        if form in ("int", "units"):
            out[setting] = c.int_(value, k, minimum=1)
        elif form == "per_unit":
            out[setting] = value if value == "per_unit" else c.int_(value, k, minimum=1)
        elif form == "probability":
            out[setting] = c.float_(value, k, low=0.0, high=1.0, high_open=True)
        elif form == "float":
            out[setting] = c.float_(value, k)
        elif form == "bool":
            out[setting] = c.bool_(value, k)
        else:  # "init"
            out[setting] = c.str_(value, k)
            try:
                check_name(out[setting])
            except (ValueError, TypeError) as exc:
                c.fail(k, str(exc))
    return out


# ---------------------------------------------------------------------------- the config
@dataclass
class TrainConfig:
    source: str = "<defaults>"
    base_dir: str = "."
    seed: int = 0
    output: str | None = None
    history: str | None = None
    data: dict = field(default_factory=lambda: {"source": "digits"})
    loss: str = "softmax_cross_entropy"
    dtype: str = "float32"
    layers: list = field(default_factory=lambda: [{"class": "Dense", "units": 128}, {"class": "ReLU"},
                                                  {"class": "Dropout", "p": 0.1}, {"class": "Dense", "units": 10}])
    optimizer: dict = field(default_factory=lambda: {"name": "adam", "lr": 1e-3})
    epochs: int = 30
    batch_size: int = 32
    shuffle: bool = True
    validation_split: float = 0.2
    distributed: str | None = None  # "mpi": each process trains on its rows r::size

    def fail(self, key, message):
        _Checker(self.source).fail(key, message)

    # -------------------------------------------------------------- data
    def data_path(self, key: str) -> str:
        return os.path.join(self.base_dir, os.path.expanduser(self.data[key]))

    def load_data(self):
        """(X, y, classes or None, description). classes: the original labels when they
        had to be mapped to 0..k-1 (strings, or numbers outside that range). X is
        memory-mapped for .npy, and a CsvChunks (read chunk_rows rows at a time) for a CSV
        of more than data.chunk_rows rows, y then holding the labels of all its rows."""
        d, source = self.data, self.data["source"]

        def attempt(key, fn, *args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except DataError as exc:
                self.fail(f"data.{exc.argument}" if exc.argument else key, str(exc))

        if source in ("digits", "mnist_like"):
            X, y = attempt("data.source", load_bundled, source, d.get("n_samples"), self.seed)
            what = "the 8x8 digits" if source == "digits" else "the synthetic MNIST-like set"
        elif source == "csv":
            csv_args = dict(label=d.get("label", "label"), delimiter=d.get("delimiter", ","),
                            header=d.get("header", "auto"))
            what = d["path"]
            chunks = attempt("data.path", CsvChunks, self.data_path("path"), chunk_rows=d.get("chunk_rows", CHUNK_ROWS),
                             **csv_args)
            if chunks.X is None:  # more than chunk_rows rows: read a chunk at a time
                y, classes = self._labels(chunks.labels, chunks.n_rows, what)
                return chunks, y, classes, what
            X, y = chunks.X, chunks.labels  # parsed once, by CsvChunks
        elif source == "npz":
            X, y = attempt("data.path", read_npz, self.data_path("path"), d.get("x_key", "X"), d.get("y_key", "y"))
            what = d["path"]
        else:
            X, _ = attempt("data.x", read_npy, self.data_path("x"), None)
            y, _ = attempt("data.y", read_npy, self.data_path("y"), None)
            what = f"{d['x']} / {d['y']}"
        return self._check_arrays(X, y, what)

    def _check_arrays(self, X, y, what):
        if X.dtype.kind not in "biuf" or X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
            self.fail("data", f"{what}: features must be a non-empty 2-D numeric array, got shape {X.shape} "
                              f"and dtype {X.dtype}")
        y, classes = self._labels(y, X.shape[0], what)
        return X, y, classes, what

    def _labels(self, y, n_rows: int, what):
        """(y as the loss takes it, classes or None) for n_rows rows of features."""
        if y is None or y.shape[0] != n_rows:
            self.fail("data", f"{what}: {n_rows} rows of features but "
                              f"{'no labels' if y is None else f'{y.shape[0]} labels'}")
        classes = None
        units = [spec["units"] for spec in self.layers if spec["class"] == "Dense"][-1]  # the output width
        if self.loss == "softmax_cross_entropy" and y.ndim == 1:
            numeric = y.dtype.kind in "biuf"
            in_range = numeric and np.all(y == np.round(y)) and y.min() >= 0 and y.max() < units
            if not in_range:
                classes, y = np.unique(y, return_inverse=True)
                if len(classes) != units:
                    self.fail("model.layers", f"the last Dense layer has {units} units but {what} has "
                                              f"{len(classes)} classes")
            y = y.astype(np.int64)
        elif y.dtype.kind not in "biuf":
            self.fail("data", f"{what}: labels must be numbers for loss {self.loss!r}, got {y.dtype}")
        return y, classes

    # -------------------------------------------------------------- model
    def build_model(self, n_features: int) -> Sequential:
        layers, width = [], n_features
        for i, spec in enumerate(self.layers):
            kwargs = {k: v for k, v in spec.items() if k != "class"}
            if spec["class"] == "Dense":
                kwargs = {"n_in": width, "n_out": kwargs.pop("units"), **kwargs}
                width = kwargs["n_out"]
            if spec["class"] == "PReLU" and kwargs.get("num_parameters") == "per_unit":
                kwargs["num_parameters"] = width
            try:
                layers.append(LAYERS[spec["class"]].cls(**kwargs))
            except (ValueError, TypeError) as exc:
                self.fail(f"model.layers[{i}]", str(exc))
        try:
            return Sequential(layers, loss=self.loss, dtype=self.dtype, seed=self.seed)
        except (ValueError, TypeError) as exc:
            self.fail("model.layers", str(exc))

    def build_optimizer(self):
        kwargs = {k: v for k, v in self.optimizer.items() if k != "name"}
        if "betas" in kwargs:
            kwargs["betas"] = tuple(kwargs["betas"])
        try:
            return OPTIMIZERS[self.optimizer["name"]](**kwargs)
        except (ValueError, TypeError) as exc:
            self.fail("optimizer", str(exc))


_TOP = ("seed", "output", "history", "data", "model", "optimizer", "train", "distributed")
_DATA = ("source", "path", "label", "delimiter", "header", "x", "y", "x_key", "y_key", "n_samples", "chunk_rows")
# A CSV of more rows is read this many at a time (100,000 rows of 100 float64 features: 80 MB).
CHUNK_ROWS = 100_000
_SOURCES = ("digits", "mnist_like", "csv", "npy", "npz")
_OPTIMIZER = {name: optimizer_settings(name) for name in OPTIMIZERS}  # the keys each optimizer takes


def parse_config(path: str) -> TrainConfig:
    """Read and validate a TOML config file; ConfigError on any problem."""
    if not os.path.exists(path):
        raise ConfigError(f"{path}: config file not found")
    if os.path.isdir(path):
        raise ConfigError(f"{path}: is a directory, expected a TOML config file")
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config: {exc}") from None
    return parse_config_text(text, source=path, base_dir=os.path.dirname(os.path.abspath(path)))


def parse_config_text(text: str, source: str = "<config>", base_dir: str = ".") -> TrainConfig:
    try:
        check_nesting(text, "toml")  # before tomllib, which recurses per level
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {str(exc).splitlines()[0]}") from None
    except ValueError as exc:
        raise ConfigError(f"{source}: invalid TOML: arrays or inline tables {exc}") from None
    return parse_config_dict(raw, source, base_dir)


def parse_config_dict(raw: dict, source: str = "<config>", base_dir: str = ".") -> TrainConfig:
    """Validate an already parsed config (the dict tomllib returns)."""
    c = _Checker(source)
    c.table(raw, "", _TOP)
    cfg = TrainConfig(source=source, base_dir=base_dir)
    if "seed" in raw:
        cfg.seed = c.int_(raw["seed"], "seed", minimum=0, maximum=2**63 - 1)
    for key in ("output", "history"):
        if key in raw:
            setattr(cfg, key, c.str_(raw[key], key))
    cfg.data = _parse_data(c, raw.get("data", {}), cfg)
    _parse_model(c, raw.get("model", {}), cfg)
    _parse_optimizer(c, raw.get("optimizer", {}), cfg)
    _parse_train(c, raw.get("train", {}), cfg)
    if "distributed" in raw:
        d = c.table(raw["distributed"], "distributed", ("backend",))
        if "backend" not in d:
            c.fail("distributed", "needs backend = \"mpi\"")
        cfg.distributed = c.str_(d["backend"], "distributed.backend", ("mpi",))
    return cfg


def _parse_data(c: _Checker, d, cfg: TrainConfig) -> dict:
    c.table(d, "data", _DATA)
    out = {}
    for key in ("path", "x", "y", "delimiter", "x_key", "y_key"):
        if key in d:
            out[key] = c.str_(d[key], f"data.{key}")
    if "source" in d:
        source = c.str_(d["source"], "data.source", _SOURCES)
    elif "path" in out:
        source = os.path.splitext(out["path"])[1].lower().lstrip(".")
        if source not in ("csv", "npz"):
            c.fail("data.path", f"cannot tell the format of {out['path']!r} from its extension; "
                                "set data.source to csv or npz")
    else:
        source = "npy" if "x" in out else "digits"
    out["source"] = source
    needs = {"csv": ("path",), "npz": ("path",), "npy": ("x", "y")}.get(source, ())
    for key in needs:
        if key not in out:
            c.fail("data", f"source {source!r} needs data.{key}")
    allowed = {"digits": (), "mnist_like": ("n_samples",), "csv": ("path", "label", "delimiter", "header", "chunk_rows"),
               "npz": ("path", "x_key", "y_key"), "npy": ("x", "y")}[source]
    for key in d:
        if key != "source" and key not in allowed:
            c.fail(f"data.{key}", f"does not apply to source {source!r} (it takes: {', '.join(allowed) or 'nothing'})")
    if "label" in d:
        label = d["label"]
        if isinstance(label, bool) or not isinstance(label, (str, int)):
            c.fail("data.label", f"must be a column name or index, got {_type_name(label)} {label!r}")
        out["label"] = label
    if "header" in d:
        if d["header"] != "auto" and not isinstance(d["header"], bool):
            c.fail("data.header", f"must be true, false or \"auto\", got {d['header']!r}")
        out["header"] = d["header"]
    if "delimiter" in out and len(out["delimiter"]) != 1:
        c.fail("data.delimiter", f"must be one character, got {out['delimiter']!r}")
    if "chunk_rows" in d:
        out["chunk_rows"] = c.int_(d["chunk_rows"], "data.chunk_rows", minimum=1, maximum=2**31 - 1)
    if "n_samples" in d:
        out["n_samples"] = c.int_(d["n_samples"], "data.n_samples", minimum=10)
    for key in ("path", "x", "y"):
        if key in out:
            full = os.path.join(cfg.base_dir, os.path.expanduser(out[key]))
            if not os.path.isfile(full):
                c.fail(f"data.{key}", f"file {full!r} not found" if not os.path.exists(full)
                       else f"{full!r} is not a file")
    return out


def _parse_model(c: _Checker, m, cfg: TrainConfig) -> None:
    c.table(m, "model", ("loss", "dtype", "layers"))
    if "loss" in m:
        cfg.loss = c.str_(m["loss"], "model.loss", LOSSES)
    if "dtype" in m:
        cfg.dtype = c.str_(m["dtype"], "model.dtype", ("float32", "float64"))
    if "layers" in m:
        if not isinstance(m["layers"], list) or not m["layers"]:
            c.fail("model.layers", f"must be a non-empty array of layer tables, got {m['layers']!r}")
        cfg.layers = [_layer_spec(c, spec, f"model.layers[{i}]") for i, spec in enumerate(m["layers"])]
    if cfg.layers[0]["class"] != "Dense":
        c.fail("model.layers[0]", f"the first layer must be Dense, got {cfg.layers[0]['class']}")


def _parse_optimizer(c: _Checker, o, cfg: TrainConfig) -> None:
    c.table(o, "optimizer", ("name", *dict.fromkeys(key for keys in _OPTIMIZER.values() for key in keys)))
    name = c.str_(o.get("name", "adam"), "optimizer.name").lower()
    if name not in _OPTIMIZER:
        c.fail("optimizer.name", f"must be one of {', '.join(_OPTIMIZER)}; got {o['name']!r}")
    out = {"name": name}
    for key, value in o.items():
        if key == "name":
            continue
        k = f"optimizer.{key}"
        if key not in _OPTIMIZER[name]:
            c.fail(k, f"does not apply to {name} (it takes: {', '.join(_OPTIMIZER[name])})")
        if key == "nesterov":
            out[key] = c.bool_(value, k)
        elif key == "betas":
            if not isinstance(value, list) or len(value) != 2:
                c.fail(k, f"must be an array of two numbers, got {value!r}")
            out[key] = [c.float_(v, f"{k}[{i}]", low=0.0, high=1.0, high_open=True) for i, v in enumerate(value)]
        elif key in ("lr", "eps"):
            out[key] = c.float_(value, k, low=0.0, low_open=True)
        else:
            out[key] = c.float_(value, k, low=0.0)
    if "lr" not in out:
        out["lr"] = _OPTIMIZER[name]["lr"]
    cfg.optimizer = out


def _parse_train(c: _Checker, t, cfg: TrainConfig) -> None:
    c.table(t, "train", ("epochs", "batch_size", "shuffle", "validation_split"))
    if "epochs" in t:
        cfg.epochs = c.int_(t["epochs"], "train.epochs", minimum=1, maximum=10**6)
    if "batch_size" in t:
        cfg.batch_size = c.int_(t["batch_size"], "train.batch_size", minimum=1, maximum=2**31 - 1)
    if "shuffle" in t:
        cfg.shuffle = c.bool_(t["shuffle"], "train.shuffle")
    if "validation_split" in t:
        cfg.validation_split = c.float_(t["validation_split"], "train.validation_split", low=0.0, high=1.0,
                                        high_open=True)
