"""Topology tests start real processes on real PostgreSQL/MariaDB and RabbitMQ."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "broker_restart: stops and starts the local RabbitMQ app (rabbitmqctl, needs root)",
    )
