from __future__ import annotations

from datetime import datetime

import msgspec


class UsageRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One metered quantity of one project (``tokens_created``, ``egress_seconds``...)."""

    id: str
    project_id: str
    metric: str
    quantity: float
    timestamp: datetime
