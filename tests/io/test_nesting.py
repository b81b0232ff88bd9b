"""pynn.io.nesting: JSON from files and TOML configs nest at most MAX_DEPTH levels,
refused by a scan before json.loads or tomllib could recurse near Python's recursion
limit (where a garbage collection's finalizers, or pytest's unraisable hook, then fail
for want of stack)."""
import json
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pynn.io.nesting import MAX_DEPTH, check_nesting, loads_json, nesting_depth

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

# Strings full of what the scan must not count: brackets, quotes, backslashes.
_TRICKY_TEXT = st.text(alphabet='[]{}"\\ab,:\n\u00e9', max_size=12)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | _TRICKY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TRICKY_TEXT, inner, max_size=3),
    max_leaves=20)


def _depth(value) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(_JSON, st.booleans())
def test_scan_depth_is_the_parsers_depth(value, ascii_only):
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert nesting_depth(text) == _depth(value)
    assert loads_json(text) == value


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_the_limit_is_inclusive():
    assert loads_json(_nested(MAX_DEPTH)) == json.loads(_nested(MAX_DEPTH))
    with pytest.raises(ValueError, match=f"nested {MAX_DEPTH + 1} levels deep; at most {MAX_DEPTH}"):
        loads_json(_nested(MAX_DEPTH + 1))


def test_a_deep_bomb_never_reaches_the_parser():
    """200,001 levels: refused by the scan, so no RecursionError is ever raised."""
    with pytest.raises(ValueError, match="nested 200001 levels deep") as caught:
        loads_json('{"a": ' + _nested(200_000) + "}")
    assert caught.type is ValueError  # not a JSONDecodeError from json.loads


def test_brackets_inside_strings_do_not_count():
    text = json.dumps(["[" * 500, {"{" * 500: '\\"[[[' * 100}])
    assert nesting_depth(text) == 2
    assert loads_json(text)[0] == "[" * 500


def test_text_that_is_not_json_is_still_a_value_error():
    for text in ('"unterminated [[[', '["a\\', "]]]" + _nested(3), "[1, 2", b"\xff[]"):
        with pytest.raises(ValueError):
            loads_json(text)
    # an unterminated string hides what follows it from the scan as from the parser
    assert nesting_depth('["' + _nested(1000)) == 1


def test_bytes_are_read_as_utf8():
    assert loads_json('{"caf\u00e9": [1]}'.encode()) == {"caf\u00e9": [1]}


# ---------------------------------------------------------------------------- TOML
def _toml_value(value) -> str:
    """`value` as a TOML inline value, strings in all four quotings TOML has."""
    if isinstance(value, list):
        return "[" + ", ".join(map(_toml_value, value)) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"k{i} = {_toml_value(v)}" for i, v in enumerate(value.values())) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    kind = len(value) % 4
    if kind == 0 or "'" in value or "\n" in value:
        return json.dumps(value)  # a basic string: JSON's escapes are TOML's
    return ("'" + value + "'", "'\'\'" + value + "'\'\'", '"""' + json.dumps(value)[1:-1] + '"""')[kind - 1]


_TOML_TEXT = st.text(alphabet='[]{}"\\ab,#=\n', max_size=10)
_TOML = st.recursive(
    st.booleans() | st.integers() | _TOML_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("abc"), inner, max_size=3),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(_TOML)
def test_toml_scan_depth_is_the_parsers_depth(value):
    text = f"# a comment [[[ {{{{\nx = {_toml_value(value)}  # [[[\n[table]\ny = 1\n"
    parsed = tomllib.loads(text)["x"]
    assert nesting_depth(text, "toml") == max(_depth(parsed), 1)  # [table] is one level


def test_toml_strings_and_comments_hide_brackets():
    lines = [
        r"a = '[[[[[[[[' # [[[[[[[[",
        r'b = """',
        r'[[[[[[[[ \""" still inside "" [[[[[[[[ ""\"',
        r'[[[[ the closing delimiter may follow two quotes of content """""',
        r"c = '''[[[[[[[[ ends in two quotes: '''''",
        r'd = "[[[\"[[["',
        r"e = [[1], {f = [2]}]  # ]]]] [[[[",
    ]
    parsed = tomllib.loads("\n".join(lines))
    assert parsed["b"].endswith('[[[[ the closing delimiter may follow two quotes of content ""')
    assert parsed["c"] == "[[[[[[[[ ends in two quotes: ''" and parsed["d"] == '[[["[[['
    assert parsed["e"] == [[1], {"f": [2]}]
    assert nesting_depth("\n".join(lines), "toml") == 3


def test_deep_toml_is_refused_before_tomllib():
    check_nesting("x = " + _nested(MAX_DEPTH), "toml")  # the limit is inclusive
    with pytest.raises(ValueError, match=f"nested 100000 levels deep; at most {MAX_DEPTH}"):
        check_nesting("x = " + _nested(100_000), "toml")
