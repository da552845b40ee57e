"""RFC 9457 problem+json: the one place where errors become HTTP responses.

Core errors map by class; Litestar's own errors (validation, 404 route, 405, 413) keep
their status and get the same body shape. Anything else is a 500 whose details go to the
log (with the request id) and never to the client.
"""

from __future__ import annotations

from typing import Any

import msgspec
import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from pulse_core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    PulseError,
    QuotaExceeded,
    RateLimited,
    Unauthenticated,
    Unavailable,
    Unprocessable,
)
from pulse_http.head_requests import with_head
from pulse_http.rate_limit_headers import whole_seconds

PROBLEM_JSON = "application/problem+json"
_STATUS: dict[type[PulseError], int] = {
    InvalidInput: 400,
    Unauthenticated: 401,
    PermissionDenied: 403,
    NotFound: 404,
    Conflict: 409,
    RateLimited: 429,
    Unavailable: 503,
    Unprocessable: 422,
}
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_CODES = {
    400: "invalid_input",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}
WWW_AUTHENTICATE = 'Bearer realm="pulse", X-Pulse-Key realm="pulse"'
UNEXPECTED_DETAIL = "internal error; quote the request_id"

_log = structlog.get_logger("pulse.http")


class FieldError(msgspec.Struct, frozen=True, omit_defaults=True):
    field: str
    message: str


class Problem(msgspec.Struct, frozen=True, omit_defaults=True):
    type: str
    title: str
    status: int
    detail: str
    code: str
    field: str | None = None
    errors: list[FieldError] | None = None
    request_id: str | None = None
    # A quota refusal's limit, its value and the current use (API.md, "Usage and quotas").
    limit: str | None = None
    value: int | None = None
    used: int | None = None


def problem_response(
    request: Request[Any, Any, Any],
    status: int,
    *,
    detail: str,
    code: str | None = None,
    field: str | None = None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Problem]:
    body = problem_body(
        status,
        detail=detail,
        request_id=_request_id(request),
        code=code,
        field=field,
        errors=errors,
    )
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def problem_body(
    status: int,
    *,
    detail: str,
    request_id: str | None,
    code: str | None = None,
    field: str | None = None,
    errors: list[FieldError] | None = None,
) -> Problem:
    code = code or _CODES.get(status, "error")
    return Problem(
        type=f"urn:pulse:problem:{code}",
        title=_TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        code=code,
        field=field,
        errors=errors,
        request_id=request_id,
    )


def pulse_problem(exc: PulseError, request_id: str | None) -> tuple[Problem, dict[str, str]]:
    """The problem+json body and extra headers of a core error (status: ``body.status``).

    Shared by the Litestar exception handler and the token fast path.
    """
    status = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 500)
    headers: dict[str, str] = {}
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = WWW_AUTHENTICATE
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(max(1, whole_seconds(exc.retry_after)))
    if isinstance(exc, Unavailable):
        _log.warning("backend_unavailable", detail=exc.detail)
    body = problem_body(
        status, detail=exc.detail, request_id=request_id, code=exc.code, field=exc.field
    )
    if isinstance(exc, QuotaExceeded):
        body = msgspec.structs.replace(body, limit=exc.limit, value=exc.value, used=exc.used)
    return body, headers


def unexpected_problem(exc: Exception, request_id: str | None) -> Problem:
    """Log an unexpected error (with the request id bound) and say only that it happened."""
    _log.exception("unhandled_error", error_type=type(exc).__name__)
    return problem_body(500, detail=UNEXPECTED_DETAIL, request_id=request_id)


def _request_id(request: Request[Any, Any, Any]) -> str | None:
    request_id: str | None = request.scope.get("state", {}).get("request_id")
    return request_id


def pulse_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    assert isinstance(exc, PulseError)
    body, headers = pulse_problem(exc, _request_id(request))
    return Response(body, status_code=body.status, media_type=PROBLEM_JSON, headers=headers)


def _field_of(key: str) -> str:
    # Litestar reports msgspec paths like "data.settings.webhook_url" or "$.name".
    for prefix in ("data.", "$."):
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


def http_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    if isinstance(exc, ValidationException):
        errors = []
        for item in exc.extra if isinstance(exc.extra, list) else []:
            if isinstance(item, dict):
                message = str(item.get("message", "invalid value"))
                key = _field_of(str(item.get("key") or ""))
                unknown = _unknown_field(message)
                if unknown is not None:
                    key = f"{key}.{unknown}" if key and key != "data" else unknown
                errors.append(FieldError(field=key or "body", message=message))
        first = errors[0] if errors else None
        detail = f"{first.field}: {first.message}" if first else f"malformed JSON: {exc.detail}"
        return problem_response(
            request,
            400,
            detail=detail,
            field=first.field if first else None,
            errors=errors or None,
        )
    if status == 413:
        return problem_response(request, 413, detail="request body is too large", field="body")
    headers = with_head(exc.headers or {})
    if status == 401:
        headers.setdefault("WWW-Authenticate", WWW_AUTHENTICATE)
    return problem_response(request, status, detail=_plain(exc.detail), headers=headers)


def _unknown_field(message: str) -> str | None:
    # msgspec: "Object contains unknown field `foo`"
    if "unknown field `" in message:
        return message.split("unknown field `", 1)[1].split("`", 1)[0]
    return None


def _plain(detail: str) -> str:
    return detail or "request failed"


def bad_encoding_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    # Litestar lets msgspec's UnicodeDecodeError through for bodies that are not UTF-8.
    return problem_response(request, 400, detail="request body is not valid UTF-8", field="body")


def unexpected_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    body = unexpected_problem(exc, _request_id(request))
    return Response(body, status_code=500, media_type=PROBLEM_JSON)


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    PulseError: pulse_error_handler,
    HTTPException: http_error_handler,
    UnicodeDecodeError: bad_encoding_handler,
    Exception: unexpected_error_handler,
}
