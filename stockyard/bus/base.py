"""The message bus contract. Messages are hints; the database is the truth.

THE CONTRACT between API, conductor and compute agent (fixed; follow it exactly):

Flow of a create (DESIGN.md): the API (lead) inserts `Instance` rows (vm_state "building",
task_state "scheduling", `flavor` = snapshot dict {id, name, vcpus, ram, disk, ephemeral, swap,
extra_specs}, image_ref, key_name, key_data, user_data, requested_az, forced_host,
scheduler_hints, group_uuid, reservation_id, launch_index, request_id), `ServerGroupMember`
rows if `group` hint, an `InstanceAction` "create" per instance, commits, then publishes on the
bus. Other actions: the API sets `task_state` (rebooting / rebooting_hard / powering-off /
powering-on / rebuilding (+ new image_ref) / deleting), `task_started_at`, records an
`InstanceAction` (reboot, stop, start, rebuild, delete) and publishes a hint. **Messages are
hints; the DB row is the truth**: a handler always re-reads the row and acts on its current
(vm_state, task_state). States: `stockyard/conductor/states.py` (VmState, TaskState,
PowerState, TRANSITIONS, check_transition).

Bus (`stockyard/bus/base.py` `Bus` protocol: `publish(topic, dict)`, `subscribe(topic,
handler)`; in-process impl `stockyard/bus/memory.py`). Topics and messages (plain JSON-able
dicts):
- topic `conductor`, from API: `{"type": "build", "instance_uuids": [...], "request_id": str}`
  (one multi-create batch = one message) and `{"type": "task", "instance_uuid": str,
  "request_id": str}` (after any task_state change).
- topic `compute.<host name>`, from conductor to the agent of that host: `{"type": "op", "op":
  "spawn"|"destroy"|"reboot"|"power_on"|"power_off"|"rebuild", "op_id": str (uuid4 hex, unique
  per attempt), "reboot_type": "SOFT"|"HARD", "instance": <InstanceSpec dict>, "request_id":
  str}`. InstanceSpec dict keys: uuid, name, hostname, project_id, flavor (the snapshot dict),
  image_ref, key_data, user_data, metadata, addresses (Nova's `addresses` dict), host, node.
- topic `conductor`, from agent: `{"type": "op_result", "instance_uuid": str, "op": str,
  "op_id": str, "ok": bool, "power_state": int, "error": str | null, "details": str, "host":
  str, "request_id": str}` — exactly one per op message received (also when the driver raised:
  ok false, error = the driver's message). spawn/rebuild results may add `"metadata"` (e.g.
  `ssh_endpoint`) and `"addresses"` (the driver's view of the guest's network), which the
  conductor merges into the server.
- topic `compute.<host>`, from an API process: `{"type": "op", "op": "console", "instance":
  <InstanceSpec>, "length": int | null, "reply_to": "reply.<random>", "reply_id": str}`; the
  agent answers on topic `reply_to` with `{"type": "console_output", "reply_id",
  "instance_uuid", "ok", "output" | "error", "code"}`.
  Reply topics belong to one API process and are short-lived (on RabbitMQ: not durable,
  deleted a minute after their consumer is gone).
- topic `conductor`, from agent, every `report_interval` seconds and once at start: `{"type":
  "host_report", "host": str, "hypervisor_type": str, "vcpus": int, "memory_mb": int,
  "local_gb": int, "power_states": {instance_uuid: int}}`.
- topic `conductor.reports`, from an `AgentPool` (many agents in one process) instead of
  its agents' `host_report`s: `{"type": "host_reports", "taken_at": float (epoch seconds,
  when the drivers were read), "reports": [<host_report dict>, ...]}`, at most 500 per
  message. Its own queue so a report backlog never delays op results; the conductor
  accepts both report kinds on both topics.
Agents hold NO database credentials: they only consume `compute.<host>` and publish to
`conductor` and `conductor.reports`.
Driver calls must be idempotent (spawn of an instance that already exists and runs = success;
destroy of an unknown instance = success) because the reconciler may resend an op after a
crash.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

Message = dict[str, Any]
Handler = Callable[[Message], Awaitable[None]]


class BusError(Exception):
    """The bus could not do what was asked (broker unreachable for too long, closed bus)."""


class Bus(Protocol):
    """Work queues by topic: each message goes to one subscriber of its topic.

    Topics: ``scheduler`` (placement work for any scheduler), ``conductor`` (work for any
    conductor), ``conductor.reports`` (host report batches), ``compute.<host>`` (one
    agent), ``reply.<random>`` (one API process).
    A handler that raises leaves the message to be dropped (in-process) or redelivered
    (AMQP); either way the reconciler, not the bus, guarantees progress.
    """

    async def start(self) -> None: ...

    async def publish(self, topic: str, message: Message) -> None: ...

    async def subscribe(self, topic: str, handler: Handler, concurrency: int = 8) -> None:
        """Run ``handler`` for messages of ``topic``, up to ``concurrency`` at once."""
        ...

    async def close(self) -> None: ...

    def healthy(self) -> bool:
        """True while the bus can publish and deliver (for readiness endpoints)."""
        ...
