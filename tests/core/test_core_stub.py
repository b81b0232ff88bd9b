"""pynn/_core.pyi describes the compiled module completely: every public name of the module
is in the stub, every name of the stub is in the module, the classes have the same members,
and functions take the number of arguments the stub says (from pybind11's signatures)."""
import ast
import pathlib
import re

import pytest

import pynn
from pynn import _core

# The stub installed beside the module: the one a user's type checker reads.
STUB = pathlib.Path(pynn.__file__).resolve().parent / "_core.pyi"
# pybind11 puts these on every module and class; the stub need not repeat them.
MODULE_BUILTINS = {"__doc__", "__file__", "__loader__", "__name__", "__package__", "__spec__"}
CLASS_IGNORED = re.compile(r"^__\w+__$|^_pybind11_")


def stub_tree():
    return ast.parse(STUB.read_text())


def stub_names():
    names = {}
    for node in stub_tree().body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names[node.name] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = node
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    names[t.id] = node
    return names


def module_names():
    return {n for n in dir(_core) if n not in MODULE_BUILTINS}


def stub_only_aliases():
    # Private type aliases and bases of the stub that exist only to type the rest.
    return {n for n, node in stub_names().items() if n.startswith("_") and not hasattr(_core, n)
            and (isinstance(node, ast.Assign) or n == "_Network")}


def test_every_module_name_is_in_the_stub():
    missing = sorted(module_names() - set(stub_names()))
    assert missing == [], f"pynn/_core.pyi lacks {missing}"


def test_every_stub_name_is_in_the_module():
    extra = sorted(set(stub_names()) - module_names() - stub_only_aliases())
    assert extra == [], f"pynn/_core.pyi names what pynn._core does not have: {extra}"


def class_members(node: ast.ClassDef):
    members = set()
    for item in node.body:
        if isinstance(item, ast.FunctionDef):
            members.add(item.name)
        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            members.add(item.target.id)
    return members


def stub_members(name):
    names = stub_names()
    node = names[name]
    members = class_members(node)
    for base in node.bases:  # the stub's base classes (_Network, Reducer)
        if isinstance(base, ast.Name) and base.id in names:
            members |= stub_members(base.id)
    return members


def module_members(cls):
    own = set()
    for klass in cls.__mro__:
        if klass.__module__ == "pynn._core" or klass is cls:
            own |= {n for n in vars(klass) if not CLASS_IGNORED.match(n)}
    return own


@pytest.mark.parametrize("name", sorted(n for n, node in stub_names().items()
                                        if isinstance(node, ast.ClassDef) and hasattr(_core, n)))
def test_class_members_match(name):
    cls = getattr(_core, name)
    stub = {m for m in stub_members(name) if not CLASS_IGNORED.match(m)}
    assert module_members(cls) - stub == set(), f"the stub of {name} lacks members"
    assert stub - module_members(cls) == set(), f"the stub of {name} names members {name} does not have"


def pybind_arities(fn):
    """The argument counts of each overload, from pybind11's signature lines in the docstring."""
    arities = set()
    for line in (fn.__doc__ or "").splitlines():
        m = re.match(rf"^(?:\d+\. )?{re.escape(fn.__name__)}\((.*)\) ->", line.strip())
        if m:
            inside, depth, count, token = m.group(1), 0, 0, ""
            for ch in inside:
                depth += ch in "[("
                depth -= ch in "])"
                if ch == "," and depth == 0:
                    count += 1 if token.strip() else 0
                    token = ""
                else:
                    token += ch
            count += 1 if token.strip() else 0
            arities.add(count)
    return arities


def stub_arity(node: ast.FunctionDef, method=False):
    args = node.args.posonlyargs + node.args.args
    return len(args) - (1 if method else 0)


@pytest.mark.parametrize("name", sorted(n for n, node in stub_names().items()
                                        if isinstance(node, ast.FunctionDef) and hasattr(_core, n)))
def test_function_arity_matches(name):
    arities = pybind_arities(getattr(_core, name))
    assert arities, f"no pybind11 signature found for {name}"
    assert stub_arity(stub_names()[name]) in arities, \
        f"_core.{name}: the stub takes {stub_arity(stub_names()[name])} arguments, the module {sorted(arities)}"


def test_network_method_arities_match():
    names = stub_names()
    methods = {item.name: item for item in names["_Network"].body if isinstance(item, ast.FunctionDef)}
    for cls in (_core.NetworkF32, _core.NetworkF64):
        for name, node in methods.items():
            if name.startswith("__"):
                continue
            arities = pybind_arities(getattr(cls, name))
            assert arities, f"no pybind11 signature found for {cls.__name__}.{name}"
            # pybind11's signature lists self: count it on both sides.
            assert stub_arity(node) in arities, \
                f"{cls.__name__}.{name}: the stub takes {stub_arity(node)} arguments, the module {sorted(arities)}"
