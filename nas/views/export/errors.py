"""Errors of export and final training that are the user's to fix (one line, exit status 2)."""

from __future__ import annotations

from search_space.errors import UserError


class ExportError(UserError):
    """An export that cannot be made or was refused (bad source, unwritable path, failed round-trip check)."""
