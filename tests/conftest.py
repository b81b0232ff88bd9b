"""Test-session setup shared by every test file."""
import os
import signal

import pytest

# Several tests send Ctrl-C (SIGINT) to child processes and expect KeyboardInterrupt there.
# A pytest started as a background job of a non-interactive shell (as CI may start it)
# inherits SIGINT *ignored*, passes that on to every child, and Python then installs no
# KeyboardInterrupt handler in them: the signal would be lost by the way the suite was
# launched, not by pynn. Python's own handler here gives the children the default.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


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


@pytest.fixture
def restore_kernel():
    """Leaves the core's kernel choice as the test found it (set_kernel is process-wide)."""
    from pynn import _core  # here, not at the top: pynn is imported once the tests run outside the tree
    before = _core.get_kernel()
    yield
    _core.set_kernel("auto" if before == "avx512" else before)


@pytest.fixture
def pass_through():
    """make(act) -> Sequential([Dense(16, 16), act], loss="mse") with W = I and b = 0, so
    the Dense layer hands its input to `act` bit for bit: the model's output is act's of X."""
    import numpy as np  # here, not at the top, as restore_kernel's import
    import pynn

    def make(act):
        model = pynn.Sequential([pynn.Dense(16, 16), act], loss="mse", seed=0)
        W, b = model.parameters()
        W[...] = np.eye(16, dtype=np.float32)
        b[...] = 0
        return model

    return make
