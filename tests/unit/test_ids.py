"""Ids: their shape, their order, and the encoding checked against the plain definition
(each of the 26 characters is 5 bits, most significant first)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from pulse_core import ids

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _spelled_out(value: int, length: int) -> str:
    return "".join(_ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(length)))


@given(now_ms=st.integers(0, 2**50 - 1), random=st.integers(0, 2**80 - 1))
def test_the_body_is_the_time_then_the_random_bits_in_crockford_base32(
    now_ms: int, random: int
) -> None:
    body = ids._body(now_ms, random)
    assert body == _spelled_out(now_ms, 10) + _spelled_out(random, 16)


@given(now_ms=st.integers(0, 2**50 - 1), seed=st.text(max_size=40))
def test_derived_ids_are_valid_stable_and_stamped(now_ms: int, seed: str) -> None:
    made = ids.derived_id(ids.DELIVERY, now_ms=now_ms, seed=seed)
    assert made == ids.derived_id(ids.DELIVERY, now_ms=now_ms, seed=seed)
    assert ids.is_valid_id(made, ids.DELIVERY)
    assert made[4:14] == _spelled_out(now_ms, 10)


@given(st.lists(st.integers(0, 2**50 - 1), min_size=2, max_size=20))
def test_new_ids_sort_by_time(stamps: list[int]) -> None:
    made = [ids.new_id(ids.EVENT, now_ms=ms) for ms in stamps]
    assert all(ids.is_valid_id(m, ids.EVENT) for m in made)
    by_id = sorted(range(len(made)), key=lambda i: made[i])
    assert [stamps[i] for i in by_id] == sorted(stamps)


def test_a_time_past_50_bits_keeps_its_low_bits_as_before() -> None:
    assert ids.new_id(ids.EVENT, now_ms=2**50 + 5)[4:14] == _spelled_out(5, 10)


@given(
    cut=st.integers(1, 2**50 - 1),
    now_ms=st.integers(0, 2**50 - 1),
    seed=st.text(max_size=20),
)
def test_first_at_splits_ids_made_before_a_time_from_the_others(
    cut: int, now_ms: int, seed: str
) -> None:
    bound = ids.first_at(ids.DELIVERY, now_ms=cut)
    assert ids.is_valid_id(bound, ids.DELIVERY)
    for made in (
        ids.new_id(ids.DELIVERY, now_ms=now_ms),
        ids.derived_id(ids.DELIVERY, now_ms=now_ms, seed=seed),
    ):
        assert (made < bound) == (now_ms < cut)


@given(now_ms=st.integers(0, 253_402_300_799_999), seed=st.text(max_size=20))
def test_moment_of_reads_back_the_time_an_id_was_stamped(now_ms: int, seed: str) -> None:
    expected = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=now_ms)
    assert ids.moment_of(ids.new_id(ids.DELIVERY, now_ms=now_ms)) == expected
    assert ids.moment_of(ids.derived_id(ids.EVENT, now_ms=now_ms, seed=seed)) == expected
