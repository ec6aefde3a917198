"""One poll loop for every hwmgr task a baremetal driver waits on.

Thousands of deploys must not mean thousands of pollers. Each tick costs two requests
whatever the number of waiters: the nodes hwmgr has in ``deploying`` and in ``cleaning``
(a task owns its node in exactly those states). A watched task whose node has left the
busy state is then read once (``GET /v1/tasks/{uuid}``) and, if terminal, resolves its
future. The task row, not the node list, is the verdict: a node that went straight into
another task only costs one extra read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from stockyard.compute.drivers.baremetal_client import HwmgrClient, Json
from stockyard.compute.drivers.base import DriverError

log = logging.getLogger(__name__)

TERMINAL = frozenset({"done", "failed"})
# The node's provision state while a task of that type runs.
_BUSY_STATE = {"install": "deploying", "clean": "cleaning"}


@dataclass
class _Watch:
    node_uuid: str
    busy_state: str
    future: asyncio.Future[Json]
    seq: int
    waiters: int = 0


class TaskWatcher:
    """Resolves ``wait(task)`` calls from one shared loop polling every ``interval`` s."""

    def __init__(self, client: HwmgrClient, interval: float = 0.5) -> None:
        self.client = client
        self.interval = interval
        self.polls = 0  # ticks so far (observability and tests)
        self._watches: dict[str, _Watch] = {}
        self._seq = 0
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None

    @property
    def watching(self) -> int:
        return len(self._watches)

    async def wait(self, task: Json, timeout: float) -> Json:  # noqa: ASYNC109
        """The task's final view (state ``done`` or ``failed``); ``DriverError`` on timeout.

        Several callers may wait for the same task; each gets the same result.
        """
        if task.get("state") in TERMINAL:
            return task
        uuid = str(task["uuid"])
        watch = self._watches.get(uuid)
        if watch is None:
            future: asyncio.Future[Json] = asyncio.get_running_loop().create_future()
            busy = _BUSY_STATE.get(str(task.get("type")), "deploying")
            # Retrieve a failure nobody waits for any more, so asyncio does not warn.
            future.add_done_callback(lambda f: None if f.cancelled() else f.exception())
            watch = _Watch(str(task["node_uuid"]), busy, future, self._seq)
            self._watches[uuid] = watch
            self._ensure_loop()
            self._wake.set()
        watch.waiters += 1
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(watch.future)
        except TimeoutError:
            raise DriverError(
                f"Hardware manager task {uuid} on node {watch.node_uuid} did not finish "
                f"within {timeout:g} s."
            ) from None
        finally:
            watch.waiters -= 1
            if watch.waiters == 0 and self._watches.get(uuid) is watch:
                del self._watches[uuid]

    def _ensure_loop(self) -> None:
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.create_task(self._run(), name="baremetal-task-watcher")

    async def close(self) -> None:
        task, self._loop_task = self._loop_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for watch in self._watches.values():
            if not watch.future.done():
                watch.future.cancel()
        self._watches.clear()

    async def _run(self) -> None:
        while True:
            if not self._watches:
                self._wake.clear()
                await self._wake.wait()
            await asyncio.sleep(self.interval)
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except DriverError as exc:
                # hwmgr down or restarting: keep the waits; their own timeouts bound them.
                log.warning("task watcher: %s", exc.message)
            except Exception:
                log.exception("task watcher tick failed")

    async def poll_once(self) -> int:
        """One tick: resolve every watched task that has finished; return how many."""
        self.polls += 1
        start = self._seq
        self._seq += 1
        pending = {u: w for u, w in self._watches.items() if w.seq <= start and not w.future.done()}
        if not pending:
            return 0
        states = sorted({w.busy_state for w in pending.values()})
        busy: dict[str, set[str]] = {}
        for state in states:
            busy[state] = {n["uuid"] for n in await self.client.nodes(provision_state=state)}
        suspects = [u for u, w in pending.items() if w.node_uuid not in busy[w.busy_state]]
        results = await asyncio.gather(
            *(self.client.task(u) for u in suspects), return_exceptions=True
        )
        resolved = 0
        for uuid, result in zip(suspects, results, strict=True):
            watch = pending[uuid]
            if isinstance(result, BaseException):
                if isinstance(result, DriverError) and getattr(result, "status", 0) == 404:
                    watch.future.set_exception(
                        DriverError(f"Hardware manager lost task {uuid} of node {watch.node_uuid}.")
                    )
                    resolved += 1
                continue
            if result.get("state") in TERMINAL and not watch.future.done():
                watch.future.set_result(result)
                resolved += 1
        return resolved
