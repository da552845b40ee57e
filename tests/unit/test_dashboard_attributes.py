"""The participant page's attributes field (pulse_http.dashboard.pages.participants):
``key=value`` lines into the API's attribute changes; in a browser in
tests/dashboard/test_rooms.py."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pulse_core.errors import InvalidInput
from pulse_http.dashboard.pages.participants import attributes_of

_TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=12)
_KEYS = _TEXT.filter(lambda k: "=" not in k and k.strip() != "")


@given(st.dictionaries(_KEYS, _TEXT, min_size=1, max_size=6), st.booleans())
def test_lines_written_are_the_changes_read(changes: dict[str, str], crlf: bool) -> None:
    if len({k.strip() for k in changes}) < len(changes):
        return  # two keys the same once trimmed: refused, below
    text = ("\r\n" if crlf else "\n").join(f"{k}={v}" for k, v in changes.items())
    assert attributes_of(text) == {k.strip(): v.strip() for k, v in changes.items()}


def test_blank_is_no_change_and_bad_lines_are_named() -> None:
    assert attributes_of("") is None
    assert attributes_of("\n  \n") is None
    assert attributes_of("a=b=c\n\nd=") == {"a": "b=c", "d": ""}  # the first "=" splits
    for text, message in (
        ("team", "line 1 is not key=value"),
        ("a=1\n=2", "line 2 is not key=value"),
        ("a=1\n a =2", "a is written twice"),
    ):
        with pytest.raises(InvalidInput) as refused:
            attributes_of(text)
        assert (refused.value.detail, refused.value.field) == (message, "attributes")
