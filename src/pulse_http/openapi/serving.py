"""Serving the document and Swagger UI (assets shipped in ``static/docs``, no CDN)."""

from __future__ import annotations

from typing import Any, Final

from litestar import Litestar, Request, get
from litestar.connection import ASGIConnection
from litestar.datastructures import CacheControlHeader, ResponseHeader
from litestar.enums import MediaType
from litestar.exceptions import NotFoundException
from litestar.handlers import BaseRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin
from litestar.router import Router
from litestar.static_files import create_static_files_router

from pulse_http.openapi.catalog import ASSETS, ASSETS_PATH, DOCS_PATH, DOCUMENT_PATH, SCHEMA_PATH
from pulse_http.openapi.document import complete_document

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
