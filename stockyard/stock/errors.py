"""Errors of the stock service; the API maps them to 400/404/409."""

from __future__ import annotations


class StockError(Exception):
    """Base class; ``str(exc)`` is a message fit for the user."""


class StockNotFound(StockError):
    """The node, project or request does not exist (or is not visible to the caller)."""


class StockConflict(StockError):
    """The operation clashes with the current state (in use, owned, not pending, shortfall)."""


class StockInvalid(StockError):
    """Bad input the schema could not catch (unknown AZ, project id ...)."""
