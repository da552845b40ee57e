"""A client generated from the served OpenAPI document works (issue 15, "Done when").

`openapi-python-client` generates a Python package from `pulse serve`'s own
`/schema/openapi.json`; the test imports it, authenticates both ways (a management token
and a project's key and secret) and calls management and project routes with it, getting
the generated models back (and a problem model for an error).
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support.docs import running_pulse_serve

PACKAGE = "pulse_api_client"


@pytest.fixture
def generated(tmp_path: Path) -> Iterator[tuple[str, str, ModuleType]]:
    """``(base URL, admin token, the generated package)`` for a running `pulse serve`."""
    with running_pulse_serve(tmp_path) as (base_url, token):
        with urllib.request.urlopen(f"{base_url}/schema/openapi.json") as response:
            (tmp_path / "openapi.json").write_bytes(response.read())
        (tmp_path / "config.yaml").write_text(f"package_name_override: {PACKAGE}\npost_hooks: []\n")
        generator = Path(sys.executable).parent / "openapi-python-client"
        result = subprocess.run(
            [
                str(generator),
                "generate",
                "--path",
                str(tmp_path / "openapi.json"),
                "--output-path",
                str(tmp_path / "client" / PACKAGE),
                "--meta",
                "none",
                "--config",
                str(tmp_path / "config.yaml"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        # Every operation and model generated: no warning about a part it had to leave out.
        assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
        sys.path.insert(0, str(tmp_path / "client"))
        try:
            yield base_url, token, importlib.import_module(PACKAGE)
        finally:
            sys.path.remove(str(tmp_path / "client"))
            for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
                del sys.modules[name]


def _module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_a_generated_client_authenticates_and_calls_both_kinds_of_route(
    generated: tuple[str, str, ModuleType],
) -> None:
    base_url, token, client_package = generated
    models = _module("models")
    admin = client_package.AuthenticatedClient(base_url=base_url, token=token)

    # Management: bearer token.
    org = _module("api.organizations.create_organization").sync(
        client=admin,
        body=models.CreateOrganization(name="Generated", admin_email="ops@generated.example"),
    )
    assert isinstance(org, models.OrganizationOut), org
    page = _module("api.organizations.list_organizations").sync(client=admin)
    assert isinstance(page, models.OrganizationList)
    assert [o.id for o in page.items] == [org.id]
    project = _module("api.projects.create_project").sync(
        client=admin, body=models.CreateProject(org_id=org.id, name="App")
    )
    assert isinstance(project, models.ProjectCreated), project
    assert project.api_secret.startswith("pulse_secret_")

    # Project: X-Pulse-Key + X-Pulse-Secret.
    keyed = client_package.Client(
        base_url=base_url,
        headers={"X-Pulse-Key": project.api_key, "X-Pulse-Secret": project.api_secret},
    )
    current = _module("api.projects.get_current_project").sync_detailed(client=keyed)
    assert current.status_code == 200
    assert isinstance(current.parsed, models.ProjectOut)
    assert current.parsed.id == project.id
    assert current.headers["X-RateLimit-Limit"]
    minted = _module("api.tokens.create_token").sync(
        client=keyed, body=models.CreateToken(identity="alice", room="demo")
    )
    assert isinstance(minted, models.TokenCreated), minted
    assert minted.room == "demo" and minted.token.count(".") == 2

    # Errors come back as the Problem model: the wrong kind of caller is a 403, none a 401.
    refused = _module("api.organizations.list_organizations").sync_detailed(client=keyed)
    assert refused.status_code == 403
    assert isinstance(refused.parsed, models.Problem)
    assert refused.parsed.code == "permission_denied"
    anonymous = client_package.Client(base_url=base_url)
    unauthenticated = _module("api.projects.get_current_project").sync_detailed(client=anonymous)
    assert unauthenticated.status_code == 401
    assert isinstance(unauthenticated.parsed, models.Problem)
