"""``POST /servers``: validate everything, write the rows in one transaction, hint the
conductor. Nothing is written unless every check passed."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.compute import server_bdm, server_networks
from stockyard.api.compute.server_common import check_metadata_quota
from stockyard.api.compute.server_hostname import requested_hostname
from stockyard.api.compute.server_schemas import ServerCreateBody
from stockyard.api.errors import APIError
from stockyard.api.image.access import get_visible_image
from stockyard.api.microversion import APIVersion
from stockyard.api.state import APIState
from stockyard.db.base import utcnow
from stockyard.db.models import (
    Aggregate,
    AggregateHost,
    Flavor,
    FlavorAccess,
    Host,
    Image,
    Instance,
    InstanceAction,
    KeyPair,
    ServerGroup,
    ServerGroupMember,
)
from stockyard.identity.context import RequestContext
from stockyard.lifecycle.states import TaskState, VmState

_HOSTNAME_BAD = re.compile(r"[^a-z0-9-]+")


def sanitize_hostname(name: str) -> str:
    """A DNS label from a display name, as Nova does."""
    host = _HOSTNAME_BAD.sub("-", name.lower()).strip("-")[:63]
    return host or "server"


def _ref_id(ref: str) -> str:
    """flavorRef/imageRef may be a URL; the id is its last path segment."""
    return ref.rstrip("/").rsplit("/", 1)[-1]


async def load_flavor(session: AsyncSession, ctx: RequestContext, ref: str) -> Flavor:
    flavor_id = _ref_id(ref)
    flavor = await session.scalar(select(Flavor).where(Flavor.flavorid == flavor_id))
    if flavor is None or flavor.disabled:
        raise APIError(400, f"Flavor {flavor_id} could not be found.")
    if not flavor.is_public and not ctx.is_admin:
        access = await session.scalar(
            select(FlavorAccess.id).where(
                FlavorAccess.flavor_id == flavor.id, FlavorAccess.project_id == ctx.project_id
            )
        )
        if access is None:
            raise APIError(400, f"Flavor {flavor_id} could not be found.")
    return flavor


async def load_image(session: AsyncSession, ctx: RequestContext, ref: str) -> Image:
    """An active image the caller may boot; 400 naming the image otherwise."""
    return await get_visible_image(session, ctx, _ref_id(ref))


_ZONES_TTL = 5.0
_zones_cache: tuple[float, frozenset[str]] = (0.0, frozenset())


async def known_zones(session: AsyncSession, *, fresh: bool = False) -> frozenset[str]:
    """Zone names in use, cached for a few seconds: the create path must not scan the
    fleet's host table on every request. Callers re-ask with ``fresh`` before refusing."""
    global _zones_cache
    now = time.monotonic()
    if not fresh and _zones_cache[0] > now:
        return _zones_cache[1]
    zones = set((await session.scalars(select(Host.az).distinct())).all())
    agg_zones = await session.scalars(
        select(Aggregate.availability_zone)
        .join(AggregateHost, AggregateHost.aggregate_id == Aggregate.id)
        .where(Aggregate.availability_zone.is_not(None))
        .distinct()
    )
    zones.update(z for z in agg_zones if z)
    _zones_cache = (now + _ZONES_TTL, frozenset(zones))
    return _zones_cache[1]


async def _parse_az(
    session: AsyncSession, ctx: RequestContext, az: str | None
) -> tuple[str | None, str | None]:
    """``az``, ``az:host`` or ``az::node`` -> (zone, forced host). Forcing is admin-only.

    The forced host is returned in the scheduler's ``"az:host"`` form (``forced_host``
    column), so the zone still narrows placement and the host is forced, not taken for
    a zone name.
    """
    if not az:
        return None, None
    zone, _, rest = az.partition(":")
    host = rest.split(":", 1)[0] or (rest.split(":", 1)[1] if ":" in rest else "")
    if host:
        if not ctx.is_admin:
            raise APIError(403, "Policy doesn't allow forcing a host (availability_zone az:host).")
        if await session.scalar(select(Host.id).where(Host.name == host)) is None:
            raise APIError(400, f"Compute host {host} could not be found.")
    if (
        zone
        and zone not in await known_zones(session)
        and zone not in await known_zones(session, fresh=True)
    ):
        raise APIError(400, f"The requested availability zone is not available: {zone}")
    return zone or None, (f"{zone}:{host}" if host else None)


