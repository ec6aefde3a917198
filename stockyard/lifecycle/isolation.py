"""Failure isolation: one broken instance never stops the work on the others.

Workers run each instance's step inside :func:`isolated`. A step that raises something
that may pass (a lost connection, a broker that went away, a deadlock that outlived its
retries) is logged and left to the reconciler, which resumes the task once its lease
expires. Anything else is a defect that would repeat on every retry: the instance gets a
fault the user can read and the stable ERROR state (:func:`quarantine`), and the worker
goes on with the next one.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Awaitable, Sequence

from sqlalchemy import exc as sa_exc
from sqlalchemy import select

from stockyard.bus.base import BusError
from stockyard.db.base import Database
from stockyard.db.models import Instance
from stockyard.db.retry import is_retryable
from stockyard.lifecycle.records import fail_instance

log = logging.getLogger(__name__)


def is_transient(exc: BaseException) -> bool:
    """Whether a later retry of the same step may succeed."""
    # sqlalchemy's TimeoutError (no free pooled connection within pool_timeout) is not
    # the builtin one: a burst of work on a busy machine, not a defect of the instance.
    return is_retryable(exc) or isinstance(
        exc,
        BusError
        | OSError
        | TimeoutError
        | sa_exc.TimeoutError
        | sa_exc.OperationalError
        | sa_exc.InterfaceError,
    )


async def quarantine(db: Database, uuid: str, where: str, exc: BaseException) -> bool:
    """Fail ``uuid`` with a fault naming ``where`` and the error; False if it was idle,
    deleted, or could not be written (logged: the reconciler will meet it again)."""
    message = f"Internal error while {where}: {type(exc).__name__}: {exc}"
    details = "".join(traceback.format_exception(exc))
    try:
        async with db.session() as s:
            inst = (
                await s.execute(
                    select(Instance)
                    .where(Instance.uuid == uuid, Instance.deleted.is_(False))
                    .execution_options(populate_existing=True)
                )
            ).scalar_one_or_none()
            if inst is None or inst.task_state is None:
                return False
            await fail_instance(s, inst, message, details)
    except Exception:
        log.exception("instance %s: could not record the failure of %s", uuid, where)
        return False
    log.error("instance %s: set to ERROR after %s", uuid, message)
    return True


async def isolated(db: Database, uuids: Sequence[str], where: str, step: Awaitable[None]) -> None:
    """Run ``step`` for ``uuids``; on a defect, log it with the ids and quarantine them.

    Never raises (but for cancellation): the caller's loop goes on with other instances.
    """
    try:
        await step
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        ids = ", ".join(uuids) or "-"
        if is_transient(exc):
            log.warning("%s for instance(s) %s failed, left to the reconciler: %s", where, ids, exc)
            return
        log.exception("%s for instance(s) %s failed", where, ids)
        for uuid in uuids:
            await quarantine(db, uuid, where, exc)
