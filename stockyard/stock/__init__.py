"""Baremetal stock: nodes owned by a project, and the request/approve workflow.

The service layer behind ``stockyard.api.stock``: queries and assignment logic live here,
the routes only validate, authorise and render. Knows no HTTP: it raises ``StockError``.
"""

from stockyard.stock.errors import StockConflict, StockError, StockInvalid, StockNotFound

__all__ = ["StockConflict", "StockError", "StockInvalid", "StockNotFound"]
