"""Counting quotas (as Nova's): usage is counted from the rows, limits are defaults from
settings overridden per project in the ``quotas`` table.

Concurrency. ``check_quota`` must be serialised per project, or two concurrent creates
could both see 9 of 10 instances and both pass. It takes a per-project lock that lasts
until the caller's transaction ends (commit, rollback or close):

* ``SELECT ... FOR UPDATE`` on the project's ``ProjectLock`` row (inserted if missing),
  which serialises checks across processes on PostgreSQL and MariaDB;
* on SQLite, which has no row locks (``FOR UPDATE`` is ignored), an in-process
  ``asyncio.Lock`` per project as well: the SQLite deployment is the embedded one, served
  by a single process, so an in-process lock is enough.

The caller must call ``check_quota`` before writing anything else in the transaction (so
that no transaction waits for the lock while holding SQLite's write lock) and must insert
the rows it counted (instances, key pairs, groups) in the same transaction before
committing: the lock is released only when that transaction ends, so the next checker
counts them. Calling it again in the same transaction is allowed (the lock is re-entrant
per session).

Limits' defaults come from the API's settings: pass ``settings=state.settings`` (or call
``bind_settings(session, state.settings)`` once); without either, the process-wide
``get_settings()`` is used.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.errors import APIError
from stockyard.db.models import Instance, KeyPair, Quota, ServerGroup
from stockyard.db.models.compute import QuotaClass
from stockyard.db.project_lock import lock_project
from stockyard.settings import Settings

# Resources with a default in settings (quota_<name>).
SETTINGS_RESOURCES = (
    "instances",
    "cores",
    "ram",
    "key_pairs",
    "server_groups",
    "server_group_members",
    "metadata_items",
)
# Legacy resources Nova still shows at older microversions; fixed defaults, overridable.
LEGACY_DEFAULTS = {
    "fixed_ips": -1,
    "floating_ips": 10,
    "security_groups": 10,
    "security_group_rules": 20,
    "injected_files": 5,
    "injected_file_content_bytes": 10240,
    "injected_file_path_bytes": 255,
}
ALL_RESOURCES = SETTINGS_RESOURCES + tuple(LEGACY_DEFAULTS)
DEFAULT_QUOTA_CLASS = "default"
"""The only quota class Nova (and Stockyard) applies to projects."""

_SETTINGS_KEY = "stockyard.settings"


def default_limits(settings: Settings) -> dict[str, int]:
    """The configured defaults for every resource."""
    limits = {name: int(getattr(settings, f"quota_{name}")) for name in SETTINGS_RESOURCES}
    limits.update(LEGACY_DEFAULTS)
    return limits


async def project_limits(
    session: AsyncSession, settings: Settings, project_id: str
) -> dict[str, int]:
    """The effective limit of every resource for ``project_id`` (-1 = unlimited): the
    project's overrides, else the ``default`` quota class's, else the configured ones."""
    limits = default_limits(settings)
    # One round trip: the default class's rows (rank 0) then the project's (rank 1).
    classes = select(literal(0).label("rank"), QuotaClass.resource, QuotaClass.hard_limit).where(
        QuotaClass.class_name == DEFAULT_QUOTA_CLASS
    )
    projects = select(literal(1).label("rank"), Quota.resource, Quota.hard_limit).where(
        Quota.project_id == project_id
    )
    rows = (await session.execute(union_all(classes, projects))).all()
    for _rank, resource, hard_limit in sorted(rows, key=lambda row: int(row[0])):
        if resource in limits:
            limits[resource] = hard_limit
    return limits


async def class_limits(
    session: AsyncSession, settings: Settings, class_name: str = "default"
) -> dict[str, int]:
    """The limits of a quota class: the configured defaults with the class's rows."""
    limits = default_limits(settings)
    rows = await session.execute(
        select(QuotaClass.resource, QuotaClass.hard_limit).where(
            QuotaClass.class_name == class_name
        )
    )
    for resource, hard_limit in rows.all():
        if resource in limits:
            limits[resource] = hard_limit
    return limits


async def project_usage(
    session: AsyncSession,
    project_id: str,
    user_id: str,
    only: Collection[str] | None = None,
) -> dict[str, int]:
    """What the project uses now, counted from the rows; key pairs count per user.

    ``only``: count just these resources (the others read 0); a create checks instances,
    cores and ram and need not count key pairs and server groups (two queries fewer).
    """
    usage = dict.fromkeys(ALL_RESOURCES, 0)
    wanted = set(ALL_RESOURCES if only is None else only)
    if wanted & {"instances", "cores", "ram"}:
        row = (
            await session.execute(
                select(
                    func.count(Instance.id),
                    func.coalesce(func.sum(Instance.vcpus), 0),
                    func.coalesce(func.sum(Instance.memory_mb), 0),
                ).where(Instance.project_id == project_id, Instance.deleted.is_(False))
            )
        ).one()
        usage.update(instances=int(row[0]), cores=int(row[1]), ram=int(row[2]))
    if "key_pairs" in wanted:
        key_pairs = await session.scalar(
            select(func.count(KeyPair.id)).where(KeyPair.user_id == user_id)
        )
        usage["key_pairs"] = int(key_pairs or 0)
    if "server_groups" in wanted:
        groups = await session.scalar(
            select(func.count(ServerGroup.id)).where(ServerGroup.project_id == project_id)
        )
        usage["server_groups"] = int(groups or 0)
    return usage


def session_settings(session: AsyncSession) -> Settings:
    """Settings for a session: those bound by ``bind_settings``, else the process's."""
    bound = session.sync_session.info.get(_SETTINGS_KEY)
    if isinstance(bound, Settings):
        return bound
    from stockyard.settings import get_settings

    return get_settings()


def bind_settings(session: AsyncSession, settings: Settings) -> None:
    """Make ``check_quota`` on this session use ``settings`` (the API's, not the global)."""
    session.sync_session.info[_SETTINGS_KEY] = settings


async def check_quota(
    session: AsyncSession,
    project_id: str,
    user_id: str,
    deltas: dict[str, int],
    settings: Settings | None = None,
) -> None:
    """Raise ``APIError(403)`` if adding ``deltas`` would exceed a limit of the project.

    Takes the project's quota lock for the rest of the caller's transaction (see the
    module docstring); the caller inserts its rows in that transaction, then commits.
    """
    if settings is None:
        settings = session_settings(session)
    await lock_project(session, project_id)
    limits = await project_limits(session, settings, project_id)
    asked = [resource for resource, delta in deltas.items() if delta > 0]
    usage = await project_usage(session, project_id, user_id, only=asked)
    for resource, delta in deltas.items():
        if resource not in limits:
            raise ValueError(f"unknown quota resource {resource!r}")
        limit = limits[resource]
        if delta <= 0 or limit < 0:
            continue
        used = usage[resource]
        if used + delta > limit:
            raise APIError(
                403,
                f"Quota exceeded for {resource}: Requested {delta}, but already used "
                f"{used} of {limit} {resource}",
            )
