"""The `pynn` command line.

    pynn train [CONFIG.toml]          train (default: a 64-128-10 network on the bundled digits)
    pynn evaluate MODEL DATA          loss and accuracy of a saved model on labelled data
    pynn predict MODEL DATA [-o OUT]  predictions (CSV or .npy in, CSV or .npy out)
    pynn info                         version, CPU features, threads, BLAS
    pynn plot HISTORY_OR_MODEL        loss/accuracy curves as PNG (needs matplotlib)

Bad input (config, data or model files) is one line on stderr and exit status 2;
a diverged training run is exit status 1; Ctrl-C is 130.

May import: the rest of pynn.cli (config, errors, train, bench) and every room below it."""
from __future__ import annotations

import argparse
import os
import platform
import sys

import numpy as np

from .._version import __version__
from ..io.nesting import loads_json
from ..nn import machine
from ..nn.layers import Dense, ReLU
from ..nn.loading import load
from ..nn.precision import get_bf16_kernel, get_float32_matmul_precision, set_float32_matmul_precision
from ..nn.sequential import DivergenceError, Sequential
from ..nn.threads import get_num_threads
from ..training.data_sources import DataError, csv_columns, read_csv, read_features, write_table
from ..training.plotting import plot_history
from . import bench
from .config import ConfigError
from .errors import EXIT_BAD_INPUT, CliError
from .train import train_command

# ---------------------------------------------------------------------------- evaluate / predict
def _load_model(path: str) -> Sequential:
    if not os.path.isfile(path):
        raise CliError(f"{path}: model file not found")
    return load(path)  # ValueError naming the problem for a broken file


def _saved_json(model, key: str):
    """The JSON entry `key` that `pynn train` saved in the model file, or None."""
    text = getattr(model, "metadata", {}).get(key)
    if text is None:
        return None
    try:
        return loads_json(text)
    except ValueError as exc:
        raise CliError(f"the model file's metadata {key!r} is not valid JSON ({exc})") from None


def _classes(model):
    classes = _saved_json(model, "classes")
    return None if classes is None else np.asarray(classes)


def _read(args, model, need_labels: bool):
    """(X, y or None) from DATA. For a CSV the label column is --label, else the one the
    model was trained with (saved by `pynn train`), else "label"; predict leaves it out."""
    path = args.data
    if os.path.splitext(path)[1].lower() in (".npy", ".npz"):
        X, y = read_features(path, labels_path=getattr(args, "labels", None))
    else:
        label = args.label
        if label is None:
            label = _saved_json(model, "label_column")
            label = "label" if label is None else label  # a saved 0 is a column index
        elif label.lstrip("-").isdigit():
            label = int(label)
        names, n_cols = csv_columns(path)
        present = (names is not None and label in names) if isinstance(label, str) else n_cols == model.n_inputs + 1
        if not present and (need_labels or args.label is not None):
            raise CliError(f"{path}: no label column {label!r}" + (f" (columns: {', '.join(names[:20])})" if names else "")
                           + "; name it with --label")
        X, y, _ = read_csv(path, label=label if present else None)
        if getattr(args, "labels", None):
            X, y = read_features(path, label=label if present else None, labels_path=args.labels)
    if need_labels and y is None:
        raise CliError(f"{path}: no labels; give --labels LABELS.npy (for .npy features) or an .npz with a 'y' array")
    return X, y


def _label_key(value) -> str:
    """3, 3.0 and "3" name the same class (CSV labels come back as floats or strings)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _encode_labels(y, classes, path):
    """Labels as the model's class indices (mapped through the saved class names)."""
    if classes is None or y is None or y.ndim != 1:
        return y
    lookup = {_label_key(c): i for i, c in enumerate(classes.tolist())}
    keys = [_label_key(v) for v in y.tolist()]
    unknown = sorted({k for k in keys if k not in lookup})
    if unknown:
        raise CliError(f"{path}: labels {unknown[:5]} are not among the model's classes {classes.tolist()[:20]}")
    return np.array([lookup[k] for k in keys], dtype=np.int64)


def _features(model, X, path):
    if X.shape[1] != model.n_inputs:
        raise CliError(f"{path}: {X.shape[1]} feature columns, but the model expects {model.n_inputs}"
                       f"{' (name the label column to leave out with --label)' if X.shape[1] == model.n_inputs + 1 else ''}")
    return X


def _evaluate(args) -> int:
    model = _load_model(args.model)
    X, y = _read(args, model, need_labels=True)
    y = _encode_labels(y, _classes(model), args.data)
    result = model.evaluate(_features(model, X, args.data), y)
    print(f"{len(X)} rows of {args.data}")
    for key, value in result.items():
        print(f"{key}: {value:.6f}")
    return 0


