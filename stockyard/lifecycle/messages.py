"""Bus messages built from an instance row (see :mod:`stockyard.bus.contract`)."""

from __future__ import annotations

from typing import Literal, cast

from stockyard.bus import contract
from stockyard.db.models import Instance
from stockyard.lifecycle.states import VmState


def instance_spec(inst: Instance) -> contract.InstanceSpec:
    """All an agent needs to know of ``inst``: it has no database access."""
    return contract.InstanceSpec(
        uuid=inst.uuid,
        name=inst.name or "",
        hostname=inst.hostname or "",
        project_id=inst.project_id or "",
        flavor=dict(inst.flavor or {}),
        image_ref=inst.image_ref or "",
        key_data=inst.key_data,
        user_data=inst.user_data,
        metadata={str(k): str(v) for k, v in (inst.metadata_ or {}).items()},
        addresses=dict(inst.addresses or {}),
        host=inst.host,
        node=inst.node,
        # The ports cached on the row when they were bound or last changed.
        ports=[contract.PortSpec.model_validate(p) for p in inst.network_info or []],
    )


def op_request(
    inst: Instance, op: contract.Op, op_id: str, reboot_type: str = "SOFT"
) -> contract.OpRequest:
    """One ``op`` for the agent of ``inst.host``; ``op_id`` is also put in the lease."""
    return contract.OpRequest(
        op=op,
        op_id=op_id,
        reboot_type=cast(Literal["SOFT", "HARD"], reboot_type),
        instance=instance_spec(inst),
        request_id=inst.request_id or "",
        # The server's state, not its old guest's power, decides (see OUTCOMES).
        stopped=op == "rebuild" and inst.vm_state == VmState.STOPPED.value,
    )


def op_envelope(
    inst: Instance, op: contract.Op, op_id: str, reboot_type: str = "SOFT"
) -> tuple[str, dict[str, object]]:
    """``(topic, message)`` of :func:`op_request`, ready to publish."""
    assert inst.host, "ops go to the instance's host"
    return contract.compute_topic(inst.host), contract.encode(
        op_request(inst, op, op_id, reboot_type)
    )
