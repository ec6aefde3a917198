"""Identity tables: domains, projects, users, groups, roles, assignments, tokens,
application credentials."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from stockyard.db.base import Base, new_hex_id, utcnow


class Domain(Base):
    __tablename__ = "domains"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_hex_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_hex_id)
    name: Mapped[str] = mapped_column(String(255))
    domain_id: Mapped[str] = mapped_column(ForeignKey("domains.id"))
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_hex_id)
    name: Mapped[str] = mapped_column(String(255))
    domain_id: Mapped[str] = mapped_column(ForeignKey("domains.id"))
    # argon2 hash; the clear password is never stored or logged.
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    default_project_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    email: Mapped[str | None] = mapped_column(String(255), nullable=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Role(Base):
    __tablename__ = "roles"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_hex_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")


class RoleAssignment(Base):
    """A user's role on a project (project-scoped) or on a domain (or, inherited, on
    each project of the domain)."""

    __tablename__ = "role_assignments"
    __table_args__ = (UniqueConstraint("role_id", "user_id", "project_id", "domain_id"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    role_id: Mapped[str] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), nullable=True, index=True
    )
    domain_id: Mapped[str | None] = mapped_column(
        ForeignKey("domains.id", ondelete="CASCADE"), nullable=True
    )
    # OS-INHERIT: a domain grant that applies to each project of the domain, not to
    # the domain itself.
    inherited: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Group(Base):
    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_hex_id)
    name: Mapped[str] = mapped_column(String(64))
    domain_id: Mapped[str] = mapped_column(ForeignKey("domains.id"))
    description: Mapped[str] = mapped_column(Text, default="")


class GroupMember(Base):
    __tablename__ = "group_members"
    group_id: Mapped[str] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class GroupRoleAssignment(Base):
    """A group's role on a project or on a domain; every member holds it."""

    __tablename__ = "group_role_assignments"
    __table_args__ = (UniqueConstraint("role_id", "group_id", "project_id", "domain_id"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    role_id: Mapped[str] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"))
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), nullable=True, index=True
    )
    domain_id: Mapped[str | None] = mapped_column(
        ForeignKey("domains.id", ondelete="CASCADE"), nullable=True
    )
    # OS-INHERIT: a domain grant that applies to each project of the domain, not to
    # the domain itself.
    inherited: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class SystemRoleAssignment(Base):
    """A role on the whole deployment ("system" scope), held by a user or a group."""

    __tablename__ = "system_role_assignments"
    __table_args__ = (UniqueConstraint("role_id", "user_id", "group_id"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    role_id: Mapped[str] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"))
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
    )
    group_id: Mapped[str | None] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), nullable=True, index=True
    )


class Token(Base):
    """An issued token. Only its SHA-256 digest is stored, never the token itself."""

    __tablename__ = "tokens"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    audit_id: Mapped[str] = mapped_column(String(32), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    domain_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    system: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    roles: Mapped[list[Any]] = mapped_column(default=list)
    methods: Mapped[list[Any]] = mapped_column(default=list)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    # Issued with an application credential: deleting it revokes the token, and a
    # restricted one may not manage application credentials.
    app_cred_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)


class ApplicationCredential(Base):
    """A user's delegation of its roles on one project to an application (Keystone's
    application credentials). Only an argon2 hash of the secret is stored."""

    __tablename__ = "application_credentials"
    __table_args__ = (UniqueConstraint("user_id", "name"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_hex_id)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    secret_hash: Mapped[str] = mapped_column(String(255))
    # The role names delegated (a subset of the user's roles on the project at creation).
    roles: Mapped[list[Any]] = mapped_column(default=list)
    unrestricted: Mapped[bool] = mapped_column(Boolean, default=False)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
