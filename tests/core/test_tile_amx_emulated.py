"""The AMX tile backend's own code, on any x86-64 Linux machine with a C++ compiler.

tests/core/cpp/amx_emulated.cpp compiles csrc/kernels/tile_amx.cpp with its tile intrinsics
replaced by a software tile machine (with the instructions' fault checks) and compares
every block shape (1-16 rows, 1-32 columns, K of 0-351 pairs: tails of each size) with the
scalar backend, bit for bit, under ASan/UBSan where the compiler has them; it also checks
the thread-local config cache (no reload for an unchanged shape; a foreign TILERELEASE or
config is noticed). The instructions themselves are tested by test_tile_bf16.py's amx
tests, on CPUs that have them."""
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CXX = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")


def _why_no_compiler():
    """None if CXX runs, else why not (tools/test_wheel.sh puts failing shims on PATH)."""
    if CXX is None:
        return "no C++ compiler"
    try:
        probe = subprocess.run([CXX, "--version"], capture_output=True, text=True, timeout=60)
    except OSError as exc:
        return f"the C++ compiler {CXX} does not run: {exc}"
    if probe.returncode != 0:
        return f"the C++ compiler {CXX} does not run: {probe.stderr.strip()[:300]}"
    return None


IS_X86_64_LINUX = sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64")
NO_COMPILER = _why_no_compiler() if IS_X86_64_LINUX else None
pytestmark = [
    pytest.mark.skipif(not IS_X86_64_LINUX, reason="the AMX backend is x86-64 Linux only"),
    pytest.mark.skipif(NO_COMPILER is not None, reason=str(NO_COMPILER)),
]


def _env():
    # Under tools/sanitize.sh python runs with the ASan runtime preloaded: the compiler and
    # the program must not inherit it.
    return {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS")}


def test_amx_backend_matches_scalar_on_an_emulated_tile_machine(tmp_path):
    exe = tmp_path / "amx_emulated"
    base = [CXX, "-std=gnu++17", "-O1", "-g", "-fopenmp", "-mamx-tile", "-mamx-bf16", f"-I{ROOT / 'csrc'}",
            str(Path(__file__).resolve().parent / "cpp" / "amx_emulated.cpp"), "-o", str(exe)]
    built = None
    for extra in (["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"], []):
        built = subprocess.run(base + extra, capture_output=True, text=True, env=_env())
        if built.returncode == 0:
            break
    if built.returncode != 0:
        if "amx" in built.stderr and ("unrecognized" in built.stderr or "unknown" in built.stderr):
            pytest.skip(f"{CXX} has no -mamx-tile/-mamx-bf16")
        pytest.fail(f"build failed:\n{built.stderr[-4000:]}")
    run = subprocess.run([str(exe)], capture_output=True, text=True, env=_env(), timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr[-4000:]
    assert run.stdout.startswith("ok: 0 mismatches")
