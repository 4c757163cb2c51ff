"""Errors a user can cause: the CLI prints the one-line message and exits non-zero."""


class UserError(Exception):
    """Bad input (file, column, key, registry state): the message names what and where."""


class DataError(UserError):
    """A data file is missing, unreadable, empty, or lacks/mistypes a declared column."""


def first_line(err: BaseException) -> str:
    """An error's first non-blank line, else its class name: what a one-line report of it shows."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
