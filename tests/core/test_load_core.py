"""pynn/_load_core.py sets OPENBLAS_THREAD_TIMEOUT only while the core (and its vendored
OpenBLAS) loads: the variable must not leak into the process, and a value the user set
must be left as it was."""
import os
import subprocess
import sys

CHECK = "import os, pynn; print(os.environ.get('OPENBLAS_THREAD_TIMEOUT', '<unset>'))"


def _run(env_value):
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    if env_value is not None:
        env["OPENBLAS_THREAD_TIMEOUT"] = env_value
    return subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, check=True).stdout.strip()


def test_not_left_in_the_environment():
    assert _run(None) == "<unset>"


def test_a_users_value_is_kept():
    assert _run("20") == "20"
