"""The dashboard's server-drawn bar charts: well-formed SVG, bars proportional to their
values and inside the drawing, labels as text, nothing the page's CSP would block."""

from __future__ import annotations

import xml.etree.ElementTree as ET
import zoneinfo
from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from markupsafe import Markup

from pulse_http.dashboard.charts import (
    BOTTOM,
    DATE_LABELS,
    HEIGHT,
    TOP,
    WIDTH,
    Point,
    bar_chart,
    bars,
    daily,
    summary,
)

SVG = "{http://www.w3.org/2000/svg}"


def parsed(markup: str) -> ET.Element:
    """The chart as XML: it must be well formed (an unescaped label would not be)."""
    return ET.fromstring(str(markup))


def rects(svg: ET.Element) -> list[ET.Element]:
    return list(svg.iter(f"{SVG}rect"))


def chart(*values: int, labels: list[str] | None = None) -> ET.Element:
    names = labels or [f"2026-11-{i + 1:02d}" for i in range(len(values))]
    points = [Point(label, value) for label, value in zip(names, values, strict=True)]
    return parsed(bar_chart("Minutes", points, unit="minutes", chart_id="c"))


def test_bar_heights_are_proportional_and_the_tallest_fills_the_plot() -> None:
    svg = chart(5, 10, 0, 20)
    heights = [float(r.get("height", "")) for r in rects(svg)]
    plot = HEIGHT - TOP - BOTTOM
    assert heights == [plot / 4, plot / 2, 0.0, plot]
    bottoms = {float(r.get("y", "")) + float(r.get("height", "")) for r in rects(svg)}
    assert bottoms == {HEIGHT - BOTTOM}  # every bar stands on the axis
    assert [r.get("data-value") for r in rects(svg)] == ["5", "10", "0", "20"]


def test_a_small_value_beside_a_huge_one_is_still_seen() -> None:
    tiny, huge = bars([Point("a", 1), Point("b", 10**9)])
    assert tiny.height >= 1
    assert huge.height == HEIGHT - TOP - BOTTOM


def test_the_axis_shows_the_maximum_and_a_few_dates_first_and_last_included() -> None:
    svg = chart(*range(30), labels=[f"2026-11-{i + 1:02d}" for i in range(30)])
    texts = {t.get("class"): t for t in svg.iter(f"{SVG}text") if t.get("class") == "axis-max"}
    assert texts["axis-max"].text == "29"
    dates = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "axis-date"]
    assert len(dates) == DATE_LABELS
    assert dates[0] == "2026-11-01"
    assert dates[-1] == "2026-11-30"
    big = chart(150_000)
    assert next(t.text for t in big.iter(f"{SVG}text") if t.get("class") == "axis-max") == (
        "150,000"
    )


def test_one_day_is_one_bar_with_its_date() -> None:
    svg = chart(5)
    (bar,) = rects(svg)
    assert float(bar.get("height", "")) == HEIGHT - TOP - BOTTOM
    assert [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "axis-date"] == [
        "2026-11-01"
    ]


def test_the_chart_is_an_image_named_by_its_summary_and_each_bar_has_a_tooltip() -> None:
    svg = chart(0, 5, 3)
    assert svg.get("role") == "img"
    assert svg.get("aria-labelledby") == "c-title"
    title = svg.find(f"{SVG}title")
    assert title is not None
    assert title.get("id") == "c-title"
    assert title.text == (
        "Minutes, 2026-11-01 to 2026-11-03: 8 minutes in total, the most 5 on 2026-11-02."
    )
    tips = [r.findtext(f"{SVG}title") for r in rects(svg)]
    assert tips == ["2026-11-01: 0 minutes", "2026-11-02: 5 minutes", "2026-11-03: 3 minutes"]


def test_zero_data_and_no_data_are_said_so() -> None:
    assert summary("Minutes", [Point("2026-11-01", 0)], "minutes") == (
        "Minutes, 2026-11-01: no minutes."
    )
    assert summary("Minutes", [], "minutes") == "Minutes: no days to show."
    svg = chart(0, 0)
    assert {r.get("height") for r in rects(svg)} == {"0.0"}
    assert parsed(bar_chart("Minutes", [], unit="minutes", chart_id="c")).find(f"{SVG}rect") is None


