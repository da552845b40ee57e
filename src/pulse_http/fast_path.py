"""What the raw-ASGI fast paths share: reading a body as Litestar reads it, and answering
errors as :mod:`pulse_http.problems` answers them.

:mod:`pulse_http.fast_tokens` and :mod:`pulse_http.fast_livekit` each serve one route in
front of Litestar and must answer exactly as Litestar's handler of that route would.
The two places where that is easiest to get subtly wrong are here, once: the body's
limits (an announced or actual size over ``MAX_BODY_BYTES``, a garbled
``Content-Length``, a body that ends early) and the mapping of exceptions to
problem+json (core errors with their headers, body refusals, anything else a logged 500).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, cast

import msgspec
from litestar.types import Receive, Send

from pulse_core.errors import PulseError
from pulse_http.middleware import INCOMPLETE_BODY
from pulse_http.problems import PROBLEM_JSON, problem_body, pulse_problem, unexpected_problem

Header = tuple[bytes, bytes]

encode: Final = msgspec.json.Encoder().encode
#: The ``Content-Type`` headers of the answers, as Litestar writes them.
JSON: Final[Header] = (b"content-type", b"application/json")
PROBLEM: Final[Header] = (b"content-type", PROBLEM_JSON.encode())


def picked_headers(raw: Iterable[tuple[bytes, bytes]], wanted: frozenset[bytes]) -> dict[str, str]:
    """The ``wanted`` headers (lower-case names), the first of repeated ones, as
    Litestar's ``headers.get`` reads them."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in raw:
        name = raw_name.lower()
        if name in wanted:
            headers.setdefault(name.decode("ascii"), raw_value.decode("latin-1"))
    return headers


async def send_answer(
    send: Send, status: int, headers: list[Header], content_type: Header, payload: bytes
) -> None:
    """One complete answer, with its ``Content-Length``, in two ASGI messages."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, content_type, (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload, "more_body": False})


class Refused(Exception):
    """An HTTP-level refusal while reading the body (what Litestar would raise)."""

    def __init__(self, status: int, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.field = field


async def read_body(receive: Receive, declared: str | None, limit: int) -> bytes:
    """The request body, refused like Litestar refuses it: an announced (``declared``, the
    ``Content-Length`` header) or actual size over ``limit`` is a 413, a garbled
    ``Content-Length`` a 400, a body that ends before its last part a 400."""
    if declared is not None:
        try:
            announced = int(declared)
        except ValueError:
            raise Refused(400, f"Invalid content-length: {declared!r}") from None
        if announced > limit:
            raise Refused(413, "request body is too large", "body")
    message = await receive()
    if message["type"] == "http.request" and not message.get("more_body", False):
        body: bytes = message.get("body", b"")  # the usual case: one message
        if len(body) > limit:
            raise Refused(413, "request body is too large", "body")
        return body
    chunks: list[bytes] = []
    size = 0
    while True:
        if message["type"] == "http.disconnect":
            raise Refused(400, INCOMPLETE_BODY, "body")
        chunk = cast("bytes", message.get("body", b""))
        size += len(chunk)
        if size > limit:
            raise Refused(413, "request body is too large", "body")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
        message = await receive()


def error_answer(exc: Exception, request_id: str | None) -> tuple[int, list[Header], bytes]:
    """``(status, extra headers, problem+json body)`` for ``exc``, as Litestar's exception
    handlers (:data:`pulse_http.problems.EXCEPTION_HANDLERS`) answer it: a core error with
    its ``WWW-Authenticate`` / ``Retry-After``, a body refusal, anything else a 500 whose
    details go to the log only. Call it in the ``except`` block that caught ``exc``: the
    500's log line takes the traceback from there."""
    if isinstance(exc, PulseError):
        problem, headers = pulse_problem(exc, request_id)
        extra = [(k.lower().encode(), v.encode("latin-1")) for k, v in headers.items()]
        return problem.status, extra, encode(problem)
    if isinstance(exc, Refused):
        refusal = problem_body(
            exc.status, detail=exc.detail, request_id=request_id, field=exc.field
        )
        return exc.status, [], encode(refusal)
    return 500, [], encode(unexpected_problem(exc, request_id))
