"""The compute agent: hears ops on ``compute.<host>``, runs them on its driver, reports back.

It holds no database credentials. Per op request it publishes exactly one ``op_result``
on ``conductor``. On its own it publishes a ``host_report`` on ``conductor`` at start and
then every ``report_interval``; in an ``AgentPool`` (thousands of agents in a process)
the pool's one timer batches the agents' reports into ``host_reports`` messages on
``conductor.reports`` instead. Console requests are answered on their ``reply_to``
topic; image pre-cache requests are answered by nobody (``image_cache``). Message
shapes: :mod:`stockyard.bus.contract`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

from stockyard.bus import contract
from stockyard.bus.base import Bus, Message
from stockyard.compute.drivers.base import (
    ComputeDriver,
    DriverError,
    DriverNotSupported,
    InstanceNotFound,
    InstanceSpec,
    PowerState,
)
from stockyard.compute.image_cache import cache_images

log = logging.getLogger(__name__)

# Ops after which the conductor learns the guest's host-side view (ssh endpoint, NICs).
_REPORT_VIEW = frozenset({"spawn", "rebuild"})
# Ops whose result's power state nobody reads (the conductor applies ports, volumes and
# interfaces, not power, from them): no power query, which on a baremetal node is a BMC
# round trip. A port sync sends ``update_ports`` to every peer of a changed group.
_NO_POWER = frozenset(
    {"update_ports", "attach_volume", "detach_volume", "attach_interface", "detach_interface"}
)


def _work_key(msg: contract.OpRequest) -> tuple[str, str, str, str]:
    """Ops with one key are one piece of work (a resend joins the running one).

    Volume and interface ops are per volume / port (attaching A is not attaching B); an
    ``update_ports`` carries the newest rules, so it never joins an older one still
    running (its op id makes it unique).
    """
    if msg.volume is not None:
        detail = msg.volume.volume_id
    elif msg.op == "update_ports":
        detail = msg.op_id
    else:
        detail = msg.port.id if msg.port is not None else (msg.port_id or "")
    return (msg.instance.uuid, msg.op, msg.reboot_type, detail)


class _KeyedLocks:
    """One lock per instance uuid, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            _, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class ComputeAgent:
    """The agent of one host.

    Ops on the same instance run one after the other; ops on different instances run
    concurrently, up to ``max_concurrent_ops``. The bus handler returns at once and runs
    the op in a task, so a slow boot never holds up the host's queue.
    """

    def __init__(
        self,
        host: str,
        driver: ComputeDriver,
        bus: Bus,
        report_interval: float = 10.0,
        *,
        max_concurrent_ops: int = 32,
        result_cache_size: int = 1024,
        volume_detach_timeout: float = 60.0,
    ) -> None:
        self.host = host
        self.driver = driver
        self.bus = bus
        self.report_interval = report_interval
        self._result_cache_size = result_cache_size
        # How long a detach waits for the guest to release the device before it fails.
        self.volume_detach_timeout = volume_detach_timeout
        # op_id -> the result already published for it; answers a resent op without
        # running the driver again.
        self._results: OrderedDict[str, Message] = OrderedDict()
        self._running: dict[str, asyncio.Future[Message]] = {}
        # (instance, op, reboot type) -> the run in flight: a resend of the same work
        # under a new op id (the conductor's lease ran out while a slow op ran) joins
        # it instead of queueing a second full run whose result would be stale too.
        self._work: dict[tuple[str, str, str, str], asyncio.Future[Message]] = {}
        self._locks = _KeyedLocks()
        self._slots = asyncio.Semaphore(max_concurrent_ops)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._report_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._subscribed = False
        # One pre-cache request at a time: downloads compete for the same disk and link.
        self._caching = asyncio.Lock()

    @property
    def topic(self) -> str:
        return contract.compute_topic(self.host)

    @property
    def ops_in_flight(self) -> int:
        """Ops received and not yet answered."""
        return len(self._tasks)

    # -- lifecycle ---------------------------------------------------------------------

    async def subscribe(self) -> None:
        """Start consuming ``compute.<host>`` (no reports). Used by ``AgentPool``."""
        self._stopping = False
        if not self._subscribed:
            # One consumer is enough: it only hands each message to a task.
            await self.bus.subscribe(self.topic, self._on_message, concurrency=1)
            self._subscribed = True

    async def start(self) -> None:
        """Subscribe, publish a host report now, then every ``report_interval`` seconds."""
        await self.subscribe()
        await self.report()
        if self._report_task is None:
            self._report_task = asyncio.create_task(self._report_loop())

    async def stop(self) -> None:
        """Stop reporting and cancel ops in flight; the reconciler resends what was cut.

        Ops delivered from now on are dropped (the bus has no unsubscribe): run, they
        would meet a driver being closed and answer failures for builds that are fine.
        """
        self._stopping = True
        tasks = list(self._tasks)
        if self._report_task is not None:
            tasks.append(self._report_task)
            self._report_task = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        await self.driver.close()

    async def drain(self) -> None:
        """Wait until every op received so far has published its result."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _report_loop(self) -> None:
        while True:
            await asyncio.sleep(self.report_interval)
            try:
                await self.report()
            except Exception:
                log.exception("host report of %s failed", self.host)

    # -- reports -----------------------------------------------------------------------

    async def host_report(self) -> Message:
        """The ``host_report`` message for this host (not published)."""
        taken_at = time.time()
        resources = await self.driver.get_resources()
        states = await self.driver.list_instances()
        report = contract.HostReport(
            host=self.host,
            hypervisor_type=resources.hypervisor_type,
            vcpus=resources.vcpus,
            memory_mb=resources.memory_mb,
            local_gb=resources.local_gb,
            power_states={uuid: int(state) for uuid, state in states.items()},
            taken_at=taken_at,
        )
        return contract.encode(report)

    async def report(self) -> Message:
        """Publish a ``host_report`` on ``conductor`` and return it."""
        message = await self.host_report()
        await self.bus.publish(contract.CONDUCTOR, message)
        return message

    # -- ops ---------------------------------------------------------------------------

    async def _on_message(self, message: Message) -> None:
        if self._stopping:
            log.debug("agent %s is stopping: %s dropped", self.host, message.get("op_id"))
            return
        task = asyncio.create_task(self.handle(message))
        self._tasks.add(task)
        task.add_done_callback(self._op_done)

    def _op_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("agent %s could not answer an op", self.host, exc_info=task.exception())

    async def handle(self, message: Message) -> Message:
        """Run one op request and publish its one ``op_result``; return that result.

        A resent op (same ``op_id``) gets the result of the first run, published again,
        without touching the driver; one still running is waited for. A console request
        is answered on its ``reply_to`` topic instead (``answer_console``); an image
        pre-cache request returns each image's outcome and publishes nothing. A malformed
        or unexpected message is logged and dropped (``{}`` is returned).
        """
        accepted = (contract.OpRequest, contract.ConsoleRequest, contract.CacheImagesRequest)
        msg = contract.decode(message, accepted, self.topic)
        if isinstance(msg, contract.ConsoleRequest):
            return await self.answer_console(msg)
        if isinstance(msg, contract.CacheImagesRequest):
            async with self._caching:
                return await cache_images(self.driver, self.host, msg)
        if not isinstance(msg, contract.OpRequest):
            return {}
        op_id = msg.op_id
        result = self._results.get(op_id)
        if result is None and op_id in self._running:
            try:
                result = await asyncio.shield(self._running[op_id])
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                result = None  # the first run was cancelled: run it here instead
        work = self._work.get(_work_key(msg))
        if result is None and work is not None:
            with contextlib.suppress(asyncio.CancelledError):
                first = await asyncio.shield(work)
                result = {**first, "op_id": op_id, "request_id": msg.request_id}
                self._remember(op_id, result)
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise asyncio.CancelledError
        if result is None:
            result = await self._run_once(msg)
        elif op_id in self._results:
            self._results.move_to_end(op_id)
        await self.bus.publish(contract.CONDUCTOR, result)
        return result

    async def _run_once(self, msg: contract.OpRequest) -> Message:
        op_id, key = msg.op_id, _work_key(msg)
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._running[op_id] = future
        self._work.setdefault(key, future)
        try:
            result = await self._execute(msg)
        except BaseException:
            future.cancel()
            raise
        finally:
            self._running.pop(op_id, None)
            if self._work.get(key) is future:
                del self._work[key]
        future.set_result(result)
        self._remember(op_id, result)
        return result

    def _remember(self, op_id: str, result: Message) -> None:
        self._results[op_id] = result
        while len(self._results) > self._result_cache_size:
            self._results.popitem(last=False)

    async def _execute(self, msg: contract.OpRequest) -> Message:
        spec, op = msg.instance, msg.op
        result = contract.OpResult(
            instance_uuid=spec.uuid,
            op=op,
            op_id=msg.op_id,
            ok=False,
            power_state=int(PowerState.NOSTATE),
            host=self.host,
            request_id=msg.request_id,
        )
        try:
            # Instance lock first: queued ops of one busy guest must not hold op slots.
            async with self._locks.hold(spec.uuid), self._slots:
                await self._call_driver(msg)
                if op not in _NO_POWER:
                    result.power_state = int(await self._power_state(spec))
                if op in _REPORT_VIEW:
                    result.metadata, result.addresses = await self._driver_view(spec)
            result.ok = True
        except DriverError as exc:
            result.error = exc.message
            result.details = type(exc).__name__
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("driver %s failed %s on %s", self.driver.name, op, self.host)
            result.error = f"Internal error on compute host {self.host} during {op}."
            result.details = f"{type(exc).__name__}: {exc}"
        if not result.ok and op not in _NO_POWER:
            # The conductor needs to know where the guest was left (e.g. still running
            # after a failed power_off), not just that the op failed.
            with contextlib.suppress(Exception):
                result.power_state = int(await self._power_state(spec))
        return contract.encode(result)

    async def _call_driver(self, msg: contract.OpRequest) -> None:
        d, op, spec = self.driver, msg.op, msg.instance
        if op == "spawn":
            await d.spawn(spec)
        elif op == "destroy":
            await d.destroy(spec)
        elif op == "reboot":
            await d.reboot(spec, hard=msg.reboot_type == "HARD")
        elif op == "power_on":
            await d.power_on(spec)
        elif op == "power_off":
            await d.power_off(spec)
        elif op in ("attach_volume", "detach_volume"):
            if msg.volume is None:
                raise DriverError(f"{op} of instance {spec.uuid} names no volume.")
            if op == "attach_volume":
                await d.attach_volume(spec, msg.volume)
            else:
                await d.detach_volume(spec, msg.volume, self.volume_detach_timeout)
        elif op == "attach_interface":
            port = msg.port or next((p for p in spec.ports if p.id == msg.port_id), None)
            if port is None:
                raise DriverError(f"attach_interface on {spec.uuid} names no port.")
            await d.attach_interface(spec, port)
        elif op == "detach_interface":
            port_id = msg.port_id or (msg.port.id if msg.port else None)
            if not port_id:
                raise DriverError(f"detach_interface on {spec.uuid} names no port.")
            await d.detach_interface(spec, port_id)
        elif op == "update_ports":
            await d.update_ports(spec)
        else:
            await d.rebuild(spec, stopped=msg.stopped)

    async def _driver_view(
        self, spec: InstanceSpec
    ) -> tuple[dict[str, str] | None, dict[str, Any] | None]:
        """``(metadata, addresses)`` for an op result, each None when empty."""
        try:
            metadata = await self.driver.get_instance_metadata(spec)
            addresses = await self.driver.get_addresses(spec)
        except DriverError as exc:
            # The op itself succeeded; a guest gone since is the next host report's news.
            log.warning("no driver view of %s on %s: %s", spec.uuid, self.host, exc.message)
            return None, None
        return (dict(metadata) or None), (dict(addresses) or None)

    async def answer_console(self, msg: contract.ConsoleRequest) -> Message:
        """Read a guest's console; publish a ``console_output`` on ``reply_to``.

        ``code`` in the reply is the HTTP status the API should answer on failure (404
        unknown guest, 501 driver without console, 500 anything else). No per-instance
        lock: a console read must not wait behind a slow boot.
        """
        spec = msg.instance
        reply = contract.ConsoleOutput(
            reply_id=msg.reply_id,
            instance_uuid=spec.uuid,
            ok=False,
            host=self.host,
            request_id=msg.request_id,
        )
        try:
            reply.output = await self.driver.get_console_output(spec, msg.length)
            reply.ok, reply.code = True, 200
        except DriverNotSupported as exc:
            reply.error, reply.code = exc.message, 501
        except InstanceNotFound as exc:
            reply.error, reply.code = exc.message, 404
        except DriverError as exc:
            reply.error = exc.message
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("driver %s failed console on %s", self.driver.name, self.host)
            reply.error = f"Internal error on compute host {self.host} reading the console."
        message = contract.encode(reply)
        await self.bus.publish(msg.reply_to, message)
        return message

    async def _power_state(self, spec: InstanceSpec) -> PowerState:
        try:
            return await self.driver.get_power_state(spec)
        except InstanceNotFound:
            return PowerState.NOSTATE
