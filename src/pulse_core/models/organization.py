from __future__ import annotations

from datetime import datetime

import msgspec


class Organization(msgspec.Struct, frozen=True, kw_only=True):
    """A customer account. ``admin_email`` is unique among live organizations."""

    id: str
    name: str
    admin_email: str
    plan: str = "free"  # a plan of the catalog (pulse_core.plans)
    is_deleted: bool = False
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None
