"""Errors the routes raise; the app turns them into the envelope with their status."""

from __future__ import annotations


class NotFound(LookupError):
    """404: a pipeline run, export or file that does not exist."""


class Conflict(ValueError):
    """409: the thing exists but is not in a state the call applies to (an export not finished yet)."""


class Unprocessable(ValueError):
    """422: input that passed the schema but cannot be used (a NUL character, an unknown name)."""
