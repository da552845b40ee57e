"""The one place where concrete adapters are chosen and wired (dependency-injector).

Layers: ``settings`` → :class:`Gateways` (clients and connections) → :class:`Adapters`
(port implementations chosen by settings) → :class:`Services` (the domain). Tests
override providers (``container.adapters.clock.override(...)``) instead of patching.
"""

from __future__ import annotations

from dependency_injector import containers, providers

from pulse_adapters.clock import SystemClock
from pulse_adapters.sqlite import (
    SqliteDatabase,
    SqliteOrganizationRepository,
    SqliteProjectRepository,
    SqliteUsageRepository,
    SqliteUserRepository,
)
from pulse_core.services import (
    CredentialCache,
    ManagementAuthenticator,
    OrganizationService,
    ProjectAuthenticator,
    ProjectService,
)
from pulse_http.lifecycle import Health, Lifecycle
from pulse_http.settings import Settings, load_settings


def _sqlite(settings: Settings) -> SqliteDatabase:
    return SqliteDatabase(
        settings.resolved_sqlite_path, timeout_seconds=settings.database_timeout_seconds
    )


class Gateways(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    sqlite = providers.Singleton(_sqlite, settings)


class Adapters(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    gateways = providers.DependenciesContainer()

    clock = providers.Singleton(SystemClock)
    organizations = providers.Selector(
        settings.provided.persistence,
        sqlite=providers.Singleton(SqliteOrganizationRepository, gateways.sqlite),
    )
    projects = providers.Selector(
        settings.provided.persistence,
        sqlite=providers.Singleton(SqliteProjectRepository, gateways.sqlite),
    )
    users = providers.Selector(
        settings.provided.persistence,
        sqlite=providers.Singleton(SqliteUserRepository, gateways.sqlite),
    )
    usage = providers.Selector(
        settings.provided.persistence,
        sqlite=providers.Singleton(SqliteUsageRepository, gateways.sqlite),
    )


def _pepper(settings: Settings) -> bytes:
    return settings.api_key_pepper.encode("utf-8")


class Services(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    adapters = providers.DependenciesContainer()

    pepper = providers.Callable(_pepper, settings)
    credential_cache = providers.Singleton(
        CredentialCache, adapters.clock, ttl_seconds=settings.provided.auth_cache_ttl_seconds
    )
    project_auth = providers.Singleton(
        ProjectAuthenticator, adapters.projects, credential_cache, adapters.clock, pepper=pepper
    )
    management_auth = providers.Singleton(
        ManagementAuthenticator, settings.provided.jwt_secret, adapters.clock
    )
    organizations = providers.Factory(
        OrganizationService,
        adapters.organizations,
        adapters.projects,
        credential_cache,
        adapters.clock,
    )
    projects = providers.Factory(
        ProjectService,
        adapters.organizations,
        adapters.projects,
        credential_cache,
        adapters.clock,
        pepper=pepper,
    )


class Container(containers.DeclarativeContainer):
    settings = providers.Singleton(load_settings)
    gateways = providers.Container(Gateways, settings=settings)
    adapters = providers.Container(Adapters, settings=settings, gateways=gateways)
    services = providers.Container(Services, settings=settings, adapters=adapters)


def build_container(settings: Settings | None = None) -> Container:
    """A container on ``settings`` (default: from the environment and ``.env``)."""
    container = Container()
    if settings is not None:
        container.settings.override(providers.Object(settings))
    return container


def build_lifecycle(container: Container) -> Lifecycle:
    """Register start/stop/health of the backends the settings selected."""
    settings: Settings = container.settings()
    lifecycle = Lifecycle()
    if settings.persistence == "sqlite":
        database: SqliteDatabase = container.gateways.sqlite()

        async def database_ok() -> Health:
            await database.ping()
            return "ok"

        lifecycle.add("database", start=database.connect, stop=database.close, check=database_ok)
    return lifecycle
