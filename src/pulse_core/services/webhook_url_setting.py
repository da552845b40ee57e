"""The Go service's one ``webhook_url`` per project, kept as the endpoint it names.

The setting and the endpoint made from it (described as :data:`LEGACY_DESCRIPTION`) move
together, as a customer who still sets the URL the old way expects: naming a URL makes
that endpoint; naming another points it there (its secret, filter and log kept);
clearing the setting deletes it. A project write that leaves the setting as it was
touches no endpoint, so one the customer deleted stays deleted. Values stored before
endpoints existed are adopted at start-up
(:meth:`~pulse_core.services.webhooks.WebhookService.adopt_webhook_url`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import msgspec

from pulse_core.errors import Conflict
from pulse_core.models import Project
from pulse_core.models.audit import Caller
from pulse_core.models.events import EndpointPatch, EndpointSpec, WebhookEndpoint
from pulse_core.ports.clock import Clock
from pulse_core.ports.events import WebhookEndpointRepository
from pulse_core.ports.repositories import ProjectRepository
from pulse_core.services import audit

if TYPE_CHECKING:  # the service imports this module for the other direction
    from pulse_core.services.webhooks import WebhookService

LEGACY_DESCRIPTION: Final = "the project's webhook_url setting"


class WebhookUrlSetting:
    """What a project write does to the endpoint of its ``webhook_url``."""

    def __init__(self, webhooks: WebhookService, endpoints: WebhookEndpointRepository) -> None:
        self._webhooks = webhooks
        self._endpoints = endpoints

    async def check(self, project: Project, url: str | None) -> None:
        """Before a write of ``project`` that sets ``webhook_url`` to ``url``: ``Conflict``
        if following it would take an endpoint more than the project may have, so that
        a refused write has changed nothing. (A creation racing this check is still
        counted under the lock when the endpoint is made.)"""
        previous = project.settings.webhook_url
        if url is None or url == previous:
            return
        from pulse_core.services.webhooks import MAX_ENDPOINTS_PER_PROJECT  # noqa: PLC0415

        endpoints = await self._endpoints.list_all(project.id)
        if _legacy(endpoints, previous) is not None or any(e.url == url for e in endpoints):
            return
        if len(endpoints) >= MAX_ENDPOINTS_PER_PROJECT:
            raise Conflict(
                f"a project has at most {MAX_ENDPOINTS_PER_PROJECT} webhook endpoints;"
                " delete one to set webhook_url",
                code="too_many_endpoints",
                field="webhook_url",
            )

    async def follow(self, before: Project | None, after: Project, *, by: Caller) -> None:
        """After a write that took the project from ``before`` (None: it was created) to
        ``after``: the endpoint of ``webhook_url`` follows the setting's change."""
        previous = None if before is None else before.settings.webhook_url
        url = after.settings.webhook_url
        if url == previous:
            return
        endpoints = await self._endpoints.list_all(after.id)
        legacy = _legacy(endpoints, previous)
        if url is not None and not any(e.url == url for e in endpoints):
            if legacy is not None:
                await self._webhooks.update_endpoint(
                    after, legacy.id, EndpointPatch(url=url), by=by
                )
            else:
                spec = EndpointSpec(url=url, description=LEGACY_DESCRIPTION)
                await self._webhooks.create_endpoint(after, spec, by=by)
        elif legacy is not None:
            # Cleared, or the customer already has an endpoint at the new URL: the
            # setting names one URL, and the old one's endpoint would keep posting.
            await self._webhooks.delete_endpoint(after, legacy.id, by=by)


def _legacy(endpoints: list[WebhookEndpoint], url: str | None) -> WebhookEndpoint | None:
    """The endpoint made from the setting when it named ``url``."""
    if url is None:
        return None
    for endpoint in endpoints:
        if endpoint.url == url and endpoint.description == LEGACY_DESCRIPTION:
            return endpoint
    return None


async def setting_follows(
    projects: ProjectRepository | None,
    clock: Clock,
    project: Project,
    endpoint: WebhookEndpoint,
    *,
    url: str | None,
    by: Caller,
) -> None:
    """The other direction: the setting follows its endpoint when the endpoints API
    moves (``url``) or deletes (None) it, so that start-up does not adopt the old URL
    again. Nothing without a project repository (an embedder's choice)."""
    if projects is None or endpoint.description != LEGACY_DESCRIPTION:
        return
    now = clock.now()

    def apply(stored: Project) -> Project:
        if stored.settings.webhook_url != endpoint.url:
            return stored  # the setting names another URL (or none): not this one's
        settings = msgspec.structs.replace(stored.settings, webhook_url=url)
        return msgspec.structs.replace(stored, settings=settings, updated_at=now)

    record = audit.by(
        clock,
        by,
        "project.updated",
        resource_type="project",
        resource_id=project.id,
        org_id=project.org_id,
    )
    await projects.change(project.id, apply, audit=record)
