"""Test-session setup shared by every test file."""
import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _run_outside_the_source_tree(tmp_path_factory):
    """Run the session (and every child process a test starts) from an empty directory.

    `python -c ...` and `python -m ...` put the current directory first on sys.path; run
    from the repository root they would import the source folder pynn/, which has no
    compiled core, instead of the installed package. Tests find their files through
    __file__, never through the current directory."""
    previous = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))
    yield
    os.chdir(previous)
