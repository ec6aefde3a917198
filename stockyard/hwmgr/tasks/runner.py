"""The task runner: drives install and clean tasks through ``states.TASK`` on one loop.

Each task is one coroutine. BMC steps run under a semaphore (``max_concurrent``) and the
node lock, taken at the task's first BMC step and kept through the ones that follow (a
take and a give per step were a third of hwmgr's statements in a burst); ``installing``
gives it back and waits on an ``asyncio.Event`` that the call-back route sets, so
thousands of installs cost no polling. Every move is a conditional UPDATE from the state
this coroutine last saw, and each step is idempotent, so ``start()`` resumes whatever a
previous process left half-done, keeping the recorded deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from sqlalchemy import CursorResult, select, update

from stockyard.db.base import Database, utcnow
from stockyard.hwmgr.bmcport import (
    BMCFactory,
    BMCLike,
    BMCTarget,
    close_bmc,
    default_bmc_factory,
    error_text,
    target_of,
)
from stockyard.hwmgr.crypto import SecretBox
from stockyard.hwmgr.db.locks import acquire, clear_owner, renew, unlock
from stockyard.hwmgr.db.models import Node, Task
from stockyard.hwmgr.images import ImageCache, ImageError
from stockyard.hwmgr.tasks import states as st

log = logging.getLogger(__name__)


class BootObserver(Protocol):
    """Told when a node was powered on with one-time PXE set.

    This is the *emulated edge*: on real hardware the node's firmware would now DHCP,
    PXE-boot and chain-load hwmgr's iPXE script. In the lab the emulated installer
    observes this in process; everything after it (iPXE script, image, call-back)
    crosses HTTP.
    """

    async def on_pxe_boot(self, node_uuid: str) -> None: ...


# The states whose step drives the BMC: the node lock is kept from one to the next.
_BMC_STATES = frozenset({st.POWERING_OFF, st.SETTING_PXE, st.POWERING_ON, st.REBOOTING})


class TaskFailed(Exception):
    """Ends the task as failed with ``reason``."""


@dataclass
class _View:
    task_uuid: str
    node_uuid: str
    type: str
    state: str
    image_url: str | None
    image_checksum: str | None
    target: BMCTarget


class TaskRunner:
    """Runs every non-terminal task of this hwmgr."""

    def __init__(
        self,
        db: Database,
        box: SecretBox,
        images: ImageCache,
        *,
        bmc_factory: BMCFactory = default_bmc_factory,
        deadline_seconds: float = 600.0,
        max_concurrent: int = 100,
        power_timeout: float = 60.0,
        lease_seconds: float = 120.0,
        host_id: str | None = None,
    ) -> None:
        self.db = db
        self.box = box
        self.images = images
        self.bmc_factory = bmc_factory
        self.deadline_seconds = deadline_seconds
        self.power_timeout = power_timeout
        self.lease_seconds = lease_seconds
        self.host_id = host_id or socket.gethostname()
        self.owner = f"{self.host_id}:runner"
        self._sem = asyncio.Semaphore(max_concurrent)
        self._running: dict[str, asyncio.Task[None]] = {}
        self._events: dict[str, asyncio.Event] = {}
        self._observers: list[BootObserver] = []
        self._clients: dict[str, BMCLike] = {}
        # Task uuid -> (its node, when the lease on the node's lock was last set), while
        # the task holds the lock. Keyed by task: a task that ended still holds its node
        # until its coroutine gives it back, and the node's next task must wait for that.
        self._held: dict[str, tuple[str, float]] = {}
        self._steps: dict[str, Callable[[_View, bool], Awaitable[None]]] = {
            st.QUEUED: self._queued,
            st.POWERING_OFF: self._powering_off,
            st.SETTING_PXE: self._setting_pxe,
            st.POWERING_ON: self._powering_on,
            st.INSTALLING: self._installing,
            st.REBOOTING: self._rebooting,
        }

    # --- lifecycle ----------------------------------------------------------------------
    def add_observer(self, observer: BootObserver) -> None:
        self._observers.append(observer)

    async def start(self, *, resume: bool = True) -> list[str]:
        """Clear this host's stale node locks and (unless told not to) resume every
        non-terminal task."""
        await clear_owner(self.db, f"{self.host_id}:")
        return await self.resume() if resume else []

    async def resume(self) -> list[str]:
        """Drive every non-terminal task not driven here yet; returns their uuids."""
        async with self.db.session() as session:
            pending = list(
                (
                    await session.scalars(
                        select(Task.uuid).where(Task.state.not_in(st.TASK.terminal))
                    )
                ).all()
            )
        pending = [uuid for uuid in pending if uuid not in self._running]
        for uuid in pending:
            self.submit(uuid, resumed=True)
        if pending:
            log.info("resumed %d hwmgr tasks", len(pending))
        return pending

    async def stop(self) -> None:
        """Stop driving; tasks keep their recorded state for the next start."""
        running = list(self._running.values())
        for job in running:
            job.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    def submit(self, task_uuid: str, *, resumed: bool = False) -> None:
        """Drive ``task_uuid`` (no-op when already driven here)."""
        if task_uuid not in self._running:
            job = asyncio.create_task(self._drive(task_uuid, resumed), name=f"hwmgr-{task_uuid}")
            self._running[task_uuid] = job

    def notify(self, task_uuid: str) -> None:
        """The call-back of ``task_uuid`` was recorded: wake its coroutine."""
        event = self._events.get(task_uuid)
        if event is not None:
            event.set()

    async def wait(self, task_uuid: str) -> None:
        """Until this runner stops driving ``task_uuid`` (tests, shutdown)."""
        job = self._running.get(task_uuid)
        if job is not None:
            await asyncio.shield(job)

    # --- driving ------------------------------------------------------------------------
    async def _drive(self, uuid: str, resumed: bool) -> None:
        view: _View | None = None
        try:
            async with self.db.session() as session:
                await session.execute(
                    update(Task).where(Task.uuid == uuid).values(attempts=Task.attempts + 1)
                )
            view = await self._load(uuid)
            while view is not None and view.state not in st.TASK.terminal:
                before = view.state
                if before not in _BMC_STATES:
                    await self._release(uuid)
                try:
                    await self._steps[before](view, resumed)
                except TaskFailed as exc:
                    await self._finish(uuid, failed=str(exc))
                except Exception as exc:  # a BMC or programming error must not strand it
                    log.warning("hwmgr task %s failed in %s: %s", uuid, before, exc)
                    await self._finish(uuid, failed=error_text(exc))
                resumed = False
                if view.state == before:
                    # Not moved by us (ended, or moved by another runner): read it again.
                    view = await self._load(uuid)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("hwmgr task %s: runner error", uuid)
        finally:
            with contextlib.suppress(Exception):
                await self._release(uuid)
            self._running.pop(uuid, None)
            self._events.pop(uuid, None)
            client = self._clients.pop(uuid, None)
            if client is not None:
                with contextlib.suppress(Exception):
                    await close_bmc(client)

    async def _load(self, uuid: str) -> _View | None:
        async with self.db.session() as session:
            task = await session.get(Task, uuid)
            if task is None:
                return None
            node = await session.get(Node, task.node_uuid)
            if node is None:
                return None
            target = target_of(node, self.box)
            return _View(
                task.uuid,
                task.node_uuid,
                task.type,
                task.state,
                task.image_url,
                task.image_checksum,
                target,
            )

    async def _bmc_step(self, view: _View, action: Callable[[BMCLike], Awaitable[None]]) -> None:
        async with self._sem:
            await self._hold(view)
            bmc = self._clients.get(view.task_uuid)
            if bmc is None:
                # One client per task: IPMI sessions and Redfish logins are not free.
                bmc = self._clients[view.task_uuid] = self.bmc_factory(view.target)
            await action(bmc)

    async def _hold(self, view: _View) -> None:
        """Take the task's node lock, or renew it once a third of its lease went by."""
        now = asyncio.get_running_loop().time()
        held = self._held.get(view.task_uuid)
        if held is not None and now - held[1] < self.lease_seconds / 3:
            return
        node, owner, lease = view.node_uuid, self.owner, self.lease_seconds
        if held is None or not await renew(self.db, node, owner, lease):
            await acquire(self.db, node, owner, lease, wait=60.0)
            await self._follow_bmc(view)
        self._held[view.task_uuid] = (node, now)

    async def _follow_bmc(self, view: _View) -> None:
        """The node's BMC details may have changed while the task held no lock (the
        install wait, or before a restart resumed it): its steps use the new ones."""
        async with self.db.session() as session:
            node = await session.get(Node, view.node_uuid)
            if node is None:
                return
            target = target_of(node, self.box)
        if target != view.target:
            view.target = target
            client = self._clients.pop(view.task_uuid, None)
            if client is not None:
                with contextlib.suppress(Exception):
                    await close_bmc(client)

    async def _release(self, task_uuid: str) -> None:
        held = self._held.pop(task_uuid, None)
        if held is not None:
            await unlock(self.db, held[0], self.owner)

    async def _advance(
        self, view: _View, event: str, *, power: str | None = None, **values: object
    ) -> bool:
        """Move the task by ``event`` only if nobody moved it meanwhile (``view`` follows);
        ``power``: the node's power state the step left, recorded in the same commit."""
        target = st.TASK.next(view.state, event)
        async with self.db.session() as session:
            if power is not None:
                await session.execute(
                    update(Node).where(Node.uuid == view.node_uuid).values(power_state=power)
                )
            result = await session.execute(
                update(Task)
                .where(Task.uuid == view.task_uuid, Task.state == view.state)
                .values(state=target, updated_at=utcnow(), **values)
                .execution_options(synchronize_session=False)
            )
            assert isinstance(result, CursorResult)
            moved = result.rowcount == 1
        if moved:
            view.state = target
        return moved

    # --- steps (each idempotent) --------------------------------------------------------
    async def _queued(self, view: _View, resumed: bool) -> None:
        if view.type == "install":
            assert view.image_url and view.image_checksum
            try:
                await self.images.ensure(view.image_url, view.image_checksum)
            except ImageError as exc:
                raise TaskFailed(f"image download failed: {exc}") from exc
        await self._advance(view, "start")

    async def _powering_off(self, view: _View, resumed: bool) -> None:
        async def act(bmc: BMCLike) -> None:
            if await bmc.power_state() != "off":
                await bmc.power_off()
                await bmc.wait_power("off", self.power_timeout)

        await self._bmc_step(view, act)
        await self._advance(view, "powered_off", power="off")

    async def _setting_pxe(self, view: _View, resumed: bool) -> None:
        async def act(bmc: BMCLike) -> None:
            await bmc.set_boot_pxe_once()

        await self._bmc_step(view, act)
        await self._advance(view, "pxe_set")

    async def _powering_on(self, view: _View, resumed: bool) -> None:
        async def act(bmc: BMCLike) -> None:
            if resumed:
                # A previous process may have died after using up the one-time PXE flag.
                await bmc.set_boot_pxe_once()
            if await bmc.power_state() == "on":
                await bmc.power_cycle()
            else:
                await bmc.power_on()
            await bmc.wait_power("on", self.power_timeout)

        await self._bmc_step(view, act)
        deadline = utcnow() + timedelta(seconds=self.deadline_seconds)
        if await self._advance(view, "powered_on", power="on", deadline=deadline):
            # Only now is the iPXE script served: the installer must find it.
            for observer in list(self._observers):
                try:
                    await observer.on_pxe_boot(view.node_uuid)
                except Exception:
                    log.exception("boot observer failed for node %s", view.node_uuid)

    async def _installing(self, view: _View, resumed: bool) -> None:
        event = self._events.setdefault(view.task_uuid, asyncio.Event())
        while True:
            event.clear()
            async with self.db.session() as session:
                task = await session.get(Task, view.task_uuid)
                assert task is not None
                status, message, deadline = (
                    task.callback_status,
                    task.callback_message,
                    task.deadline,
                )
            if status is not None:
                break
            remaining = (deadline - utcnow()).total_seconds() if deadline else 0.0
            if remaining <= 0:
                raise TaskFailed(f"installer did not call back within {self.deadline_seconds:g} s")
            try:
                async with asyncio.timeout(remaining):
                    await event.wait()
            except TimeoutError:
                continue
        if status != "success":
            raise TaskFailed(f"installer reported failure: {message or 'no message'}")
        await self._advance(view, "called_back")

    async def _rebooting(self, view: _View, resumed: bool) -> None:
        final = "on" if view.type == "install" else "off"

        async def act(bmc: BMCLike) -> None:
            if final == "off":
                if await bmc.power_state() != "off":
                    await bmc.power_off()
            elif await bmc.power_state() == "on":
                await bmc.power_cycle()  # the one-time PXE flag is used up: boots the disk
            else:
                await bmc.power_on()
            await bmc.wait_power(final, self.power_timeout)

        await self._bmc_step(view, act)
        await self._finish(view.task_uuid, failed=None, power=final)

    async def _finish(self, uuid: str, failed: str | None, power: str | None = None) -> None:
        """Terminal transition of the task and the node's matching move, in one commit."""
        async with self.db.session() as session:
            task = await session.get(Task, uuid, with_for_update=True)
            if task is None or task.state in st.TASK.terminal:
                return
            node = await session.get(Node, task.node_uuid, with_for_update=True)
            if failed is None:
                task.state = st.TASK.next(task.state, "rebooted")
                event = "deployed" if task.type == "install" else "cleaned"
            else:
                task.state = st.TASK.next(task.state, "fail")
                task.last_error = failed
                event = "fail"
            task.finished_at = utcnow()
            if node is not None and power is not None:
                node.power_state = power
            if node is not None:
                try:
                    node.provision_state = st.NODE.next(node.provision_state, event)
                except st.EventNotAllowed:
                    log.warning("node %s: %s ignored in %s", node.uuid, event, node.provision_state)
                node.last_error = failed
        log.info("hwmgr task %s %s", uuid, "failed: " + failed if failed else "done")
