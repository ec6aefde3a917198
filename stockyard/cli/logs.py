"""Log configuration of every role: plain or JSON lines, each with the request id."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime

from stockyard.bus.reqid import install_log_filter

PLAIN = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, request_id, role, pid, message."""

    def __init__(self, role: str) -> None:
        super().__init__()
        self.role = role

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "role": self.role,
            "pid": os.getpid(),
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure_logging(level: str, *, json_lines: bool = False, role: str = "stockyard") -> None:
    """Root handler on stderr carrying ``request_id`` (``x-openstack-request-id``)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter(role) if json_lines else logging.Formatter(PLAIN))
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    install_log_filter(root)
    # Alembic narrates every plug-in it loads; the schema version line is enough.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # The bus libraries are chatty at INFO about every channel.
    logging.getLogger("aio_pika").setLevel(logging.WARNING)
    logging.getLogger("aiormq").setLevel(logging.WARNING)
