"""The OpenAPI document and the interactive docs.

Litestar generates the document from the handlers, their docstrings and their msgspec
types (whose ``msgspec.Meta`` descriptions and examples become the properties'). This
module completes it in one place, from what each route declares next to itself (its
``opt``: ``auth``, ``scope``, ``bucket`` and ``problems``, see :mod:`pulse_http.auth`),
so that no route documents its security or its errors by hand:

- the security schemes (management bearer JWT; ``X-Pulse-Key`` + ``X-Pulse-Secret``; the
  key alone where it is enough) and each operation's security, from ``opt["auth"]``;
- every error an operation can answer, as RFC 9457 problem+json (:class:`Problem`),
  derived from the kind of caller, the method, the parameters and the body, plus the
  statuses a route declares in ``opt["problems"]``: 400, 401, 403, 404, 409, 413, 422,
  429, 503. Litestar's own 400 schema, a shape the API never answers, is removed;
- the response headers: ``X-Request-ID`` on every answer, the rate-limit headers on the
  answers of project routes, ``Retry-After`` on 429, ``WWW-Authenticate`` on 401;
- the optional ``Idempotency-Key`` header of every write route (API.md,
  "Authentication");
- operation ids, summaries (the docstring's first sentence), parameter descriptions,
  component descriptions (the structs' docstrings) and tag descriptions;
- request schemas that refuse unknown fields say so (``additionalProperties: false``),
  and every request body has a whole example, made of its fields' examples (or the
  struct's ``__openapi_example__`` where those do not go together);
- what msgspec cannot say on a field: a struct's ``__openapi_properties__`` (the
  descriptions of inherited fields, the grants Pulse refuses), and the body of a handler
  that reads it itself (``opt["body"]``: LiveKit's signed webhooks).

The document is served at ``/schema/openapi.json``; ``/docs`` (and ``/schema``) is
Swagger UI, whose assets ship in the package (``static/docs``): nothing is loaded from a
CDN. Any other ``/schema/...`` path is a problem+json 404 like every other.
"""

from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Iterator, Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any, Final, get_args, get_origin

import msgspec
from litestar import Litestar, Request, get
from litestar.connection import ASGIConnection
from litestar.controller import Controller
from litestar.datastructures import CacheControlHeader, ResponseHeader
from litestar.enums import MediaType
from litestar.exceptions import NotFoundException
from litestar.handlers import BaseRouteHandler, HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin
from litestar.router import Router
from litestar.routes import HTTPRoute
from litestar.static_files import create_static_files_router

from pulse_http.auth import required_scope
from pulse_http.idempotency import REPLAYED
from pulse_http.problems import PROBLEM_JSON, FieldError, Problem

SCHEMA_PATH: Final = "/schema"
DOCUMENT_PATH: Final = f"{SCHEMA_PATH}/openapi.json"
DOCS_PATH: Final = "/docs"
ASSETS_PATH: Final = f"{DOCS_PATH}/assets"
ASSETS: Final = Path(__file__).parent / "static" / "docs"

