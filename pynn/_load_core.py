"""Import the compiled core with a message a user can act on when it fails."""
try:
    from . import _core  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "pynn's compiled core (pynn._core) could not be loaded: "
        f"{exc}. Reinstall with `pip install --force-reinstall --no-cache-dir pynn` "
        "on this machine (the core is built for x86-64 and picks faster code at run time)."
    ) from exc
