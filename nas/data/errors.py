"""Errors raised by the dataset layer: all are the user's to fix and print as one line."""

from __future__ import annotations

from search_space.errors import UserError


class DatasetError(UserError, ValueError):
    """A dataset spec, folder or file is wrong (unknown kind, missing path, malformed file); the message names it."""
