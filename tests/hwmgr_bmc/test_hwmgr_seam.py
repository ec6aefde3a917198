"""hwmgr's seam (``stockyard.hwmgr.bmcport``) builds real clients from this package."""

from __future__ import annotations

from stockyard.hwmgr.bmcport import BMCTarget, close_bmc, default_bmc_factory, error_text
from stockyard.hwmgr.emulators.redfish import RedfishEmulator


async def test_default_factory_drives_a_redfish_node(redfish: RedfishEmulator) -> None:
    target = BMCTarget(
        driver="redfish",
        address="127.0.0.1",
        port=redfish.port,
        username=redfish.username,
        password=redfish.password,
        system_id=redfish.systems[5].uuid,
    )
    bmc = default_bmc_factory(target)
    try:
        await bmc.set_boot_pxe_once()
        await bmc.power_on()
        assert await bmc.wait_power("on", 15) == "on"
    finally:
        await close_bmc(bmc)


async def test_errors_read_well_through_the_seam(redfish: RedfishEmulator) -> None:
    target = BMCTarget("redfish", "127.0.0.1", redfish.port, "admin", redfish.password, "nope")
    bmc = default_bmc_factory(target)
    try:
        await bmc.power_state()
    except Exception as exc:  # the seam only promises a readable message
        assert error_text(exc) == f"Redfish BMC 127.0.0.1:{redfish.port} has no system 'nope'"
    else:
        raise AssertionError("expected a BMC error")
