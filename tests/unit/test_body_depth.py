"""Request bodies: nesting is bounded before decoding, whatever the body holds."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pulse_core.errors import InvalidInput
from pulse_http.strict_body import MAX_JSON_DEPTH, check_depth

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab', max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=60,
)


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


def _nest(value: Any, levels: int) -> Any:
    for i in range(levels):
        value = [value] if i % 2 else {"k": value}
    return value


@given(value=_json, extra=st.integers(0, 2 * MAX_JSON_DEPTH))
def test_depth_check_agrees_with_the_real_depth(value: Any, extra: int) -> None:
    nested = _nest(value, extra)
    body = json.dumps(nested).encode()
    if _depth(nested) <= MAX_JSON_DEPTH:
        check_depth(body)
    else:
        with pytest.raises(InvalidInput, match="deeper than"):
            check_depth(body)


@given(depth=st.integers(0, 3 * MAX_JSON_DEPTH))
def test_brackets_inside_strings_do_not_count(depth: int) -> None:
    check_depth(json.dumps({"metadata": "[{" * depth + '\\"' + "]" * depth}).encode())


def test_a_thousand_levels_are_refused_quickly_and_cleanly() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_depth(b'{"output": ' + b"[" * 1000 + b"]" * 1000 + b"}")
    assert caught.value.field == "body"
