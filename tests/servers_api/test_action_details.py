"""2.84: instance action events carry ``details``, the failed step's user-facing message
(null for a step that did not fail), shown to the server's owner too."""

from __future__ import annotations

from sqlalchemy import update

from stockyard.db.models import Instance, InstanceAction, InstanceActionEvent
from stockyard.lifecycle import records
from tests.conftest import Cloud


async def _failed_build(cloud: Cloud) -> str:
    async with cloud.state.db.session() as session:
        inst = Instance(
            name="vm",
            project_id=cloud.seeded.demo_project_id,
            user_id="u",
            flavor_id="f",
            task_state="spawning",
        )
        session.add(inst)
        await session.flush()
        session.add(
            InstanceAction(
                instance_uuid=inst.uuid,
                action="create",
                request_id="req-1",
                user_id="u",
                project_id=inst.project_id,
            )
        )
        await session.flush()
        await records.start_event(session, inst.uuid, "compute__do_build_and_run_instance", "h1")
        await session.flush()
        await records.finish_event(session, inst.uuid, "compute__do_build_and_run_instance", True)
        await records.fail_instance(
            session,
            inst,
            "Image abc has no data on this host.",
            "DriverError",
            event="compute_spawn",
            host="h1",
        )
        await session.commit()
        return inst.uuid


async def test_details_of_failed_events_from_2_84(cloud: Cloud) -> None:
    sid = await _failed_build(cloud)
    url = f"/compute/v2.1/servers/{sid}/os-instance-actions/req-1"
    r = await cloud.client.get(url, headers=cloud.headers(cloud.demo_token, "2.84"))
    assert r.status_code == 200, r.text
    events = {e["event"]: e for e in r.json()["instanceAction"]["events"]}
    assert events["compute_spawn"]["details"] == "Image abc has no data on this host."
    assert events["compute__do_build_and_run_instance"]["details"] is None
    assert "traceback" not in events["compute_spawn"]  # still admin only
    r = await cloud.client.get(url, headers=cloud.headers(cloud.admin_token, "2.84"))
    spawn = next(e for e in r.json()["instanceAction"]["events"] if e["event"] == "compute_spawn")
    assert spawn["traceback"] == "Image abc has no data on this host.\nDriverError"
    r = await cloud.client.get(url, headers=cloud.headers(cloud.demo_token, "2.83"))
    assert all("details" not in e for e in r.json()["instanceAction"]["events"])


async def test_details_are_cut_to_nova_fault_length(cloud: Cloud) -> None:
    sid = await _failed_build(cloud)
    async with cloud.state.db.session() as session:
        await session.execute(
            update(InstanceActionEvent)
            .where(InstanceActionEvent.event == "compute_spawn")
            .values(traceback="x" * 300 + "\ntrace")
        )
        await session.commit()
    url = f"/compute/v2.1/servers/{sid}/os-instance-actions/req-1"
    r = await cloud.client.get(url, headers=cloud.headers(cloud.demo_token, "2.84"))
    spawn = next(e for e in r.json()["instanceAction"]["events"] if e["event"] == "compute_spawn")
    assert spawn["details"] == "x" * 255
