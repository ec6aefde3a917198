"""Pydantic models at the hwmgr API edge. BMC passwords go in, never out."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from stockyard.hwmgr.images import parse_checksum

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
_MAC = r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BMCIn(_Strict):
    driver: Literal["redfish", "ipmi"]
    address: str = Field(min_length=1, max_length=255)
    port: int = Field(ge=1, le=65535)
    username: str = Field(min_length=1, max_length=255)
    password: SecretStr = Field(min_length=1, max_length=1024)
    system_id: str | None = Field(default=None, min_length=1, max_length=255)

    @model_validator(mode="after")
    def _redfish_needs_system(self) -> BMCIn:
        if self.driver == "redfish" and not self.system_id:
            raise ValueError("bmc.system_id is required for the redfish driver")
        return self


class BMCPatch(_Strict):
    """New BMC details; omitted fields keep their value (the password is write-only)."""

    driver: Literal["redfish", "ipmi"] | None = None
    address: str | None = Field(default=None, min_length=1, max_length=255)
    port: int | None = Field(default=None, ge=1, le=65535)
    username: str | None = Field(default=None, min_length=1, max_length=255)
    password: SecretStr | None = Field(default=None, min_length=1, max_length=1024)
    system_id: str | None = Field(default=None, min_length=1, max_length=255)


class NodePatch(_Strict):
    """``PATCH /v1/nodes/{uuid}``: change where the node's BMC is and how to log in."""

    bmc: BMCPatch

    @model_validator(mode="after")
    def _something(self) -> NodePatch:
        if not self.bmc.model_fields_set:
            raise ValueError(
                "bmc: give at least one of driver, address, port, username, password, system_id"
            )
        return self


class NodeCreate(_Strict):
    name: str = Field(min_length=1, max_length=255, pattern=_NAME)
    region: str = Field(min_length=1, max_length=64)
    az: str = Field(min_length=1, max_length=255)
    rack: str = Field(min_length=1, max_length=255)
    resource_class: str = Field(min_length=1, max_length=255, pattern=r"^[A-Z0-9_]+$")
    cpus: int = Field(ge=1, le=100_000)
    memory_mb: int = Field(ge=1)
    disk_gb: int = Field(ge=1)
    macs: list[str] = Field(min_length=1, max_length=64)
    bmc: BMCIn

    @field_validator("macs")
    @classmethod
    def _macs(cls, value: list[str]) -> list[str]:
        import re

        out = []
        for mac in value:
            if not re.match(_MAC, mac):
                raise ValueError(f"{mac!r} is not a MAC address like aa:bb:cc:dd:ee:ff")
            out.append(mac.lower())
        if len(set(out)) != len(out):
            raise ValueError("duplicate MAC address")
        return out


class BMCView(BaseModel):
    driver: str
    address: str
    port: int
    username: str
    system_id: str | None


class NodeView(BaseModel):
    uuid: str
    name: str
    region: str
    az: str
    rack: str
    resource_class: str
    cpus: int
    memory_mb: int
    disk_gb: int
    macs: list[str]
    bmc: BMCView
    provision_state: str
    power_state: str | None
    last_error: str | None
    reservation: str | None
    created_at: datetime
    updated_at: datetime | None


class NodeList(BaseModel):
    nodes: list[NodeView]


class PowerView(BaseModel):
    power_state: Literal["on", "off"]


class PowerChange(_Strict):
    target: Literal["on", "off", "cycle"]


class BootDevice(_Strict):
    device: Literal["pxe"]
    persistent: Literal[False] = False


class DeployRequest(_Strict):
    image_url: str = Field(min_length=1, max_length=2048, pattern=r"^https?://\S+$")
    image_checksum: str = Field(description="sha256:<64 hex> (or the bare hex digest)")

    @field_validator("image_checksum")
    @classmethod
    def _checksum(cls, value: str) -> str:
        return "sha256:" + parse_checksum(value)


class TaskView(BaseModel):
    uuid: str
    node_uuid: str
    type: str
    state: str
    image_url: str | None
    image_checksum: str | None
    deadline: datetime | None
    attempts: int
    last_error: str | None
    created_at: datetime
    updated_at: datetime | None
    finished_at: datetime | None


class TaskList(BaseModel):
    tasks: list[TaskView]


class Callback(_Strict):
    status: Literal["success", "failure"]
    message: str = Field(default="", max_length=4096)
    type: Literal["install", "clean"] | None = None
