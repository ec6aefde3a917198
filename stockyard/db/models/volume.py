"""Block Storage v3 tables (Cinder-compatible): volume types, volumes, snapshots,
attachments and the per-project volume quota overrides.

``volumes`` and ``volume_snapshots`` are the lifecycle tables of DESIGN.md: the API
decides "400 or go" from ``status`` and writes the requested -ing status; only the volume
role moves a row out of an -ing status. ``lease_owner``/``lease_expires`` mark the volume
worker doing that (``task_started_at`` starts the deadline); an expired lease is taken
over by any volume role's reconciler. ``status_reason`` keeps why a row ended in an
error status, in words the user can read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from stockyard.db.base import Base, new_uuid, utcnow


class VolumeType(Base):
    """A volume type; ``extra_specs['volume_backend_name']`` picks the backend."""

    __tablename__ = "volume_types"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(String(255), nullable=True)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    extra_specs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(nullable=True, onupdate=utcnow)


class VolumeTypeProject(Base):
    """A project given a private volume type (Cinder's ``os-volume-type-access``)."""

    __tablename__ = "volume_type_projects"
    volume_type_id: Mapped[str] = mapped_column(
        ForeignKey("volume_types.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class _Lifecycle:
    """Columns shared by the two lifecycle tables (volumes, snapshots)."""

    status: Mapped[str] = mapped_column(String(32))
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(255), nullable=True)
    lease_expires: Mapped[datetime | None] = mapped_column(nullable=True)
    task_started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # Where the backend keeps the data (a file path, an LV, an RBD image): the driver's
    # handle, written by the volume role only.
    provider_location: Mapped[str | None] = mapped_column(String(1024), nullable=True)


class Volume(_Lifecycle, Base):
    """A volume. ``backend`` is the backend name the volume role resolved at create."""

    __tablename__ = "volumes"
    __table_args__ = (
        Index("ix_volumes_project_created", "project_id", "created_at"),
        Index("ix_volumes_status_lease", "status", "lease_expires"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    description: Mapped[str | None] = mapped_column(String(255), nullable=True)
    size: Mapped[int] = mapped_column(Integer)
    volume_type_id: Mapped[str] = mapped_column(ForeignKey("volume_types.id"))
    availability_zone: Mapped[str] = mapped_column(String(255))
    bootable: Mapped[bool] = mapped_column(Boolean, default=False)
    # Cinder's ``readonly`` admin metadata: None until os-update_readonly_flag sets it,
    # after which the volume's metadata shows it, "False" too.
    readonly: Mapped[bool | None] = mapped_column(Boolean, nullable=True, default=None)
    multiattach: Mapped[bool] = mapped_column(Boolean, default=False)
    attach_status: Mapped[str] = mapped_column(String(32), default="detached")
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    snapshot_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    source_volid: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # The image the volume was created from (copied by the volume role).
    image_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # Cinder's volume glance metadata (``volume_image_metadata``): the source image's
    # id, name, formats, sizes and properties as strings; inherited from a source volume
    # or snapshot, and set or unset by the os-*_image_metadata actions.
    image_metadata: Mapped[dict[str, str] | None] = mapped_column(
        JSON(none_as_null=True), nullable=True, default=None
    )
    backend: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # The size an os-extend asked for, until the volume role has grown the volume.
    new_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Delete the volume's snapshots first (DELETE ...?cascade=true).
    cascade: Mapped[bool] = mapped_column(Boolean, default=False)
    # Made for a server deleted before the create ended: delete it once made (0019).
    delete_when_made: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(nullable=True, onupdate=utcnow)
    # Read-only view for the API's volume views; writers change VolumeAttachment rows.
    attachments: Mapped[list[VolumeAttachment]] = relationship(
        lazy="selectin",
        viewonly=True,
        order_by="VolumeAttachment.created_at",
    )


class VolumeSnapshot(_Lifecycle, Base):
    """A snapshot of a volume, counted in its project's ``snapshots`` quota."""

    __tablename__ = "volume_snapshots"
    __table_args__ = (Index("ix_volume_snapshots_project_created", "project_id", "created_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    volume_id: Mapped[str] = mapped_column(ForeignKey("volumes.id"), index=True)
    # Kept so that per-type snapshot quotas count without a join.
    volume_type_id: Mapped[str] = mapped_column(String(36))
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    description: Mapped[str | None] = mapped_column(String(255), nullable=True)
    size: Mapped[int] = mapped_column(Integer)
    progress: Mapped[str] = mapped_column(String(16), default="0%")
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(nullable=True, onupdate=utcnow)


class VolumeQuota(Base):
    """A per-project override of a volume quota limit (-1 = unlimited); resources are
    Cinder's (``volumes``, ``gigabytes``, ``snapshots``, ``volumes_<type>``...)."""

    __tablename__ = "volume_quotas"
    __table_args__ = (UniqueConstraint("project_id", "resource"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    resource: Mapped[str] = mapped_column(String(300))
    hard_limit: Mapped[int] = mapped_column(Integer)


class VolumeQuotaClass(Base):
    """A limit of a volume quota class (``os-quota-class-sets``); the ``default`` class
    overrides the configured defaults of every project, under its own overrides."""

    __tablename__ = "volume_quota_classes"
    __table_args__ = (UniqueConstraint("class_name", "resource"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    class_name: Mapped[str] = mapped_column(String(255))
    resource: Mapped[str] = mapped_column(String(300))
    hard_limit: Mapped[int] = mapped_column(Integer)


class VolumeAttachment(Base):
    """One attachment of a volume to a server (Cinder's ``volume_attachment`` and Nova's
    block device mapping in one row).

    ``attach_status`` is Cinder's: ``reserved`` (held, no connector yet), ``attaching``
    (connection made, the host is attaching), ``attached``, ``detaching`` (the host is
    detaching). A finished detach deletes the row. ``lease_owner``/``lease_expires`` mark
    the conductor op driving an attach or detach on the server's host, so that a lost op
    is found and ended by the reconciler; ``status_reason`` says why the last one failed.
    Nova's fields: ``tag`` (2.49), ``delete_on_termination`` (2.79), ``boot_index`` (0 for
    the root disk of a server booted from volume).
    """

    __tablename__ = "volume_attachments"
    __table_args__ = (
        Index("ix_volume_attachments_status_lease", "attach_status", "lease_expires"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    volume_id: Mapped[str] = mapped_column(ForeignKey("volumes.id"), index=True)
    project_id: Mapped[str] = mapped_column(String(64))
    instance_uuid: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    attached_host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    mountpoint: Mapped[str | None] = mapped_column(String(255), nullable=True)
    attach_mode: Mapped[str] = mapped_column(String(8), default="rw")
    attach_status: Mapped[str] = mapped_column(String(32))
    connector: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    connection_info: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    tag: Mapped[str | None] = mapped_column(String(60), nullable=True)
    delete_on_termination: Mapped[bool] = mapped_column(Boolean, default=False)
    boot_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(255), nullable=True)
    lease_expires: Mapped[datetime | None] = mapped_column(nullable=True)
    attach_time: Mapped[datetime | None] = mapped_column(nullable=True)
    detach_time: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(nullable=True, onupdate=utcnow)
