"""Every transition of the task and node tables, legal and illegal."""

from __future__ import annotations

import itertools

import pytest

from stockyard.hwmgr.tasks import states as st

TASK_TABLE = {
    ("queued", "start"): "powering_off",
    ("powering_off", "powered_off"): "setting_pxe",
    ("setting_pxe", "pxe_set"): "powering_on",
    ("powering_on", "powered_on"): "installing",
    ("installing", "called_back"): "rebooting",
    ("rebooting", "rebooted"): "done",
    ("queued", "fail"): "failed",
    ("powering_off", "fail"): "failed",
    ("setting_pxe", "fail"): "failed",
    ("powering_on", "fail"): "failed",
    ("installing", "fail"): "failed",
    ("rebooting", "fail"): "failed",
}
NODE_TABLE = {
    ("enrolled", "manage"): "available",
    ("error", "manage"): "available",
    ("available", "deploy"): "deploying",
    ("deploying", "deployed"): "active",
    ("deploying", "fail"): "error",
    ("active", "release"): "cleaning",
    ("error", "release"): "cleaning",
    ("cleaning", "cleaned"): "available",
    ("cleaning", "fail"): "error",
}


def test_tables_are_exactly_these() -> None:
    assert st.TASK.transitions == TASK_TABLE
    assert st.NODE.transitions == NODE_TABLE
    assert st.TASK.terminal == {"done", "failed"}


@pytest.mark.parametrize(("source", "event"), sorted(TASK_TABLE))
def test_task_legal(source: str, event: str) -> None:
    assert st.TASK.next(source, event) == TASK_TABLE[(source, event)]


@pytest.mark.parametrize(
    ("source", "event"),
    [
        pair
        for pair in itertools.product(sorted(st.TASK_STATES), sorted(st.TASK.events()))
        if pair not in TASK_TABLE
    ],
)
def test_task_illegal(source: str, event: str) -> None:
    with pytest.raises(st.EventNotAllowed, match=f"{event!r} is not allowed in state"):
        st.TASK.next(source, event)


@pytest.mark.parametrize(("source", "event"), sorted(NODE_TABLE))
def test_node_legal(source: str, event: str) -> None:
    assert st.NODE.next(source, event) == NODE_TABLE[(source, event)]


@pytest.mark.parametrize(
    ("source", "event"),
    [
        pair
        for pair in itertools.product(sorted(st.NODE_STATES), sorted(st.NODE.events()))
        if pair not in NODE_TABLE
    ],
)
def test_node_illegal(source: str, event: str) -> None:
    with pytest.raises(st.EventNotAllowed):
        st.NODE.next(source, event)


def test_terminal_states_accept_nothing() -> None:
    for terminal in st.TASK.terminal:
        for event in st.TASK.events():
            with pytest.raises(st.EventNotAllowed):
                st.TASK.next(terminal, event)


def test_every_state_documented_and_reachable() -> None:
    assert all(st.TASK_STATES.values()) and all(st.NODE_STATES.values())
    reached = {"queued"} | set(TASK_TABLE.values())
    assert reached == set(st.TASK_STATES)
    assert {"enrolled"} | set(NODE_TABLE.values()) == set(st.NODE_STATES)
