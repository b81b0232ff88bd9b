"""How the command line reports a user's mistake: one line on stderr, exit status 2.

May import: nothing."""

EXIT_BAD_INPUT = 2


class CliError(ValueError):
    """A user error the CLI reports as one line (exit status 2)."""
