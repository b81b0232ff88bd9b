#!/usr/bin/env bash
# Build pynn's core with AddressSanitizer + UndefinedBehaviorSanitizer (CMake option
# PYNN_SANITIZE) in its own venv, then run the test suite against that build.
#
#   tools/sanitize.sh                 # build + the whole suite (tests needing torch etc. skip)
#   tools/sanitize.sh tests/nn/test_fuzz_api.py -x   # build + only these pytest arguments
#
# Environment: PYNN_SAN_VENV (default build/san-venv), PYNN_SAN_BUILD (default build/sanitize),
# PYNN_SAN_FUZZ=N also runs tools/fuzz.py --examples N under the sanitizers.
# Any ASan/UBSan report aborts the process, so a clean exit means a clean run.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${PYNN_SAN_VENV:-$ROOT/build/san-venv}   # build/ is git-ignored
BUILD=${PYNN_SAN_BUILD:-$ROOT/build/sanitize}
start=$(date +%s)

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
. "$VENV/bin/activate"
# The test extras that are plain Python or have their own (uninstrumented) binaries, so the
# tests using them run here too; torch, onnx and matplotlib stay out (their tests skip).
python -m pip install --quiet numpy pybind11 scikit-build-core ninja cmake "scipy-openblas32==0.3.34.481.3" \
  pytest hypothesis threadpoolctl safetensors scikit-learn tqdm
# Non-editable: the sanitized _core is copied into the venv and never shadows a normal build.
python -m pip install --quiet --no-build-isolation --force-reinstall --no-deps "$ROOT" \
  -Cbuild-dir="$BUILD" -Ccmake.define.PYNN_SANITIZE=ON
echo "sanitize: built in $(( $(date +%s) - start )) s"

# The ASan runtime must be loaded before python (which is not instrumented); take the
# one of the compiler that built the core.
CXX_BIN=${CXX:-c++}
ASAN_LIB=$("$CXX_BIN" -print-file-name=libasan.so)
[ -f "$ASAN_LIB" ] || { echo "sanitize: no libasan.so for $CXX_BIN" >&2; exit 2; }
# LD_PRELOAD is given to python alone (below): preloaded into every tool this script
# runs, the ASan runtime would report their leaks and fail them.
# detect_leaks=0: CPython frees nothing at exit, LeakSanitizer would report it all.
# allocator_may_return_null=1: malloc of an impossible size returns NULL (-> MemoryError).
# Reports go to files as well: pytest captures stderr, and an abort loses its capture.
LOGDIR=$(mktemp -d)
export ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1:abort_on_error=1:strict_init_order=1:log_path=$LOGDIR/asan
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$LOGDIR/ubsan
report() {
  local rc=$?
  if ls "$LOGDIR"/* >/dev/null 2>&1; then
    echo "sanitize: sanitizer reports:" >&2
    cat "$LOGDIR"/* >&2
    rc=1
  fi
  [ $rc -eq 0 ] || echo "sanitize: FAILED after $(( $(date +%s) - start )) s" >&2
  exit $rc
}
trap report EXIT
export PYNN_SANITIZE=1      # tests that measure RSS skip (ASan's quarantine holds freed memory)
export PYNN_FUZZ_ASAN=1     # the fuzzer generates no size that ASan's operator new would abort on
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

# Run from outside the source tree so `import pynn` is the sanitized install.
cd "$(mktemp -d)"
# libstdc++ is preloaded too: ASan intercepts __cxa_throw and must find the real one at
# start-up, before python dlopens _core (else: "CHECK failed ... real___cxa_throw").
STDCXX_LIB=$("$CXX_BIN" -print-file-name=libstdc++.so)
san() { LD_PRELOAD="$ASAN_LIB $STDCXX_LIB" "$@"; }
san python -c "import pynn, sys; assert 'site-packages' in pynn.__file__, pynn.__file__; print('sanitize: testing', pynn.__file__)"
if [ $# -gt 0 ]; then
  args=()
  for a in "$@"; do
    if [ -e "$ROOT/$a" ]; then args+=("$ROOT/$a"); else args+=("$a"); fi
  done
else
  args=("$ROOT/tests")
fi
san python -m pytest -p no:cacheprovider -q "${args[@]}"
if [ -n "${PYNN_SAN_FUZZ:-}" ]; then
  san python "$ROOT/tools/fuzz.py" --examples "$PYNN_SAN_FUZZ" ${PYNN_SAN_FUZZ_SEED:+--seed "$PYNN_SAN_FUZZ_SEED"}
fi
echo "sanitize: clean, $(( $(date +%s) - start )) s in all"
