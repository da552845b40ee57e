"""What the OpenAPI document says beyond what Litestar generates: security schemes,
the problem responses and their headers, parameter and tag descriptions (the facts
:mod:`pulse_http.openapi.document` applies to each operation)."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Any, Final

from pulse_core.models.events import DELIVERY_STATUSES
from pulse_core.models.usage import GRANULARITIES, METRICS
from pulse_core.ports.storage import MAX_URL_EXPIRY_SECONDS
from pulse_core.services.pagination import DEFAULT_LIMIT, MAX_LIMIT
from pulse_http.idempotency import REPLAYED

SCHEMA_PATH: Final = "/schema"
DOCUMENT_PATH: Final = f"{SCHEMA_PATH}/openapi.json"
DOCS_PATH: Final = "/docs"
ASSETS_PATH: Final = f"{DOCS_PATH}/assets"
ASSETS: Final = Path(__file__).parent.parent / "static" / "docs"

IDEMPOTENCY_HEADER: Final = "Idempotency-Key"

# -- security --------------------------------------------------------------------------------

SECURITY_SCHEMES: Final[Mapping[str, Any]] = {
    "ManagementToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": (
            "A management JWT (HS256, signed with `JWT_SECRET`): from `POST /v1/auth/login`, "
            "from `pulse admin-token`, or printed by `pulse serve` in development. "
            "`role` `admin` sees every organization; `owner` and `member` their own "
            "(`member` may only read)."
        ),
    },
    "ProjectKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Pulse-Key",
        "description": "A project's API key, `pulse_key_…`.",
    },
    "ProjectSecret": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Pulse-Secret",
        "description": (
            "The key's secret, `pulse_secret_…`, shown once when the key is made. Sent with "
            "`X-Pulse-Key`."
        ),
    },
    "ProjectKeyBearer": {
        "type": "http",
        "scheme": "bearer",
        "description": (
            "`Authorization: Bearer pulse_key_…`: a project's key alone, accepted only where "
            "the secret is not required (`POST /v1/tokens/validate`)."
        ),
    },
}
#: Each kind of caller's security requirement (``opt["auth"]``; none: public).
SECURITY: Final[Mapping[str, list[dict[str, list[str]]]]] = {
    "management": [{"ManagementToken": []}],
    "project": [{"ProjectKey": [], "ProjectSecret": []}],
    "project_key": [{"ProjectKey": []}, {"ProjectKeyBearer": []}],
}

# -- errors ----------------------------------------------------------------------------------

#: Each problem status: its response's name, what it means, and an example body.
PROBLEMS: Final[Mapping[int, tuple[str, str, str, str]]] = {
    400: (
        "BadRequest",
        "The request is malformed or invalid: a body or parameter that does not fit its "
        "schema (malformed JSON, an unknown or missing field, a wrong type) or a value the "
        "operation refuses. `field` names the offending field.",
        "invalid_input",
        "name: Expected `str`, got `int`",
    ),
    401: (
        "Unauthorized",
        "Missing, malformed, unknown, expired or revoked credentials: the same answer "
        "whatever was wrong, with `WWW-Authenticate`.",
        "unauthenticated",
        "invalid or missing credentials",
    ),
    403: (
        "Forbidden",
        "Valid credentials that do not open this door: the other kind of caller "
        "(`permission_denied`), a key without the scope the route needs "
        "(`insufficient_scope`), a read-only member, or a plan limit (`quota_exceeded`, "
        "with `limit`, `value` and `used`).",
        "insufficient_scope",
        "this key lacks the rooms:write scope",
    ),
    404: (
        "NotFound",
        "No such object, or one of another tenant (never said which).",
        "not_found",
        "project not found",
    ),
    409: (
        "Conflict",
        "The request conflicts with the current state (a duplicate, an object that cannot "
        "change that way), or a request with the same `Idempotency-Key` is still running "
        "(`idempotency_key_in_use`).",
        "conflict",
        "a live organization already has this admin_email",
    ),
    413: (
        "ContentTooLarge",
        "The body is larger than the server accepts (`MAX_BODY_BYTES`).",
        "body_too_large",
        "request body is too large",
    ),
    422: (
        "UnprocessableContent",
        "The `Idempotency-Key` was already used by this caller for a different request "
        "(`idempotency_key_reused`).",
        "idempotency_key_reused",
        "this Idempotency-Key was used for a different request",
    ),
    429: (
        "TooManyRequests",
        "Too many requests: the project's rate limit (its bucket's rate-limit headers say "
        "which), or too many failed authentications from this client. Retry after "
        "`Retry-After` seconds.",
        "rate_limited",
        "rate limit of the 'api' bucket exceeded",
    ),
    503: (
        "ServiceUnavailable",
        "A backend the operation needs (database, queue, LiveKit, storage) is unavailable; "
        "nothing was changed. Try again later.",
        "unavailable",
        "the database is unavailable",
    ),
}
TITLES: Final = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    413: "Content Too Large",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    503: "Service Unavailable",
}
#: What each member of the problem body means (the schema itself is msgspec's, of
#: :class:`Problem`, so it can never drift from what is sent).
PROBLEM_FIELDS: Final[Mapping[str, Mapping[str, str]]] = {
    "Problem": {
        "type": "A URI naming the kind of problem: `urn:pulse:problem:<code>`.",
        "title": "The HTTP status's reason phrase.",
        "status": "The HTTP status code.",
        "detail": "What went wrong, for a person.",
        "code": "A stable machine code (`invalid_input`, `insufficient_scope`, …).",
        "field": "The request field the problem is about (a dotted path), when there is one.",
        "errors": "Every field error found, when the body did not fit its schema.",
        "request_id": "The request's id (also its `X-Request-ID` header): quote it.",
        "limit": "A quota refusal's limit (`quota_exceeded`).",
        "value": "A quota refusal's limit value.",
        "used": "A quota refusal's current use.",
    },
    "FieldError": {
        "field": "The field, as a dotted path (`grants.room_record`).",
        "message": "What is wrong with it.",
    },
}
PROBLEM_DESCRIPTION: Final = (
    "An error, as RFC 9457 problem details (`application/problem+json`) with a stable "
    "machine `code`."
)

# -- headers ---------------------------------------------------------------------------------

HEADERS: Final[Mapping[str, tuple[str, dict[str, Any]]]] = {
    "X-Request-ID": (
        "The request's id (an inbound `X-Request-ID` of 1 to 128 `[A-Za-z0-9._-]` is kept): "
        "quote it when reporting a problem.",
        {"type": "string", "example": "9040d8c8eb6eaedd2fc9cbc63cd2d64e"},
    ),
    "RateLimit-Policy": (
        'The bucket\'s policy (IETF httpapi draft): `"<bucket>";q=<burst>;w=<seconds to earn '
        "a full burst back>`.",
        {"type": "string", "example": '"api";q=100;w=2'},
    ),
    "RateLimit": (
        'What is left (IETF httpapi draft): `"<bucket>";r=<remaining>;t=<seconds until the '
        "full allowance is back>`.",
        {"type": "string", "example": '"api";r=99;t=1'},
    ),
    "X-RateLimit-Limit": ("The bucket's burst.", {"type": "integer", "example": 100}),
    "X-RateLimit-Remaining": (
        "Requests left in the bucket now.",
        {"type": "integer", "example": 99},
    ),
    "X-RateLimit-Reset": (
        "Seconds until the full allowance is back (a delta, not an epoch).",
        {"type": "integer", "example": 1},
    ),
    "Retry-After": ("Seconds to wait before trying again.", {"type": "integer", "example": 1}),
    REPLAYED: (
        "`true` on an answer replayed for a repeated `Idempotency-Key` (the first answer, "
        "the work not done again).",
        {"type": "string", "enum": ["true"], "example": "true"},
    ),
    "WWW-Authenticate": (
        "The credentials this API takes.",
        {"type": "string", "example": 'Bearer realm="pulse", X-Pulse-Key realm="pulse"'},
    ),
}
RATE_LIMIT_HEADERS: Final = (
    "RateLimit-Policy",
    "RateLimit",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
)

#: Litestar describes a success by its status's generic phrase ("Document created, URL
#: follows"); these say it in the API's terms.
STOCK_DESCRIPTIONS: Final = {str(s.value): s.description for s in HTTPStatus}
SUCCESS_DESCRIPTIONS: Final = {
    "200": "OK.",
    "201": "Created.",
    "202": "Accepted: the work goes on in the background.",
    "204": "Done; no content.",
}

# -- parameters, tags, the document's description --------------------------------------------

_ID_EXAMPLES: Final = {
    "org_id": "org_01M8T76XB3Y3Z5PJYJH5T1ZC29",
    "project_id": "prj_01M8T76XBA01F2Z16J4GCEBSZ1",
    "egress_id": "eg_01M8T76XC38K4GVZ7CBKWFSYME",
    "ingress_id": "ig_01M8T76XCFPY8WD2WM4GGX9MF9",
    "recording_id": "rec_cm9vbXMvZGVtby9lZ18wMU04VDc2WEMzOEs0R1ZaN0NCS1dGU1lNRS5tcDQ",
    "endpoint_id": "whe_01M8T76XCQ3V4A7Y5QH2R9N1KD",
    "delivery_id": "dlv_01M8T76XCT4W6B8Z7RJ3S0P2ME",
    "event_id": "evt_01M8T76XCV5X7C9A8SK4T1Q3NF",
    "key_id": "key_01M8T76XD5YE0R17ZXTHEPXW5H",
    "user_id": "usr_01M8T76XD97K6P7X6CKMM20R83",
    "resource_id": "prj_01M8T76XBA01F2Z16J4GCEBSZ1",
}
#: Parameter descriptions by ``(name, in)``; a route's own ``Parameter(description=...)``
#: wins. ``tests/http/test_openapi.py`` checks that every parameter has one.
PARAMETERS: Final[Mapping[tuple[str, str], str]] = {
    ("org_id", "path"): "The organization's id.",
    ("org_id", "query"): "Only this organization's projects.",
    ("project_id", "path"): "The project's id.",
    ("name", "path"): "The room's name, as the project names it.",
    ("identity", "path"): "The participant's identity in the room.",
    ("egress_id", "path"): "The egress's id.",
    ("ingress_id", "path"): "The ingress's id.",
    ("recording_id", "path"): "The recording's id.",
    ("endpoint_id", "path"): "The webhook endpoint's id.",
    ("endpoint_id", "query"): "Only deliveries to this endpoint.",
    ("delivery_id", "path"): "The delivery's id.",
    ("event_id", "query"): "Only deliveries of this event.",
    ("key_id", "path"): "The key's id.",
    ("user_id", "path"): "The user's id.",
    ("limit", "query"): "At most this many items (default 50, at most 200).",
    ("cursor", "query"): "The `next_cursor` of the previous page; omitted for the first page.",
    ("room", "query"): "Only the objects of this room (the project's room name).",
    ("type", "query"): "Only events of these types, comma-separated (`participant.joined,…`).",
    ("since", "query"): "Only what happened at or after this time (ISO 8601 with a time zone).",
    ("until", "query"): "Only what happened before this time (ISO 8601 with a time zone).",
    ("from", "query"): "Start of the window (ISO 8601 with a time zone); default: the "
    "start of the current UTC month.",
    ("to", "query"): "End of the window, exclusive (ISO 8601 with a time zone); default: now.",
    ("granularity", "query"): "`hour`, `day` (default) or `month`.",
    ("metric", "query"): "Only this metric (`participant_minutes`, `egress_minutes`, "
    "`ingress_minutes`, `tokens_created`, `api_requests`, `webhook_deliveries`, "
    "`recording_bytes`); default: all.",
    ("status", "query"): "Only deliveries in this status: `pending`, `succeeded`, `failed` "
    "or `dead`.",
    ("action", "query"): "Only entries of this action (`project.created`, `key.revoked`, …).",
    ("resource_id", "query"): "Only entries about this object.",
    ("expires_in", "query"): "Seconds the URL stays valid (default: the storage's default).",
    ("key", "path"): "The recording's storage key, as the signed URL names it.",
    ("expires", "query"): "When the signed URL expires (part of the signature).",
    ("signature", "query"): "The URL's signature.",
}
#: What a query parameter's schema says beyond its type: the values and bounds the
#: services accept (they refuse anything else with a 400 naming the parameter).
PARAMETER_SCHEMAS: Final[Mapping[tuple[str, str], Mapping[str, Any]]] = {
    ("limit", "query"): {"minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    ("granularity", "query"): {"enum": list(GRANULARITIES), "default": "day"},
    ("metric", "query"): {"enum": list(METRICS)},
    ("status", "query"): {"enum": list(DELIVERY_STATUSES)},
    ("expires_in", "query"): {"minimum": 1, "maximum": MAX_URL_EXPIRY_SECONDS},
}
PARAMETER_EXAMPLES: Final[Mapping[str, Any]] = {
    **_ID_EXAMPLES,
    "name": "demo",
    "identity": "alice",
    "room": "demo",
    "limit": 50,
    "type": "participant.joined,participant.left",
    "since": "2026-11-01T00:00:00Z",
    "until": "2026-12-01T00:00:00Z",
    "from": "2026-11-01T00:00:00Z",
    "to": "2026-12-01T00:00:00Z",
    "granularity": "day",
    "metric": "participant_minutes",
    "status": "dead",
    "action": "key.revoked",
    "expires_in": 3600,
}
IDEMPOTENCY_PARAMETER: Final[Mapping[str, Any]] = {
    "name": IDEMPOTENCY_HEADER,
    "in": "header",
    "required": False,
    "description": (
        "Makes the write safe to retry: a repeat with the same key, caller and request "
        "within 24 hours returns the first answer without doing the work again. The same "
        "key with a different request is 422 `idempotency_key_reused`; a repeat while the "
        "first is still running is 409 `idempotency_key_in_use`."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
}

TAGS: Final[list[dict[str, str]]] = [
    {"name": "health", "description": "Liveness, readiness and the service's version."},
    {"name": "organizations", "description": "Tenants (management)."},
    {"name": "projects", "description": "An organization's projects and their keys."},
    {
        "name": "tokens",
        "description": "LiveKit access tokens for a project's end users (project keys).",
    },
    {"name": "rooms", "description": "A project's live rooms and their participants."},
    {"name": "media", "description": "Recording and streaming (egress), ingest (ingress)."},
    {"name": "events", "description": "What happened in a project's rooms, kept 30 days."},
    {"name": "webhooks", "description": "Signed deliveries of a project's events."},
    {"name": "usage", "description": "Metered usage and the organization's plan."},
    {"name": "users", "description": "An organization's people and their invitations."},
    {"name": "sign-in", "description": "Accepting an invitation, signing in and out."},
    {"name": "audit", "description": "Who changed what, in an organization."},
    {"name": "livekit", "description": "Where LiveKit's own webhooks are sent."},
]

INFO_DESCRIPTION: Final = """\
Pulse turns one LiveKit deployment into a multi-tenant video platform: organizations,
projects with API keys, LiveKit access tokens, rooms, recording and streaming, ingest,
usage and signed webhooks.

**Two kinds of caller.** Management callers (dashboards, operators) send
`Authorization: Bearer <JWT>` (`POST /v1/auth/login`, or `pulse admin-token`). Project
callers (a customer's backend) send `X-Pulse-Key` and `X-Pulse-Secret`. Each operation's
security says which it takes; the other kind gets 403, wrong credentials 401.

**Errors** are RFC 9457 `application/problem+json` with a stable `code`; every
operation lists the statuses it can answer. **Lists** are `{"items": [...],
"next_cursor": ...}` with `?limit=` (default 50, at most 200) and `?cursor=`.
**Rate limits:** every answer to a project's credentials carries `RateLimit-Policy`,
`RateLimit` and `X-RateLimit-*`; over the limit it is 429 with `Retry-After`.
**Retries:** every write accepts an optional `Idempotency-Key`.

Guides: `docs/tokens.md` (minting tokens), `docs/api-walkthrough.md`, `docs/webhooks.md`.
"""
