"""The servers table's Python-rendered rows: escaped once, same markup as before."""

from __future__ import annotations

from stockyard.dashboard.faults import PlainFault
from stockyard.dashboard.servers_data import ServerList, ServerRow
from stockyard.dashboard.servers_render import rows_html


def _row(**kw: object) -> ServerRow:
    base: dict[str, object] = {
        "id": "id-1", "name": "web", "status": "ACTIVE", "task_state": None, "flavor": "m1",
        "image": "tiny", "az": "az1", "host": "h1", "rack": "az1/r1", "addresses": [],
    }  # fmt: skip
    base.update(kw)
    return ServerRow(**base)  # type: ignore[arg-type]


def test_every_value_is_escaped_and_the_power_link_follows_the_status() -> None:
    hostile = _row(
        id='x"><script>', name="<b>&", image="<i>", addresses=["10.0.0.1 (<n>)", "::1 (n)"],
        task_state="<t>", fault=PlainFault(headline="<h>"),
    )  # fmt: skip
    html = str(rows_html(ServerList([hostile], shows_hosts=False), "/dash<"))
    assert "<script>" not in html and "<b>" not in html and "<i>" not in html
    assert 'href="/dash&lt;/servers/x&quot;&gt;&lt;script&gt;"' in html
    assert "&lt;b&gt;&amp;</a>" in html and "10.0.0.1 (&lt;n&gt;)<br>::1 (n)" in html
    assert '<span class="task">(&lt;t&gt;)</span>' in html and "&lt;h&gt;</div>" in html
    assert "<td>h1</td>" not in html  # hosts only when the API showed them
    assert 'aria-label="Stop &lt;b&gt;&amp;">Stop</a>' in html
    off = str(rows_html(ServerList([_row(status="SHUTOFF")], shows_hosts=True), "/d"))
    assert 'aria-label="Start web">Start</a>' in off and "Stop" not in off
    assert "<td>h1</td><td>az1/r1</td>" in off
    assert '<span class="status status-shutoff">SHUTOFF</span>' in off
