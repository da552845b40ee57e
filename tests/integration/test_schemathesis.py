"""Schemathesis over every operation of the served OpenAPI document (issue 15).

The real app (in process, through its ASGI interface, lifespan included) on the embedded
default, once with a platform admin's management token and once with a project's key and
secret. For every operation, a bounded number of valid requests (the document's own
examples first, so that successes are checked too) and of invalid ones, each checked:
never a 5xx, a documented status, a documented content type, the documented headers, a
body that matches the response's schema, and invalid requests refused. Requests of the
wrong kind of caller are answered too (403) and must match the document as well.

Bounded so that the module takes about 30 s on a 2-core machine; for a deeper run, raise
``PULSE_SCHEMATHESIS_EXAMPLES`` and ``PULSE_SCHEMATHESIS_NEGATIVE_EXAMPLES``. Every
failure of every operation is collected and reported together.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import negative_data_rejection, not_a_server_error
from schemathesis.generation.hypothesis.builder import add_examples
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from pulse_adapters.clock import ManualClock
from pulse_http.app import create_app
from pulse_http.settings import Settings
from tests.http.conftest import JWT_SECRET, make_container

#: Generated requests per operation and caller: valid ones (the schema's examples come
#: on top), and invalid ones.
EXAMPLES = int(os.environ.get("PULSE_SCHEMATHESIS_EXAMPLES", "4"))
NEGATIVE_EXAMPLES = int(os.environ.get("PULSE_SCHEMATHESIS_NEGATIVE_EXAMPLES", "2"))
AUTH_HEADERS = ("Authorization", "X-Pulse-Key", "X-Pulse-Secret")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@dataclass
class World:
    schema: Any
    headers: dict[str, dict[str, str]]
    #: Real ids for the management run's paths: an organization and project of their own,
    #: which the run may change and delete (the project run uses another).
    path_parameters: dict[str, dict[str, str]]


def _tenant(client: Any, admin: dict[str, str], name: str) -> tuple[str, dict[str, Any]]:
    org = client.post(
        "/v1/organizations",
        json={"name": name, "admin_email": f"{name}@fuzz.test", "plan": "enterprise"},
        headers=admin,
    )
    assert org.status_code == 201, org.text
    project = client.post(
        "/v1/projects", json={"org_id": org.json()["id"], "name": f"{name} app"}, headers=admin
    )
    assert project.status_code == 201, project.text
    return org.json()["id"], project.json()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data = Path(tmp_path_factory.mktemp("schemathesis"))
    settings_ = Settings(
        environment="test",
        data_dir=str(data / "data"),
        jwt_secret=JWT_SECRET,
        api_key_pepper="test-pepper",
        log_level="error",
        # Limits nothing here should meet: the run makes hundreds of requests on a clock
        # that stands still, some with credentials Schemathesis made up.
        rate_limit_requests=1_000_000,
        rate_limit_burst=1_000_000,
        auth_failure_limit=1_000_000,
        sign_in_failure_limit=1_000_000,
        # No deliveries to the endpoints Schemathesis invents.
        webhook_worker="off",
    )
    container = make_container(settings_, ManualClock(datetime.now(tz=UTC)))
    app = create_app(container)
    admin = {
        "Authorization": "Bearer "
        + container.services.management_auth().mint("schemathesis", role="admin")
    }
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app)
    with asgi.get_client(app) as client:
        _, project = _tenant(client, admin, "fuzz")
        managed_org, managed_project = _tenant(client, admin, "managed")
    project_headers = {
        "X-Pulse-Key": project["api_key"],
        "X-Pulse-Secret": project["api_secret"],
    }
    try:
        yield World(
            schema=schema,
            headers={"management": admin, "project": project_headers},
            path_parameters={
                "management": {"org_id": managed_org, "project_id": managed_project["id"]},
                "project": {},
            },
        )
    finally:
        asgi.shutdown_lifespans()


def _run(
    operation: Any,
    mode: GenerationMode,
    headers: dict[str, str],
    path_parameters: dict[str, str],
) -> str | None:
    """Schemathesis on ``operation`` in ``mode``; the failure's report, or None."""
    fixed = {
        name: value
        for name, value in path_parameters.items()
        if any(p.name == name for p in operation.path_parameters)
    }
    positive = mode is GenerationMode.POSITIVE
    # Invalid requests must be refused (4xx), and as the document says.
    checks = CHECKS if positive else [*CHECKS, negative_data_rejection]

    @given(case=operation.as_strategy(generation_mode=mode, headers=headers, path_parameters=fixed))
    @settings(
        max_examples=EXAMPLES if positive else NEGATIVE_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        # Only the caller's own credentials: none Schemathesis made up for the other
        # kind's security scheme (so the other kind's routes answer 403, not 401).
        for name in AUTH_HEADERS:
            case.headers.pop(name, None)
        case.call_and_validate(headers=headers, checks=checks)

    if positive:
        # The document's own examples first (Hypothesis' explicit phase): requests that
        # succeed, so that the success answers are checked too, not only refusals.
        check = add_examples(
            check, operation, fill_missing=True, headers=headers, path_parameters=fixed
        )
    try:
        check()
    except Unsatisfiable:
        return None  # nothing in the operation can be made invalid (only free strings)
    except Exception as exc:  # a FailureGroup, or anything the call raised
        return f"{operation.method.upper()} {operation.path} ({mode.value}): {exc}"
    return None


@pytest.mark.parametrize("caller", ["management", "project"])
def test_every_operation_conforms_to_the_document(world: World, caller: str) -> None:
    failures = []
    count = 0
    found = [result.ok() for result in world.schema.get_all_operations()]
    # Deleting the organization or project whose ids the paths use comes last.
    found.sort(key=lambda operation: operation.method.upper() == "DELETE")
    for operation in found:
        count += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failure = _run(operation, mode, world.headers[caller], world.path_parameters[caller])
            if failure is not None:
                failures.append(failure)
    assert count >= 70
    assert not failures, "\n\n".join(failures)
