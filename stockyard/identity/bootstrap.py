"""Seed run at every start: default domain, Keystone's default roles, admin and demo users
and projects.

Idempotent: running it again changes nothing that exists, and adds what an older cloud
lacks (the manager and service roles came after the first three).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.models import Domain, Project, Role, RoleAssignment, User
from stockyard.identity.passwords import hash_password

DEFAULT_DOMAIN_ID = "default"
# Keystone's bootstrap roles (2023.2+). Tempest asks for "manager" and "service" users
# (project_manager credentials; service-to-service calls such as server external events).
# Implied roles are expanded when a token is issued (TokenService.roles_for), not stored.
ROLE_NAMES = ("admin", "manager", "member", "reader", "service")


@dataclass
class Seeded:
    admin_user_id: str
    admin_project_id: str
    demo_user_id: str
    demo_project_id: str


async def _get_or_create_project(session: AsyncSession, name: str, description: str) -> Project:
    project = await session.scalar(
        select(Project).where(Project.domain_id == DEFAULT_DOMAIN_ID, Project.name == name)
    )
    if project is None:
        project = Project(name=name, domain_id=DEFAULT_DOMAIN_ID, description=description)
        session.add(project)
        await session.flush()
    return project


async def _get_or_create_user(
    session: AsyncSession, name: str, password: str, project: Project
) -> User:
    user = await session.scalar(
        select(User).where(User.domain_id == DEFAULT_DOMAIN_ID, User.name == name)
    )
    if user is None:
        user = User(
            name=name,
            domain_id=DEFAULT_DOMAIN_ID,
            password_hash=hash_password(password),
            default_project_id=project.id,
        )
        session.add(user)
        await session.flush()
    return user


async def _assign(session: AsyncSession, user: User, project: Project, role: Role) -> None:
    exists = await session.scalar(
        select(RoleAssignment.id).where(
            RoleAssignment.user_id == user.id,
            RoleAssignment.project_id == project.id,
            RoleAssignment.role_id == role.id,
        )
    )
    if exists is None:
        session.add(RoleAssignment(user_id=user.id, project_id=project.id, role_id=role.id))


async def bootstrap(session: AsyncSession, admin_password: str, demo_password: str) -> Seeded:
    """Create what a fresh cloud needs; the caller commits."""
    if await session.get(Domain, DEFAULT_DOMAIN_ID) is None:
        session.add(Domain(id=DEFAULT_DOMAIN_ID, name="Default", description="The default domain"))
        await session.flush()
    roles: dict[str, Role] = {}
    for name in ROLE_NAMES:
        role = await session.scalar(select(Role).where(Role.name == name))
        if role is None:
            role = Role(name=name)
            session.add(role)
            await session.flush()
        roles[name] = role
    admin_project = await _get_or_create_project(session, "admin", "Cloud administrators")
    demo_project = await _get_or_create_project(session, "demo", "Demo project")
    admin = await _get_or_create_user(session, "admin", admin_password, admin_project)
    demo = await _get_or_create_user(session, "demo", demo_password, demo_project)
    await _assign(session, admin, admin_project, roles["admin"])
    await _assign(session, demo, demo_project, roles["member"])
    await session.flush()
    return Seeded(admin.id, admin_project.id, demo.id, demo_project.id)
