"""The hexagon's import rules, checked on the source (``tests/unit/test_layering.py``).

Every import statement counts, those inside functions and ``TYPE_CHECKING`` blocks too:
a dependency is a dependency whenever it is loaded. The rules (docs/architecture.md):

- ``pulse_core`` imports the standard library and ``msgspec`` only;
- an adapter package ``pulse_adapters.<tech>`` imports ``pulse_core``, itself and its own
  technology's libraries (:data:`TECHNOLOGIES`), never another adapter or ``pulse_http``;
- in ``pulse_http`` only ``pulse_http.container`` (the CLI goes through it) imports
  ``pulse_adapters`` or a driver; the rest of the shell knows ports and services only.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

STDLIB = frozenset(sys.stdlib_module_names)
ANYWHERE = frozenset({"msgspec", "pulse_core"})

#: The third-party libraries each adapter package may use. A new adapter adds its line.
TECHNOLOGIES: dict[str, frozenset[str]] = {
    "clock": frozenset(),
    "dns": frozenset(),
    "local": frozenset(),
    "memory": frozenset(),
    "sqlite": frozenset(),
    "mongo": frozenset({"pymongo", "bson"}),
    "redis": frozenset({"redis", "hiredis"}),  # hiredis: the side pipe packs and parses with it
    "s3": frozenset({"boto3", "botocore", "mypy_boto3_s3"}),
    "livekit": frozenset({"livekit", "aiohttp", "google"}),  # google.protobuf: its messages
    "http": frozenset({"aiohttp"}),
    "argon2": frozenset({"argon2"}),
}

#: What the HTTP shell may import besides the core; the container may import anything.
SHELL = frozenset(
    {
        "pulse_http",
        "litestar",
        "structlog",
        "granian",
        "uvloop",  # the event loop the shell runs on (granian's, and `pulse worker`'s)
        "dotenv",
        "jinja2",
        "markupsafe",  # Jinja's own escaping, for markup the dashboard builds in Python
        "prometheus_client",
        "opentelemetry",
        "standardwebhooks",
        # The injection library itself is no adapter: services are wired with it in
        # pulse_http.service_wiring, onto the adapters only the container picks.
        "dependency_injector",
    }
)
WIRING = "pulse_http.container"


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(module: str, source: str, *, is_package: bool = False) -> Iterator[tuple[int, str]]:
    """``(line, absolute module name)`` of every import in ``source``."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield node.lineno, target


def breach(module: str, target: str) -> str | None:
    """Why ``module`` may not import ``target``, or None when it may."""
    top = target.split(".", maxsplit=1)[0]
    if top in STDLIB or top == "__future__":
        return None
    layer = module.split(".", maxsplit=1)[0]
    if layer == "pulse_core":
        return None if top in ANYWHERE else "pulse_core imports the stdlib and msgspec only"
    if layer == "pulse_adapters":
        parts = module.split(".")
        if len(parts) == 1:
            return None if top in ANYWHERE else "pulse_adapters/__init__ imports nothing"
        tech = parts[1]
        own = f"pulse_adapters.{tech}"
        if target == own or target.startswith(own + "."):
            return None
        if top == "pulse_adapters":
            return f"adapters never import each other ({module} -> {target})"
        if top == "pulse_http":
            return "adapters never import pulse_http"
        if tech not in TECHNOLOGIES:
            return f"adapter package {tech!r} has no entry in TECHNOLOGIES"
        if top in ANYWHERE or top in TECHNOLOGIES[tech]:
            return None
        return f"{top} is not a library of the {tech} adapter"
    if layer == "pulse_http":
        if module == WIRING or top in ANYWHERE or top in SHELL:
            return None
        return f"only {WIRING} picks adapters and drivers ({module} -> {target})"
    return None


def violations(root: Path) -> list[str]:
    """Every breach under ``root`` (the ``src`` folder), as ``path:line: reason``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        module = module_name(root, path)
        source = path.read_text(encoding="utf-8")
        for line, target in imported(module, source, is_package=path.name == "__init__.py"):
            reason = breach(module, target)
            if reason is not None:
                found.append(f"{path.relative_to(root)}:{line}: imports {target}: {reason}")
    return found