async def _load_group(
    session: AsyncSession, ctx: RequestContext, hints: dict[str, Any]
) -> ServerGroup | None:
    group_id = hints.get("group")
    if group_id is None:
        return None
    if not isinstance(group_id, str):
        raise APIError(400, "Invalid input for field/attribute group: must be a server group id.")
    group = await session.scalar(select(ServerGroup).where(ServerGroup.uuid == group_id))
    if group is None or (group.project_id != ctx.project_id and not ctx.is_admin):
        raise APIError(400, f"Invalid server group: {group_id} could not be found.")
    return group


@dataclass
class CreateResult:
    instances: list[Instance]
    reservation_id: str
    admin_pass: str
    volumes: list[str] = field(default_factory=list)
    """Volumes created for the servers' block device mappings (hint the volume role)."""


async def create_servers(
    state: APIState,
    session: AsyncSession,
    ctx: RequestContext,
    body: ServerCreateBody,
    version: APIVersion,
    request_id: str,
) -> CreateResult:
    """Validate and write; the caller commits and publishes the build hint."""
    from stockyard.api.compute.quota_engine import check_quota

    req = body.server
    hints = dict(body.scheduler_hints or body.scheduler_hints_alt or {})
    if version.at_least("2.37") and req.networks is None:
        raise APIError(400, "Invalid input for field/attribute networks: 'networks' is required.")
    flavor = await load_flavor(session, ctx, req.flavorRef)
    bdms = await server_bdm.plan(
        session,
        ctx,
        req.block_device_mapping_v2,
        req.imageRef,
        req.max_count or req.min_count,
        version,
    )
    image: Image | None = None
    if bdms.volume_backed:
        # Booted from a volume: no image of its own (Nova's image ""); the flavor's root
        # disk is not used.
        pass
    elif bdms.boot_image is not None:
        image = bdms.boot_image
    elif not req.imageRef:
        raise APIError(400, "Invalid input for field/attribute imageRef: an image is required.")
    else:
        image = await load_image(session, ctx, req.imageRef)
    if image is not None and image.min_disk and flavor.disk and flavor.disk < image.min_disk:
        raise APIError(400, "Flavor's disk is too small for requested image.")
    if image is not None and image.min_ram and flavor.ram < image.min_ram:
        raise APIError(400, "Flavor's memory is too small for requested image.")
    key: KeyPair | None = None
    if req.key_name:
        key = await session.scalar(
            select(KeyPair).where(KeyPair.user_id == ctx.user_id, KeyPair.name == req.key_name)
        )
        if key is None:
            raise APIError(400, "Invalid key_name provided.")
    if req.metadata:
        await check_metadata_quota(state, session, ctx.project_id or "", len(req.metadata))
    hostname = requested_hostname(req.hostname, version)
    if hostname is not None and (req.max_count or req.min_count) > 1:
        raise APIError(400, "Cannot use the same hostname for multiple instances.")
    zone, forced_host = await _parse_az(session, ctx, req.availability_zone)
    if req.host or req.hypervisor_hostname:
        if not ctx.is_admin:
            raise APIError(403, "Policy doesn't allow requesting a host.")
        forced_host = f":{req.host or req.hypervisor_hostname}"
    max_count = req.max_count or req.min_count
    group = await _load_group(session, ctx, hints)
    count = max_count
    try:
        await check_quota(
            session,
            ctx.project_id or "",
            ctx.user_id,
            {"instances": count, "cores": count * flavor.vcpus, "ram": count * flavor.ram},
            state.settings,
        )
    except APIError:
        if req.min_count == max_count:
            raise
        count = req.min_count
        await check_quota(
            session,
            ctx.project_id or "",
            ctx.user_id,
            {"instances": count, "cores": count * flavor.vcpus, "ram": count * flavor.ram},
            state.settings,
        )
    if group is not None:
        await _check_group_members_quota(state, session, group, count)
    requested = await server_networks.requested_networks(
        session, ctx, req.networks, version, count, req.security_groups
    )
    snapshot = {
        "id": flavor.flavorid,
        "name": flavor.name,
        "vcpus": flavor.vcpus,
        "ram": flavor.ram,
        "disk": flavor.disk,
        "ephemeral": flavor.ephemeral,
        "swap": flavor.swap,
        "extra_specs": dict(flavor.extra_specs or {}),
    }
    # A volume-backed server has no image of its own: MANUAL unless asked.
    image_props = image.properties if image is not None else None
    auto_disk_config(req.disk_config, image_props)  # 400 before anything is written
    reservation_id = "r-" + secrets.token_hex(4)
    now = utcnow()
    instances: list[Instance] = []
    for index in range(count):
        name = f"{req.name}-{index + 1}" if max_count > 1 else req.name
        inst = Instance(
            name=name,
            hostname=hostname or sanitize_hostname(name),
            project_id=ctx.project_id or "",
            user_id=ctx.user_id,
            flavor_id=flavor.flavorid,
            flavor=snapshot,
            image_ref=image.id if image is not None else "",
            key_name=key.name if key else None,
            key_data=key.public_key if key else None,
            user_data=req.user_data,
            vm_state=VmState.BUILDING.value,
            task_state=TaskState.SCHEDULING.value,
            requested_az=zone,
            availability_zone=zone,
            forced_host=forced_host,
            scheduler_hints=hints,
            group_uuid=group.uuid if group else None,
            metadata_=req.metadata or {},
            access_ip_v4=req.accessIPv4 or "",
            access_ip_v6=req.accessIPv6 or "",
            config_drive="True" if req.config_drive else "",
            reservation_id=reservation_id,
            launch_index=index,
            description=req.description,
            tags=list(req.tags or []),
            auto_disk_config=auto_disk_config(req.disk_config, image_props),
            request_id=request_id,
            task_started_at=now,
            addresses={},
        )
        inst.requested_networks = [dict(e) for e in requested]
        session.add(inst)
        instances.append(inst)
    await session.flush()
    await server_networks.reserve(session, instances)
    new_volumes: list[str] = []
    for inst in instances:
        devices, made = await server_bdm.make_volumes(state, session, ctx, bdms, inst.uuid)
        if devices is not None:  # None is the column's value already: no UPDATE
            inst.block_devices = devices
        new_volumes.extend(made)
    for inst in instances:
        if group is not None:
            session.add(ServerGroupMember(group_id=group.id, instance_uuid=inst.uuid))
        session.add(
            InstanceAction(
                instance_uuid=inst.uuid,
                action="create",
                request_id=request_id,
                user_id=ctx.user_id,
                project_id=ctx.project_id or "",
                start_time=now,
            )
        )
    await session.flush()
    return CreateResult(
        instances, reservation_id, req.adminPass or secrets.token_urlsafe(9), new_volumes
    )


async def _check_group_members_quota(
    state: APIState, session: AsyncSession, group: ServerGroup, count: int
) -> None:
    members = await session.scalar(
        select(func.count())
        .select_from(ServerGroupMember)
        .join(Instance, Instance.uuid == ServerGroupMember.instance_uuid)
        .where(ServerGroupMember.group_id == group.id, Instance.deleted.is_(False))
    )
    limit = state.settings.quota_server_group_members
    if limit >= 0 and (members or 0) + count > limit:
        raise APIError(
            403,
            f"Quota exceeded for server_group_members: Requested {count}, but already used "
            f"{members} of {limit} server_group_members",
        )


def auto_disk_config(requested: str | None, image_properties: dict[str, Any] | None) -> bool:
    """Nova's OS-DCF:diskConfig at create and rebuild: the request's, else the image's
    ``auto_disk_config`` property (MANUAL without one); an image that says ``disabled``
    refuses AUTO."""
    prop = str((image_properties or {}).get("auto_disk_config", "")).strip().lower()
    if requested == "AUTO" and prop == "disabled":
        raise APIError(400, "Requested image has automatic disk resize disabled.")
    if requested is not None:
        return requested == "AUTO"
    return prop in ("1", "t", "true", "on", "y", "yes")
