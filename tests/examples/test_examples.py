"""Every examples/*.py runs as a learner would run it (a fresh interpreter, --out DIR)
and writes its PNGs. The examples plot with matplotlib, the optional extra
`pip install .[plot]`; those that need other extras say so in REQUIRES."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("[0-9]*.py"))  # not _common.py

# What each example must write (more files are fine). A new example without an entry
# here still runs and must write at least one PNG named after itself.
EXPECTED = {
    "03_perceptron_xor.py": ["03_perceptron_xor.png", "03_two_layer_xor.png"],
    "06_computation_graph.py": ["06_computation_graph.png", "06_computation_graph.dot"],
    "09_dask_search.py": ["09_dask_search.csv"],
}

# What an example imports beyond pynn: {module: why}, matplotlib unless listed here.
PLOTTING = {"matplotlib": "the examples plot with matplotlib (pip install .[plot])"}
REQUIRES = {
    "09_dask_search.py": {"dask.distributed": "09_dask_search.py runs on a Dask cluster (pip install .[dask])",
                          "sklearn": "09_dask_search.py searches with scikit-learn (pip install .[dask])"},
}


def test_there_is_an_example_per_lecture_section():
    names = {p.name for p in EXAMPLES}
    for name in ["01_neural_unit.py", "02_activations.py", "03_perceptron_xor.py", "04_softmax.py",
                 "05_two_layer_network.py", "06_computation_graph.py", "07_sgd_vs_adam.py", "08_bias_trick.py"]:
        assert name in names


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_and_writes_its_pngs(script, tmp_path):
    for module, reason in REQUIRES.get(script.name, PLOTTING).items():
        pytest.importorskip(module, reason=reason)
    out = tmp_path / "figures"  # does not exist yet: the script must create it
    env = dict(os.environ, MPLBACKEND="Agg")
    result = subprocess.run([sys.executable, str(script), "--out", str(out)], capture_output=True, text=True,
                            timeout=300, env=env, cwd=tmp_path)
    assert result.returncode == 0, f"{script.name} failed:\n{result.stdout}\n{result.stderr}"
    expected = EXPECTED.get(script.name, [script.stem + ".png"])
    for name in expected:
        path = out / name
        assert path.is_file(), f"{script.name} did not write {name}; it wrote {sorted(os.listdir(out))}"
        assert path.stat().st_size > 0, f"{name} is empty"
        if name.endswith(".png"):
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{name} is not a PNG"
    assert result.stdout.strip(), f"{script.name} printed nothing"
