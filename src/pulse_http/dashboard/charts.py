"""Bar charts drawn on the server as inline SVG: no chart library to ship, nothing for
the browser to run, and the same picture with scripts off.

The page's Content-Security-Policy forbids inline ``style`` attributes and scripts, so a
chart is geometry and presentation attributes only (``fill``, ``x``, ``height``, …); the
stylesheet sets the font and the frame through the ``chart`` class. Every label is
escaped here, where the markup is written: the result is :class:`~markupsafe.Markup`, so
a template includes it as it is, without ``|safe``. Charts are pure functions of their
numbers, so their geometry is unit-tested (``tests/unit/test_dashboard_charts.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Final

import msgspec
from markupsafe import Markup, escape

#: The drawing's own units (the viewBox); the SVG scales to its container's width.
WIDTH: Final = 720
HEIGHT: Final = 220
#: Room for the value labels on the left, the date labels below, the maximum above.
LEFT: Final = 56
RIGHT: Final = 8
TOP: Final = 16
BOTTOM: Final = 28
#: At most this many dates under the bars (the first, the last, and evenly between).
DATE_LABELS: Final = 5
#: A bar no wider than this, centred in its slot (one day is a bar, not a block).
MAX_BAR_WIDTH: Final = 48
BAR_COLOR: Final = "#2457d6"
AXIS_COLOR: Final = "#9aa4b2"
TEXT_COLOR: Final = "#5b6675"


class Point(msgspec.Struct, frozen=True):
    """One bar: its label (a day, as text) and its value (never negative)."""

    label: str
    value: int


class Bar(msgspec.Struct, frozen=True, kw_only=True):
    """A bar as drawn, in viewBox units."""

    label: str
    value: int
    x: float
    y: float
    width: float
    height: float


def number(value: int) -> str:
    """A quantity as people read it: ``150,000``."""
    return f"{value:,}"


def daily(
    items: Iterable[tuple[datetime, int]], first: date, days: int, zone: tzinfo = UTC
) -> list[Point]:
    """``days`` days of ``zone`` from ``first``, each with the sum of the quantities of
    the items whose period starts in it (0 for a day with none: the API leaves empty
    periods out, a chart must not)."""
    sums: dict[date, int] = {}
    for start, quantity in items:
        day = start.astimezone(zone).date()
        sums[day] = sums.get(day, 0) + quantity
    return [
        Point((first + timedelta(days=i)).isoformat(), sums.get(first + timedelta(days=i), 0))
        for i in range(days)
    ]


def bars(points: Sequence[Point]) -> list[Bar]:
    """The bars of ``points``: equal slots across the plot, heights proportional to the
    values (the tallest fills the plot), a value above zero at least one unit high so
    that it is seen."""
    if not points:
        return []
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    top = max(0, *(p.value for p in points))
    slot = plot_width / len(points)
    gap = slot * 0.2 if slot >= 3 else 0.0  # thin bars touch
    width = min(slot - gap, MAX_BAR_WIDTH)
    drawn = []
    for i, point in enumerate(points):
        value = max(point.value, 0)
        height = plot_height * value / top if top else 0.0
        if value and height < 1:
            height = 1.0
        drawn.append(
            Bar(
                label=point.label,
                value=value,
                x=round(LEFT + i * slot + (slot - width) / 2, 2),
                y=round(TOP + plot_height - height, 2),
                width=round(width, 2),
                height=round(height, 2),
            )
        )
    return drawn


def _date_ticks(count: int) -> list[int]:
    """Which bars get a date under them: a few, evenly spread, first and last included."""
    if count <= DATE_LABELS:
        return list(range(count))
    step = (count - 1) / (DATE_LABELS - 1)
    return sorted({round(i * step) for i in range(DATE_LABELS)})


def summary(title: str, points: Sequence[Point], unit: str) -> str:
    """What the chart shows, in one sentence (its accessible name)."""
    if not points:
        return f"{title}: no days to show."
    total = sum(max(p.value, 0) for p in points)
    span = points[0].label if len(points) == 1 else f"{points[0].label} to {points[-1].label}"
    if not total:
        return f"{title}, {span}: no {unit}."
    highest = max(points, key=lambda p: p.value)
    return (
        f"{title}, {span}: {number(total)} {unit} in total, "
        f"the most {number(highest.value)} on {highest.label}."
    )


def bar_chart(title: str, points: Sequence[Point], *, unit: str, chart_id: str) -> Markup:
    """An ``<svg role="img">`` of ``points`` as vertical bars, named by its ``<title>``
    (``chart_id`` makes the ids in it unique on the page), with the maximum and 0 on the
    value axis, a few dates under the bars, and a tooltip (``<title>``) on each bar."""
    drawn = bars(points)
    plot_bottom = HEIGHT - BOTTOM
    top = max((b.value for b in drawn), default=0)
    name = summary(title, points, unit)
    cid = escape(chart_id)
    parts = [
        f'<svg class="chart" id="{cid}" role="img" aria-labelledby="{cid}-title" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{cid}-title">{escape(name)}</title>',
        f'<line x1="{LEFT}" y1="{plot_bottom}" x2="{WIDTH - RIGHT}" y2="{plot_bottom}" '
        f'stroke="{AXIS_COLOR}" stroke-width="1"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{WIDTH - RIGHT}" y2="{TOP}" '
        f'stroke="{AXIS_COLOR}" stroke-width="0.5" stroke-dasharray="4 4"/>',
        f'<text class="axis-max" x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end" '
        f'fill="{TEXT_COLOR}" font-size="11">{escape(number(top))}</text>',
        f'<text x="{LEFT - 6}" y="{plot_bottom + 4}" text-anchor="end" '
        f'fill="{TEXT_COLOR}" font-size="11">0</text>',
    ]
    for bar in drawn:
        label = escape(bar.label)
        parts.append(
            f'<rect x="{bar.x}" y="{bar.y}" width="{bar.width}" height="{bar.height}" '
            f'fill="{BAR_COLOR}" data-label="{label}" data-value="{bar.value}">'
            f"<title>{label}: {escape(number(bar.value))} {escape(unit)}</title></rect>"
        )
    for i in _date_ticks(len(drawn)):
        bar = drawn[i]
        anchor = "start" if i == 0 and len(drawn) > 1 else "middle"
        anchor = "end" if i == len(drawn) - 1 and len(drawn) > 1 else anchor
        x = {"start": bar.x, "middle": round(bar.x + bar.width / 2, 2)}.get(
            anchor, round(bar.x + bar.width, 2)
        )
        parts.append(
            f'<text class="axis-date" x="{x}" y="{HEIGHT - 8}" text-anchor="{anchor}" '
            f'fill="{TEXT_COLOR}" font-size="11">{escape(bar.label)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every interpolated text is escaped above)
