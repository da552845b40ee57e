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

from pulse_http.openapi.catalog import ASSETS, DOCS_PATH, DOCUMENT_PATH
from pulse_http.openapi.document import complete_document
from pulse_http.openapi.serving import docs_routes, openapi_config

__all__ = [
    "ASSETS",
    "DOCS_PATH",
    "DOCUMENT_PATH",
    "complete_document",
    "docs_routes",
    "openapi_config",
]
