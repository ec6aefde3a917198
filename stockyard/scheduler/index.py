"""All host states, indexed so that a request never walks the whole fleet.

Hosts live in buckets keyed by ``(kind, resource_class, region, az)``. A fleet has a
few dozen such buckets, so resolving a :class:`CandidateScope` scans bucket keys (cheap)
and then touches only the hosts of the matching buckets: a BM_GOLD request in az1
reads the BM_GOLD nodes of az1 and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from stockyard.scheduler.host_state import HostKind, HostState

BucketKey = tuple[HostKind, str | None, str, str]


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
        self._buckets.setdefault(self._bucket_key(host), {})[host.uuid] = host
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

    def availability_zones(self) -> set[str]:
        """Names of the AZs with at least one host."""
        return {key[3] for key in self._buckets}
