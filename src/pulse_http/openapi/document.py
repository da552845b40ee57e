"""Completing Litestar's OpenAPI document from the route table (see the package
docstring for what is added)."""

from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Final, get_args, get_origin

import msgspec
from litestar import Litestar
from litestar.controller import Controller
from litestar.enums import MediaType
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute

from pulse_http.auth import required_scope
from pulse_http.idempotency import REPLAYED, takes_key
from pulse_http.openapi.catalog import (
    HEADERS,
    IDEMPOTENCY_PARAMETER,
    INFO_DESCRIPTION,
    PARAMETER_EXAMPLES,
    PARAMETER_SCHEMAS,
    PARAMETERS,
    PROBLEM_DESCRIPTION,
    PROBLEM_FIELDS,
    PROBLEMS,
    RATE_LIMIT_HEADERS,
    SECURITY,
    SECURITY_SCHEMES,
    STOCK_DESCRIPTIONS,
    SUCCESS_DESCRIPTIONS,
    TAGS,
    TITLES,
)
from pulse_http.problems import PROBLEM_JSON, FieldError, Problem

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
        if takes_key(opt.get("auth"), method):
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
        name: _problem_response(status) for status, (name, *_) in PROBLEMS.items()
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
    idempotent = takes_key(kind, operation.method)
    _complete_parameters(item, idempotent=idempotent)
    responses: dict[str, Any] = item.setdefault("responses", {})
    if _is_litestars_400(responses.get("400")):
        del responses["400"]
    for problem in sorted(problem_statuses(item, operation.method, opt)):
        responses.setdefault(
            str(problem), {"$ref": f"#/components/responses/{PROBLEMS[problem][0]}"}
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
        if not parameter.get("description") and key in PARAMETERS:
            parameter["description"] = PARAMETERS[key]
        example = PARAMETER_EXAMPLES.get(parameter["name"])
        if example is not None:
            parameter.setdefault("example", example)
        if key in PARAMETER_SCHEMAS:
            _narrowed(parameter, PARAMETER_SCHEMAS[key])
    if idempotent:
        parameters.append(dict(IDEMPOTENCY_PARAMETER))
    if parameters:
        item["parameters"] = parameters


def _narrowed(parameter: dict[str, Any], constraints: Mapping[str, Any]) -> None:
    """``constraints`` on the parameter's schema, or on the non-null branch of an
    optional one (``oneOf: [{type: integer}, {type: null}]``)."""
    schema = parameter.setdefault("schema", {})
    branches = [b for b in schema.get("oneOf", []) if b.get("type") != "null"]
    for target in branches or [schema]:
        target.update(constraints)


def _complete_response(
    status: str, response: dict[str, Any], *, rate_limited: bool, idempotent: bool
) -> None:
    """A response the handler declared (a success, or its own error body)."""
    if response.get("description") == STOCK_DESCRIPTIONS.get(status):
        response["description"] = SUCCESS_DESCRIPTIONS.get(status, response["description"])
    headers = response.setdefault("headers", {})
    headers.setdefault("X-Request-ID", _header("X-Request-ID", required=True))
    if rate_limited and status.startswith("2"):
        for name in RATE_LIMIT_HEADERS:
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
    description, schema = HEADERS[name]
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
    _, description, code, detail = PROBLEMS[status]
    headers = {"X-Request-ID": _header("X-Request-ID", required=True)}
    if status == 401:
        headers["WWW-Authenticate"] = _header("WWW-Authenticate", required=True)
    if status == 429:
        headers["Retry-After"] = _header("Retry-After", required=True)
        for name in RATE_LIMIT_HEADERS:
            headers[name] = _header(name, required=False)
    example: dict[str, Any] = {
        "type": f"urn:pulse:problem:{code}",
        "title": TITLES[status],
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
    for name, fields in PROBLEM_FIELDS.items():
        for field, description in fields.items():
            schemas[name]["properties"][field]["description"] = description
    schemas["Problem"]["description"] = PROBLEM_DESCRIPTION
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
