"""The rules of ``Idempotency-Key`` (pulse_core.services.idempotency), on the in-memory
store: which keys are valid, what makes two requests the same, which answers are kept."""

from __future__ import annotations

import pytest

from pulse_adapters.clock import ManualClock
from pulse_adapters.memory import InMemoryIdempotencyStore
from pulse_core.errors import Conflict, InvalidInput, Unprocessable
from pulse_core.ports.idempotency import StoredResponse
from pulse_core.services.idempotency import (
    HEADER,
    Claim,
    IdempotencyService,
    fingerprint,
    is_answer,
    parse_key,
)


@pytest.mark.parametrize("key", ["a", " ", "~", "x" * 255, "0b4f2a8e-uuid", "a, b"])
def test_printable_ascii_keys_up_to_255_are_valid(key: str) -> None:
    assert parse_key([key]) == key


@pytest.mark.parametrize(
    "values",
    [[], ["a", "b"], [""], ["x" * 256], ["clé"], ["tab\t"], ["nl\n"], ["del\x7f"]],
    ids=["none", "two", "empty", "long", "accent", "tab", "newline", "del"],
)
def test_anything_else_is_invalid_input_naming_the_header(values: list[str]) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_key(values)
    assert caught.value.field == HEADER


def test_the_fingerprint_separates_method_path_query_and_body() -> None:
    base = fingerprint("POST", "/v1/projects", b"", b"{}")
    assert base == fingerprint("POST", "/v1/projects", b"", b"{}")
    others = [
        fingerprint("PUT", "/v1/projects", b"", b"{}"),
        fingerprint("POST", "/v1/projects/x", b"", b"{}"),
        fingerprint("POST", "/v1/projects", b"a=1", b"{}"),
        fingerprint("POST", "/v1/projects", b"", b"{ }"),
        # Moving bytes across a boundary is another request.
        fingerprint("POST", "/v1/projects", b"{", b"}"),
    ]
    assert len({base, *others}) == len(others) + 1


@pytest.mark.parametrize(
    ("status", "kept"),
    [(200, True), (201, True), (204, True), (400, True), (404, True), (409, True),
     (408, False), (429, False), (500, False), (503, False)],
)  # fmt: skip
def test_final_answers_are_kept_and_try_again_later_is_not(status: int, kept: bool) -> None:
    assert is_answer(status) is kept


async def test_the_service_claims_replays_and_refuses(clock: ManualClock) -> None:
    service = IdempotencyService(InMemoryIdempotencyStore(clock))
    claim = await service.begin("caller", "k", "fp")
    assert isinstance(claim, Claim)
    with pytest.raises(Conflict) as busy:
        await service.begin("caller", "k", "fp")
    assert busy.value.code == "idempotency_key_in_use" and busy.value.field == HEADER
    with pytest.raises(Unprocessable) as reused:
        await service.begin("caller", "k", "other")
    assert reused.value.code == "idempotency_key_reused" and reused.value.field == HEADER
    answer = StoredResponse(status=404, headers=(), body=b"{}")
    await service.finish(claim, answer)
    assert await service.begin("caller", "k", "fp") == answer


async def test_a_server_error_releases_the_key(clock: ManualClock) -> None:
    service = IdempotencyService(InMemoryIdempotencyStore(clock))
    claim = await service.begin("caller", "k", "fp")
    assert isinstance(claim, Claim)
    await service.finish(claim, StoredResponse(status=503))
    # Released: any request may take the key now, and does the work.
    assert isinstance(await service.begin("caller", "k", "another request"), Claim)
