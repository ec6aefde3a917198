"""The API calls behind the stock page: counts, requests, and the request workflow.

Everything comes from the baremetal stock API in the catalog (``baremetal-stock``,
``/stock/v1``): the project's counts per resource class / zone / rack, its requests
(every project's for admins, as the API decides), and for whoever the API lets see it the
unassigned pool. Approve and reject are the API's admin calls; for anyone else the API's
403 is shown as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stockyard.dashboard.client import APIFailure, Cloud
from stockyard.dashboard.together import together

SERVICE = "baremetal-stock"


@dataclass
class StockRow:
    resource_class: str
    region: str
    az: str
    rack: str
    total: int
    free: int
    in_use: int


@dataclass
class Stock:
    total: int
    free: int
    in_use: int
    rows: list[StockRow]

    @property
    def classes(self) -> list[str]:
        return sorted({r.resource_class for r in self.rows if r.resource_class})

    def by_class(self) -> list[tuple[str, int, int, int]]:
        """(class, total, free, in use) summed over zones and racks."""
        out: dict[str, list[int]] = {}
        for r in self.rows:
            sums = out.setdefault(r.resource_class, [0, 0, 0])
            sums[0] += r.total
            sums[1] += r.free
            sums[2] += r.in_use
        return [(c, *v) for c, v in sorted(out.items())]  # type: ignore[misc]


@dataclass
class StockPage:
    stock: Stock | None  # None: no stock service in the catalog
    pool: Stock | None  # None: the API does not show this user the pool
    requests: list[dict[str, Any]]
    zones: list[str]
    project_names: dict[str, str] = field(default_factory=dict)

    @property
    def classes(self) -> list[str]:
        return sorted({*(self.stock.classes if self.stock else []),
                       *(self.pool.classes if self.pool else [])})  # fmt: skip


def _stock(body: dict[str, Any]) -> Stock:
    s = body["stock"]
    rows = [
        StockRow(
            resource_class=g.get("resource_class") or "",
            region=g["region"],
            az=g["availability_zone"],
            rack=g["rack"],
            total=g["total"],
            free=g["free"],
            in_use=g["in_use"],
        )
        for g in s.get("groups", [])
    ]
    rows.sort(key=lambda r: (r.resource_class, r.region, r.az, r.rack))
    return Stock(total=s["total"], free=s["free"], in_use=s["in_use"], rows=rows)


async def _pool(cloud: Cloud) -> Stock | None:
    try:
        return _stock(await cloud.request("GET", SERVICE, "/stock", params={"pool": "true"}))
    except APIFailure as exc:
        if exc.status in (401,):
            raise
        return None  # members: the API keeps the pool to admins


async def stock_page(cloud: Cloud) -> StockPage:
    if not cloud.has(SERVICE):
        zones = await cloud.compute("GET", "/os-availability-zone")
        return StockPage(None, None, [], _zones(zones))
    mine, pool, requests, zones = await together(
        cloud.request("GET", SERVICE, "/stock"),
        _pool(cloud),
        cloud.request("GET", SERVICE, "/requests"),
        cloud.compute("GET", "/os-availability-zone"),
    )
    listed = requests.get("requests", [])
    names = await _project_names(cloud) if pool is not None else {}
    return StockPage(_stock(mine), pool, listed, _zones(zones), names)


async def _project_names(cloud: Cloud) -> dict[str, str]:
    """Project id -> name (Identity ``GET /v3/projects``) for an admin's list of every
    project's requests; nothing when the API does not let the user list projects."""
    try:
        body = await cloud.request("GET", "identity", "/v3/projects")
    except APIFailure as exc:
        if exc.status == 401:
            raise
        return {}
    return {p["id"]: p["name"] for p in body.get("projects", [])}


def _zones(body: dict[str, Any]) -> list[str]:
    return sorted(z["zoneName"] for z in body.get("availabilityZoneInfo", []))


class FormError(Exception):
    """A field the dashboard checks before asking the API (a whole number)."""


def request_body(form: dict[str, str]) -> dict[str, Any]:
    """The ``POST /v1/requests`` body; the API validates the values themselves."""
    body: dict[str, Any] = {
        "resource_class": form.get("resource_class", "").strip().upper(),
        "availability_zone": form.get("availability_zone", ""),
    }
    for name, label, required in (("count", "Count", True), ("min_racks", "Racks", False)):
        raw = form.get(name, "").strip()
        if not raw and not required:
            continue
        try:
            body[name] = int(raw)
        except ValueError:
            raise FormError(f"{label} must be a whole number.") from None
    return body


async def create_request(cloud: Cloud, form: dict[str, str]) -> dict[str, Any]:
    body = await cloud.request("POST", SERVICE, "/requests", json=request_body(form))
    return dict(body["request"])


async def decide(cloud: Cloud, request_id: str, decision: str, reason: str) -> dict[str, Any]:
    """Approve, reject (with ``reason``) or cancel a request; the API's answer."""
    body = {"reason": reason} if decision == "reject" else None
    done = await cloud.request("POST", SERVICE, f"/requests/{request_id}/{decision}", json=body)
    return dict(done["request"])
