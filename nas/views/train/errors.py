"""Errors of final training that are the user's to fix (one line, exit status 2)."""

from __future__ import annotations

from search_space.errors import UserError


class TrainError(UserError):
    """A training option, output folder or checkpoint that cannot be used; the message names it."""


class DivergedError(TrainError):
    """The training loss became NaN / inf; the last checkpoint is kept."""
