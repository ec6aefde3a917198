"""All host states, indexed so that a request never walks the whole fleet.

Hosts live in buckets keyed by ``(kind, resource_class, region, az)``. A fleet has a
few dozen such buckets, so resolving a :class:`CandidateScope` scans bucket keys (cheap)
and then touches only the hosts of the matching buckets: a BM_GOLD request in az1
reads the BM_GOLD nodes of az1 and nothing else.
"""

from __future__ import annotations

import heapq
import itertools
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from stockyard.scheduler.host_state import HostKind, HostState

BucketKey = tuple[HostKind, str | None, str, str]

# A bucket's free-RAM order is re-sorted after this many uses even if no host joined or
# left it: agent reports change hosts in place without telling the index. (The
# scheduler's own claims do tell it, see ``reposition``.) Candidates' real usage is
# always checked by the filters, so a slightly stale order only costs ranking quality.
RESORT_AFTER_USES = 256


@dataclass(slots=True)
class _RamOrder:
    """A bucket's hosts sorted by free RAM (ascending), as of ``version``.

    ``keys`` remembers each host's sort key, to find it again after its usage changed.
    """

    version: int
    free: list[float]
    hosts: list[HostState]
    keys: dict[str, float]
    uses: int = 0


@dataclass(slots=True)
class CandidateScope:
    """Index-level restriction of the candidate hosts, built by filters' ``narrow``.

    Each restriction intersects with what is already set: asking for az2 after az1
    leaves an empty scope, never a wider one.
    """

    kind: HostKind | None = None
    resource_class: str | None = None
    pool_set: bool = False
    region: str | None = None
    az: str | None = None
    hosts: frozenset[str] | None = None
    empty: bool = False

    def restrict_pool(self, kind: HostKind, resource_class: str | None) -> None:
        """Keep only hosts of ``kind`` with exactly ``resource_class``."""
        if self.pool_set and (self.kind, self.resource_class) != (kind, resource_class):
            self.empty = True
        self.kind, self.resource_class, self.pool_set = kind, resource_class, True

    def restrict_region(self, region: str) -> None:
        """Keep only hosts in ``region``."""
        if self.region is not None and self.region != region:
            self.empty = True
        self.region = region

    def restrict_az(self, az: str) -> None:
        """Keep only hosts in the availability zone named ``az``."""
        if self.az is not None and self.az != az:
            self.empty = True
        self.az = az

    def restrict_hosts(self, host_uuids: Iterable[str]) -> None:
        """Keep only the hosts whose uuid is in ``host_uuids``."""
        wanted = frozenset(host_uuids)
        self.hosts = wanted if self.hosts is None else self.hosts & wanted
        if not self.hosts:
            self.empty = True

    def matches_bucket(self, key: BucketKey) -> bool:
        """True if hosts of bucket ``key`` are inside the scope (host list aside)."""
        kind, rc, region, az = key
        if self.pool_set and (kind != self.kind or rc != self.resource_class):
            return False
        if self.region is not None and region != self.region:
            return False
        return self.az is None or az == self.az

    def matches(self, host: HostState) -> bool:
        """True if ``host`` is inside the scope."""
        if self.empty:
            return False
        if self.hosts is not None and host.uuid not in self.hosts:
            return False
        return self.matches_bucket((host.kind, host.resource_class, host.region, host.az))


