"""Start the lab's baremetal: BMC emulators, one hwmgr per region, agents on the bus.

``start_baremetal_lab`` is everything ``stockyard up`` needs for baremetal:

1. a ``RedfishEmulator`` for the lab's redfish nodes and an ``IpmiEmulator`` for the ipmi
   ones (real protocol endpoints on 127.0.0.1);
2. per region with nodes, an hwmgr in a process of its own (:mod:`stockyard.lab.hwmgr_child`)
   on a free port with its own SQLite DB under ``<data_dir>/hwmgr/<region>`` and the
   emulated installer as its boot observer; the nodes are enrolled and managed through
   hwmgr's REST API;
3. main-DB ``Host`` rows (``Host.name`` = hwmgr node name, ``Host.uuid`` = node uuid,
   stock owner from the lab file on first enrolment) and one ``bm.<class>`` flavor per
   resource class;
4. an ``ImageExporter`` serving signed image URLs to hwmgr, one ``BaremetalDriver`` per
   region and one ``AgentPool`` with a ``ComputeAgent`` per node; with the setting
   ``lab_baremetal_agent`` false, none of these: a separate ``stockyard baremetal-agent``
   process runs them, given each region's hwmgr URL and token from
   ``<data_dir>/hwmgr/<region>/endpoint.json`` (mode 0600, rewritten at every start).

Emulated BMCs get new ports and passwords at every start; nodes keep their uuid and get
the new BMC details through hwmgr's ``PATCH /v1/nodes/{uuid}``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import os
import secrets
import sqlite3
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from stockyard.bus.base import Bus
from stockyard.compute.agent import ComputeAgent
from stockyard.compute.drivers.baremetal import BaremetalDriver
from stockyard.compute.drivers.baremetal_client import HwmgrCallError, HwmgrClient, Json
from stockyard.compute.node_agents import NodeAgents
from stockyard.compute.pool import AgentPool
from stockyard.db.base import Database
from stockyard.hwmgr.emulators.ipmi import IpmiNodeSpec
from stockyard.hwmgr.emulators.ipmi_emulator import IpmiEmulator
from stockyard.hwmgr.settings import HwmgrSettings
from stockyard.image.store import ImageStore
from stockyard.lab.baremetal_enroll import seed_flavors, seed_stock_quota, upsert_hosts
from stockyard.lab.baremetal_images import ImageExporter
from stockyard.lab.baremetal_model import LabNode
from stockyard.lab.hwmgr_child import HwmgrChild
from stockyard.lab.model import Lab
from stockyard.settings import Settings

if TYPE_CHECKING:
    # Imported when used: the Redfish emulator needs sushy-tools and bcrypt.
    from stockyard.hwmgr.emulators.redfish import RedfishEmulator, SystemSpec

log = logging.getLogger(__name__)
_SYSTEM_NS = uuid.UUID("6b1d3a52-7f0e-4d8e-9a57-5f3c2b1e0a11")
_REUSABLE = frozenset({"enrolled", "error"})  # manage them again with the new BMC


@dataclass
class BaremetalLab:
    """What ``start_baremetal_lab`` started; ``stop()`` stops all of it."""

    nodes: list[LabNode] = field(default_factory=list)
    redfish: RedfishEmulator | None = None
    ipmi: IpmiEmulator | None = None
    hwmgrs: dict[str, HwmgrChild] = field(default_factory=dict)
    drivers: dict[str, BaremetalDriver] = field(default_factory=dict)
    token: str = field(default="", repr=False)
    exporter: ImageExporter | None = None
    pool: AgentPool | None = None
    systems: dict[str, SystemSpec] = field(default_factory=dict)
    # Per region: follows hwmgr's node list (nodes enrolled through the stock API).
    rescans: list[asyncio.Task[None]] = field(default_factory=list)

    async def stop(self) -> None:
        """Agents, drivers, hwmgrs, installers, image server, then the emulators."""
        steps: list[Any] = []
        for task in self.rescans:
            task.cancel()
        await asyncio.gather(*self.rescans, return_exceptions=True)
        self.rescans.clear()
        if self.pool is not None:
            steps.append(self.pool.stop())
        steps += [d.close() for d in self.drivers.values()]
        steps += [s.stop() for s in self.hwmgrs.values()]
        if self.exporter is not None:
            steps.append(self.exporter.stop())
        for emulator in (self.redfish, self.ipmi):
            if emulator is not None:
                steps.append(emulator.stop())
        for step in steps:
            try:
                await step
            except Exception:
                log.exception("stopping the baremetal lab")
        self.pool = self.exporter = self.redfish = self.ipmi = None
        self.drivers.clear()
        self.hwmgrs.clear()


def _have(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


def _bmc_body(lab: BaremetalLab, node: LabNode) -> dict[str, Any]:
    if node.bmc == "redfish":
        assert lab.redfish is not None
        return {
            "driver": "redfish",
            "address": lab.redfish.host,
            "port": lab.redfish.port,
            "system_id": lab.systems[node.name].uuid,
            "username": lab.redfish.username,
            "password": lab.redfish.password.get_secret_value(),
        }
    assert lab.ipmi is not None
    spec = lab.ipmi.nodes[node.name]
    return {
        "driver": "ipmi",
        "address": lab.ipmi.address,
        "port": lab.ipmi.port(node.name),
        "username": spec.username,
        "password": spec.password.get_secret_value(),
    }


async def _enroll_node(client: HwmgrClient, body: Json, existing: Json | None) -> str | None:
    """The node's uuid, enrolled and managed; None when its BMC did not answer hwmgr's
    power-state query (hwmgr retried it): the node stays enrolled in hwmgr and out of
    this run's cloud, with a warning. One dead BMC among a thousand must not keep
    ``stockyard up`` from starting; the next start tries it again."""
    if existing is None:
        node = await client.enroll(body)
        return await _manage(client, str(node["uuid"]), body["name"])
    uuid_ = str(existing["uuid"])
    # The emulators got new ports and passwords: point the node at them, keeping its
    # uuid (the cloud's Host rows and any instance on it refer to it). A task the last
    # run left on the node is not resumed yet (see _start_region): no BMC step holds
    # the node, hwmgr takes the change, and the task's next step uses it.
    try:
        await client.update_bmc(uuid_, body["bmc"])
    except HwmgrCallError as exc:
        if exc.status != 409:
            raise
        log.warning("baremetal node %s keeps the BMC of a previous run: %s", body["name"], exc)
        return uuid_
    if existing["provision_state"] in _REUSABLE:
        return await _manage(client, uuid_, body["name"])
    return uuid_


async def _manage(client: HwmgrClient, uuid_: str, name: str) -> str | None:
    try:
        await client.manage(uuid_)
    except HwmgrCallError as exc:
        if exc.status != 502:  # 502: the BMC's own failure, hwmgr's retries spent
            raise
        log.warning("baremetal node %s is left out of this run: %s", name, exc)
        return None
    return uuid_


async def _start_region(
    lab: BaremetalLab, region: str, nodes: list[LabNode], settings: Settings, install_s: float
) -> dict[str, str]:
    hw_settings = HwmgrSettings().model_copy(
        update={
            "region": region,
            "data_dir": settings.data_dir / "hwmgr" / region,
            "database_url": None,
            "host": "127.0.0.1",
            "port": 0,
            "public_url": None,
            "token": SecretStr(lab.token),
            "log_level": "WARNING",
        }
    )
    # Tasks of the last run wait until their nodes point at this run's emulators.
    service = await HwmgrChild.start(
        hw_settings, install_seconds=install_s, host_id=f"lab-{region}"
    )
    lab.hwmgrs[region] = service
    client = HwmgrClient(service.url, lab.token)
    try:
        existing = {str(n["name"]): n for n in await client.nodes()}
        limit = asyncio.Semaphore(8)

        async def one(node: LabNode) -> tuple[str, str | None]:
            body = {
                "name": node.name,
                "region": node.region,
                "az": node.az,
                "rack": node.rack,
                "resource_class": node.resource_class,
                "cpus": node.cpus,
                "memory_mb": node.memory_mb,
                "disk_gb": node.disk_gb,
                "macs": [node.mac],
                "bmc": _bmc_body(lab, node),
            }
            async with limit:
                return node.name, await _enroll_node(client, body, existing.get(node.name))

        results = await asyncio.gather(*(one(n) for n in nodes))
        enrolled = {name: uuid_ for name, uuid_ in results if uuid_ is not None}
        await service.resume()
        return enrolled
    finally:
        await client.close()


def _powered_on(settings: Settings, regions: set[str]) -> set[str]:
    """Names of the nodes a previous run's hwmgrs last recorded as powered on."""
    names: set[str] = set()
    for region in regions:
        path = settings.data_dir / "hwmgr" / region / "hwmgr.db"
        if not path.exists():
            continue
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT name FROM nodes WHERE power_state = 'on'").fetchall()
        except sqlite3.Error as exc:  # a schema not made yet: nothing recorded
            log.debug("no recorded power states in %s: %s", path, exc)
            rows = []
        finally:
            conn.close()
        names.update(str(row[0]) for row in rows)
    return names


