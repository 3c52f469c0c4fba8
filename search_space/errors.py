"""Errors that are the user's to fix: the CLI prints their message as one line and exits non-zero."""


class UserError(Exception):
    """A problem with what the user gave (a name, a file, a value); the message says what and where."""
