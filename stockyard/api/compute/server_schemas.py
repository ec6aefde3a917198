"""Request bodies of the servers API, validated at the edge (Nova's JSON schemas)."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_NAME_RE = re.compile(r"^[^\x00-\x1f\x7f]*$")


def _check_name(value: str) -> str:
    if not value.strip():
        raise ValueError("name must not be empty or only spaces")
    if not _NAME_RE.match(value):
        raise ValueError("name must not contain control characters")
    return value


def _check_metadata(value: dict[str, Any] | None) -> dict[str, str] | None:
    if value is None:
        return None
    out: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 255:
            raise ValueError("metadata keys must be 1 to 255 characters")
        if not isinstance(item, str) or len(item) > 255:
            raise ValueError(f"metadata value of {key!r} must be a string of at most 255")
        out[key] = item
    return out


def access_ip(value: str | None, version: int) -> str | None:
    """An accessIPv4/v6 in its canonical text, as Nova stores it (netaddr normalises:
    ``0000::babe:220.12.22.2`` is kept as ``::babe:dc0c:1602``)."""
    if value is None:
        return None
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        address = None
    if address is None or address.version != version:
        raise ValueError(f"{value!r} is not a 'ipv{version}'")
    return str(address)


class _AccessIPs(BaseModel):
    """accessIPv4/accessIPv6 of create, update and rebuild (Nova's ipv4/ipv6 formats)."""

    accessIPv4: str | None = None
    accessIPv6: str | None = None

    @field_validator("accessIPv4")
    @classmethod
    def _ipv4(cls, value: str | None) -> str | None:
        return access_ip(value, 4)

    @field_validator("accessIPv6")
    @classmethod
    def _ipv6(cls, value: str | None) -> str | None:
        return access_ip(value, 6)


class NetworkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    uuid: str | None = None
    port: str | None = None
    fixed_ip: str | None = None
    tag: str | None = None


class ServerCreate(_AccessIPs):
    """The ``server`` object of ``POST /servers``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, max_length=255)
    flavorRef: str = Field(min_length=1, max_length=255)
    imageRef: str = Field(default="", max_length=255)
    availability_zone: str | None = Field(default=None, max_length=255)
    key_name: str | None = Field(default=None, max_length=255)
    networks: Literal["auto", "none"] | list[NetworkRequest] | None = None
    min_count: int = Field(default=1, ge=1)
    max_count: int | None = Field(default=None, ge=1)
    return_reservation_id: bool = False
    metadata: dict[str, Any] | None = None
    user_data: str | None = Field(default=None, max_length=65535)
    config_drive: bool | str | None = None
    security_groups: list[dict[str, str]] | None = None
    block_device_mapping_v2: list[dict[str, Any]] | None = None
    description: str | None = Field(default=None, max_length=255)
    tags: list[str] | None = Field(default=None, max_length=50)
    adminPass: str | None = None
    disk_config: Literal["AUTO", "MANUAL"] | None = Field(default=None, alias="OS-DCF:diskConfig")
    host: str | None = None
    hypervisor_hostname: str | None = None
    hostname: Any = None  # 2.90+: checked per microversion (server_hostname)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_name(value)

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, Any] | None) -> dict[str, str] | None:
        return _check_metadata(value)

    @field_validator("user_data")
    @classmethod
    def _user_data(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("user_data must be base64 encoded") from None
        return value

    @model_validator(mode="after")
    def _counts(self) -> ServerCreate:
        if self.max_count is not None and self.max_count < self.min_count:
            raise ValueError("min_count must be <= max_count")
        return self


class ServerCreateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    server: ServerCreate
    scheduler_hints: dict[str, Any] | None = Field(default=None, alias="os:scheduler_hints")
    scheduler_hints_alt: dict[str, Any] | None = Field(
        default=None, alias="OS-SCH-HNT:scheduler_hints"
    )


class ServerUpdate(_AccessIPs):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=255)
    disk_config: Literal["AUTO", "MANUAL"] | None = Field(default=None, alias="OS-DCF:diskConfig")
    hostname: Any = None  # 2.90+: checked per microversion (server_hostname)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else _check_name(value)


class ServerUpdateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    server: ServerUpdate


class Reboot(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["SOFT", "HARD", "soft", "hard"]


class Rebuild(_AccessIPs):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    imageRef: str = Field(min_length=1, max_length=255)
    name: str | None = Field(default=None, min_length=1, max_length=255)
    adminPass: str | None = None
    metadata: dict[str, Any] | None = None
    description: str | None = Field(default=None, max_length=255)
    key_name: str | None = None
    user_data: str | None = None
    preserve_ephemeral: bool = False
    hostname: Any = None  # 2.90+: checked per microversion (server_hostname)
    disk_config: Literal["AUTO", "MANUAL"] | None = Field(default=None, alias="OS-DCF:diskConfig")

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, Any] | None) -> dict[str, str] | None:
        return _check_metadata(value)


class MetadataBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metadata: dict[str, Any]

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, Any]) -> dict[str, str]:
        checked = _check_metadata(value)
        assert checked is not None
        return checked


class MetaItemBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    meta: dict[str, Any]

    @field_validator("meta")
    @classmethod
    def _one(cls, value: dict[str, Any]) -> dict[str, str]:
        if len(value) != 1:
            raise ValueError("meta must hold exactly one key")
        checked = _check_metadata(value)
        assert checked is not None
        return checked
