"""Row -> view conversions (the only place that decides what leaves hwmgr)."""

from __future__ import annotations

from stockyard.hwmgr.api.schemas import BMCView, NodeView, TaskView
from stockyard.hwmgr.db.models import Node, Task


def node_view(node: Node) -> NodeView:
    return NodeView(
        uuid=node.uuid,
        name=node.name,
        region=node.region,
        az=node.az,
        rack=node.rack,
        resource_class=node.resource_class,
        cpus=node.cpus,
        memory_mb=node.memory_mb,
        disk_gb=node.disk_gb,
        macs=list(node.macs),
        bmc=BMCView(
            driver=node.bmc_driver,
            address=node.bmc_address,
            port=node.bmc_port,
            username=node.bmc_username,
            system_id=node.bmc_system_id,
        ),
        provision_state=node.provision_state,
        power_state=node.power_state,
        last_error=node.last_error,
        reservation=node.reservation,
        created_at=node.created_at,
        updated_at=node.updated_at,
    )


def task_view(task: Task) -> TaskView:
    return TaskView(
        uuid=task.uuid,
        node_uuid=task.node_uuid,
        type=task.type,
        state=task.state,
        image_url=task.image_url,
        image_checksum=task.image_checksum,
        deadline=task.deadline,
        attempts=task.attempts,
        last_error=task.last_error,
        created_at=task.created_at,
        updated_at=task.updated_at,
        finished_at=task.finished_at,
    )
