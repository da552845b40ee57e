"""The OpenAPI document and the interactive docs (issue 15, "The API contract").

The served document is validated as OpenAPI 3.1 and walked against the route table: every
operation has a description, the security its route declares (``opt["auth"]``), and the
error answers it can give as problem+json; every property and parameter says what it is;
no answer has an empty media type. ``/docs`` is Swagger UI from assets in the package:
the page refers only to this server, and its Content-Security-Policy lets it run.
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient
from openapi_spec_validator import validate

from pulse_core.models.events import DELIVERY_STATUSES
from pulse_core.models.usage import GRANULARITIES, METRICS
from pulse_core.services.pagination import MAX_LIMIT
from pulse_core.services.token_claims import REFUSED_GRANTS
from pulse_http.app import create_app
from pulse_http.container import Container
from pulse_http.idempotency import REPLAYED
from pulse_http.openapi import ASSETS
from pulse_http.problems import PROBLEM_JSON
from pulse_http.settings import Settings
from tests.http.conftest import JWT_SECRET
from tests.support.docs import running_pulse_serve
from tests.support.require import require_binary

Client = AsyncTestClient[Any]
METHODS = ("get", "put", "post", "delete", "patch")
FRAMEWORK_METHODS = frozenset({"OPTIONS", "HEAD"})
PROBLEM_REF = "#/components/schemas/Problem"
RATE_LIMIT_HEADERS = (
    "RateLimit",
    "RateLimit-Policy",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """One backend: the document does not depend on it."""
    return Settings(
        environment="test",
        data_dir=str(tmp_path / "data"),
        jwt_secret=JWT_SECRET,
        api_key_pepper="test-pepper",
        log_level="warning",
    )


@pytest.fixture
async def document(client: Client) -> dict[str, Any]:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def declared_routes(container: Container) -> dict[tuple[str, str], dict[str, Any]]:
    """``(path as the document writes it, method) -> opt`` of every route in the schema."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for route in create_app(container).routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not handler.resolve_include_in_schema():
                continue
            for method in handler.http_methods - FRAMEWORK_METHODS:
                found[(route.path_format, method.lower())] = dict(handler.opt)
    return found


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, item[method])
        for path, item in document["paths"].items()
        for method in METHODS
        if method in item
    ]


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        *_, kind, name = node["$ref"].split("/")
        node = document["components"][kind][name]
    return node


def test_assets_ship_in_the_package() -> None:
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "pulse-docs.js", "pulse-docs.css"):
        assert (ASSETS / name).is_file(), name


async def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert document["info"]["description"]


async def test_every_route_is_documented_with_a_description(
    document: dict[str, Any], container: Container
) -> None:
    routes = declared_routes(container)
    documented = {(path, method) for path, method, _ in operations(document)}
    assert documented == set(routes)
    # The fast paths' routes are Litestar routes too.
    assert ("/v1/tokens/create", "post") in documented
    assert ("/v1/livekit/webhook", "post") in documented
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids))
    for path, method, operation in operations(document):
        where = f"{method.upper()} {path}"
        assert operation.get("description"), where
        assert operation.get("summary"), where
        assert "``" not in operation["description"], f"{where}: reST left in Markdown"
        assert operation.get("tags"), where


