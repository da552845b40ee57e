from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

Plan = Literal["free", "pro", "enterprise"]


class Organization(msgspec.Struct, frozen=True, kw_only=True):
    """A customer account. ``admin_email`` is unique among live organizations."""

    id: str
    name: str
    admin_email: str
    plan: Plan = "free"
    is_deleted: bool = False
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None
