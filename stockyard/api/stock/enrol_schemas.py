"""Request body of ``POST /stock/v1/nodes``: a real node and its BMC."""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
_CLASS = r"^[A-Z0-9_]+$"
_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BmcIn(_Strict):
    """How hwmgr reaches the node's BMC. The password is write-only."""

    driver: Literal["redfish", "ipmi"]
    address: str = Field(min_length=1, max_length=255, description="BMC host name or address.")
    port: int = Field(ge=1, le=65535, description="623 for IPMI, 443/8000 for Redfish.")
    username: str = Field(min_length=1, max_length=255)
    password: SecretStr = Field(min_length=1, max_length=1024)
    system_id: str | None = Field(
        default=None, min_length=1, max_length=255, description="Redfish System id (redfish)."
    )

    @model_validator(mode="after")
    def _redfish_needs_system(self) -> Self:
        if self.driver == "redfish" and not self.system_id:
            raise ValueError("bmc.system_id is required for the redfish driver")
        return self

    def for_hwmgr(self) -> dict[str, object]:
        return {
            "driver": self.driver,
            "address": self.address,
            "port": self.port,
            "username": self.username,
            "password": self.password.get_secret_value(),
            "system_id": self.system_id,
        }


class NodeEnrol(_Strict):
    """A baremetal server the cloud does not know yet."""

    name: str = Field(min_length=1, max_length=255, pattern=_NAME)
    region: str = Field(min_length=1, max_length=64)
    availability_zone: str = Field(min_length=1, max_length=64)
    rack: str = Field(min_length=1, max_length=64)
    resource_class: str = Field(
        min_length=1, max_length=64, pattern=_CLASS, description="e.g. BM_GOLD"
    )
    cpus: int = Field(ge=1, le=100_000)
    memory_mb: int = Field(ge=1, le=2**31 - 1)
    disk_gb: int = Field(ge=1, le=2**31 - 1)
    macs: list[str] = Field(min_length=1, max_length=64, description="Its NICs' MACs.")
    bmc: BmcIn
    project_id: str | None = Field(
        default=None, min_length=1, max_length=64, description="Stock owner; null: the pool."
    )

    @field_validator("macs")
    @classmethod
    def _macs(cls, value: list[str]) -> list[str]:
        out = []
        for mac in value:
            if not _MAC.match(mac):
                raise ValueError(f"{mac!r} is not a MAC address like aa:bb:cc:dd:ee:ff")
            out.append(mac.lower())
        if len(set(out)) != len(out):
            raise ValueError("duplicate MAC address")
        return out
