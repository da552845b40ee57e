"""What an edit page sends back (``shown``) and how a save keeps only the person's
edits (pulse_http.dashboard.forms; end to end in tests/http/test_dashboard_edits.py)."""

from __future__ import annotations

import json

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from pulse_http.dashboard.forms import SHOWN, Form, edits, shown_field
from pulse_http.schemas.webhooks import UpdateEndpoint

_NAMES = st.text(min_size=1, max_size=12).filter(lambda n: n != SHOWN)
_VALUES = st.one_of(st.text(max_size=20), st.booleans(), st.lists(st.text(max_size=8)))


@given(st.dictionaries(_NAMES, _VALUES, max_size=8))
def test_a_page_s_values_come_back_as_the_browser_would_post_them(
    values: dict[str, str | bool | list[str]],
) -> None:
    shown = Form({SHOWN: shown_field(values)}, {}).shown()
    assert shown is not None
    # A ticked box posts "true", an unticked one nothing; text and lists as they are.
    assert shown.values == {
        k: "true" if v is True else v for k, v in values.items() if isinstance(v, str) or v is True
    }
    assert shown.lists == {k: v for k, v in values.items() if isinstance(v, list)}


def test_what_no_page_sends_is_no_record_and_the_form_is_taken_whole() -> None:
    for raw in (
        "",
        "null",
        "not json",
        "[]",
        '"text"',
        '{"a": 1}',
        '{"a": [1]}',
        '{"a": {"b": "c"}}',
        "[" * 100_000 + "]" * 100_000,
    ):
        assert Form({SHOWN: raw}, {}).shown() is None, raw[:20]
    assert Form({}, {}).shown() is None


def _endpoint(form: Form) -> UpdateEndpoint:
    return form.to(
        UpdateEndpoint,
        lists=["event_types"],
        enabled=form.get("enabled") == "true",
        url=form.get("url"),
        description=form.get("description"),
    )


def test_edits_keep_only_the_fields_the_person_changed() -> None:
    page = {"url": "https://a.example", "description": "", "event_types": [], "enabled": True}
    typed = Form(
        {
            "url": "https://a.example",
            "description": "new",
            "enabled": "true",
            SHOWN: shown_field(page),
        },
        {"event_types": ["room.started"]},
    )
    assert edits(typed, _endpoint) == UpdateEndpoint(
        description="new", event_types=["room.started"]
    )
    # Unticking "enabled" is a change too, and a form sent back untouched changes nothing.
    unticked = Form({"url": "https://a.example", SHOWN: shown_field(page)}, {})
    assert edits(unticked, _endpoint) == UpdateEndpoint(enabled=False)
    same = Form({"url": "https://a.example", "enabled": "true", SHOWN: shown_field(page)}, {})
    assert msgspec.structs.asdict(edits(same, _endpoint)) == msgspec.structs.asdict(
        UpdateEndpoint()
    )


class _Limits(msgspec.Struct, frozen=True, kw_only=True):
    name: str | msgspec.UnsetType = msgspec.UNSET
    ttl: int | msgspec.UnsetType = msgspec.UNSET


def test_a_record_the_form_cannot_be_built_from_leaves_the_form_whole() -> None:
    typed = Form({"name": "a", "ttl": "60", SHOWN: json.dumps({"name": "a", "ttl": "abc"})}, {})
    assert edits(typed, lambda f: f.to(_Limits)) == _Limits(name="a", ttl=60)
    # The same record, readable: the unchanged name is left out.
    typed = Form({"name": "a", "ttl": "60", SHOWN: json.dumps({"name": "a", "ttl": "30"})}, {})
    assert edits(typed, lambda f: f.to(_Limits)) == _Limits(ttl=60)
