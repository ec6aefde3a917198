"""Response shapes of the admin hardware view (node states, tasks)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class UnreachableRegion(BaseModel):
    region: str
    message: str = Field(description="Why this region's hardware manager gave no answer.")


class NodeState(BaseModel):
    uuid: str
    name: str
    region: str
    provision_state: str = Field(
        description="enrolled | available | deploying | active | cleaning | error"
    )
    power_state: str | None = Field(description="on | off | null (not read yet)")
    last_error: str | None
    reserved: bool = Field(description="A task holds the node.")


class NodeStateList(BaseModel):
    nodes: list[NodeState]
    unreachable: list[UnreachableRegion]


class TaskView(BaseModel):
    id: str
    region: str
    node_uuid: str
    node_name: str | None
    type: str = Field(description="install | clean")
    state: str = Field(description="running | done | failed")
    phase: str = Field(
        description="queued | powering_off | setting_pxe | powering_on | installing | "
        "rebooting | done | failed"
    )
    attempts: int
    last_error: str | None
    started_at: str | None
    updated_at: str | None
    finished_at: str | None
    elapsed_seconds: int = Field(description="Since started_at, until now or finished_at.")


class TaskList(BaseModel):
    tasks: list[TaskView]
    unreachable: list[UnreachableRegion]
