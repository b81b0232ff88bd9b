"""Sphinx configuration of pynn's documentation site.

Build: pip install ".[docs]" && sphinx-build -W --keep-going docs <out>. The pages are
Markdown (MyST): the lecture, reliability and distributed pages are the .md files of docs/
themselves, the benchmark pages include benchmarks/*.md. The API reference is built from
the docstrings of the installed package, under the names users import (pynn.Sequential,
pynn.autodiff.Tensor, ...), never the private modules that hold them."""
import inspect
import types

from sphinx.util import logging

import pynn

logger = logging.getLogger(__name__)

project = "pynn"
author = "the pynn authors"
copyright = "the pynn authors"
release = version = pynn.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# The docstrings are prose with reST markup; napoleon reads NumPy-style sections where a
# docstring has them and leaves the rest as it is. pynn.reference's module docstring heads
# its list of conventions "Conventions / ---": a section title, which reST forbids inside
# a docstring; napoleon renders it as a rubric instead.
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_custom_sections = ["Conventions"]

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "signature"
autosummary_generate = False  # the summary tables link to entries written out in api/*.rst

# `name` in a docstring is emphasis (an argument name), not a cross-reference.
default_role = None
nitpicky = True  # as -n: the build by hand fails where CI would

# Nitpicky mode makes every unresolved cross-reference an error, so a docstring that
# names a pynn object that does not exist fails the build. Types of other libraries (the
# signatures' np.ndarray, the estimators' scikit-learn bases) are not documented here and
# are not looked up online (no intersphinx: the build stays offline and repeatable).
nitpick_ignore_regex = [
    (r"py:.*", r"(np|numpy)(\..+)?"),
    (r"py:.*", r"sklearn\..+"),
    (r"py:class", r"(collections\.abc|typing)\..+"),
]

myst_heading_anchors = 4  # "page.md#a-heading" links, as on GitHub

html_theme = "alabaster"
html_title = f"pynn {release}"
html_theme_options = {"description": "Fast feed-forward neural networks on the CPU", "fixed_sidebar": True}


# ---------------------------------------------------------------------- public names
# pynn's objects live in the rooms' modules (pynn.nn.sequential, pynn.nn.layers, ...) that may move;
# users import them from pynn and from the public submodules below. Setting each public
# object's __module__ to the path users import makes autodoc name it so in signatures,
# base classes and type hints, so every cross-reference resolves to the documented entry.
PUBLIC_SUBMODULES = [name for name in pynn.__all__ if inspect.ismodule(getattr(pynn, name))]  # autodiff, ...


def _public_names(namespace: types.ModuleType) -> list[str]:
    if hasattr(namespace, "__all__"):
        return list(namespace.__all__)
    return [name for name, obj in vars(namespace).items()
            if not name.startswith("_") and getattr(obj, "__module__", None) == namespace.__name__]


def _claim_public_names(public_path: str, namespace: types.ModuleType) -> None:
    for name in _public_names(namespace):
        obj = getattr(namespace, name)
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and obj.__module__.startswith("pynn."):
            obj.__module__ = public_path


for _sub in PUBLIC_SUBMODULES:
    _claim_public_names(f"pynn.{_sub}", getattr(pynn, _sub))
_claim_public_names("pynn", pynn)  # with scikit-learn installed, __all__ holds the estimators


def _check_every_public_name_documented(app, env) -> None:
    """A name in pynn.__all__ (or a public submodule) without an entry in the API reference
    is a build warning, so a new public object cannot be left out of the reference."""
    documented = set(env.get_domain("py").objects)
    wanted = [f"pynn.{name}" for name in _public_names(pynn)]
    for sub in PUBLIC_SUBMODULES:
        wanted += [f"pynn.{sub}.{name}" for name in _public_names(getattr(pynn, sub))]
    for path in sorted(set(wanted) - documented):
        logger.warning("%s is public but not in the API reference (docs/api/*.rst)", path)


def _skip_members_of_other_libraries(app, what, name, obj, skip, options):
    """The estimators' get_params, set_fit_request, ... are scikit-learn's, documented there."""
    if getattr(obj, "__module__", None) and obj.__module__.split(".")[0] == "sklearn":
        return True
    return None


def _public_bases(bases: list) -> list:
    """Private base classes (pynn's _BaseMLP, ...) replaced by their own bases, recursively."""
    out = []
    for base in bases:
        for public in (_public_bases(list(base.__bases__)) if base.__name__.startswith("_") else [base]):
            if public is not object and public not in out:
                out.append(public)
    return out


def _hide_private_bases(app, name, obj, options, bases: list) -> None:
    bases[:] = _public_bases(bases)


def setup(app):
    app.connect("env-check-consistency", _check_every_public_name_documented)
    app.connect("autodoc-skip-member", _skip_members_of_other_libraries)
    app.connect("autodoc-process-bases", _hide_private_bases)
