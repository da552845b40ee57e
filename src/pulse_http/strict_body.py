"""Strict JSON bodies.

Litestar converts request bodies with msgspec in lax mode (``"60"`` becomes ``60``).
Pulse's API is typed: this ``before_request`` hook decodes the body of every handler
that declares a ``data`` parameter strictly against that type first, so a wrong type,
an unknown or missing field, bad UTF-8 or malformed JSON becomes one
:class:`InvalidInput` naming the field, before the handler runs.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, TypeVar

import msgspec
from litestar import Request

from pulse_core.errors import InvalidInput

T = TypeVar("T")
_NAMED = re.compile(r"(?:unknown|missing required) field `([^`]+)`")

#: The deepest nesting of arrays and objects a request body may have. Pulse's own
#: bodies are a few levels deep; free-form fields (metadata, attributes) get this much.
MAX_JSON_DEPTH = 32
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPENING = frozenset(b"[{")


def check_depth(body: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse ``body`` when its arrays and objects nest deeper than ``max_depth``.

    Runs before decoding, so a hostile body (a thousand ``[``) costs a scan, not the
    decoder's recursion or a ``RecursionError``. Most bodies have fewer brackets in all
    than the limit and skip the scan; the rest have their strings removed (brackets in
    strings do not nest) and their brackets counted."""
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return
    depth = 0
    for byte in _STRINGS.sub(b"", body).translate(None, _NOT_BRACKETS):
        depth += 1 if byte in _OPENING else -1
        if depth > max_depth:
            raise InvalidInput(f"JSON nests deeper than {max_depth} levels", field="body")


@cache
def _decoder(annotation: Any) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(annotation)


def field_of(error: msgspec.ValidationError) -> tuple[str, str]:
    """``(field path, reason)`` from msgspec's message, e.g. ``("rate_limit.burst", ...)``."""
    reason, _, where = str(error).partition(" - at `")
    path = where.rstrip("`").removeprefix("$").lstrip(".")
    named = _NAMED.search(reason)
    if named is not None:
        path = f"{path}.{named.group(1)}" if path else named.group(1)
    return path or "body", reason


# Half a character: a \uD800-\uDBFF escape with no \uDC00-\uDFFF one after it, or the
# other way round. Looked for only in a body msgspec refused, to name its real fault.
_LONE_SURROGATE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


def _decode_reason(exc: msgspec.DecodeError, body: bytes) -> str:
    """msgspec's reason, except for a lone surrogate escape, which it calls the input
    "truncated"."""
    lone = _LONE_SURROGATE.search(body)
    if lone is not None:
        return f"{lone.group().decode()} is half of a character (a lone surrogate)"
    return str(exc)


def decode_strict(decoder: msgspec.json.Decoder[T], body: bytes) -> T:
    """``body`` decoded by ``decoder`` (strict), or one :class:`InvalidInput` naming the
    field; also used by the token fast path, which decodes its body only this once."""
    check_depth(body)
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        field, reason = field_of(exc)
        raise InvalidInput(f"{field}: {reason}", field=field) from exc
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"malformed JSON: {_decode_reason(exc, body)}", field="body") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput("request body is not valid UTF-8", field="body") from exc


async def check_json_body(request: Request[Any, Any, Any]) -> None:
    data = request.route_handler.parsed_fn_signature.parameters.get("data")
    if data is None:
        return
    body = await request.body()
    if not body and data.is_optional:
        return
    decode_strict(_decoder(data.annotation), body)