def _predict(args) -> int:
    if args.output and not args.output.lower().endswith((".csv", ".npy", ".txt")):
        raise CliError(f"{args.output}: the output must end in .csv or .npy")
    if args.output and not os.path.isdir(os.path.dirname(os.path.abspath(args.output))):
        raise CliError(f"--output: the directory of {args.output!r} does not exist")
    model = _load_model(args.model)
    X, _ = _read(args, model, need_labels=False)
    X = _features(model, X, args.data)
    classes = _classes(model)
    names = classes.tolist() if classes is not None else list(range(model.n_outputs))
    if args.proba:
        out = model.predict_proba(X)
        columns = [f"p_{c}" for c in names] if model.loss == "softmax_cross_entropy" else \
                  [f"p_{i}" for i in range(model.n_outputs)]
    else:
        out = model.predict(X)
        if classes is not None and model.loss == "softmax_cross_entropy":
            out = classes[out]
        columns = ["prediction"] if out.ndim == 1 or out.shape[1] == 1 else \
                  [f"prediction_{i}" for i in range(out.shape[1])]
    write_table(args.output, out, columns, stream=sys.stdout)
    if args.output:
        print(f"wrote {len(out)} predictions to {args.output}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------- info / plot
def _info(args) -> int:
    features = machine.cpu_features()
    blas = machine.blas_info()
    print(f"pynn {__version__} (core {machine.core_version})")
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.system()} {platform.machine()}")
    print(f"cpu features: {' '.join(k for k, v in features.items() if v) or 'none detected'}")
    print(f"threads: {get_num_threads()} (os.cpu_count() = {os.cpu_count()})")
    cpu = machine.cpu_info()
    print(f"cpu: {cpu['brand'] or 'unknown'} ({cpu['vendor'] or '?'} family {cpu['family']} model {cpu['model']}; "
          f"kernel table row {cpu['class']})")
    bf16 = get_bf16_kernel()
    print(f"kernels: {machine.get_kernel()}; float32 matmul precision {get_float32_matmul_precision()}; "
          f"'medium' runs {bf16['kernel']} ({bf16['setting']}: {bf16['why']})")
    print(f"blas: {blas.get('library')}; {blas.get('config')}; core {blas.get('corename')}; "
          f"{blas.get('num_threads')} threads")
    if args.plan is not None:
        _print_plan(args.plan, args.batch)
    return 0


def _print_plan(widths: str, batch: int) -> None:
    """The kernel of each Dense layer of a Dense-ReLU stack with these widths, under
    "highest" and "medium" (what fit would run, Sequential.kernel_plan)."""
    try:
        sizes = [int(w) for w in widths.split(",")]
    except ValueError:
        raise CliError(f"--plan: comma-separated layer widths like 784,256,128,10 expected, got {widths!r}") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise CliError(f"--plan: at least two widths, each >= 1, expected, got {widths!r}")
    if batch < 1:
        raise CliError(f"--batch: a batch size >= 1 expected, got {batch}")
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [Dense(n_in, n_out), ReLU()]
    model = Sequential(layers[:-1])
    before = get_float32_matmul_precision()
    plans = {}
    try:
        for precision in ("highest", "medium"):
            set_float32_matmul_precision(precision)
            plans[precision] = model.kernel_plan(batch)
    finally:
        set_float32_matmul_precision(before)
    print(f"plan of fit for {'-'.join(map(str, sizes))} (Dense-ReLU), batch {batch}, "
          f"{plans['highest'][0]['threads']} thread(s):")
    print(f"  {'layer':>5}  {'shape':>12}  {'highest':>12}  {'medium':>12}  split")
    for hi, med in zip(plans["highest"], plans["medium"]):
        shape = f"{hi['n_in']}x{hi['n_out']}"
        print(f"  {hi['layer']:>5}  {shape:>12}  {hi['kernel']:>12}  {med['kernel']:>12}  {hi['split']}")


def _plot(args) -> int:
    src = args.source
    if not os.path.isfile(src):
        raise CliError(f"{src}: file not found")
    if src.lower().endswith(".json"):
        try:
            with open(src, encoding="utf-8") as f:
                history = loads_json(f.read())
        except (OSError, ValueError) as exc:
            raise CliError(f"{src}: not a JSON history ({exc})") from None
        if not isinstance(history, dict) or not all(isinstance(v, list) for v in history.values()):
            raise CliError(f"{src}: a history must be a JSON object of lists, like {{\"loss\": [0.9, 0.5]}}")
    else:
        model = _load_model(src)
        if model.history is None:
            raise CliError(f"{src}: the model file holds no training history (saved before any fit)")
        history = model.history.history
    out = args.output or os.path.splitext(os.path.basename(src))[0] + ".png"
    history = {k: [np.nan if v is None else v for v in values] for k, values in history.items()}
    plot_history(history, out, title=os.path.basename(src))
    print(f"wrote {out}")
    return 0


