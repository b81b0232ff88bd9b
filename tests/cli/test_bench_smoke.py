"""benchmarks/bench_train.py works end to end (--quick: 2,048 rows, seconds), also as
`pynn bench`. Only that it runs, validates and reports: speed is the benchmark's business,
never asserted here."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "benchmarks", "bench_train.py")


def _module():
    from pynn import bench  # the code behind benchmarks/bench_train.py and `pynn bench`

    return bench


def test_flop_count_of_the_issue_network():
    """forward + dW of all three layers and dX of layers 2-3: 1.0066 MFLOP per sample."""
    mac = 784 * 256 + 256 * 128 + 128 * 10
    assert _module().flop_per_sample() == 2 * (2 * mac + 256 * 128 + 128 * 10)
    assert round(_module().flop_per_sample() * 60000 / 1e9, 1) == 60.4


def test_quick_run_validates_and_reports(tmp_path):
    pytest.importorskip("matplotlib", reason="the benchmark's plot needs matplotlib")
    res = subprocess.run([sys.executable, SCRIPT, "--quick", "--frameworks", "pynn,numpy", "--batches", "64",
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    assert "check 1: one step vs pynn.reference" in out and "-> ok" in out
    assert "check 2: held-out loss after one epoch" in out
    assert ("| batch | framework | seconds (median) | min-max | GFLOP/s | % of peak | pynn speed-up | held-out loss |"
            in out)
    assert "| 64 | pynn |" in out and "| 64 | numpy |" in out
    assert "Inference: pynn predict_proba on 2,048 rows" in out
    from pynn import _core
    assert f"cpu: {_core.cpu_info()['brand']} (" in out and "Dense layers' kernels: highest " in out
    assert (tmp_path / "bench_train.png").stat().st_size > 1000
    assert (tmp_path / "bench_train.json").exists()


def test_pynn_bench_runs_the_script():
    res = subprocess.run([sys.executable, "-m", "pynn", "bench", "--help"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert "--quick" in res.stdout and "--frameworks" in res.stdout


def test_unknown_framework_is_an_error():
    res = subprocess.run([sys.executable, SCRIPT, "--frameworks", "pynn,jax"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 2
    assert "unknown framework 'jax'" in res.stderr


def test_quick_run_with_the_bf16_rows(tmp_path):
    """pynn-bf16 (set_float32_matmul_precision("medium")) is validated on held-out loss
    (check 3), then timed, with its own speed-up column."""
    from pynn import _core
    if not _core.bf16_supported():
        pytest.skip("this CPU has no AVX512_BF16: the benchmark skips the pynn-bf16 row")
    pytest.importorskip("matplotlib", reason="the benchmark's plot needs matplotlib")
    res = subprocess.run([sys.executable, SCRIPT, "--quick", "--frameworks", "pynn,pynn-bf16,numpy", "--batches",
                          "64", "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    assert "check 3: held-out loss after one epoch (batch 64): pynn-bf16" in out
    assert "| pynn speed-up | pynn-bf16 speed-up | held-out loss |" in out
    assert "| 64 | pynn-bf16 |" in out and "| 1.00x |" in out
    assert "Inference under 'medium': " in out and "x float32's" in out
