#!/usr/bin/env bash
# Test a repaired wheel as a user gets it: install it into a fresh venv of its CPython with
# no compiler and no CMake on PATH, then run `pynn train` and the test suite against it.
#
#   tools/test_wheel.sh DIST 3.9 [3.13 ...] [-- PYTEST-ARGS]
#
# DIST holds the wheels of tools/build_wheels.sh. cc, gcc, g++, c++, clang, clang++, cmake
# and ninja are shims that fail loudly (and log the call): an install that tried to compile
# anything fails here. `pip install --only-binary=:all:` takes pynn and every test extra as
# wheels. The tests run from an empty directory, importing pynn from the venv (checked),
# never from the source tree; tests needing a compiler or torch skip and say why.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/tools/find_python.sh"

[ $# -ge 2 ] || { sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
DIST=$(cd "$1" && pwd); shift
VERSIONS=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do VERSIONS+=("$1"); shift; done
[ $# -gt 0 ] && shift   # what follows -- goes to pytest
PYTEST_ARGS=("$@")

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# The shims: what a source build would call first.
mkdir -p "$WORK/shims"
for tool in cc gcc g++ c++ clang clang++ cmake ninja; do
  cat >"$WORK/shims/$tool" <<EOF
#!/bin/sh
echo "test_wheel: '$tool \$*' was called on a PATH without compilers: a wheel must install and run without one" >&2
echo "$tool \$*" >>"$WORK/compiler-calls.log"
exit 1
EOF
  chmod +x "$WORK/shims/$tool"
done

test_one() {
  local v=$1 py tag wheel venv t0=$(date +%s)
  py=$(find_python "$v") || exit 2
  tag=cp${v//./}
  wheel=$(ls "$DIST"/pynn-*-"$tag-$tag"-manylinux*.whl 2>/dev/null) \
    || { echo "test_wheel: no manylinux wheel for CPython $v in $DIST" >&2; exit 1; }
  [ "$(echo "$wheel" | wc -l)" -eq 1 ] || { echo "test_wheel: more than one wheel for CPython $v in $DIST" >&2; exit 1; }
  venv=$WORK/venv-$v
  "$py" -m venv "$venv"
  (
    export PATH="$WORK/shims:$venv/bin:$PATH" CC="$WORK/shims/cc" CXX="$WORK/shims/c++"
    unset PYTHONPATH
    python -m pip install --quiet --upgrade pip
    rm -f "$WORK/compiler-calls.log"
    python -m pip install --quiet --only-binary=:all: "$wheel[test]"
    if [ -s "$WORK/compiler-calls.log" ]; then
      echo "test_wheel: CPython $v: the install called a compiler:" >&2; cat "$WORK/compiler-calls.log" >&2; exit 1
    fi
    mkdir "$WORK/run-$v" && cd "$WORK/run-$v"
    python - "$venv" <<'EOF'
import os, sys, pynn
where = os.path.realpath(pynn.__file__)
assert where.startswith(os.path.realpath(sys.argv[1]) + os.sep), f"pynn imported from {where}, not from the venv"
print(f"test_wheel: pynn {pynn.__version__} from {os.path.dirname(where)}")
EOF
    pynn train
    python -m pytest "$ROOT/tests" -p no:cacheprovider "${PYTEST_ARGS[@]}"
  )
  echo "test_wheel: CPython $v: $(basename "$wheel") passed in $(( $(date +%s) - t0 )) s"
}

for v in "${VERSIONS[@]}"; do test_one "$v"; done
