"""Data-parallel training over MPI (fit(comm=...), docs/distributed.md): worker scripts in
tests/distributed/mpi_scripts/ run under `mpiexec -n 2` / `-n 3` on loopback, each under a timeout so
a hang fails the test, and write what they saw to one JSON file per rank."""
import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

pytest.importorskip("mpi4py", reason="MPI tests need mpi4py (pip install '.[mpi]')")
MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
if MPIEXEC is None:
    pytest.skip("MPI tests need mpiexec (pip install mpich)", allow_module_level=True)

SCRIPTS = os.path.join(os.path.dirname(__file__), "mpi_scripts")
TIMEOUT = 120  # seconds; every script finishes in a few on 2 cores


def run_ranks(tmp_path, n: int, script: str, *args) -> list[dict]:
    """Run SCRIPT under mpiexec -n N; the per-rank JSON results, rank order."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    cmd = [MPIEXEC, "-n", str(n), sys.executable, os.path.join(SCRIPTS, script), str(tmp_path), *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=env, cwd=tmp_path)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{script} {args} on {n} ranks did not finish in {TIMEOUT} s (a hang): {exc.stderr}")
    assert proc.returncode == 0, f"{script} {args} on {n} ranks failed:\n{proc.stdout}\n{proc.stderr}"
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(n)]
    assert [r["rank"] for r in results] == list(range(n))
    return results


@pytest.mark.parametrize("ranks", [2, 3])
def test_ranks_equal_one_process_on_the_union_batch(tmp_path, ranks):
    # Rank r fits X[r::W] with batch 8; one process fits X with batch 8 W: the same union
    # of rows every step (203 rows: a short last step, shards of different lengths); also
    # mse, and binary cross-entropy with sample weights.
    results = run_ranks(tmp_path, ranks, "equivalence.py", "float64")
    cases = results[0]["cases"]
    assert set(cases) == {"sgd_momentum", "sgd_momentum_wd", "adam", "adam_wd", "adamw", "adamw_wd", "mse_adam",
                          "binary_cross_entropy_weighted_adam"}
    for name, case in cases.items():
        assert case["rel_err"] < 1e-10, name
        assert case["opt_step"][0] == case["opt_step"][1], name
        assert case["samples"] == 203
        for got, want in zip(case["loss"], case["ref_loss"]):
            assert got == pytest.approx(want, rel=1e-10), name
        assert case["accuracy"] == case["ref_accuracy"], name
        for other in results[1:]:
            assert other["cases"][name]["ranks_agree"] and case["ranks_agree"], name
            assert other["cases"][name]["loss"] == case["loss"], name  # History: the global numbers everywhere


def test_fused_float32_step_reduces_too(tmp_path):
    results = run_ranks(tmp_path, 2, "equivalence.py", "float32")
    for name, case in results[0]["cases"].items():
        assert case["rel_err"] < 1e-5, name  # float32 sums in another order
        assert case["ranks_agree"], name


@pytest.mark.parametrize("precision", ["highest", "medium"])
def test_fused_step_on_two_threads_per_process(tmp_path, precision):
    results = run_ranks(tmp_path, 2, "threads.py", precision)
    assert all(r["agree"] for r in results)
    assert results[0]["threads"] == [2, 2, 2]  # the step's region really has two threads
    if results[0]["precision"] == "highest":
        assert results[0]["rel_err"] < 1e-5
    else:  # bf16 operands: rounding compounds over the steps; the ranks still agree exactly
        assert results[0]["rel_err"] < 0.05


@pytest.mark.parametrize("ranks", [2, 3])
def test_resumed_run_starts_every_rank_from_rank_0s_state(tmp_path, ranks):
    results = run_ranks(tmp_path, ranks, "resume.py")
    assert all(r["agree"] for r in results)
    assert [r["opt_step"] for r in results] == [6 + -(-96 // (8 * ranks))] * ranks  # 6 steps alone, then the union's
    assert [r["epochs_done"] for r in results] == [2] * ranks
    assert results[0]["rel_err"] < 1e-10


def test_shuffled_runs_repeat_and_ranks_never_disagree(tmp_path):
    results = run_ranks(tmp_path, 2, "shuffled.py")
    for name in ("dropout", "fused"):
        cases = [r["cases"][name] for r in results]
        for case in cases:
            assert case["repeatable"] and case["params_agree"] and case["optimizer_agree"], name
            assert case["samples"] == 301
        assert cases[0]["history"] == cases[1]["history"], name
        # Validation over the ranks' shards is the validation of the whole set.
        assert cases[0]["history"]["val_loss"][-1] == pytest.approx(cases[0]["full_val"]["loss"], rel=1e-6), name
        assert cases[0]["history"]["val_accuracy"][-1] == cases[0]["full_val"]["accuracy"], name


@pytest.mark.parametrize("mode, ranks, error, message", [
    ("bad_x", 2, "ValueError", "fit(comm=...): rank 1 of 2: X contains NaN"),
    ("bad_y", 3, "ValueError", "fit(comm=...): rank 2 of 3: y holds class label 3"),
    ("epochs", 2, "ValueError", "fit(comm=...): epochs must be the same on every process, got rank 0: 2, rank 1: 3"),
    ("diverge", 2, "DivergenceError", "the loss is not finite (on 1 of 2 processes)"),
    ("diverge_layered", 3, "DivergenceError", "the loss is not finite (on 1 of 3 processes)"),
])
def test_one_bad_rank_makes_every_rank_raise_the_same_error(tmp_path, mode, ranks, error, message):
    results = run_ranks(tmp_path, ranks, "failures.py", mode)
    for r in results:
        assert r["error"] == error, r
        assert r["message"].startswith(message), r
        assert r["message"] == results[0]["message"]
        assert r["params_agree"] and r["params_finite"] and r["epochs_done"] == 0, r


def test_divergence_with_terminate_on_nan_stops_every_rank(tmp_path):
    results = run_ranks(tmp_path, 2, "failures.py", "nan_stop")
    for r in results:
        assert r["error"] is None and r["diverged_epoch"] == 0, r
        assert r["params_agree"] and r["params_finite"], r


def test_sigint_on_one_rank_stops_all(tmp_path):
    results = run_ranks(tmp_path, 2, "failures.py", "interrupt")
    assert [r["error"] for r in results] == ["KeyboardInterrupt", "KeyboardInterrupt"]
    assert results[0]["message"] == "interrupted (on 1 of 2 processes)"
    assert all(r["params_agree"] for r in results)
    assert results[0]["epochs_done"] == results[1]["epochs_done"] < 1000


def test_sigint_between_epochs_on_one_rank_stops_all(tmp_path):
    # Ctrl-C handled in Python (a callback after epoch 1) on one rank: it must not raise
    # there alone while the others wait in the next collective; every rank stops together.
    results = run_ranks(tmp_path, 2, "failures.py", "interrupt_between")
    assert [r["error"] for r in results] == ["KeyboardInterrupt", "KeyboardInterrupt"]
    assert results[0]["message"] == "interrupted (on 1 of 2 processes)"
    assert all(r["params_agree"] for r in results)
    assert results[0]["epochs_done"] == results[1]["epochs_done"] == 2


def test_arguments_refused_clearly(tmp_path):
    (r,) = run_ranks(tmp_path, 1, "arguments.py")
    assert r["not_a_comm"] == ["TypeError", "comm must be an mpi4py intracommunicator (e.g. MPI.COMM_WORLD), got str"]
    assert r["custom_loss"][0] == "ValueError" and "comm needs a built-in loss" in r["custom_loss"][1]
    assert r["open_mpi"][0] == "ValueError"
    assert r["open_mpi"][1].startswith("comm: pynn's data-parallel training supports MPIs whose handles are C ints")
    assert "Open MPI" in r["open_mpi"][1]
    assert len(r["one_rank_loss"]) == 2


def test_import_pynn_needs_no_mpi():
    code = ("import sys, numpy as np, pynn; m = pynn.Sequential([pynn.Dense(2, 2)]); "
            "m.fit(np.zeros((4, 2)), [0, 1, 0, 1], verbose=0); assert 'mpi4py' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=TIMEOUT)


CONFIG = """
seed = 0
output = "model.safetensors"
history = "history.json"
[data]
source = "digits"
[model]
layers = [{type = "Dense", units = 32}, {type = "ReLU"}, {type = "Dense", units = 10}]
[train]
epochs = 3
batch_size = 16
validation_split = 0.2
[distributed]
backend = "mpi"
"""


def test_pynn_train_under_mpiexec(tmp_path):
    (tmp_path / "c.toml").write_text(CONFIG)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-m", "pynn", "train", "c.toml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=TIMEOUT, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert out.count("training on the 8x8 digits") == 1  # rank 0 alone prints
    assert "data-parallel over 2 MPI processes" in out
    assert out.count("Epoch 3/3") == 1
    history = json.loads((tmp_path / "history.json").read_text())
    assert len(history["loss"]) == 3 and history["loss"][-1] < history["loss"][0]
    # Validation over the two shards of the held-out rows is the held-out evaluation of rank 0.
    held_out = float(out.split("held-out accuracy: ")[1].split()[0])
    assert history["val_accuracy"][-1] == pytest.approx(held_out, abs=1e-4)
    import pynn
    model = pynn.load(str(tmp_path / "model.safetensors"))
    assert model.epochs_done == 3


def test_distributed_table_is_checked(tmp_path):
    from pynn.config import ConfigError, parse_config_text
    assert parse_config_text('[distributed]\nbackend = "mpi"').distributed == "mpi"
    assert parse_config_text("").distributed is None
    with pytest.raises(ConfigError, match=r"distributed.backend: must be one of mpi; got 'dask'"):
        parse_config_text('[distributed]\nbackend = "dask"')
    with pytest.raises(ConfigError, match=r"distributed: needs backend"):
        parse_config_text("[distributed]\n")


def test_ctrl_c_to_mpiexec_stops_every_rank_at_the_same_step(tmp_path):
    # mpiexec forwards SIGINT to every rank; each notices it at its own time, the
    # step's reduction makes them stop after the same step.
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    proc = subprocess.Popen([MPIEXEC, "-n", "2", sys.executable, os.path.join(SCRIPTS, "failures.py"), str(tmp_path),
                             "long"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        import time
        deadline = time.monotonic() + TIMEOUT
        while not all((tmp_path / f"started{r}").exists() for r in range(2)):
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert [r["error"] for r in results] == ["KeyboardInterrupt"] * 2, err
    assert all(r["params_agree"] for r in results)
    assert results[0]["epochs_done"] == results[1]["epochs_done"] < 1000


def test_validation_split_and_a_converted_x_under_mpi(tmp_path):
    # validation_split trains on listed rows of each shard and validates on the others; a
    # float32 X for a float64 model is converted once, so every rank runs one core epoch
    # per epoch and the ranks stay in step.
    results = run_ranks(tmp_path, 2, "validation.py")
    for r in results:
        assert r["ranks_agree"] and r["finite"]
        assert sorted(r["history"]) == ["accuracy", "loss", "val_accuracy", "val_loss"]
        assert len(r["history"]["val_loss"]) == 3
    assert results[0]["history"] == results[1]["history"]  # the global numbers on every rank
