"""Every transition in the table is allowed; everything else raises."""

from __future__ import annotations

import itertools

import pytest

from stockyard.lifecycle.states import (
    TRANSITIONS,
    IllegalTransition,
    TaskState,
    VmState,
    api_status,
    check_transition,
)

ALL_KEYS = [(vm, task) for vm in VmState for task in [None, *TaskState]]
LEGAL = [(src, dst) for src, dsts in TRANSITIONS.items() for dst in sorted(dsts, key=str)]
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
        (("stopped", None), ("stopped", "powering-off")),
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