#: The methods that write, and so accept ``Idempotency-Key`` (API.md, "Authentication").
WRITES: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
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
_PROBLEMS: Final[Mapping[int, tuple[str, str, str, str]]] = {
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
_TITLES: Final = {
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
_PROBLEM_FIELDS: Final[Mapping[str, Mapping[str, str]]] = {
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
_PROBLEM_DESCRIPTION: Final = (
    "An error, as RFC 9457 problem details (`application/problem+json`) with a stable "
    "machine `code`."
)

# -- headers ---------------------------------------------------------------------------------

_HEADERS: Final[Mapping[str, tuple[str, dict[str, Any]]]] = {
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
_RATE_LIMIT_HEADERS: Final = (
    "RateLimit-Policy",
    "RateLimit",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
)

#: Litestar describes a success by its status's generic phrase ("Document created, URL
#: follows"); these say it in the API's terms.
_STOCK_DESCRIPTIONS: Final = {str(s.value): s.description for s in HTTPStatus}
_SUCCESS_DESCRIPTIONS: Final = {
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
_PARAMETERS: Final[Mapping[tuple[str, str], str]] = {
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
_PARAMETER_EXAMPLES: Final[Mapping[str, Any]] = {
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
_IDEMPOTENCY_PARAMETER: Final[Mapping[str, Any]] = {
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

# -- the route table -------------------------------------------------------------------------

_FRAMEWORK_METHODS: Final = frozenset({"OPTIONS", "HEAD"})


class Operation(msgspec.Struct, frozen=True):
    """One documented operation: its path as the document writes it, its method, and the
    handler that serves it."""

    path: str
    method: str
    handler: HTTPRouteHandler


def operations(app: Litestar) -> Iterator[Operation]:
    """Every operation the document has, with its handler (the route table's view)."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not handler.resolve_include_in_schema():
                continue
            for method in sorted(handler.http_methods - _FRAMEWORK_METHODS):
                yield Operation(route.path_format or "/", str(method), handler)


def problem_statuses(operation: dict[str, Any], method: str, opt: Mapping[str, Any]) -> set[int]:
    """Every error status ``operation`` (a document operation) can answer, from the kind
    of caller, the method, the parameters, the body and the route's ``problems``."""
    statuses = set(opt.get("problems", ()))
    parameters = operation.get("parameters", ())
    body = "requestBody" in operation
    if body or parameters:
        statuses.add(400)  # a parameter or body that does not fit, or a refused value
    if body:
        statuses.add(413)
    if any(parameter["in"] == "path" for parameter in parameters):
        statuses.add(404)
    if opt.get("auth") is not None:
        # Credentials (401/403, failed attempts throttled: 429), and a database behind them.
        statuses |= {401, 403, 429, 503}
        if method in WRITES:
            statuses |= {400, 409, 422}  # Idempotency-Key: malformed, in use, reused
    return statuses


# -- completing the document -----------------------------------------------------------------


def complete_document(document: Mapping[str, Any], app: Litestar) -> dict[str, Any]:
    """Litestar's ``document`` for ``app``, completed as this module's docstring says."""
    done = copy.deepcopy(dict(document))
    done["info"] = {**done.get("info", {}), "description": INFO_DESCRIPTION}
    done["tags"] = TAGS
    components = done.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    _describe_components(schemas, _struct_types(app))
    schemas.update(_problem_schemas())
    components["securitySchemes"] = dict(SECURITY_SCHEMES)
    components["responses"] = {
        name: _problem_response(status) for status, (name, *_) in _PROBLEMS.items()
    }
    found = list(operations(app))
    names = _operation_ids(found)
    for operation in found:
        raw_body = operation.handler.opt.get("body")
        if raw_body is not None:
            schemas[raw_body["name"]] = {
                "type": "object",
                "description": raw_body["description"],
                "additionalProperties": True,
            }
    for operation in found:
        item = done["paths"][operation.path][operation.method.lower()]
        _complete_operation(item, operation, names[operation.handler])
        for media in item.get("requestBody", {}).get("content", {}).values():
            example = _example(media.get("schema", {}), schemas)
            if example is not None:
                media.setdefault("example", example)
    return done


def _example(schema: Mapping[str, Any], schemas: Mapping[str, Any], depth: int = 0) -> Any:
    """An example of ``schema``: its own, or one made of its properties' examples (a
    struct's ``__openapi_example__`` when its fields' examples do not go together)."""
    if depth > 8:
        return None
    if "$ref" in schema:
        return _example(schemas[schema["$ref"].rsplit("/", 1)[-1]], schemas, depth + 1)
    if schema.get("examples"):
        return schema["examples"][0]
    for arms in ("allOf", "oneOf", "anyOf"):
        for arm in schema.get(arms, ()):
            found = _example(arm, schemas, depth + 1)
            if found is not None:
                return found
    if "const" in schema:
        return schema["const"]
    if schema.get("type") == "object" and "properties" in schema:
        example = {}
        for name, spec in schema["properties"].items():
            if spec.get("x-pulse-refused"):
                continue
            value = _example(spec, schemas, depth + 1)
            if value is not None:
                example[name] = value
        return example
    if schema.get("type") == "array" and "items" in schema:
        item = _example(schema["items"], schemas, depth + 1)
        return None if item is None else [item]
    return None


def _complete_operation(item: dict[str, Any], operation: Operation, operation_id: str) -> None:
    opt = operation.handler.opt
    kind = opt.get("auth")
    description = _markdown(item.get("description") or "")
    if description:
        item["description"] = description
        item["summary"] = _summary(description)
    item["operationId"] = operation_id
    item["security"] = copy.deepcopy(SECURITY[kind]) if kind else []
    if kind in ("project", "project_key"):
        # The scope a named key needs: read from the route's own declaration, the one
        # the guard enforces.
        scope = required_scope(opt.get("scope"), operation.method)
        if scope is not None:
            item["x-pulse-scope"] = scope
            item["description"] = f"{item.get('description', '')}\n\nKey scope: `{scope}`."
    raw_body: Mapping[str, Any] | None = opt.get("body")
    if raw_body is not None and "requestBody" not in item:
        # A handler that reads its body itself (a signed webhook) declares what it is.
        ref = {"$ref": f"#/components/schemas/{raw_body['name']}"}
        item["requestBody"] = {
            "required": True,
            "content": {media_type: {"schema": ref} for media_type in raw_body["media_types"]},
        }
    idempotent = kind is not None and operation.method in WRITES
    _complete_parameters(item, idempotent=idempotent)
    responses: dict[str, Any] = item.setdefault("responses", {})
    if _is_litestars_400(responses.get("400")):
        del responses["400"]
    for problem in sorted(problem_statuses(item, operation.method, opt)):
        responses.setdefault(
            str(problem), {"$ref": f"#/components/responses/{_PROBLEMS[problem][0]}"}
        )
    for status, response in responses.items():
        if "$ref" not in response:
            _complete_response(
                status,
                response,
                rate_limited=kind in ("project", "project_key"),
                idempotent=idempotent,
            )


def _complete_parameters(item: dict[str, Any], *, idempotent: bool) -> None:
    parameters = item.get("parameters", [])
    for parameter in parameters:
        key = (parameter["name"], parameter["in"])
        if not parameter.get("description") and key in _PARAMETERS:
            parameter["description"] = _PARAMETERS[key]
        example = _PARAMETER_EXAMPLES.get(parameter["name"])
        if example is not None:
            parameter.setdefault("example", example)
    if idempotent:
        parameters.append(dict(_IDEMPOTENCY_PARAMETER))
    if parameters:
        item["parameters"] = parameters


def _complete_response(
    status: str, response: dict[str, Any], *, rate_limited: bool, idempotent: bool
) -> None:
    """A response the handler declared (a success, or its own error body)."""
    if response.get("description") == _STOCK_DESCRIPTIONS.get(status):
        response["description"] = _SUCCESS_DESCRIPTIONS.get(status, response["description"])
    headers = response.setdefault("headers", {})
    headers.setdefault("X-Request-ID", _header("X-Request-ID", required=True))
    if rate_limited and status.startswith("2"):
        for name in _RATE_LIMIT_HEADERS:
            headers.setdefault(name, _header(name, required=True))
    if idempotent and status.startswith("2"):
        headers.setdefault(REPLAYED, _header(REPLAYED, required=False))
    content = response.get("content")
    if content and "" in content:
        # A file download: Litestar leaves the media type empty.
        media = content.pop("")
        media_type = media.get("schema", {}).get("contentMediaType", MediaType.TEXT)
        content[media_type] = media


def _is_litestars_400(response: Any) -> bool:
    """Whether ``response`` is the 400 Litestar adds to every route with parameters (its
    ``ValidationException`` shape, which Pulse never answers)."""
    if not isinstance(response, dict):
        return False
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return "status_code" in schema.get("properties", {})


def _header(name: str, *, required: bool) -> dict[str, Any]:
    description, schema = _HEADERS[name]
    example = schema.get("example")
    header: dict[str, Any] = {
        "description": description,
        "required": required,
        "schema": {k: v for k, v in schema.items() if k != "example"},
    }
    if example is not None:
        header["example"] = example
    return header


def _problem_response(status: int) -> dict[str, Any]:
    _, description, code, detail = _PROBLEMS[status]
    headers = {"X-Request-ID": _header("X-Request-ID", required=True)}
    if status == 401:
        headers["WWW-Authenticate"] = _header("WWW-Authenticate", required=True)
    if status == 429:
        headers["Retry-After"] = _header("Retry-After", required=True)
        for name in _RATE_LIMIT_HEADERS:
            headers[name] = _header(name, required=False)
    example: dict[str, Any] = {
        "type": f"urn:pulse:problem:{code}",
        "title": _TITLES[status],
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": "9040d8c8eb6eaedd2fc9cbc63cd2d64e",
    }
    if status == 400:
        example["field"] = "name"
    return {
        "description": description,
        "headers": headers,
        "content": {
            PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}, "example": example}
        },
    }


def _problem_schemas() -> dict[str, Any]:
    _, schemas = msgspec.json.schema_components(
        [Problem, FieldError], ref_template="#/components/schemas/{name}"
    )
    for name, fields in _PROBLEM_FIELDS.items():
        for field, description in fields.items():
            schemas[name]["properties"][field]["description"] = description
    schemas["Problem"]["description"] = _PROBLEM_DESCRIPTION
    schemas["FieldError"]["description"] = "One field that did not fit its schema."
    return schemas


def _struct_types(app: Litestar) -> dict[str, type[msgspec.Struct]]:
    """The msgspec structs of every request and response body, by name."""
    found: dict[str, type[msgspec.Struct]] = {}

    def visit(annotation: Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
            if annotation.__name__ not in found:
                found[annotation.__name__] = annotation
                for field in msgspec.structs.fields(annotation):
                    visit(field.type)
            return
        if get_origin(annotation) is Annotated:
            visit(get_args(annotation)[0])
            return
        for argument in get_args(annotation):
            visit(argument)

    for operation in operations(app):
        signature = operation.handler.parsed_fn_signature
        data = signature.parameters.get("data")
        if data is not None:
            visit(data.annotation)
        visit(signature.return_type.annotation)
        for spec in (operation.handler.responses or {}).values():
            visit(spec.data_container)
    return found


def _describe_components(schemas: dict[str, Any], structs: Mapping[str, type[Any]]) -> None:
    """Each component's description is its struct's docstring (Litestar copies a
    property's description onto the component it refers to instead), and a struct's
    ``__openapi_properties__`` (for fields it inherits, which cannot carry a ``Meta``)
    is merged into its properties."""
    for name, schema in schemas.items():
        struct = structs.get(name)
        schema.pop("description", None)
        if struct is None:
            continue
        doc = struct.__dict__.get("__doc__")
        if doc:
            schema["description"] = _markdown(inspect.cleandoc(doc))
        extra: Mapping[str, Mapping[str, Any]] = getattr(struct, "__openapi_properties__", {})
        for field, additions in extra.items():
            schema.get("properties", {}).get(field, {}).update(additions)
        example = getattr(struct, "__openapi_example__", None)
        if example is not None:
            schema["examples"] = [example]
        config = struct.__struct_config__
        if config.forbid_unknown_fields:
            schema["additionalProperties"] = False  # an unknown field is a 400
        tag = schema.get("properties", {}).get(config.tag_field or "")
        if tag is not None and "description" not in tag:
            # A tagged union member's tag (``"type": "file"``): which member this is.
            tag["description"] = f"Always `{config.tag}`: says which kind this is."


def _operation_ids(found: list[Operation]) -> dict[HTTPRouteHandler, str]:
    """An id per handler: its function's name, or ``<controller>_<name>`` where two
    handlers share a name."""
    handlers = list(dict.fromkeys(operation.handler for operation in found))
    counts: dict[str, int] = {}
    for handler in handlers:
        counts[handler.handler_name] = counts.get(handler.handler_name, 0) + 1
    ids: dict[HTTPRouteHandler, str] = {}
    for handler in handlers:
        name = handler.handler_name
        controller = getattr(handler.fn, "__self__", None)
        if counts[name] > 1 and isinstance(controller, Controller):
            prefix = _snake(type(controller).__name__.removesuffix("Controller"))
            name = f"{prefix}_{name}"
        ids[handler] = name
    return ids


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


_RST_LITERAL = re.compile(r"``([^`]+)``")


def _markdown(text: str) -> str:
    """A docstring as Markdown: reST ````literal```` becomes ```literal```."""
    return _RST_LITERAL.sub(r"`\1`", text).strip()


def _summary(description: str) -> str:
    """The first sentence of ``description``, as plain text without its full stop."""
    first = description.split("\n\n", 1)[0].replace("\n", " ")
    return re.split(r"(?<=\.)\s", first, maxsplit=1)[0].rstrip(".").replace("`", "")


# -- serving ---------------------------------------------------------------------------------


class DocumentPlugin(JsonRenderPlugin):
    """Serves the completed document (``/schema/openapi.json``), computed once per app."""

    def __init__(self) -> None:
        super().__init__(path="/openapi.json")
        self._done: dict[str, Any] | None = None

    def document(self, app: Litestar, generated: dict[str, Any]) -> dict[str, Any]:
        if self._done is None:
            self._done = complete_document(generated, app)
        return self._done

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return self.render_json(request, self.document(request.app, openapi_schema))


class DocsPagePlugin(OpenAPIRenderPlugin):
    """Serves the docs page at ``/schema`` too (where Litestar's schema root is)."""

    def __init__(self) -> None:
        super().__init__(path="/")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return DOCS_PAGE


#: The docs page's Content-Security-Policy: scripts and styles from this server only (no
#: inline script), Swagger UI's own inline styles and data: images, calls to this server.
DOCS_CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
DOCS_PAGE: Final = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Pulse API</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css">
<link rel="stylesheet" href="{ASSETS_PATH}/pulse-docs.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{DOCUMENT_PATH}"></div>
<script src="{ASSETS_PATH}/swagger-ui-bundle.js"></script>
<script src="{ASSETS_PATH}/pulse-docs.js"></script>
</body>
</html>
""".encode()
_PAGE_HEADERS: Final = [
    ResponseHeader(name="Content-Security-Policy", value=DOCS_CSP),
    ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
    ResponseHeader(name="Referrer-Policy", value="no-referrer"),
]


@get(
    DOCS_PATH,
    include_in_schema=False,
    media_type=MediaType.HTML,
    response_headers=_PAGE_HEADERS,
    sync_to_thread=False,
)
def docs_page() -> bytes:
    """The interactive API docs (Swagger UI), from assets shipped in the package."""
    return DOCS_PAGE


def _schema_path_exists(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Guard of ``/schema/...``: Litestar answers an unknown schema path with an HTML 404
    page of its own; here it is the problem+json 404 every other unknown path gets."""
    if handler.handler_name == "handle_schema_path_not_found":
        raise NotFoundException()


def openapi_config(version: str) -> OpenAPIConfig:
    """Litestar's OpenAPI configuration: the completed document at
    ``/schema/openapi.json`` and the docs page at ``/schema``."""
    return OpenAPIConfig(
        title="Pulse API",
        version=version,
        path=SCHEMA_PATH,
        use_handler_docstrings=True,
        render_plugins=[DocsPagePlugin(), DocumentPlugin()],
        openapi_router=Router(
            SCHEMA_PATH,
            route_handlers=[],
            include_in_schema=False,
            guards=[_schema_path_exists],
            response_headers=_PAGE_HEADERS,
        ),
    )


def docs_routes() -> list[Any]:
    """``/docs`` and its assets (``/docs/assets/...``), served from the package."""
    return [
        docs_page,
        create_static_files_router(
            path=ASSETS_PATH,
            directories=[ASSETS],
            name="docs_assets",
            include_in_schema=False,
            cache_control=CacheControlHeader(max_age=3600, public=True),
        ),
    ]
