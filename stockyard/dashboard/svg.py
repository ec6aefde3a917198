"""Server-side SVG of nested failure domains: region > zone > rack > host boxes.

One small layout for both pictures (an HA group over its domains, the operator's floor
plan): containers lay their children side by side under a title bar, a leaf (a host)
lists its lines (members, or occupancy) one under another. Colours come from CSS classes
(``svg-*`` in dashboard.css): the page's CSP forbids inline styles, and classes keep the
picture readable in both pictures' legends. Every box has a ``<title>`` (a tooltip and
what a screen reader announces) and ``data-*`` attributes tests and scripts can select.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from markupsafe import Markup, escape

PAD = 8
TITLE = 22
LINE = 16
LEAF_W = 150
LEAF_MAX_W = 260
CHAR_W = 7.0  # an average glyph at 12 px, for truncating labels that would overflow


@dataclass
class Box:
    """A domain to draw: ``kind`` (region/az/rack/host) and extra ``css`` pick its colour,
    ``data`` becomes ``data-*`` attributes, ``lines`` are a leaf's text rows."""

    label: str
    kind: str
    css: str = ""
    title: str = ""
    data: dict[str, str] = field(default_factory=dict)
    children: list[Box] = field(default_factory=list)
    lines: list[tuple[str, str]] = field(default_factory=list)  # (text, css class)
    # Filled by layout():
    x: float = 0
    y: float = 0
    w: float = 0
    h: float = 0


def _measure(box: Box) -> None:
    if not box.children:
        # As wide as its longest text (host names are long), within reason.
        longest = max([len(box.label), *(len(text) for text, _ in box.lines)])
        box.w = min(max(LEAF_W, longest * CHAR_W + 2 * PAD), LEAF_MAX_W)
        box.h = TITLE + max(1, len(box.lines)) * LINE + PAD
        return
    for child in box.children:
        _measure(child)
    box.w = sum(c.w for c in box.children) + PAD * (len(box.children) + 1)
    box.h = TITLE + max(c.h for c in box.children) + PAD
    # Hosts of a rack stack vertically: a rack is a column, as in the room.
    if box.kind == "rack":
        box.w = max(c.w for c in box.children) + 2 * PAD
        box.h = TITLE + sum(c.h for c in box.children) + PAD * len(box.children)


def _place(box: Box, x: float, y: float) -> None:
    box.x, box.y = x, y
    if box.kind == "rack":
        cy = y + TITLE
        for child in box.children:
            _place(child, x + PAD, cy)
            cy += child.h + PAD
        return
    cx = x + PAD
    for child in box.children:
        _place(child, cx, y + TITLE)
        cx += child.w + PAD


def _clip(text: str, width: float) -> str:
    room = int((width - 2 * PAD) / CHAR_W)
    return text if len(text) <= room else text[: max(room - 1, 1)] + "…"


def _draw(box: Box, out: list[str]) -> None:
    css = f"svg-{box.kind} {box.css}".strip()
    data = "".join(f' data-{k}="{escape(v)}"' for k, v in sorted(box.data.items()))
    out.append(f'<g class="{css}"{data}>')
    out.append(f"<title>{escape(box.title or box.label)}</title>")
    out.append(
        f'<rect x="{box.x:.0f}" y="{box.y:.0f}" width="{box.w:.0f}" height="{box.h:.0f}" rx="4"/>'
    )
    out.append(
        f'<text class="svg-label" x="{box.x + PAD:.0f}" y="{box.y + 15:.0f}">'
        f"{escape(_clip(box.label, box.w))}</text>"
    )
    for i, (text, line_css) in enumerate(box.lines):
        out.append(
            f'<text class="svg-line {escape(line_css)}" x="{box.x + PAD:.0f}" '
            f'y="{box.y + TITLE + 12 + i * LINE:.0f}">{escape(_clip(text, box.w))}</text>'
        )
    for child in box.children:
        _draw(child, out)
    out.append("</g>")


def render(roots: list[Box], label: str, svg_id: str) -> Markup:
    """The SVG of ``roots`` side by side; ``label`` names the picture for assistive
    technology (the page also carries the same facts as a table)."""
    x = 0.0
    height = 0.0
    for root in roots:
        _measure(root)
        _place(root, x, 0)
        x += root.w + PAD
        height = max(height, root.h)
    width = max(x - PAD, 1)
    out = [
        f'<svg id="{escape(svg_id)}" class="domains" role="img" aria-labelledby="{svg_id}-t" '
        f'viewBox="-1 -1 {width + 2:.0f} {height + 2:.0f}" width="{width + 2:.0f}" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{svg_id}-t">{escape(label)}</title>',
    ]
    for root in roots:
        _draw(root, out)
    out.append("</svg>")
    return Markup("".join(out))
