from __future__ import annotations

from litestar import Controller, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from pulse_core.models import ManagementPrincipal
from pulse_core.services import OrganizationService
from pulse_http.auth import MANAGEMENT
from pulse_http.schemas.organizations import (
    CreateOrganization,
    OrganizationList,
    OrganizationOut,
    UpdateOrganization,
)


class OrganizationsController(Controller):
    """Organizations, the tenants (management). An ``admin`` sees and changes every one;
    an ``owner`` or ``member`` sees only their own."""

    path = "/v1/organizations"
    tags = ["organizations"]
    opt = MANAGEMENT

    @post("/", status_code=201)
    async def create_organization(
        self,
        data: JSONBody[CreateOrganization],
        principal: NamedDependency[ManagementPrincipal],
        organizations: NamedDependency[OrganizationService],
    ) -> OrganizationOut:
        """Create an organization (platform admins only).

        409 when a live organization already has this `admin_email`; 400 for an unknown
        `plan`."""
        org = await organizations.create(
            principal, name=data.name, admin_email=data.admin_email, plan=data.plan
        )
        return OrganizationOut.of(org)

    @get("/")
    async def list_organizations(
        self,
        principal: NamedDependency[ManagementPrincipal],
        organizations: NamedDependency[OrganizationService],
        limit: FromQuery[int | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> OrganizationList:
        """List organizations: every one for an admin, one's own otherwise, oldest first."""
        page = await organizations.list(principal, limit=limit, cursor=cursor)
        return OrganizationList(
            items=[OrganizationOut.of(o) for o in page.items], next_cursor=page.next_cursor
        )

    @get("/{org_id:str}")
    async def get_organization(
        self,
        org_id: FromPath[str],
        principal: NamedDependency[ManagementPrincipal],
        organizations: NamedDependency[OrganizationService],
    ) -> OrganizationOut:
        """Get an organization (404 for one the caller may not see)."""
        return OrganizationOut.of(await organizations.get(principal, org_id))

    @put("/{org_id:str}")
    async def update_organization(
        self,
        org_id: FromPath[str],
        data: JSONBody[UpdateOrganization],
        principal: NamedDependency[ManagementPrincipal],
        organizations: NamedDependency[OrganizationService],
    ) -> OrganizationOut:
        """Change an organization's name, admin email or plan; fields left out keep their
        value. Only a platform admin changes the plan."""
        return OrganizationOut.of(await organizations.update(principal, org_id, data.to_patch()))

    @delete("/{org_id:str}", status_code=204)
    async def delete_organization(
        self,
        org_id: FromPath[str],
        principal: NamedDependency[ManagementPrincipal],
        organizations: NamedDependency[OrganizationService],
    ) -> None:
        """Delete an organization (soft): its projects are deleted with it and their keys
        stop working at once."""
        await organizations.delete(principal, org_id)