def _write_endpoint(settings: Settings, region: str, url: str, token: str) -> None:
    """Where a separate ``stockyard baremetal-agent`` finds the region's hwmgr (0600: the
    token is hwmgr's service token)."""
    path = settings.data_dir / "hwmgr" / region / "endpoint.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"region": region, "url": url, "token": token}, fh)


async def start_baremetal_lab(
    lab: Lab, settings: Settings, bus: Bus, db: Database, *, report_interval: float = 10.0
) -> BaremetalLab:
    """Start the lab's baremetal (see the module docstring); a lab without nodes is a no-op.

    Call it after the conductor has started (agents report at once) and after the image
    seed (deploys need the image store).
    """
    nodes = lab.baremetal.nodes()
    if any(n.bmc == "redfish" for n in nodes) and not _have("sushy_tools", "bcrypt"):
        # The cloud still comes up; only the nodes without a BMC endpoint are left out.
        log.warning("sushy-tools/bcrypt not installed: the lab's redfish nodes are left out")
        nodes = [n for n in nodes if n.bmc != "redfish"]
    out = BaremetalLab(nodes=nodes, token=secrets.token_urlsafe(24))
    if not nodes:
        return out
    try:
        redfish = [n for n in nodes if n.bmc == "redfish"]
        ipmi = [n for n in nodes if n.bmc == "ipmi"]
        # A machine keeps running while its control plane restarts: each emulated one
        # comes back as hwmgr last recorded it, not powered off (which the power sync
        # would report as SHUTOFF servers).
        was_on = await asyncio.to_thread(_powered_on, settings, {n.region for n in nodes})
        starts = []
        if redfish:
            from stockyard.hwmgr.emulators.redfish import RedfishEmulator, SystemSpec

            out.systems = {
                n.name: SystemSpec(
                    name=n.name,
                    uuid=str(uuid.uuid5(_SYSTEM_NS, n.name)),
                    macs=[n.mac],
                    power_state="On" if n.name in was_on else "Off",
                )
                for n in redfish
            }
            out.redfish = RedfishEmulator(
                list(out.systems.values()), power_delay=lab.baremetal.redfish_power_delay
            )
            starts.append(out.redfish.start())
        if ipmi:
            out.ipmi = IpmiEmulator(
                [
                    IpmiNodeSpec(name=n.name, power_state="on" if n.name in was_on else "off")
                    for n in ipmi
                ]
            )
            starts.append(out.ipmi.start())
        if settings.lab_baremetal_agent:
            out.exporter = ImageExporter(ImageStore(settings.data_dir / "images"))
            starts.append(out.exporter.start())
        await asyncio.gather(*starts)

        regions = sorted({n.region for n in nodes})
        node_uuids: dict[str, str] = {}
        for region in regions:
            mine = [n for n in nodes if n.region == region]
            node_uuids.update(
                await _start_region(out, region, mine, settings, lab.baremetal.install_seconds)
            )
        # Nodes whose BMC did not answer stay out of this run (see _enroll_node).
        nodes = out.nodes = [n for n in nodes if n.name in node_uuids]
        async with db.session() as session:
            await upsert_hosts(session, nodes, node_uuids)
            await seed_flavors(session, lab.baremetal)
            await seed_stock_quota(session, nodes, settings)
        for region in regions:
            _write_endpoint(settings, region, out.hwmgrs[region].url, out.token)
        if out.exporter is None:
            log.info("baremetal lab: %d nodes; their agent runs apart", len(nodes))
            return out

        out.pool = AgentPool(bus, report_interval)
        for region in regions:
            driver = BaremetalDriver(
                out.hwmgrs[region].url, out.token, out.exporter.url_for, region=region
            )
            out.drivers[region] = driver
            for node in nodes:
                if node.region == region:
                    agent = ComputeAgent(
                        node.name, driver.for_node(node.name), bus, report_interval
                    )
                    out.pool.add(agent)
        await out.pool.start()
        for region in regions:
            known = [n.name for n in nodes if n.region == region]
            follow = NodeAgents(out.drivers[region], out.pool, bus, report_interval, region, known)
            # The driver's cached node list, which the reports keep fresh: no extra call.
            out.rescans.append(asyncio.create_task(follow.run(report_interval, max_age=None)))
    except BaseException:
        await out.stop()
        raise
    log.info("baremetal lab: %d nodes in %d region(s)", len(nodes), len(out.hwmgrs))
    return out
