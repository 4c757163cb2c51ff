"""Errors a user can cause: the CLI prints the one-line message and exits non-zero."""


class UserError(Exception):
    """Bad input (file, column, key, registry state): the message names what and where."""


class DataError(UserError):
    """A data file is missing, unreadable, empty, or lacks/mistypes a declared column."""
