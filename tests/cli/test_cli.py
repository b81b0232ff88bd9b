"""The command line as a new user meets it: `pynn ...` and `python -m pynn ...` run as
subprocesses in an empty directory; the example configs; one clear line and exit
status 2 for every kind of bad config."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pynn
from pynn import cli
from pynn.config import ConfigError, parse_config_text

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "configs"
PYNN = shutil.which("pynn", path=os.path.dirname(sys.executable)) or shutil.which("pynn")


def run(args, cwd, module=False):
    """`pynn ARGS` (the installed script) or `python -m pynn ARGS` in `cwd`."""
    if module or PYNN is None:
        cmd = [sys.executable, "-m", "pynn", *args]
    else:
        cmd = [PYNN, *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)


def _flowers_csv(path, n=150, seed=0):
    rng = np.random.default_rng(seed)
    names = ["setosa", "versicolor", "virginica"]
    lines = ["sepal_length,sepal_width,petal_length,petal_width,species"]
    for i in range(n):
        c = i % 3
        x = rng.normal(size=4) * 0.6 + c
        lines.append(",".join(f"{v:.3f}" for v in x) + f",{names[c]}")
    path.write_text("\n".join(lines) + "\n")


# ---------------------------------------------------------------------------- pynn train (default)
def test_default_train_prints_epochs_and_reaches_95_percent(tmp_path):
    result = run(["train"], tmp_path)
    assert result.returncode == 0, result.stderr
    epochs = re.findall(r"^Epoch (\d+)/30 .*loss: [0-9.]+ - accuracy: [0-9.]+", result.stdout, re.M)
    assert [int(e) for e in epochs] == list(range(1, 31))
    accuracy = float(re.search(r"held-out accuracy: ([0-9.]+)", result.stdout).group(1))
    assert accuracy >= 0.95
    assert "1438 train / 359 held-out rows" in result.stdout
    assert list(tmp_path.iterdir()) == []  # the default run writes nothing


def test_python_dash_m_and_info(tmp_path):
    result = run(["info"], tmp_path, module=True)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # (the thread count of this test process may have been changed by other tests)
    assert f"pynn {pynn.__version__}" in out and re.search(r"^threads: [1-9]\d* \(os.cpu_count\(\) = ", out, re.M)
    features = [k for k, v in pynn._core.cpu_features().items() if v]
    assert f"cpu features: {' '.join(features)}" in out
    assert pynn._core.blas_info()["corename"] in out and "blas: " in out
    bf16 = pynn.get_bf16_kernel()
    assert f"float32 matmul precision highest; 'medium' runs {bf16['kernel']} ({bf16['setting']}: " in out
    cpu = pynn._core.cpu_info()
    assert f"cpu: {cpu['brand'] or 'unknown'} (" in out and f"kernel table row {cpu['class']})" in out
    helped = run(["--help"], tmp_path, module=True)
    assert helped.returncode == 0 and all(c in helped.stdout for c in ("train", "evaluate", "predict", "info"))


def test_info_plan_shows_each_dense_layer_under_both_precisions(tmp_path):
    result = run(["info", "--plan", "784,256,128,10", "--batch", "128"], tmp_path, module=True)
    assert result.returncode == 0, result.stderr
    rows = re.findall(r"^\s+(\d+)\s+(\d+)x(\d+)\s+(\S+)\s+(\S+)\s+(panels|rows)$", result.stdout, re.M)
    assert [(r[0], r[1], r[2]) for r in rows] == [("0", "784", "256"), ("2", "256", "128"), ("4", "128", "10")]
    # What the table says, as Sequential.kernel_plan reports it for the same network.
    model = pynn.Sequential([pynn.Dense(784, 256), pynn.ReLU(), pynn.Dense(256, 128), pynn.ReLU(),
                             pynn.Dense(128, 10)])
    before = pynn.get_float32_matmul_precision()
    try:
        pynn.set_float32_matmul_precision("medium")
        medium = [p["kernel"] for p in model.kernel_plan(128)]
    finally:
        pynn.set_float32_matmul_precision(before)
    assert [r[4] for r in rows] == medium
    assert all(r[3] in ("avx512", "blas") for r in rows)
    for bad, message in ((["--plan", "784,x"], "--plan: comma-separated layer widths"),
                         (["--plan", "784"], "--plan: at least two widths"),
                         (["--plan", "4,2", "--batch", "0"], "--batch: a batch size >= 1")):
        failed = run(["info", *bad], tmp_path, module=True)
        assert failed.returncode == 2 and message in failed.stderr


# ---------------------------------------------------------------------------- configs
def test_digits_example_config_trains_saves_evaluates_predicts_and_plots(tmp_path):
    shutil.copy(EXAMPLES / "digits.toml", tmp_path)
    result = run(["train", "digits.toml", "--epochs", "3"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(re.findall(r"^Epoch \d+/3 ", result.stdout, re.M)) == 3
    model = pynn.load(tmp_path / "digits.safetensors")
    history = json.loads((tmp_path / "digits-history.json").read_text())
    assert model.epochs_done == 3 and len(history["val_accuracy"]) == 3
    held_out = float(re.search(r"held-out accuracy: ([0-9.]+)", result.stdout).group(1))
    assert held_out == pytest.approx(history["val_accuracy"][-1], abs=1e-4)

    X, y = pynn.datasets.load_digits()
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    np.savez(tmp_path / "digits.npz", X=X, y=y)
    for args in (["digits.npz"], ["X.npy", "--labels", "y.npy"]):
        ev = run(["evaluate", "digits.safetensors", *args], tmp_path)
        assert ev.returncode == 0, ev.stderr
        assert float(re.search(r"accuracy: ([0-9.]+)", ev.stdout).group(1)) == pytest.approx(
            model.evaluate(X, y)["accuracy"], abs=1e-6)
    pr = run(["predict", "digits.safetensors", "X.npy", "-o", "pred.npy"], tmp_path)
    assert pr.returncode == 0, pr.stderr
    assert np.array_equal(np.load(tmp_path / "pred.npy"), model.predict(X))
    pr = run(["predict", "digits.safetensors", "X.npy", "--proba", "-o", "proba.npy"], tmp_path)
    assert np.array_equal(np.load(tmp_path / "proba.npy"), model.predict_proba(X))


def test_plot_a_model_file_and_a_json_history(tmp_path):
    pytest.importorskip("matplotlib", reason="pynn plot draws with matplotlib (the plot extra)")
    if not _has("pynn.plotting"):
        pytest.skip("pynn.plotting (the plotting helper's module) is not in this tree")
    X, y = pynn.datasets.load_digits()
    model = pynn.Sequential([pynn.Dense(64, 16), pynn.ReLU(), pynn.Dense(16, 10)], seed=0)
    model.save(tmp_path / "untrained.safetensors")
    model.fit(X, y, epochs=2, verbose=0, validation_data=(X, y))
    model.save(tmp_path / "m.safetensors")
    (tmp_path / "h.json").write_text(json.dumps(model.history.history))
    for src in ("m.safetensors", "h.json"):
        result = run(["plot", src], tmp_path)
        assert result.returncode == 0, result.stderr
        png = tmp_path / (src.split(".")[0] + ".png")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = run(["plot", "untrained.safetensors"], tmp_path)
    assert result.returncode == 2 and "holds no training history" in result.stderr


def _has(module):
    import importlib.util
    return importlib.util.find_spec(module) is not None


def test_csv_example_with_string_labels(tmp_path):
    shutil.copy(EXAMPLES / "csv.toml", tmp_path)
    _flowers_csv(tmp_path / "flowers.csv")
    result = run(["train", "csv.toml", "--epochs", "40", "-o", "f.safetensors"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "training on flowers.csv (114 train / 36 held-out rows)" in result.stdout
    model = pynn.load(tmp_path / "f.safetensors")
    assert json.loads(model.metadata["classes"]) == ["setosa", "versicolor", "virginica"]

    pr = run(["predict", "f.safetensors", "flowers.csv"], tmp_path)  # the label column is left out
    assert pr.returncode == 0, pr.stderr
    lines = pr.stdout.splitlines()
    rows = np.loadtxt(tmp_path / "flowers.csv", delimiter=",", skiprows=1, usecols=range(4))
    expected = np.array(["setosa", "versicolor", "virginica"])[model.predict(rows)]
    assert lines[0] == "prediction" and lines[1:] == list(expected)
    truth = [line.rsplit(",", 1)[1] for line in (tmp_path / "flowers.csv").read_text().splitlines()[1:]]
    assert np.mean(np.array(lines[1:]) == np.array(truth)) > 0.8  # it learned something

    ev = run(["evaluate", "f.safetensors", "flowers.csv"], tmp_path)
    assert ev.returncode == 0, ev.stderr
    codes = np.array([["setosa", "versicolor", "virginica"].index(t) for t in truth])
    assert float(re.search(r"accuracy: ([0-9.]+)", ev.stdout).group(1)) == pytest.approx(
        model.evaluate(rows, codes)["accuracy"], abs=1e-6)

    pr = run(["predict", "f.safetensors", "flowers.csv", "--proba", "-o", "p.csv"], tmp_path)
    table = np.loadtxt(tmp_path / "p.csv", delimiter=",", skiprows=1)
    assert (tmp_path / "p.csv").read_text().splitlines()[0] == "p_setosa,p_versicolor,p_virginica"
    np.testing.assert_allclose(table, model.predict_proba(rows), rtol=1e-6)


def test_npz_regression_example_and_npy_pairs(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ np.array([1.0, 2.0, -1.0]) + 0.5
    np.savez(tmp_path / "train.npz", X=X, y=y)
    shutil.copy(EXAMPLES / "npz_regression.toml", tmp_path)
    result = run(["train", "npz_regression.toml", "--epochs", "30"], tmp_path)
    assert result.returncode == 0, result.stderr
    loss = float(re.search(r"held-out loss: ([0-9.]+)", result.stdout).group(1))
    assert loss < np.var(y)  # better than predicting the mean
    model = pynn.load(tmp_path / "regressor.safetensors")
    assert model.dtype == "float64" and model.loss == "mse"
    pr = run(["predict", "regressor.safetensors", "train.npz", "-o", "r.csv"], tmp_path)
    assert pr.returncode == 0, pr.stderr
    np.testing.assert_allclose(np.loadtxt(tmp_path / "r.csv", skiprows=1), model.predict(X)[:, 0], rtol=1e-12)

    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    (tmp_path / "pair.toml").write_text('[data]\nx = "X.npy"\ny = "y.npy"\n[model]\nloss = "mse"\n'
                                        'layers = [{type = "Dense", units = 1}]\n[train]\nepochs = 2\n')
    result = run(["train", "pair.toml"], tmp_path)
    assert result.returncode == 0 and "training on X.npy / y.npy (160 train / 40 held-out rows)" in result.stdout


def test_example_configs_are_all_tried():
    assert sorted(p.name for p in EXAMPLES.glob("*.toml")) == ["csv.toml", "digits.toml", "npz_regression.toml"]


# ---------------------------------------------------------------------------- bad input
BAD_CONFIGS = [
    ("x = " + "[" * 100_000 + "]" * 100_000, "invalid TOML: arrays or inline tables nested 100000 levels deep; at most 64 are read"),
    ("epoch = 3", "epoch: unknown key"),
    ("[train]\nepochs = \"10\"", "train.epochs: must be an integer, got a string '10'"),
    ("[train]\nepoch = 10", "train.epoch: unknown key; did you mean 'epochs'?"),
    ("[train]\nepochs = 0", "train.epochs: must be an integer in [1"),
    ("[train]\nvalidation_split = 1.0", "train.validation_split: must be < 1.0"),
    ("[train]\nshuffle = 1", "train.shuffle: must be true or false"),
    ("seed = -1", "seed: must be an integer in [0"),
    ("output = 3", "output: must be a string"),
    ("train = 3", "train: must be a table"),
    ("[data]\npath = \"nope.csv\"", "data.path: file '"),
    ("[data]\npath = \"flowers.csv\"\nlabel = \"kind\"", "data.label: "),
    ("[data]\npath = \"flowers.csv\"\nlabel = 9", "data.label: "),
    ("[data]\npath = \"flowers.csv\"\nlabel = 1.5", "data.label: must be a column name or index"),
    ("[data]\nsource = \"parquet\"", "data.source: must be one of"),
    ("[data]\npath = \"data.txt\"", "data.path: cannot tell the format"),
    ("[data]\nsource = \"csv\"", "data: source 'csv' needs data.path"),
    ("[data]\nsource = \"digits\"\npath = \"flowers.csv\"", "data.path: does not apply to source 'digits'"),
    ("[data]\nx = \"X.npy\"\ny = \"missing.npy\"", "data.y: file '"),
    ("[data]\npath = \"flowers.npz\"\ny_key = \"labels\"", "data.y_key: "),
    ("[model]\nloss = \"hinge\"", "model.loss: must be one of"),
    ("[model]\ndtype = \"float16\"", "model.dtype: must be one of float32, float64"),
    ("[model]\nlayers = []", "model.layers: must be a non-empty array"),
    ("[model]\nlayers = [{type = \"Dense\"}]", "model.layers[0]: a Dense layer needs 'units'"),
    ("[model]\nlayers = [{type = \"ReLU\"}]", "model.layers[0]: the first layer must be Dense"),
    ("[model]\nlayers = [{type = \"Dense\", units = 10}, {type = \"Dropot\"}]", "model.layers[1].type: unknown layer type 'Dropot' (did you mean 'Dropout'?)"),
    ("[model]\nlayers = [{type = \"Dense\", units = 10, size = 3}]", "model.layers[0].size: unknown key"),
    ("[model]\nlayers = [{type = \"Dense\", units = 10}, {type = \"Dropout\", p = 1.5}]", "model.layers[1].p: must be < 1.0"),
    ("[model]\nlayers = [{type = \"Dense\", units = 10, init = \"magic\"}]", "model.layers[0].init: "),
    ("[data]\npath = \"flowers.csv\"\nlabel = \"species\"\n[model]\nlayers = [{type = \"Dense\", units = 4}]",
     "model.layers: the last Dense layer has 4 units but flowers.csv has 3 classes"),
    ("[optimizer]\nname = \"rmsprop\"", "optimizer.name: must be one of sgd, adam, adamw"),
    ("[optimizer]\nname = \"sgd\"\nbetas = [0.9, 0.99]", "optimizer.betas: does not apply to sgd"),
    ("[optimizer]\nlr = -1", "optimizer.lr: must be > 0.0"),
    ("[optimizer]\nbetas = [0.9]", "optimizer.betas: must be an array of two numbers"),
    ("seed = [1", "invalid TOML"),
]


@pytest.fixture
def data_dir(tmp_path):
    _flowers_csv(tmp_path / "flowers.csv", n=30)
    np.save(tmp_path / "X.npy", np.zeros((4, 2)))
    np.savez(tmp_path / "flowers.npz", X=np.zeros((4, 2)), y=np.zeros(4))
    (tmp_path / "data.txt").write_text("1,2\n")
    return tmp_path


@pytest.mark.parametrize("text,message", BAD_CONFIGS, ids=[m.split(":")[0] for _, m in BAD_CONFIGS])
def test_bad_config_is_one_line_naming_the_key(data_dir, text, message, capsys, monkeypatch):
    monkeypatch.chdir(data_dir)
    (data_dir / "bad.toml").write_text(text + "\n")
    status = cli.main(["train", "bad.toml"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("pynn: error: bad.toml: ")
    assert message in err


def test_bad_config_in_a_subprocess_has_no_traceback(data_dir):
    (data_dir / "bad.toml").write_text("[train]\nbatch_size = 2.5\n")
    for module in (False, True):
        result = run(["train", "bad.toml"], data_dir, module=module)
        assert result.returncode == 2
        assert result.stderr == "pynn: error: bad.toml: train.batch_size: must be an integer, got a number 2.5\n"
    missing = run(["train", "no-such.toml"], data_dir)
    assert missing.returncode == 2 and missing.stderr == "pynn: error: no-such.toml: config file not found\n"


def test_bad_model_and_data_files(tmp_path):
    model = pynn.Sequential([pynn.Dense(4, 3)], seed=0)
    model.save(tmp_path / "m.safetensors")
    (tmp_path / "broken.safetensors").write_bytes((tmp_path / "m.safetensors").read_bytes()[:50])
    _flowers_csv(tmp_path / "flowers.csv", n=9)
    np.save(tmp_path / "X5.npy", np.zeros((3, 5)))
    cases = [
        (["evaluate", "broken.safetensors", "flowers.csv"], "broken.safetensors: header length"),
        (["evaluate", "none.safetensors", "flowers.csv"], "none.safetensors: model file not found"),
        (["evaluate", "m.safetensors", "missing.csv"], "file 'missing.csv' not found"),
        (["evaluate", "m.safetensors", "flowers.csv"], "flowers.csv: no label column 'label'"),
        (["evaluate", "m.safetensors", "flowers.csv", "--label", "species"], "are not integers|class label|must hold real"),
        (["predict", "m.safetensors", "X5.npy"], "X5.npy: 5 feature columns, but the model expects 4"),
        (["predict", "m.safetensors", "flowers.csv", "-o", "out.json"], "the output must end in .csv or .npy"),
        (["evaluate", "m.safetensors", "X5.npy"], "no labels"),
        (["predict", "m.safetensors", "X5.npy", "-o", "nodir/p.csv"], "--output: the directory of 'nodir/p.csv' does not exist"),
        (["train", "-o", "nodir/m.safetensors"], "--output: the directory of 'nodir/m.safetensors' does not exist"),
    ]
    for args, message in cases:
        result = run(args, tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and re.search(message, result.stderr), (args, result.stderr)


def test_config_parser_defaults_match_the_default_run():
    cfg = parse_config_text("")
    assert (cfg.epochs, cfg.batch_size, cfg.seed, cfg.validation_split) == (30, 32, 0, 0.2)
    assert cfg.optimizer == {"name": "adam", "lr": 1e-3} and cfg.data == {"source": "digits"}
    with pytest.raises(ConfigError, match=r"^<config>: train.epochs: "):
        parse_config_text("[train]\nepochs = true")


def test_config_validation_never_crashes(tmp_path):
    """Any TOML-shaped document either parses into a config that builds a model, or is
    one ConfigError line naming the file; never another exception."""
    hypothesis = pytest.importorskip("hypothesis", reason="property test of the config parser")
    st = hypothesis.strategies
    from pynn.config import parse_config_dict

    scalar = st.one_of(st.booleans(), st.integers(-3, 300), st.floats(-2, 2, allow_nan=False), st.text(max_size=8),
                       st.sampled_from(["adam", "sgd", "adamw", "mse", "float64", "Dense", "ReLU", "Dropout",
                                        "per_unit", "digits", "csv", "auto", "he_normal"]))
    keys = st.sampled_from(["type", "units", "p", "negative_slope", "alpha", "num_parameters", "init", "use_bias",
                            "bogus"])
    layer = st.dictionaries(keys, scalar, max_size=4)
    dense = st.fixed_dictionaries({"type": st.just("Dense"), "units": st.integers(-1, 6)})
    model = st.fixed_dictionaries({}, optional={
        "loss": st.sampled_from(["softmax_cross_entropy", "binary_cross_entropy", "mse", "nope"]),
        "dtype": st.sampled_from(["float32", "float64", "int"]),
        "layers": st.lists(st.one_of(dense, layer, scalar), max_size=4)})
    optimizer = st.dictionaries(st.sampled_from(["name", "lr", "momentum", "nesterov", "betas", "eps", "weight_decay"]),
                                st.one_of(scalar, st.lists(scalar, max_size=3)), max_size=4)
    train = st.dictionaries(st.sampled_from(["epochs", "batch_size", "shuffle", "validation_split", "epoch"]), scalar,
                            max_size=3)
    doc = st.fixed_dictionaries({}, optional={"seed": scalar, "model": model, "optimizer": optimizer, "train": train,
                                              "output": scalar})

    @hypothesis.settings(max_examples=300, deadline=None, database=None)
    @hypothesis.given(doc)
    def check(raw):
        try:
            cfg = parse_config_dict(raw, source="fuzz.toml", base_dir=str(tmp_path))
            cfg.build_model(4)
            cfg.build_optimizer()
        except ConfigError as exc:
            assert str(exc).startswith("fuzz.toml: ") and "\n" not in str(exc)

    check()


def test_deep_json_in_a_model_or_history_is_one_line(tmp_path, capsys, monkeypatch):
    """JSON the CLI reads from files (a model's saved classes, a history for plot) is
    bounded like pynn.load's: a 100,000-level bomb is exit status 2, not a traceback."""
    monkeypatch.chdir(tmp_path)
    bomb = "[" * 100_000 + "]" * 100_000
    pynn.Sequential([pynn.Dense(4, 3)], seed=0).save(tmp_path / "m.safetensors", metadata={"classes": bomb})
    np.save(tmp_path / "X.npy", np.zeros((2, 4)))
    (tmp_path / "h.json").write_text('{"loss": ' + bomb + "}")
    for args, message in ((["predict", "m.safetensors", "X.npy"],
                           "the model file's metadata 'classes' is not valid JSON (nested 100000 levels deep"),
                          (["plot", "h.json"], "h.json: not a JSON history (nested 100001 levels deep")):
        assert cli.main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
