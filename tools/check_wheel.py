"""Check that a repaired pynn wheel installs anywhere its tag says: exit status 1 and the
reasons unless

- `auditwheel show` reports a manylinux platform tag for it;
- no shared library in it needs an OpenMP runtime it does not carry (libgomp.so.1,
  libomp.so, libiomp5.so from the system), and it carries one (auditwheel grafts it
  into pynn.libs/ under a hashed name);
- the vendored libscipy_openblas.so sits next to pynn's _core, which finds it there
  (RPATH or RUNPATH $ORIGIN).

    python tools/check_wheel.py dist/pynn-0.1.0-cp39-cp39-manylinux_2_34_x86_64.whl

Needs auditwheel on PATH and pyelftools (an auditwheel dependency) importable.
"""
import argparse
import io
import re
import subprocess
import sys
import zipfile

from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile

OPENMP_RUNTIME = re.compile(r"^lib(gomp|omp|iomp5)\b")
TAG = re.compile(r'consistent with\s+the following platform tag:\s+"(manylinux_\d+_\d+_\w+)"')


def dynamic_entries(blob):
    """DT_NEEDED names and the RPATH/RUNPATH entries of one ELF shared library."""
    needed, search_path = [], []
    for section in ELFFile(io.BytesIO(blob)).iter_sections():
        if isinstance(section, DynamicSection):
            for tag in section.iter_tags():
                if tag.entry.d_tag == "DT_NEEDED":
                    needed.append(tag.needed)
                elif tag.entry.d_tag in ("DT_RPATH", "DT_RUNPATH"):
                    search_path += getattr(tag, "rpath", getattr(tag, "runpath", "")).split(":")
    return needed, search_path


def problems_of(wheel_path):
    problems = []
    shown = subprocess.run(["auditwheel", "show", wheel_path], capture_output=True, text=True)
    match = TAG.search(" ".join(shown.stdout.split()))
    if shown.returncode != 0 or match is None:
        problems.append(f"auditwheel show reports no manylinux tag:\n{shown.stdout}{shown.stderr}")
    with zipfile.ZipFile(wheel_path) as wheel:
        libraries = {name: wheel.read(name) for name in wheel.namelist()
                     if re.search(r"\.so(\.\d+)*$", name)}
    carried = {name.rsplit("/", 1)[-1] for name in libraries}
    for name, blob in libraries.items():
        needed, search_path = dynamic_entries(blob)
        for library in needed:
            if OPENMP_RUNTIME.match(library) and library not in carried:
                problems.append(f"{name} needs the system's OpenMP runtime {library}")
        if "/_core." in name:
            if "$ORIGIN" not in search_path:
                problems.append(f"{name} does not search its own folder ($ORIGIN), where libscipy_openblas.so is")
            if "libscipy_openblas.so" not in needed:
                problems.append(f"{name} does not link the vendored libscipy_openblas.so")
    if "pynn/libscipy_openblas.so" not in libraries:
        problems.append("no pynn/libscipy_openblas.so in the wheel")
    if not any(OPENMP_RUNTIME.match(name) for name in carried):
        problems.append("the wheel carries no OpenMP runtime (auditwheel grafts libgomp into pynn.libs/)")
    return problems, (match.group(1) if match else None), sorted(carried)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wheels", nargs="+", help="repaired wheel files")
    args = parser.parse_args()
    failed = False
    for wheel_path in args.wheels:
        problems, tag, carried = problems_of(wheel_path)
        for problem in problems:
            print(f"check_wheel: {wheel_path}: {problem}", file=sys.stderr)
        if problems:
            failed = True
        else:
            print(f"check_wheel: {wheel_path.rsplit('/', 1)[-1]}: {tag}, shared libraries {', '.join(carried)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
