"""hwmgr tables: nodes and tasks. Its own metadata, separate from the cloud's."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from stockyard.db.base import NAMING, UTCDateTime, new_uuid, utcnow


class HwBase(DeclarativeBase):
    """Declarative base of hwmgr; nothing here lives in the cloud database."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: UTCDateTime}


class Node(HwBase):
    """A physical server behind a BMC."""

    __tablename__ = "nodes"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    region: Mapped[str] = mapped_column(String(64), index=True)
    az: Mapped[str] = mapped_column(String(255), index=True)
    rack: Mapped[str] = mapped_column(String(255), index=True)
    resource_class: Mapped[str] = mapped_column(String(255), index=True)
    cpus: Mapped[int] = mapped_column(Integer)
    memory_mb: Mapped[int] = mapped_column(Integer)
    disk_gb: Mapped[int] = mapped_column(Integer)
    macs: Mapped[list[Any]] = mapped_column(JSON)
    bmc_driver: Mapped[str] = mapped_column(String(16))
    bmc_address: Mapped[str] = mapped_column(String(255))
    bmc_port: Mapped[int] = mapped_column(Integer)
    bmc_system_id: Mapped[str | None] = mapped_column(String(255), default=None)
    bmc_username: Mapped[str] = mapped_column(String(255))
    bmc_password_encrypted: Mapped[str] = mapped_column(Text)
    provision_state: Mapped[str] = mapped_column(String(16), default="enrolled", index=True)
    power_state: Mapped[str | None] = mapped_column(String(8), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    # Ironic-style exclusive lock: conditional UPDATE on these two columns.
    reservation: Mapped[str | None] = mapped_column(String(255), default=None)
    reserved_until: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(default=None, onupdate=utcnow)


class Task(HwBase):
    """An OS-install or clean task on one node."""

    __tablename__ = "tasks"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    node_uuid: Mapped[str] = mapped_column(ForeignKey("nodes.uuid", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    image_url: Mapped[str | None] = mapped_column(Text, default=None)
    image_checksum: Mapped[str | None] = mapped_column(String(80), default=None)
    callback_token_hash: Mapped[str] = mapped_column(String(64))
    # Encrypted so a restarted hwmgr can still render the iPXE script.
    callback_token_encrypted: Mapped[str] = mapped_column(Text)
    callback_status: Mapped[str | None] = mapped_column(String(16), default=None)
    callback_message: Mapped[str | None] = mapped_column(Text, default=None)
    deadline: Mapped[datetime | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(default=None, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
