"""The bus contract: every topic and one model per message. Messages are hints; the
database is the truth.

Producers build a model and publish ``encode(model)``; consumers call ``decode(message,
accepted)`` and get the model back, or ``None`` for a malformed or unexpected message,
which is logged and dropped (acknowledged, never redelivered forever, never fatal to the
consumer). Unknown extra keys are ignored so that a newer producer can add fields.

Topics:

- ``scheduler``: :class:`BuildHint` (from the API, a multi-create; from conductors,
  reschedules and stuck scheduling), placed by any scheduler process.
- ``conductor``: :class:`BuildHint` (when the conductor places), :class:`TaskHint` (after
  any ``task_state`` change), :class:`OpResult` (one per :class:`OpRequest` an agent
  received), :class:`HostReport` (a lone agent, at start and every report interval).
- ``conductor.reports``: :class:`HostReports`, an agent pool's batch per tick; its own
  queue, so that a report backlog never delays op results. The conductor accepts both
  report kinds on both topics.
- ``compute.<host>``: :class:`OpRequest` (from a conductor), :class:`ConsoleRequest`
  and :class:`CacheImagesRequest` (from an API process), for the agent of that host.
- ``reply.<random>``: :class:`ConsoleOutput`, for one API process; short-lived (on
  RabbitMQ not durable, deleted a minute after its consumer is gone).
- ``volume``: :class:`VolumeHint` (from the API, after a volume or snapshot entered an
  -ing status), for any volume role.

Agents hold no database credentials: they consume ``compute.<host>`` and publish to
``conductor`` and ``conductor.reports`` only. Driver calls are idempotent because an op
may be resent (same instance, new ``op_id``) after a crash.
"""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any, Literal, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

log = logging.getLogger(__name__)

SCHEDULER = "scheduler"
CONDUCTOR = "conductor"
REPORTS = "conductor.reports"
COMPUTE_PREFIX = "compute."
REPLY_PREFIX = "reply."
VOLUME = "volume"

REPORTS_PER_MESSAGE = 500
"""Most host reports a :class:`HostReports` batch carries."""


def compute_topic(host: str) -> str:
    """The queue of the agent serving ``host``."""
    return f"{COMPUTE_PREFIX}{host}"


def new_reply_topic() -> str:
    """A fresh ``reply.<random>`` topic for one API process."""
    return f"{REPLY_PREFIX}{uuid.uuid4().hex}"


NonEmpty = Annotated[str, StringConstraints(min_length=1)]
Op = Literal[
    "spawn",
    "destroy",
    "reboot",
    "power_on",
    "power_off",
    "rebuild",
    "attach_interface",
    "detach_interface",
    "update_ports",
    "attach_volume",
    "detach_volume",
]
CONSOLE_OP = "console"


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore")

    request_id: str = ""
    """The user's request id, carried into every role's logs."""


class FixedIPSpec(BaseModel):
    """One fixed address of a port, with what the guest needs to configure it."""

    model_config = ConfigDict(extra="ignore")

    subnet_id: NonEmpty
    ip_address: NonEmpty
    cidr: NonEmpty
    version: Literal[4, 6] = 4
    gateway_ip: str | None = None
    enable_dhcp: bool = True
    dns_nameservers: list[str] = Field(default_factory=list)
    host_routes: list[dict[str, str]] = Field(default_factory=list)
    """Neutron's ``[{"destination", "nexthop"}]``."""
    ipv6_address_mode: str | None = None


class SecurityRuleSpec(BaseModel):
    """One security group rule as a host enforces it.

    The conductor resolves ``remote_group_id`` into the member ports' addresses:
    ``remote_ips`` is ``None`` for "any address" (no remote prefix, no remote group) and a
    list (maybe empty: a group without members matches nobody) otherwise.
    """

    model_config = ConfigDict(extra="ignore")

    direction: Literal["ingress", "egress"]
    ethertype: Literal["IPv4", "IPv6"] = "IPv4"
    protocol: str | None = None
    """Lower-case name (``tcp``, ``udp``, ``icmp``, ``ipv6-icmp``...) or IP protocol number."""
    port_range_min: int | None = None
    port_range_max: int | None = None
    remote_ips: list[str] | None = None


