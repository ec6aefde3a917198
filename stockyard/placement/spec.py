"""From leased instance rows to the scheduler's request: batches and their RequestSpec."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.models import Instance, ServerGroup
from stockyard.lifecycle import records
from stockyard.lifecycle.block_devices import is_volume_backed
from stockyard.placement import claims
from stockyard.scheduler import GroupInfo, GroupPolicy, RequestSpec, Scheduler

POLICIES = {"affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"}
_RC_PREFIX = "resources:CUSTOM_"


def resource_class_of(extra_specs: dict[str, str]) -> str | None:
    """Baremetal flavors ask for a whole node: ``resources:CUSTOM_BM_GOLD=1`` -> BM_GOLD."""
    for key, value in extra_specs.items():
        if key.startswith(_RC_PREFIX) and str(value).strip() not in ("", "0"):
            return key[len(_RC_PREFIX) :]
    return None


def _batch_key(inst: Instance) -> str:
    # Rows of one request share all of this; a reschedule differs by tried hosts. The
    # request's ids keep two requests of a burst apart: a hard group places each
    # request's members all or none, never another request's with them.
    return json.dumps(
        [
            inst.reservation_id,
            inst.request_id,
            inst.flavor,
            inst.project_id,
            inst.requested_az,
            inst.forced_host,
            inst.group_uuid,
            sorted(inst.tried_hosts or []),
            is_volume_backed(inst),
        ],
        sort_keys=True,
        default=str,
    )


def batches(rows: Iterable[Instance]) -> list[list[Instance]]:
    """Split leased rows into batches the scheduler can place with one RequestSpec each
    (one per create request, in the order the rows come)."""
    out: dict[str, list[Instance]] = {}
    for row in rows:
        out.setdefault(_batch_key(row), []).append(row)
    return list(out.values())


async def request_spec(
    s: AsyncSession,
    scheduler: Scheduler,
    rows: list[Instance],
    group: ServerGroup | None,
    placed_in_pass: dict[str, int] | None = None,
) -> RequestSpec:
    """The RequestSpec of one batch; ``group`` is read under its lock.

    ``placed_in_pass`` (host uuid -> members) counts the group's members that earlier
    batches of the same pass were given but have not written yet, so that every batch
    of a burst sees the members placed before it.
    """
    first = rows[0]
    flavor: dict[str, Any] = first.flavor or {}
    extra = {str(k): str(v) for k, v in (flavor.get("extra_specs") or {}).items()}
    info: GroupInfo | None = None
    if group is not None and group.policy in POLICIES:
        rules = group.rules or {}
        members = await claims.group_member_hosts(s, group, [r.uuid for r in rows])
        member_hosts: dict[str, int] = dict(placed_in_pass or {})
        for name, count in members.items():
            state = scheduler.index.by_name(name)
            if state is not None:
                member_hosts[state.uuid] = member_hosts.get(state.uuid, 0) + count
        max_per_host = rules.get("max_server_per_host")
        info = GroupInfo(
            uuid=group.uuid,
            name=group.name,
            policy=cast(GroupPolicy, group.policy),
            failure_domain=rules.get("failure_domain") or "host",
            max_server_per_host=int(max_per_host) if max_per_host else None,
            member_hosts=member_hosts,
        )
    return RequestSpec(
        instance_uuids=[r.uuid for r in rows],
        project_id=first.project_id,
        vcpus=int(flavor.get("vcpus") or 0),
        memory_mb=int(flavor.get("ram") or 0),
        # A volume-backed server's root disk is its volume: the flavor's is not claimed.
        disk_gb=(0 if is_volume_backed(first) else int(flavor.get("disk") or 0))
        + int(flavor.get("ephemeral") or 0),
        resource_class=resource_class_of(extra),
        extra_specs=extra,
        availability_zone=first.requested_az or None,
        forced_host=records.forced_spec(first.forced_host),
        group=info,
        ignore_hosts={str(h) for h in first.tried_hosts or []},
    )
