"""Power states the baremetal driver's verbs saw the BMC reach, kept for a moment.

hwmgr answers a deploy or a power change only once the BMC reported the new state. The
agent asks for the guest's power state right after every verb; answering that from what
the verb just saw saves a BMC round trip and a take of hwmgr's node lock per op (Nova's
Ironic driver reads Ironic's recorded power state in the same way). Each entry answers
one query, for the instance the verb was done for, within a few seconds; every other
query asks the BMC. Host reports do not query: they read hwmgr's recorded power, which
its power sync keeps current, so a change behind the cloud's back is seen without an op.
"""

from __future__ import annotations

import time

SEEN_FOR = 5.0
"""Seconds an entry may answer the query after its verb."""


class SeenPower:
    """Node name -> (instance, power, when) of the last verb's confirmed power state."""

    def __init__(self, seen_for: float = SEEN_FOR) -> None:
        self.seen_for = seen_for
        self._seen: dict[str, tuple[str, str, float]] = {}

    def saw(self, node: str, instance_uuid: str, power: str) -> None:
        self._seen[node] = (instance_uuid, power, time.monotonic())

    def forget(self, node: str) -> None:
        self._seen.pop(node, None)

    def take(self, node: str, instance_uuid: str) -> str | None:
        """The power state a verb just saw for ``instance_uuid`` on ``node`` (once)."""
        seen = self._seen.pop(node, None)
        if seen is None or seen[0] != instance_uuid:
            return None
        return seen[1] if time.monotonic() - seen[2] < self.seen_for else None
