"""Text read from files (JSON in model files, a TOML config), with its nesting bounded
before it is parsed.

Python's json module recurses once per level of nesting, tomllib a few frames per level,
and both stop at the interpreter's recursion limit with a RecursionError. Catching that
error is not enough: while the parser sits ~1000 frames deep, whatever else runs there
(a garbage collection calling finalizers, a warning, sys.unraisablehook) has no stack
left and fails in turn, far from the file that caused it. So text that nests deeper
than any file pynn writes (or a person writes) is refused by a linear scan first.

May import: numpy.
"""
from __future__ import annotations

import json
import re

import numpy as np

__all__ = ["MAX_DEPTH", "nesting_depth", "check_nesting", "loads_json"]

# pynn writes at most ~4 levels (architecture: a list of layer configs holding lists);
# 64 leaves room for users' own metadata and stays far below any recursion limit.
MAX_DEPTH = 64

# What hides brackets from the parser, as the parser tokenizes it. Every alternative
# ends in "or the end of the text" (an unterminated string: the parser fails there),
# and a backslash may end the text, so each match succeeds on its greedy (or lazy)
# first path: the scan never backtracks and stays linear in the text's length.
_SKIP = {
    # JSON strings: a quote to the next unescaped quote.
    "json": re.compile(r'"(?:[^"\\]|\\.?)*(?:"|\Z)', re.DOTALL),
    # TOML: multi-line basic and literal strings (which may end in up to five quotes),
    # basic and literal strings (which end at a newline: an error there), comments.
    "toml": re.compile(r'"""(?:[^\\]|\\.?)*?(?:""""?"?|\Z)'
                       r"|'''.*?(?:''''?'?|\Z)"
                       r'|"(?:[^"\\\n]|\\.?)*(?:"|\n|\Z)'
                       r"|'[^'\n]*(?:'|\n|\Z)"
                       r"|#[^\n]*", re.DOTALL),
}


def nesting_depth(text: str, syntax: str = "json") -> int:
    """The deepest nesting of [ and { outside strings (and TOML comments): the depth the
    parser reaches on valid text, an upper bound of it on text it refuses part way.
    (A TOML table header such as [[a.b]] counts as the two levels it spells.)"""
    codes = np.frombuffer(_SKIP[syntax].sub('""', text).encode("utf-8", "surrogatepass"), np.uint8)
    opens = (codes == ord("[")) | (codes == ord("{"))
    closes = (codes == ord("]")) | (codes == ord("}"))
    # The running depth; where it goes below zero the parser has already failed, so
    # counting on from there only overstates what it would reach.
    depth = np.cumsum(opens.astype(np.int64) - closes, dtype=np.int64)
    return int(depth.max(initial=0))


def check_nesting(text: str, syntax: str = "json") -> None:
    """ValueError when `text` nests deeper than MAX_DEPTH; None otherwise."""
    # Text that opens few brackets cannot nest deeply: most text skips the scan.
    if text.count("[") + text.count("{") > MAX_DEPTH:
        depth = nesting_depth(text, syntax)
        if depth > MAX_DEPTH:
            raise ValueError(f"nested {depth} levels deep; at most {MAX_DEPTH} are read")


def loads_json(text: str | bytes) -> object:
    """json.loads(text) after check_nesting (json.JSONDecodeError is a ValueError too,
    so callers catch one type). Bytes are read as UTF-8."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8")
    check_nesting(text, "json")
    return json.loads(text)