class PortSpec(BaseModel):
    """A Networking v2 port bound to the instance's host: what the datapath plugs."""

    model_config = ConfigDict(extra="ignore")

    id: NonEmpty
    network_id: NonEmpty
    network_name: str = ""
    mac_address: NonEmpty
    fixed_ips: list[FixedIPSpec] = Field(default_factory=list)
    mtu: int = 1500
    network_type: str | None = None
    """``flat``, ``vlan`` (provider networks) or ``None`` for a project network."""
    physical_network: str | None = None
    segmentation_id: int | None = None
    admin_state_up: bool = True
    port_security_enabled: bool = True
    security_rules: list[SecurityRuleSpec] = Field(default_factory=list)
    """Every rule of every group of the port (egress and ingress); empty with
    ``port_security_enabled`` means: deny all ingress, as Neutron's empty group list."""


class VolumeAttachmentSpec(BaseModel):
    """A Block Storage volume attached (or to attach) to the instance."""

    model_config = ConfigDict(extra="ignore")

    volume_id: NonEmpty
    attachment_id: str = ""
    device: str = ""
    """Guest device name Nova reports (``/dev/vdb``); the driver may pick the next free."""
    connection_info: dict[str, Any] = Field(default_factory=dict)
    """The volume driver's ``ConnectionInfo.to_dict()``: ``driver_volume_type`` and ``data``."""
    read_only: bool = False
    boot_index: int | None = None
    """0 for the root disk of a server booted from volume, else None."""


class InstanceSpec(BaseModel):
    """What an agent (and its driver) knows of an instance: no database access needed.

    ``flavor`` is the snapshot taken at create time ({id, name, vcpus, ram, disk,
    ephemeral, swap, extra_specs}); ``addresses`` is Nova's ``addresses`` dict.
    """

    model_config = ConfigDict(extra="ignore")

    uuid: NonEmpty
    name: str = ""
    hostname: str = ""
    project_id: str = ""
    flavor: dict[str, Any] = Field(default_factory=dict)
    image_ref: str = ""
    key_data: str | None = None
    user_data: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    addresses: dict[str, Any] = Field(default_factory=dict)
    host: str | None = None
    node: str | None = None
    ports: list[PortSpec] = Field(default_factory=list)
    """The instance's ports, in interface order (Networking v2 is the source of truth)."""
    volumes: list[VolumeAttachmentSpec] = Field(default_factory=list)
    """Attached volumes (the boot volume first, ``boot_index`` 0)."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InstanceSpec:
        """Validate the contract's dict; ``ValueError`` (pydantic's) names the bad key."""
        return cls.model_validate(data)

    def to_dict(self) -> dict[str, Any]:
        """The contract's dict (JSON-able)."""
        return self.model_dump()

    @property
    def display_name(self) -> str:
        """The name a console shows: hostname, else name, else uuid."""
        return self.hostname or self.name or self.uuid


class BuildHint(_Message):
    """Rows in ``building/scheduling`` to place, one multi-create batch per message."""

    type: Literal["build"] = "build"
    instance_uuids: list[NonEmpty]


class TaskHint(_Message):
    """An instance's ``task_state`` changed: act on its row's current state."""

    type: Literal["task"] = "task"
    instance_uuid: NonEmpty


class OpRequest(_Message):
    """Run one driver op; ``op_id`` (unique per attempt) is also in the instance's lease."""

    type: Literal["op"] = "op"
    op: Op
    op_id: NonEmpty
    reboot_type: Literal["SOFT", "HARD"] = "SOFT"
    instance: InstanceSpec
    port: PortSpec | None = None
    """``attach_interface``: the port to plug (also in ``instance.ports``)."""
    port_id: str | None = None
    """``detach_interface``: the port to unplug."""
    volume: VolumeAttachmentSpec | None = None
    """``attach_volume``/``detach_volume``: the attachment."""
    stopped: bool = False
    """``rebuild``: the server is STOPPED, so the rebuilt guest is left shut down (Nova
    returns a rebuilt server to its original state). Otherwise it runs, whatever the old
    guest's power was: a server in ERROR comes out ACTIVE."""


class ConsoleRequest(_Message):
    """Read a guest's serial console; answered with :class:`ConsoleOutput` on ``reply_to``."""

    type: Literal["op"] = "op"
    op: Literal["console"] = "console"
    instance: InstanceSpec
    length: int | None = None
    reply_to: NonEmpty
    reply_id: str = ""


class CacheImagesRequest(_Message):
    """Fetch these images into the host's image cache (``POST /os-aggregates/{id}/images``).

    Fire and forget, as in Nova: the agent logs per host what it cached; nobody waits.
    """

    type: Literal["cache_images"] = "cache_images"
    aggregate_id: int | None = None
    image_ids: list[NonEmpty] = Field(min_length=1)


