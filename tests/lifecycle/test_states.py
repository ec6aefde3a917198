"""Every transition in the table is allowed; everything else raises."""

from __future__ import annotations

import itertools

import pytest

from stockyard.lifecycle.states import (
    ACTIONS,
    OUTCOMES,
    TRANSITIONS,
    IllegalTransition,
    TaskState,
    VmState,
    action_conflict,
    api_status,
    check_transition,
    outcome,
)

ALL_KEYS = [(vm, task) for vm in VmState for task in [None, *TaskState]]
# Sorted: the table is built from sets, and pytest-xdist needs one order on every worker.
LEGAL = sorted(((src, dst) for src, dsts in TRANSITIONS.items() for dst in dsts), key=str)
ILLEGAL = [
    (src, dst)
    for src, dst in itertools.product(ALL_KEYS, ALL_KEYS)
    if dst not in TRANSITIONS.get(src, set())
]


@pytest.mark.parametrize(("src", "dst"), LEGAL, ids=str)
def test_legal_transitions_pass(src: tuple[VmState, TaskState | None], dst: tuple) -> None:  # type: ignore[type-arg]
    check_transition(src[0], src[1], dst[0], dst[1])


def test_every_other_pair_raises() -> None:
    assert len(ILLEGAL) > 500
    for src, dst in ILLEGAL:
        with pytest.raises(IllegalTransition):
            check_transition(src[0], src[1], dst[0], dst[1])


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        (("deleted", None), ("active", None)),
        (("building", "scheduling"), ("active", None)),  # never ACTIVE without spawning
        (("active", None), ("active", None)),
        (("stopped", None), ("stopped", "rebooting")),  # soft reboot only while ACTIVE
        (("active", None), ("active", "powering-on")),
        (("error", None), ("active", None)),
        (("active", "deleting"), ("active", None)),  # a delete cannot be undone
        (("building", "spawning"), ("stopped", None)),
    ],
)
def test_named_illegal_pairs(src: tuple[str, str | None], dst: tuple[str, str | None]) -> None:
    with pytest.raises(IllegalTransition):
        check_transition(*src, *dst)


def test_api_status() -> None:
    assert api_status("building", "scheduling") == "BUILD"
    assert api_status("active", "rebooting_hard") == "HARD_REBOOT"
    assert api_status("stopped", None) == "SHUTOFF"


def test_every_accepted_action_has_an_outcome() -> None:
    """Whatever the API may start, the conductor can finish: success and failure."""
    for key, action in ACTIONS.items():
        for vm in action.from_vm:
            for task in action.from_task:
                started = (vm, action.task)
                assert started in TRANSITIONS[(vm, task)], (key, vm, task)
                assert started in OUTCOMES, (key, started)
                done = OUTCOMES[started]
                assert (done, None) in TRANSITIONS[started], (key, started)
                assert (VmState.ERROR, None) in TRANSITIONS[started], (key, started)


def test_every_transitional_pair_can_fail_or_finish() -> None:
    """No row of the table is a dead end: every pair with a task can reach a stable one."""
    for (vm, task), dsts in TRANSITIONS.items():
        if task is not None:
            assert any(t is None for _, t in dsts), (vm, task)


def test_nova_rules_for_actions() -> None:
    assert ACTIONS["stop"].allows("error", None) and ACTIONS["stop"].needs_host
    assert not ACTIONS["reboot_soft"].allows("stopped", None)
    assert ACTIONS["reboot_hard"].allows("active", "rebooting")
    assert not ACTIONS["start"].allows("active", None)
    assert ACTIONS["delete"].allows("building", "scheduling")
    assert not ACTIONS["delete"].needs_host
    assert outcome("stopped", "rebuilding") == VmState.STOPPED
    assert outcome("error", "powering-off") == VmState.STOPPED
    with pytest.raises(IllegalTransition):
        outcome("building", "powering-off")
    conflict = action_conflict(ACTIONS["start"], "u1", "active", "rebooting")
    assert conflict == "Cannot 'start' instance u1 while it is in vm_state active"
    conflict = action_conflict(ACTIONS["stop"], "u1", "active", "rebooting")
    assert conflict == "Cannot 'stop' instance u1 while it is in task_state rebooting"
