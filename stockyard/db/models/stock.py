"""Stock requests: a project asks for N baremetal nodes of a class in an AZ."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from stockyard.db.base import Base, new_uuid, utcnow


class StockRequest(Base):
    """pending -> approved (nodes assigned) | rejected (with a reason) | cancelled.

    The status moves only by a conditional UPDATE on ``status='pending'``, so two admins
    deciding the same request at once cannot both win.
    """

    __tablename__ = "stock_requests"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    resource_class: Mapped[str] = mapped_column(String(64))
    availability_zone: Mapped[str] = mapped_column(String(64))
    region: Mapped[str | None] = mapped_column(String(64), nullable=True)
    count: Mapped[int] = mapped_column(Integer)
    # Spread over at least this many racks; NULL = no spread asked.
    min_racks: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    reason: Mapped[str | None] = mapped_column(String(255), nullable=True)
    assigned_nodes: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
