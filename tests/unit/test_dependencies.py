"""Every library the code imports is one ``pyproject.toml`` declares.

A library that only arrives through another one (or through the test extras) works on
the machine that wrote the code and fails on a fresh ``make run``: the dashboard's
``jinja2`` did, until it was declared. Imports under ``src/`` must be covered by
``[project].dependencies`` or a runtime extra (``otel``), never by ``test`` or
``bench``."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
OWN = {"pulse_core", "pulse_adapters", "pulse_http"}
#: Extras that are part of running Pulse (not of testing or measuring it).
RUNTIME_EXTRAS = ("otel",)


def _name(requirement: str) -> str:
    bare = re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", bare).lower()


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {_name(r) for r in project["dependencies"]}
    for extra in RUNTIME_EXTRAS:
        names |= {_name(r) for r in project["optional-dependencies"][extra]}
    return names


def imported() -> dict[str, str]:
    """Top-level modules imported under ``src/``, each with one place that imports it."""
    found: dict[str, str] = {}
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        # What only the type checker imports (stubs) is no dependency at run time.
        typing_only = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
            for statement in node.body
            for inner in ast.walk(statement)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".", 1)[0]
                if top not in OWN and top not in sys.stdlib_module_names:
                    found.setdefault(top, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_imported_library_is_declared() -> None:
    distributions = packages_distributions()
    allowed = declared()
    undeclared = []
    for module, where in imported().items():
        owners = {_name(d) for d in distributions.get(module, [module])}
        if not owners & allowed:
            undeclared.append(f"{module} ({', '.join(sorted(owners))}), imported at {where}")
    assert undeclared == []
