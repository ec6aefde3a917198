"""A server's fault in plain words.

The API already writes scheduling faults for users ("No valid host was found. 12 hosts
considered: 6 rejected by AvailabilityZoneFilter (not in az1), 6 by ResourceFilter (not
enough RAM)."); the dashboard only lays that sentence out: a headline, then one line per
filter with how many hosts it turned away and why. It parses the message text because
that is what the public API returns; an unknown shape is shown verbatim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# Filter names as the scheduler reports them -> what they check, for people.
FILTER_WORDS = {
    "AvailabilityZoneFilter": "availability zone",
    "ComputeFilter": "host enabled and up",
    "ResourceFilter": "free capacity (vCPU, RAM, disk or resource class)",
    "StockFilter": "project stock (baremetal)",
    "AggregateInstanceExtraSpecsFilter": "flavor's aggregate requirements",
    "ServerGroupAffinityFilter": "server group affinity",
    "ServerGroupAntiAffinityFilter": "server group anti-affinity (failure domains)",
    "ForcedHostFilter": "requested host",
    "IgnoreHostsFilter": "hosts excluded from this attempt",
    "only_hosts": "requested host",
}

_HEAD = re.compile(r"^No valid host was found(?: for (?P<subject>[^.]*))?\.\s*")
_ITEM = re.compile(r"(?P<count>\d+) (?:rejected )?by (?P<filter>[A-Za-z0-9_]+) \(")
_CONSIDERED = re.compile(r"(?P<n>\d+) hosts? considered(?::\s*|\.)")


@dataclass
class Rejection:
    count: int
    filter_name: str
    reason: str

    @property
    def checks(self) -> str:
        return FILTER_WORDS.get(self.filter_name, self.filter_name)


@dataclass
class PlainFault:
    """What the template shows: a headline, extra sentences, per-filter rejections."""

    headline: str
    detail: str = ""
    considered: int | None = None
    rejections: list[Rejection] = field(default_factory=list)
    code: int | None = None
    raw: str = ""


def _closing(text: str, start: int) -> int:
    """Index of the parenthesis closing the one opened just before ``start``."""
    depth = 1
    for i in range(start, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    return len(text)


def _rejections(text: str) -> list[Rejection]:
    found: list[Rejection] = []
    pos = 0
    while (m := _ITEM.search(text, pos)) is not None:
        end = _closing(text, m.end())
        found.append(Rejection(int(m["count"]), m["filter"], text[m.end() : end]))
        pos = end + 1
    return found


def plain_fault(fault: dict[str, Any] | None) -> PlainFault | None:
    """The API's ``fault`` object laid out for people; None when there is none."""
    if not fault:
        return None
    message = str(fault.get("message") or "").strip()
    details = str(fault.get("details") or "")
    if message.endswith("...") and details.startswith(message[:-3]):
        # The API cuts long messages to its column and keeps the whole one in details.
        message = details.split("\n", 1)[0].strip()
    code = fault.get("code")
    head = _HEAD.match(message)
    if head is None:
        return PlainFault(headline=message or "The server failed.", code=code, raw=message)
    subject = head["subject"]
    headline = "No host could take this server" + (f" ({subject})" if subject else "") + "."
    rest = message[head.end() :]
    considered = _CONSIDERED.search(rest)
    if considered is None:
        return PlainFault(headline=headline, detail=rest.strip(), code=code, raw=message)
    return PlainFault(
        headline=headline,
        detail=rest[: considered.start()].strip(),
        considered=int(considered["n"]),
        rejections=_rejections(rest[considered.end() :]),
        code=code,
        raw=message,
    )
