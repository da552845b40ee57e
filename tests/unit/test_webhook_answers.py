"""What the senders make of a receiver's ``Retry-After``: the receiver chooses every byte,
so no value may do more than be ignored."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from pulse_adapters.http.answers import retry_after_seconds


def test_seconds_and_http_dates_are_read() -> None:
    assert retry_after_seconds(" 120 ") == 120.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # past: now
    assert retry_after_seconds(None) is None


def test_digits_other_than_ascii_are_not_seconds() -> None:
    # str.isdigit() says yes to these, float() says no: once an uncaught ValueError that
    # failed the delivery's job instead of recording its attempt.
    for value in ("\u00b2", "\u0663", "1\u00b2", "\u2460"):
        assert retry_after_seconds(value) is None


@given(st.text())
def test_any_value_is_seconds_or_nothing(value: str) -> None:
    seconds = retry_after_seconds(value)
    assert seconds is None or (seconds >= 0 and not math.isnan(seconds))
