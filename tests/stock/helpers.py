"""Baremetal hosts, allocations and a second project, inserted directly in the database."""

from __future__ import annotations

from sqlalchemy import select

from stockyard.db.models import Allocation, Host, Project, Role, RoleAssignment, User
from tests.conftest import Cloud

S = "/stock/v1"


async def add_node(
    cloud: Cloud,
    name: str,
    *,
    rack: str = "r1",
    az: str = "az1",
    resource_class: str = "BM_GOLD",
    owner: str | None = None,
    in_use: bool = False,
    status: str = "enabled",
) -> str:
    """A baremetal node; ``in_use`` gives it an allocation. Returns its uuid."""
    async with cloud.state.db.session() as session:
        host = Host(
            name=name,
            kind="baremetal",
            hypervisor_type="baremetal",
            region="RegionOne",
            az=az,
            rack=rack,
            resource_class=resource_class,
            owner_project=owner,
            vcpus=32,
            memory_mb=131072,
            local_gb=1000,
            running_vms=1 if in_use else 0,
            status=status,
        )
        session.add(host)
        await session.flush()
        if in_use:
            session.add(
                Allocation(
                    instance_uuid=f"inst-{name}", host_id=host.id, vcpus=32, memory_mb=1, disk_gb=1
                )
            )
        return host.uuid


async def owner_of(cloud: Cloud, node_uuid: str) -> str | None:
    async with cloud.state.db.session() as session:
        return await session.scalar(select(Host.owner_project).where(Host.uuid == node_uuid))


async def second_project(cloud: Cloud, role: str = "member") -> tuple[str, dict[str, str]]:
    """A project 'other' with a user holding ``role`` on it; returns (project id, headers)."""
    async with cloud.state.db.session() as session:
        project = Project(name=f"other-{role}", domain_id="default")
        user = User(name=f"other-{role}", domain_id="default")
        session.add_all([project, user])
        await session.flush()
        role_id = await session.scalar(select(Role.id).where(Role.name == role))
        assert role_id is not None
        session.add(RoleAssignment(user_id=user.id, project_id=project.id, role_id=role_id))
        pid, uid = project.id, user.id
    token = await cloud.token_for(uid, pid)
    return pid, cloud.headers(token)