# ---------------------------------------------------------------------------- parser
def _at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value
    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def _add_train(sub) -> None:
    train = sub.add_parser("train", help="train a network (default: the bundled 8x8 digits)",
                           description="Train a network from a TOML config (see examples/configs/); without "
                                       "one, a 64-128-10 ReLU network on the bundled 8x8 digits. Prints "
                                       "per-epoch loss/accuracy and the held-out accuracy. Flags override the config.")
    train.add_argument("config", nargs="?", help="TOML config file (data, layers, loss, optimizer, epochs, ...)")
    train.add_argument("--epochs", type=_at_least(1), help="passes over the training data (default 30)")
    train.add_argument("--batch-size", type=_at_least(1), help="rows per mini-batch (default 32)")
    train.add_argument("--lr", type=_positive_float, help="learning rate (default 1e-3 for Adam)")
    train.add_argument("--seed", type=_at_least(0), help="seed of every random draw (default 0)")
    train.add_argument("-o", "--output", help="save the trained model here (.safetensors)")
    train.set_defaults(func=train_command)


def _add_evaluate_predict(sub) -> None:
    data_help = "CSV (with a header; the label column is 'label' unless --label says), .npz (arrays X, y) or .npy"
    ev = sub.add_parser("evaluate", help="loss and accuracy of a saved model on labelled data",
                        description="Evaluate a saved model (inference mode) on labelled data.")
    ev.add_argument("model", help="a model file written by model.save / pynn train")
    ev.add_argument("data", help=data_help)
    ev.add_argument("--label", help="CSV label column: name or index (default 'label')")
    ev.add_argument("--labels", help="labels as .npy (with .npy features)")
    ev.set_defaults(func=_evaluate)
    pr = sub.add_parser("predict", help="predictions of a saved model (CSV or .npy out)",
                        description="Predict with a saved model; CSV to stdout unless -o gives a .csv or .npy file.")
    pr.add_argument("model", help="a model file written by model.save / pynn train")
    pr.add_argument("data", help=data_help + "; a CSV label column is left out")
    pr.add_argument("-o", "--output", help="write here (.csv or .npy) instead of stdout")
    pr.add_argument("--proba", action="store_true", help="class probabilities instead of labels")
    pr.add_argument("--label", help="a CSV column to leave out (name or index)")
    pr.set_defaults(func=_predict)


def _add_info(sub) -> None:
    info = sub.add_parser("info", help="version, CPU, kernels, threads and BLAS",
                          description="Show pynn's version, the CPU and the features the core detects, the "
                          "kernels it picks, threads and BLAS.")
    info.add_argument("--plan", metavar="WIDTHS",
                      help="also show the kernel of each Dense layer of fit for a Dense-ReLU stack of these "
                      "widths, e.g. 784,256,128,10")
    info.add_argument("--batch", type=int, default=32, help="batch size for --plan (default 32)")
    info.set_defaults(func=_info)


def _add_plot(sub) -> None:
    plot = sub.add_parser("plot", help="loss/accuracy curves as PNG (needs matplotlib)",
                          description="Plot the training history stored in a model file, or a JSON history "
                                      "(as `pynn train` writes with history = \"...\").")
    plot.add_argument("source", help="a model file or a history .json")
    plot.add_argument("-o", "--output", help="image path (default: SOURCE's name with .png, in the cwd)")
    plot.set_defaults(func=_plot)


# ---------------------------------------------------------------------------- bench
def _bench(argv) -> int:
    """`pynn bench ARGS`: the training benchmark, pynn.cli.bench (options: `pynn bench --help`)."""
    return int(bench.main(list(argv)) or 0)


def _add_bench(sub) -> None:
    # Listed for --help only: main() hands `pynn bench ...` to the script unparsed.
    sub.add_parser("bench", help="time one training epoch: pynn vs NumPy, PyTorch, scikit-learn",
                   description="Run the training benchmark, pynn.bench (options: pynn bench --help).")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pynn", description="Train feed-forward neural networks (MLPs) on the CPU with pynn's C++ core.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_train(sub)
    _add_evaluate_predict(sub)
    _add_info(sub)
    _add_plot(sub)
    _add_bench(sub)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:
        return _bench(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (ConfigError, DataError, CliError) as exc:
        print(f"pynn: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # `pynn predict ... | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except DivergenceError as exc:
        print(f"pynn: error: training diverged: {exc}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, OSError, ImportError) as exc:
        if os.environ.get("PYNN_TRACEBACK"):  # for debugging pynn itself
            raise
        # A broken model file, data that does not fit the model, an unwritable output path:
        # pynn's messages name the problem; a traceback would not help the user.
        print(f"pynn: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT if isinstance(exc, (ValueError, TypeError)) else 1
    except KeyboardInterrupt:
        print("pynn: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
