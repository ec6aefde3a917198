"""Request bodies of the stock API."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

_CLASS = r"^[A-Z0-9_]{1,64}$"


class AssignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project_id: str = Field(min_length=1, max_length=64, description="The new stock owner.")


class RequestCreate(BaseModel):
    """A project asks for ``count`` nodes of ``resource_class`` in an AZ."""

    model_config = ConfigDict(extra="forbid")
    resource_class: str = Field(
        pattern=_CLASS, description="Baremetal resource class, e.g. BM_GOLD."
    )
    availability_zone: str = Field(min_length=1, max_length=64)
    count: int = Field(ge=1, le=1000, description="How many nodes.")
    min_racks: int | None = Field(
        default=None, ge=1, description="Spread the nodes over at least this many racks."
    )

    @model_validator(mode="after")
    def _racks_within_count(self) -> Self:
        if self.min_racks is not None and self.min_racks > self.count:
            raise ValueError(f"min_racks ({self.min_racks}) must not exceed count ({self.count})")
        return self


class RejectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=255, description="Shown to the requester.")


class NodeView(BaseModel):
    """A baremetal node as the stock API shows it."""

    uuid: str
    name: str
    resource_class: str | None = Field(description="e.g. BM_GOLD")
    region: str
    availability_zone: str
    rack: str
    owner_project: str | None = Field(description="The stock owner; null = unassigned pool.")
    status: str = Field(description="enabled | disabled")
    in_use: bool = Field(description="The node holds a server (has an allocation).")


class NodeOut(BaseModel):
    node: NodeView


class NodeList(BaseModel):
    nodes: list[NodeView]


class StockGroup(BaseModel):
    """Counts for one resource class in one rack of one availability zone."""

    resource_class: str | None
    region: str
    availability_zone: str
    rack: str
    total: int
    free: int = Field(description="Owned and holding no server.")
    in_use: int


class StockCounts(BaseModel):
    project_id: str | None = Field(description="Whose stock; null for the pool.")
    pool: bool = Field(description="True: the unassigned pool.")
    total: int
    free: int
    in_use: int
    groups: list[StockGroup]


class StockOut(BaseModel):
    stock: StockCounts


class RequestView(BaseModel):
    """A stock request and its decision."""

    id: str
    project_id: str
    user_id: str
    resource_class: str
    availability_zone: str
    region: str | None
    count: int
    min_racks: int | None
    status: str = Field(description="pending | approved | rejected | cancelled")
    reason: str | None = Field(description="Why it was rejected.")
    assigned_nodes: list[str] = Field(description="Node uuids given by the approval.")
    created_at: str | None
    decided_at: str | None
    decided_by: str | None = Field(description="User id of who approved/rejected/cancelled.")


class RequestOut(BaseModel):
    request: RequestView


class RequestList(BaseModel):
    requests: list[RequestView]
