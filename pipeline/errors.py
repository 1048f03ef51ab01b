"""The one exception type that the CLI turns into a single-line error message.

Raise `UserError` for anything a user can fix (missing file, unknown version, bad config value);
the top-level command prints `error: <message>` on stderr and exits non-zero without a traceback.
"""


class UserError(Exception):
    """A mistake in the user's input or configuration, reported as one line."""
