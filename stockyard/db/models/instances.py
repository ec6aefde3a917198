"""Instances (servers) and what is recorded about them: faults, actions, events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, validates

from stockyard.db.base import Base, new_uuid, utcnow


class Instance(Base):
    """A server. ``vm_state``/``task_state``/``power_state`` follow Nova's meaning; the
    conductor changes them only through the state machine in ``stockyard.lifecycle.states``.

    ``lease_owner``/``lease_expires`` mark the conductor working on a transitional state; a
    lease that expires is picked up by any conductor's reconciler.
    """

    __tablename__ = "instances"
    __table_args__ = (
        # The list's order, newest first, read from an index (marker pagination too).
        Index("ix_instances_project_created", "project_id", "deleted", "created_at", "id"),
        Index("ix_instances_deleted_created", "deleted", "created_at", "id"),
        Index("ix_instances_task_lease", "task_state", "lease_expires"),
        Index("ix_instances_updated", "updated_at"),
        # A group's placed members, read under its lock at every member's placement.
        Index("ix_instances_group_uuid", "group_uuid"),
        # A create's quota check sums the project's cores and RAM: read from this index
        # alone, not from every row's flavor JSON.
        Index("ix_instances_project_usage", "project_id", "deleted", "vcpus", "memory_mb"),
    )
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255))
    hostname: Mapped[str] = mapped_column(String(255), default="")
    project_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    flavor_id: Mapped[str] = mapped_column(String(255))
    # Snapshot of the flavor at create time (Nova embeds it too): resizes of the catalog
    # flavor do not change a running server.
    flavor: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The snapshot's vcpus and ram as columns (Nova's instances have them too), set with
    # ``flavor``: the quota check sums them at every create, and parsing every row's JSON
    # made that sum most of a create's CPU in a project of a thousand servers.
    vcpus: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    memory_mb: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    image_ref: Mapped[str] = mapped_column(String(36), default="")
    key_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    key_data: Mapped[str | None] = mapped_column(Text, nullable=True)
    user_data: Mapped[str | None] = mapped_column(Text, nullable=True)
    vm_state: Mapped[str] = mapped_column(String(32), default="building")
    task_state: Mapped[str | None] = mapped_column(String(32), nullable=True)
    power_state: Mapped[int] = mapped_column(Integer, default=0)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    node: Mapped[str | None] = mapped_column(String(255), nullable=True)
    region: Mapped[str | None] = mapped_column(String(64), nullable=True)
    availability_zone: Mapped[str | None] = mapped_column(String(255), nullable=True)
    rack: Mapped[str | None] = mapped_column(String(64), nullable=True)
    requested_az: Mapped[str | None] = mapped_column(String(255), nullable=True)
    forced_host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    scheduler_hints: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Nova's ``networks``: None = the region's provider network, [] = none (no port, no
    # address), else the requests (see ``stockyard.network.server_ports``).
    requested_networks: Mapped[list[Any] | None] = mapped_column(nullable=True, default=None)
    group_uuid: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # Nova's block device mappings (``stockyard.api.compute.server_bdm``): the volumes a
    # server boots from and attaches at build; None when it boots from an image alone.
    block_devices: Mapped[list[Any] | None] = mapped_column(
        JSON(none_as_null=True), nullable=True, default=None
    )
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    addresses: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The instance's ports as agents see them (``contract.PortSpec`` dicts, interface
    # order): Nova's network info cache, refreshed whenever a port of it changes.
    network_info: Mapped[list[Any] | None] = mapped_column(nullable=True, default=None)
    # Bumped by every change the host must re-apply (``stockyard.network.port_sync``);
    # the conductor sends ``update_ports`` until ``ports_synced_rev`` reaches it.
    ports_rev: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    ports_synced_rev: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The revision of the ``update_ports`` last sent, and when: a pass claims what it
    # sends, so no other pass (or conductor) sends it again before it counts as lost.
    ports_sent_rev: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    ports_sent_at: Mapped[datetime | None] = mapped_column(nullable=True, default=None)
    # The instance went ACTIVE and the peers whose remote-group rules name its groups
    # have not been told yet: the conductor's port sync does it in a transaction of its
    # own, so that a burst of builds never bumps peers while holding its own row.
    ports_announce: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    access_ip_v4: Mapped[str] = mapped_column(String(64), default="")
    access_ip_v6: Mapped[str] = mapped_column(String(64), default="")
    config_drive: Mapped[str] = mapped_column(String(16), default="")
    reservation_id: Mapped[str] = mapped_column(String(32), default="")
    launch_index: Mapped[int] = mapped_column(Integer, default=0)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    # Who locked it, as Nova's: "owner" (its project) or "admin"; an admin's lock can be
    # lifted only by an admin. The reason (2.73) is the locker's free text.
    locked_by: Mapped[str | None] = mapped_column(String(16), nullable=True)
    locked_reason: Mapped[str | None] = mapped_column(String(255), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    # Nova's OS-DCF:diskConfig: True is AUTO (grow the root partition), False MANUAL.
    auto_disk_config: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Hosts already tried for this build; a reschedule avoids them.
    tried_hosts: Mapped[list[Any]] = mapped_column(default=list)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires: Mapped[datetime | None] = mapped_column(nullable=True)
    # Set while a task is running; the reconciler fails tasks older than their deadline.
    task_started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    launched_at: Mapped[datetime | None] = mapped_column(nullable=True)
    terminated_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)

    @validates("flavor")
    def _flavor_sizes(self, _key: str, flavor: dict[str, Any]) -> dict[str, Any]:
        self.vcpus = int(flavor.get("vcpus") or 0)
        self.memory_mb = int(flavor.get("ram") or 0)
        return flavor


class InstanceFault(Base):
    __tablename__ = "instance_faults"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    instance_uuid: Mapped[str] = mapped_column(String(36), index=True)
    code: Mapped[int] = mapped_column(Integer, default=500)
    message: Mapped[str] = mapped_column(String(255))
    details: Mapped[str] = mapped_column(Text, default="")
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InstanceAction(Base):
    """One action on a server (create, reboot, ...) as in Nova's os-instance-actions."""

    __tablename__ = "instance_actions"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    instance_uuid: Mapped[str] = mapped_column(String(36), index=True)
    action: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    # None for an action no user asked for (the power sync's stop), as in Nova.
    user_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    project_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    start_time: Mapped[datetime] = mapped_column(default=utcnow)
    finish_time: Mapped[datetime | None] = mapped_column(nullable=True)
    message: Mapped[str | None] = mapped_column(String(255), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class InstanceActionEvent(Base):
    __tablename__ = "instance_action_events"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    action_id: Mapped[int] = mapped_column(
        ForeignKey("instance_actions.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(String(64))
    start_time: Mapped[datetime] = mapped_column(default=utcnow)
    finish_time: Mapped[datetime | None] = mapped_column(nullable=True)
    result: Mapped[str | None] = mapped_column(String(32), nullable=True)
    traceback: Mapped[str | None] = mapped_column(Text, nullable=True)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
