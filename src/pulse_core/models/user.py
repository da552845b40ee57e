from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec


class User(msgspec.Struct, frozen=True, kw_only=True):
    """A person with a dashboard login; ``email`` is unique across the platform."""

    id: str
    email: str
    org_id: str
    name: str = ""
    role: Literal["owner", "member"] = "member"
    created_at: datetime
    updated_at: datetime
