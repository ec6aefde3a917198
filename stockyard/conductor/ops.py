"""Messages the conductor sends to compute agents (``compute.<host>``), per the bus contract."""

from __future__ import annotations

from typing import Any

from stockyard.bus.base import Message
from stockyard.db.models import Instance


def topic_for(host: str) -> str:
    """The queue of the agent serving ``host``."""
    return f"compute.{host}"


def instance_spec(inst: Instance) -> dict[str, Any]:
    """The InstanceSpec dict of the contract: all an agent needs, no DB access."""
    return {
        "uuid": inst.uuid,
        "name": inst.name,
        "hostname": inst.hostname,
        "project_id": inst.project_id,
        "flavor": dict(inst.flavor or {}),
        "image_ref": inst.image_ref,
        "key_data": inst.key_data,
        "user_data": inst.user_data,
        "metadata": dict(inst.metadata_ or {}),
        "addresses": dict(inst.addresses or {}),
        "host": inst.host,
        "node": inst.node,
    }


def op_message(
    inst: Instance, op: str, op_id: str, reboot_type: str = "SOFT", request_id: str | None = None
) -> Message:
    """One ``op`` message; ``op_id`` is also put in the instance's lease."""
    return {
        "type": "op",
        "op": op,
        "op_id": op_id,
        "reboot_type": reboot_type,
        "instance": instance_spec(inst),
        "request_id": request_id or inst.request_id or "",
    }