def test_labels_are_text_not_markup() -> None:
    evil = '<script>alert(1)</script>"&'
    markup = bar_chart(evil, [Point(evil, 3)], unit="<b>u</b>", chart_id='x"y')
    assert isinstance(markup, Markup)  # the template includes it as it is: escaped here
    assert "<script>" not in markup
    assert "<b>" not in markup
    svg = parsed(markup)
    assert svg.get("id") == 'x"y'
    (bar,) = rects(svg)
    assert bar.get("data-label") == evil
    assert bar.findtext(f"{SVG}title") == f"{evil}: 3 <b>u</b>"
    assert evil in (svg.findtext(f"{SVG}title") or "")


def test_no_style_attributes_or_scripts_for_the_csp_to_block() -> None:
    markup = str(bar_chart("Minutes", [Point("a", 1), Point("b", 2)], unit="m", chart_id="c"))
    svg = parsed(markup)
    for element in svg.iter():
        assert "style" not in element.attrib, element.tag
        assert not any(name.startswith("on") for name in element.attrib), element.attrib
        assert element.tag not in (f"{SVG}script", f"{SVG}style", f"{SVG}foreignObject")


def test_daily_fills_the_days_without_usage_with_zero_and_sums_each_day() -> None:
    items = [
        (datetime(2026, 11, 2, tzinfo=UTC), 5),
        (datetime(2026, 11, 2, tzinfo=UTC), 2),
        (datetime(2026, 11, 4, tzinfo=UTC), 1),
        (datetime(2026, 11, 9, tzinfo=UTC), 99),  # after the window: not shown
    ]
    assert daily(items, date(2026, 11, 1), 4) == [
        Point("2026-11-01", 0),
        Point("2026-11-02", 7),
        Point("2026-11-03", 0),
        Point("2026-11-04", 1),
    ]
    assert daily([], date(2026, 11, 1), 1) == [Point("2026-11-01", 0)]


@given(st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=400))
def test_every_bar_fits_in_the_view_box_and_keeps_its_order(values: list[int]) -> None:
    points = [Point(f"d{i}", v) for i, v in enumerate(values)]
    svg = parsed(bar_chart("Minutes", points, unit="minutes", chart_id="c"))
    assert svg.get("viewBox") == f"0 0 {WIDTH} {HEIGHT}"
    drawn = rects(svg)
    assert len(drawn) == len(values)
    previous_end = 0.0
    for rect, value in zip(drawn, values, strict=True):
        x, y = float(rect.get("x", "")), float(rect.get("y", ""))
        width, height = float(rect.get("width", "")), float(rect.get("height", ""))
        assert x >= 0 and x + width <= WIDTH + 0.01
        assert y >= TOP - 0.01 and y + height <= HEIGHT - BOTTOM + 0.01
        assert width > 0
        assert x >= previous_end - 0.02  # no overlap, left to right in order
        previous_end = x + width
        assert (height > 0) == (value > 0)
    for text in svg.iter(f"{SVG}text"):
        assert 0 <= float(text.get("x", "")) <= WIDTH
        assert 0 <= float(text.get("y", "")) <= HEIGHT
    top = max(values)
    if top:
        tallest = max(float(r.get("height", "")) for r in drawn)
        assert abs(tallest - (HEIGHT - TOP - BOTTOM)) < 0.01


_ZONES = st.sampled_from(
    ["UTC", "America/New_York", "Asia/Tokyo", "Asia/Kolkata", "Pacific/Chatham"]
)


@given(
    st.lists(
        st.tuples(
            st.datetimes(
                min_value=datetime(2026, 1, 2),
                max_value=datetime(2026, 12, 30),
                timezones=st.just(UTC),
            ),
            st.integers(min_value=0, max_value=10_000),
        ),
        max_size=30,
    ),
    _ZONES,
)
def test_daily_counts_each_item_on_its_day_in_the_zone(
    items: list[tuple[datetime, int]], name: str
) -> None:
    zone = UTC if name == "UTC" else zoneinfo.ZoneInfo(name)
    points = daily(items, date(2026, 1, 1), 365, zone)
    assert [p.label for p in points] == [
        (date(2026, 1, 1) + timedelta(days=i)).isoformat() for i in range(365)
    ]
    expected: dict[str, int] = {}
    for start, quantity in items:
        day = start.astimezone(zone).date().isoformat()
        expected[day] = expected.get(day, 0) + quantity
    assert {p.label: p.value for p in points if p.value} == {k: v for k, v in expected.items() if v}