class OpResult(_Message):
    """Exactly one per :class:`OpRequest` received, also when the driver raised.

    A successful spawn or rebuild may carry ``metadata`` (e.g. ``ssh_endpoint``) and
    ``addresses`` (the driver's view of the guest's NICs), merged into the server.
    """

    type: Literal["op_result"] = "op_result"
    instance_uuid: NonEmpty
    op: Op
    op_id: NonEmpty
    ok: bool
    power_state: int = 0
    error: str | None = None
    details: str = ""
    host: str = ""
    metadata: dict[str, str] | None = None
    addresses: dict[str, Any] | None = None


class ConsoleOutput(_Message):
    """An agent's answer to a :class:`ConsoleRequest`; ``code`` is the HTTP status the
    API answers with on failure (400 malformed, 404 unknown guest, 501 no console)."""

    type: Literal["console_output"] = "console_output"
    reply_id: str = ""
    instance_uuid: str = ""
    ok: bool
    output: str = ""
    error: str | None = None
    code: int = 500
    host: str = ""


class HostReport(_Message):
    """One host's inventory, liveness and its guests' power states.

    ``taken_at`` (epoch seconds) is when the driver was read: reports travel apart from
    op results, so the conductor ignores what a report says of an instance that changed
    after it was taken.
    """

    type: Literal["host_report"] = "host_report"
    host: NonEmpty
    taken_at: float | None = None
    hypervisor_type: str | None = None
    vcpus: int | None = None
    memory_mb: int | None = None
    local_gb: int | None = None
    power_states: dict[str, int] = Field(default_factory=dict)


class HostReports(_Message):
    """An agent pool's reports of one tick (at most ``REPORTS_PER_MESSAGE``).

    ``taken_at`` (epoch seconds) is when the drivers were read. Each element of
    ``reports`` is validated as a :class:`HostReport` on its own by the consumer, so
    that one broken host does not cost the whole batch.
    """

    type: Literal["host_reports"] = "host_reports"
    taken_at: float | None = None
    reports: list[dict[str, Any]] = Field(default_factory=list)


class VolumeHint(_Message):
    """A volume or snapshot row entered an -ing status: act on its row's current status."""

    type: Literal["volume_task"] = "volume_task"
    resource: Literal["volume", "snapshot"]
    id: NonEmpty


AnyMessage = (
    BuildHint
    | TaskHint
    | OpRequest
    | ConsoleRequest
    | CacheImagesRequest
    | OpResult
    | ConsoleOutput
    | HostReport
    | HostReports
    | VolumeHint
)
M = TypeVar("M", bound=_Message)

_BY_TYPE: dict[str, type[_Message]] = {
    "build": BuildHint,
    "task": TaskHint,
    "cache_images": CacheImagesRequest,
    "op_result": OpResult,
    "console_output": ConsoleOutput,
    "host_report": HostReport,
    "host_reports": HostReports,
    "volume_task": VolumeHint,
}


def model_for(message: dict[str, Any]) -> type[_Message] | None:
    """The model a raw message claims to be, by ``type`` (and ``op`` for consoles)."""
    kind = message.get("type")
    if kind == "op":
        return ConsoleRequest if message.get("op") == CONSOLE_OP else OpRequest
    return _BY_TYPE.get(kind) if isinstance(kind, str) else None


def encode(message: _Message) -> dict[str, Any]:
    """The JSON-able dict a bus carries."""
    return message.model_dump(mode="json")


def decode(raw: object, accepted: tuple[type[_Message], ...], consumer: str) -> AnyMessage | None:
    """Validate ``raw`` as one of ``accepted``; log and return ``None`` otherwise.

    ``consumer`` names the topic or role in the log line, so an operator can tell who
    dropped what.
    """
    if not isinstance(raw, dict):
        log.warning("%s: dropped a message that is not an object: %.200r", consumer, raw)
        return None
    model = model_for(raw)
    if model is None or model not in accepted:
        log.warning(
            "%s: dropped a message of unexpected type %r (op %r)",
            consumer,
            raw.get("type"),
            raw.get("op"),
        )
        return None
    try:
        return cast(AnyMessage, model.model_validate(raw))
    except ValidationError as exc:
        fields = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<message>'}: {e['msg']}"
            for e in exc.errors()[:5]
        )
        log.warning(
            "%s: dropped a malformed %s message (%s): %.300r",
            consumer,
            raw.get("type"),
            fields,
            raw,
        )
        return None


def decode_as(raw: object, model: type[M], consumer: str) -> M | None:
    """:func:`decode` for consumers of a single kind of message."""
    msg = decode(raw, (model,), consumer)
    return msg if isinstance(msg, model) else None
