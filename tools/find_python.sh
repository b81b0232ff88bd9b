# Sourced by tools/build_wheels.sh and tools/test_wheel.sh: find_python X.Y prints the path
# of a CPython X.Y interpreter, or says why there is none and exits with status 2.
# Where it looks: $PYNN_PYTHON_X_Y (e.g. PYNN_PYTHON_3_9=/opt/py39/bin/python), then
# pythonX.Y on PATH if it runs (a pyenv shim of an unselected version does not), then the
# newest $PYENV_ROOT/versions/X.Y.* (default ~/.pyenv).
find_python() {
  local var="PYNN_PYTHON_${1//./_}" pyenv_root=${PYENV_ROOT:-$HOME/.pyenv} candidate
  if [ -n "${!var:-}" ]; then echo "${!var}"; return; fi
  if "python$1" -c "" 2>/dev/null; then command -v "python$1"; return; fi
  candidate=$(ls -d "$pyenv_root/versions/$1".* 2>/dev/null | sort -V | tail -1)
  if [ -n "$candidate" ] && [ -x "$candidate/bin/python" ]; then echo "$candidate/bin/python"; return; fi
  echo "no CPython $1: not python$1 on PATH, not in $pyenv_root/versions; set $var" >&2
  exit 2
}