async def test_security_is_what_each_route_declares(
    document: dict[str, Any], container: Container
) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["ManagementToken"] == {
        **schemes["ManagementToken"],
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    assert (schemes["ProjectKey"]["type"], schemes["ProjectKey"]["in"]) == ("apiKey", "header")
    assert schemes["ProjectKey"]["name"] == "X-Pulse-Key"
    assert (schemes["ProjectSecret"]["in"], schemes["ProjectSecret"]["name"]) == (
        "header",
        "X-Pulse-Secret",
    )
    expected = {
        None: [],
        "management": [{"ManagementToken": []}],
        "project": [{"ProjectKey": [], "ProjectSecret": []}],
        "project_key": [{"ProjectKey": []}, {"ProjectKeyBearer": []}],
    }
    routes = declared_routes(container)
    assert "security" not in document  # no global default: each operation says
    for path, method, operation in operations(document):
        auth = routes[(path, method)].get("auth")
        assert operation["security"] == expected[auth], f"{method.upper()} {path}"
    public = {(path, method) for (path, method), opt in routes.items() if opt.get("auth") is None}
    assert {
        ("/health", "get"),
        ("/health/ready", "get"),
        ("/v1/status", "get"),
        ("/v1/auth/login", "post"),
        ("/v1/auth/accept-invite", "post"),
        ("/v1/livekit/webhook", "post"),
    } <= public


async def test_every_operation_lists_its_errors_as_problems(
    document: dict[str, Any], container: Container
) -> None:
    routes = declared_routes(container)
    for path, method, operation in operations(document):
        where = f"{method.upper()} {path}"
        opt = routes[(path, method)]
        responses = operation["responses"]
        statuses = {int(status) for status in responses}
        params = operation.get("parameters", [])
        body = "requestBody" in operation
        if opt.get("auth") is not None:
            assert {401, 403, 429, 503} <= statuses, where
        if any(param["in"] == "path" for param in params):
            assert 404 in statuses, where
        if body:
            assert {400, 413} <= statuses, where
        if params:
            assert 400 in statuses, where
        assert set(opt.get("problems", ())) <= statuses, where
        for status, declared in responses.items():
            response = resolve(document, declared)
            assert response.get("description"), f"{where} {status}"
            assert response["headers"]["X-Request-ID"]["required"] is True, f"{where} {status}"
            if int(status) < 400 or (path, status) == ("/health/ready", "503"):
                continue
            # Every error is problem+json; nothing is Litestar's own 400 shape.
            assert list(response["content"]) == [PROBLEM_JSON], f"{where} {status}"
            assert response["content"][PROBLEM_JSON]["schema"] == {"$ref": PROBLEM_REF}
            if status == "401":
                assert response["headers"]["WWW-Authenticate"]["required"] is True
            if status == "429":
                assert response["headers"]["Retry-After"]["required"] is True
        if opt.get("auth") in ("project", "project_key"):
            for status, response in responses.items():
                if status.startswith("2"):
                    headers = response["headers"]
                    for name in RATE_LIMIT_HEADERS:
                        assert headers[name]["required"] is True, f"{where} {status} {name}"
    assert "Validation Exception" not in str(document), "Litestar's 400 schema is gone"


async def test_writes_take_an_idempotency_key(
    document: dict[str, Any], container: Container
) -> None:
    routes = declared_routes(container)
    for path, method, operation in operations(document):
        names = {(p["name"], p["in"]) for p in operation.get("parameters", [])}
        takes_key = ("Idempotency-Key", "header") in names
        writes = method in ("post", "put", "patch", "delete")
        # Every write of an identified caller; not what the key alone may call (it
        # changes nothing: token validation).
        identified = routes[(path, method)].get("auth") in ("management", "project")
        assert takes_key == (writes and identified), path
        if takes_key:
            assert {"409", "422"} <= set(operation["responses"]), path
            for status, response in operation["responses"].items():
                if status.startswith("2"):
                    assert REPLAYED in response["headers"], (path, status)


async def test_every_field_and_parameter_is_described(document: dict[str, Any]) -> None:
    missing = []
    for name, schema in document["components"]["schemas"].items():
        if not schema.get("description"):
            missing.append(name)
        for prop, spec in schema.get("properties", {}).items():
            if not spec.get("description"):
                missing.append(f"{name}.{prop}")
    for path, method, operation in operations(document):
        for param in operation.get("parameters", []):
            if not param.get("description"):
                missing.append(f"{method.upper()} {path} {param['in']} {param['name']}")
    assert missing == []


def _scalar(spec: dict[str, Any]) -> bool:
    types = [spec.get("type")] + [arm.get("type") for arm in spec.get("oneOf", [])]
    return any(kind in ("string", "integer", "number", "boolean") for kind in types) and not (
        any("$ref" in arm for arm in spec.get("oneOf", []))
    )


async def test_request_and_response_fields_have_examples(document: dict[str, Any]) -> None:
    missing = []
    for name, schema in document["components"]["schemas"].items():
        if name in ("Problem", "FieldError"):  # each problem response has a whole example
            continue
        for prop, spec in schema.get("properties", {}).items():
            tag = "const" in spec and prop == "type"
            refused = spec.get("x-pulse-refused", False)
            inherited = name == "GrantsBody"  # defaults say it; the descriptions explain
            if _scalar(spec) and not (tag or refused or inherited) and not spec.get("examples"):
                missing.append(f"{name}.{prop}")
    assert missing == []


async def test_the_refused_grants_are_marked(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    body = schemas["GrantsBody"]["properties"]
    for grant in REFUSED_GRANTS:
        assert body[grant]["x-pulse-refused"] is True, grant
        assert body[grant]["const"] is False, grant
        assert body[grant]["description"].startswith("Refused"), grant
    allowed = set(body) - set(REFUSED_GRANTS)
    assert allowed == set(schemas["GrantsOut"]["properties"])
    assert not any(body[grant].get("x-pulse-refused") for grant in allowed)
    token = schemas["CreateToken"]["properties"]["grants"]
    assert "#/components/schemas/GrantsBody" in str(token)


async def test_no_answer_has_an_empty_media_type(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            for media_type in resolve(document, response).get("content", {}):
                assert re.fullmatch(r"[a-z]+/[a-z0-9.+-]+", media_type), (path, method, status)
        for media_type in operation.get("requestBody", {}).get("content", {}):
            assert media_type, (path, method)
    download = document["paths"]["/v1/media/files/{key}"]["get"]["responses"]["200"]
    assert list(download["content"]) == ["application/octet-stream"]


# -- the interactive docs --------------------------------------------------------------------


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("src", "href", "data-openapi-url"):
            if values.get(name):
                self.urls.append(str(values[name]))
        self._in_script = tag == "script" and "src" not in values

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False


def _csp(header: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


@pytest.mark.parametrize("page", ["/docs", "/schema"])
async def test_the_docs_page_loads_only_from_this_server(client: Client, page: str) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    references = _References()
    references.feed(response.text)
    assert references.inline_scripts == 0
    assert references.urls
    for url in references.urls:
        # Same origin (a path, never protocol-relative) or inline data: nothing else.
        assert (url.startswith("/") and not url.startswith("//")) or url.startswith("data:"), url
    csp = _csp(response.headers["content-security-policy"])
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"]  # no inline script, no eval, no CDN
    assert "'self'" in csp["style-src"] and "'self'" in csp["connect-src"]
    assert "data:" in csp["img-src"]
    for url in references.urls:
        if not url.startswith("/"):
            continue
        asset = await client.get(url)
        assert asset.status_code == 200, url
        if url.endswith(".js"):
            assert "javascript" in asset.headers["content-type"], url
        if url.endswith(".css"):
            assert asset.headers["content-type"].startswith("text/css"), url
    ours = (await client.get("/docs/assets/pulse-docs.js")).text
    assert "http" not in ours and "validatorUrl: null" in ours


@pytest.mark.parametrize(
    "path", ["/schema/nope", "/schema/openapi.yaml", "/schema/swagger", "/docs/assets/nope.js"]
)
async def test_unknown_docs_paths_are_problem_404s(client: Client, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["code"] == "not_found"


@pytest.mark.slow
def test_swagger_ui_renders_in_a_browser_with_no_network(tmp_path: Path) -> None:
    """Chromium, with every host but this machine unresolvable, renders every operation:
    nothing the page needs comes from anywhere else, and its CSP lets it run."""
    chromium = require_binary("chromium")
    with running_pulse_serve(tmp_path) as (base_url, _):
        with urllib.request.urlopen(f"{base_url}/schema/openapi.json") as response:
            document = json.load(response)
        result = subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                "--virtual-time-budget=10000",
                f"--user-data-dir={tmp_path / 'chromium'}",
                "--dump-dom",
                f"{base_url}/docs",
            ],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    rendered = result.stdout.count('class="opblock-summary-path"')
    assert rendered == len(operations(document)), result.stdout[-2000:]
    assert "Pulse API" in result.stdout


def _parameter(document: dict[str, Any], path: str, name: str) -> dict[str, Any]:
    [found] = [p for p in document["paths"][path]["get"]["parameters"] if p["name"] == name]
    schema: dict[str, Any] = found["schema"]
    branches = [b for b in schema.get("oneOf", []) if b.get("type") != "null"]
    return branches[0] if branches else schema


async def test_query_parameters_name_the_values_and_bounds_the_server_takes(
    document: dict[str, Any],
) -> None:
    deliveries = "/v1/webhooks/deliveries"
    assert _parameter(document, deliveries, "status")["enum"] == list(DELIVERY_STATUSES)
    limit = _parameter(document, deliveries, "limit")
    assert (limit["minimum"], limit["maximum"]) == (1, MAX_LIMIT)
    assert _parameter(document, "/v1/usage", "granularity")["enum"] == list(GRANULARITIES)
    assert _parameter(document, "/v1/usage", "metric")["enum"] == list(METRICS)
    # Every list's limit, on every route that pages.
    for path, item in document["paths"].items():
        for parameter in item.get("get", {}).get("parameters", []):
            if parameter["name"] == "limit":
                assert _parameter(document, path, "limit")["maximum"] == MAX_LIMIT, path
