"""Names and descriptions (:func:`pulse_core.services.validation.text`): what people
read in the dashboard, the audit log and a customer's own UI shows as what it is."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pulse_core.errors import InvalidInput
from pulse_core.services.validation import INVISIBLE, text

READABLE = [
    "Acme Video",
    "Ünïcödé 東京 Ελληνικά",
    "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian, with its zero-width non-joiner
    "क्\u200dष",  # Devanagari with a zero-width joiner
    "team 👩\u200d💻",  # an emoji sequence joined by U+200D
    "שלום עולם",  # right-to-left text, no control needed
]


@pytest.mark.parametrize("value", READABLE)
def test_text_of_any_script_is_kept(value: str) -> None:
    assert text(value, "name", max_length=200) == value


@given(
    before=st.text(max_size=20),
    hidden=st.sampled_from(sorted(INVISIBLE)),
    after=st.text(max_size=20),
)
def test_a_text_holding_an_invisible_or_direction_character_is_refused(
    before: str, hidden: str, after: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        text(f"ok{before}{hidden}{after}ok", "name", max_length=200)
    assert refused.value.field == "name"


def test_a_right_to_left_override_is_refused_by_name() -> None:
    # "invoice_\u202egpj.exe" shows as "invoice_exe.jpg".
    with pytest.raises(InvalidInput, match="invisible or text-direction"):
        text("invoice_\u202egpj.exe", "description", max_length=200)
