"""The C++ core's rooms (../shared/DESIGN.md, "The layout to grow into") stay in their order.

Every #include "..." of a file under csrc/ may name a file of its own room or of a room
below it: common (csrc/*.h, the shared basics) < kernels < dispatch < network <
distributed < bindings. A kernel that needed the CPU switch, or a network header that
needed pybind11, would be an include up a floor: this test names the file and the line.
"""
import pathlib
import re

import pytest

CSRC = pathlib.Path(__file__).resolve().parents[2] / "csrc"
FLOORS = ["", "kernels", "dispatch", "network", "distributed", "bindings"]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.MULTILINE)
MAX_LINES = 450
# Files of one concern that read better whole may be listed here, with the reason.
LONG_FILES_ALLOWED: set[str] = set()


def room_of(relative: str) -> str:
    parts = relative.split("/")
    return parts[0] if len(parts) > 1 else ""


def sources():
    files = sorted(p for p in CSRC.rglob("*") if p.suffix in (".h", ".cpp"))
    assert files, f"no C++ sources under {CSRC}"
    return files


def test_every_room_is_a_known_floor():
    for path in sources():
        room = room_of(path.relative_to(CSRC).as_posix())
        assert room in FLOORS, f"{path.relative_to(CSRC)}: room {room!r} is not one of {FLOORS}"


def test_no_include_runs_up_a_floor():
    upward = []
    for path in sources():
        rel = path.relative_to(CSRC).as_posix()
        floor = FLOORS.index(room_of(rel))
        for target in INCLUDE.findall(path.read_text()):
            assert (CSRC / target).is_file(), f"{rel} includes {target!r}, not a file under csrc/"
            if FLOORS.index(room_of(target)) > floor:
                upward.append(f"{rel} includes {target}")
    assert upward == [], "includes up a floor (kernels < dispatch < network < distributed < bindings):\n" + \
        "\n".join(upward)


def test_only_bindings_know_python():
    for path in sources():
        rel = path.relative_to(CSRC).as_posix()
        if room_of(rel) != "bindings":
            text = path.read_text()
            assert "pybind11" not in text and "Python.h" not in text, f"{rel} uses Python outside csrc/bindings/"


@pytest.mark.parametrize("path", sources(), ids=lambda p: p.relative_to(CSRC).as_posix())
def test_file_opens_with_a_comment_and_stays_small(path):
    rel = path.relative_to(CSRC).as_posix()
    text = path.read_text()
    assert text.startswith("//"), f"{rel}: the first lines should be a comment saying what the file holds"
    lines = text.count("\n")
    if rel not in LONG_FILES_ALLOWED:
        assert lines <= MAX_LINES, f"{rel} has {lines} lines (at most {MAX_LINES}): split it by concern"