class HostStateIndex:
    """Every host by uuid, with secondary indexes by pool/region/AZ, rack and name.

    Sized for tens of thousands of hosts: lookups by uuid or name are dict hits, and
    :meth:`select` returns the hosts of the matching buckets only.
    """

    def __init__(self, hosts: Iterable[HostState] = ()) -> None:
        self._hosts: dict[str, HostState] = {}
        self._buckets: dict[BucketKey, dict[str, HostState]] = {}
        self._racks: dict[str, dict[str, HostState]] = {}
        self._names: dict[str, HostState] = {}
        self._versions: dict[BucketKey, int] = {}
        self._ram_orders: dict[BucketKey, _RamOrder] = {}
        for host in hosts:
            self.upsert(host)

    def __len__(self) -> int:
        return len(self._hosts)

    def __iter__(self) -> Iterator[HostState]:
        return iter(self._hosts.values())

    def __contains__(self, host_uuid: object) -> bool:
        return host_uuid in self._hosts

    @staticmethod
    def _bucket_key(host: HostState) -> BucketKey:
        return (host.kind, host.resource_class, host.region, host.az)

    def upsert(self, host: HostState) -> None:
        """Add ``host`` or replace the host with the same uuid (re-indexing it)."""
        old = self._hosts.get(host.uuid)
        if old is not None:
            self._unlink(old)
        host.refresh()
        self._hosts[host.uuid] = host
        key = self._bucket_key(host)
        self._buckets.setdefault(key, {})[host.uuid] = host
        self._versions[key] = self._versions.get(key, 0) + 1
        self._racks.setdefault(host.rack_key, {})[host.uuid] = host
        self._names[host.name] = host

    def remove(self, host_uuid: str) -> HostState | None:
        """Drop the host with ``host_uuid``; return it, or None if it was unknown."""
        host = self._hosts.pop(host_uuid, None)
        if host is not None:
            self._unlink(host)
        return host

    def _unlink(self, host: HostState) -> None:
        key = self._bucket_key(host)
        self._versions[key] = self._versions.get(key, 0) + 1
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.pop(host.uuid, None)
            if not bucket:
                del self._buckets[key]
        rack = self._racks.get(host.rack_key)
        if rack is not None:
            rack.pop(host.uuid, None)
            if not rack:
                del self._racks[host.rack_key]
        if self._names.get(host.name) is host:
            del self._names[host.name]

    def get(self, host_uuid: str) -> HostState | None:
        """The host with ``host_uuid``, or None."""
        return self._hosts.get(host_uuid)

    def by_name(self, name: str) -> HostState | None:
        """The host named ``name``, or None."""
        return self._names.get(name)

    def select(self, scope: CandidateScope) -> list[HostState]:
        """Hosts inside ``scope``, in a stable order (bucket, then insertion)."""
        if scope.empty:
            return []
        if scope.hosts is not None:
            found = (self._hosts.get(uuid) for uuid in sorted(scope.hosts))
            return [h for h in found if h is not None and scope.matches(h)]
        out: list[HostState] = []
        for key, bucket in self._buckets.items():
            if scope.matches_bucket(key):
                out.extend(bucket.values())
        return out

    def by_free_ram(
        self, scope: CandidateScope, limit: int, *, most_free: bool, at_least: float = 0.0
    ) -> list[HostState]:
        """Up to ``limit`` hosts inside ``scope`` ordered by free RAM, without a full scan.

        ``most_free`` lists the emptiest first (spread); otherwise the fullest host with
        at least ``at_least`` MB free comes first (pack). Each bucket keeps a sorted
        order that is rebuilt lazily, so the ranking may lag usage changes slightly;
        the caller still checks every host it gets. ``scope.hosts`` is not supported
        (callers use :meth:`select` for explicit host lists).
        """
        if scope.empty or limit <= 0:
            return []
        runs: list[Iterable[tuple[float, HostState]]] = []
        for key, bucket in self._buckets.items():
            if not scope.matches_bucket(key):
                continue
            order = self._ram_order(key, bucket)
            if most_free:
                start = max(0, len(order.hosts) - limit)
                runs.append(zip(order.free[start:][::-1], order.hosts[start:][::-1], strict=True))
            else:
                start = bisect_left(order.free, at_least)
                stop = start + limit
                runs.append(zip(order.free[start:stop], order.hosts[start:stop], strict=True))
        # Ties keep bucket order (heapq.merge is stable), so results are repeatable.
        merged = heapq.merge(*runs, key=_first, reverse=most_free)
        return [h for _, h in itertools.islice(merged, limit)]

    def _ram_order(self, key: BucketKey, bucket: dict[str, HostState]) -> _RamOrder:
        version = self._versions.get(key, 0)
        order = self._ram_orders.get(key)
        if order is None or order.version != version or order.uses >= RESORT_AFTER_USES:
            hosts = sorted(bucket.values(), key=_free_ram)
            free = [_free_ram(h) for h in hosts]
            order = _RamOrder(
                version, free, hosts, {h.uuid: f for h, f in zip(hosts, free, strict=True)}
            )
            self._ram_orders[key] = order
        order.uses += 1
        return order

    def reposition(self, host: HostState) -> None:
        """Move ``host`` in its bucket's free-RAM order after its usage changed.

        The scheduler calls this for its own claims and releases, so that consecutive
        decisions see each other; other in-place edits are picked up by the periodic
        re-sort.
        """
        key = self._bucket_key(host)
        order = self._ram_orders.get(key)
        old = order.keys.get(host.uuid) if order is not None else None
        if order is None or old is None or order.version != self._versions.get(key, 0):
            return
        at = bisect_left(order.free, old)
        while at < len(order.hosts) and order.hosts[at] is not host:
            at += 1
        if at == len(order.hosts):  # not where it should be: rebuild on next use
            order.uses = RESORT_AFTER_USES
            return
        del order.free[at], order.hosts[at]
        new = _free_ram(host)
        at = bisect_left(order.free, new)
        order.free.insert(at, new)
        order.hosts.insert(at, host)
        order.keys[host.uuid] = new

    def count(self, scope: CandidateScope) -> int:
        """Number of hosts inside ``scope``, without building the list."""
        if scope.empty:
            return 0
        if scope.hosts is not None:
            found = (self._hosts.get(uuid) for uuid in scope.hosts)
            return sum(1 for h in found if h is not None and scope.matches(h))
        return sum(len(b) for k, b in self._buckets.items() if scope.matches_bucket(k))

    def hosts(
        self,
        *,
        kind: HostKind | None = None,
        resource_class: str | None = None,
        region: str | None = None,
        az: str | None = None,
    ) -> list[HostState]:
        """Hosts matching every given criterion (``resource_class`` needs ``kind``)."""
        scope = CandidateScope(region=region, az=az)
        if kind is not None:
            scope.restrict_pool(kind, resource_class)
        return self.select(scope)

    def rack(self, region: str, az: str, rack: str) -> list[HostState]:
        """Hosts of one rack (racks are named within their AZ)."""
        return list(self._racks.get(f"{region}/{az}/{rack}", {}).values())

    def racks(self, region: str | None = None, az: str | None = None) -> list[str]:
        """Qualified keys (``region/az/rack``) of racks with at least one host."""
        prefix = "" if region is None else f"{region}/" + ("" if az is None else f"{az}/")
        keys = [k for k in self._racks if k.startswith(prefix)]
        if az is not None and region is None:
            keys = [k for k in keys if k.split("/")[1] == az]
        return sorted(keys)


def _free_ram(host: HostState) -> float:
    return host.memory_mb * host.ram_allocation_ratio - host.memory_mb_used


def _first(item: tuple[float, HostState]) -> float:
    return item[0]
