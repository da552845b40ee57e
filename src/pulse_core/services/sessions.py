"""Sign-in sessions and the check that makes them matter: a token minted at sign-in
carries its session id, and it works only while that session is live.

The check is on every request of a signed-in user, so live sessions are cached per
process for ``ttl_seconds`` (the credential cache's bound, 5 s by default); ending a
session drops it here at once, and every other replica stops accepting it within that
bound. Tokens without a session (``pulse admin-token``, automation) are not checked.
"""

from __future__ import annotations

from pulse_core.errors import Unauthenticated
from pulse_core.models import ManagementPrincipal
from pulse_core.models.audit import AuditRecord
from pulse_core.models.user import Session
from pulse_core.ports.clock import Clock
from pulse_core.ports.users import SessionRepository
from pulse_core.services.authentication import INVALID_CREDENTIALS

DEFAULT_CACHE_SECONDS = 5.0
_MAX_ENTRIES = 10_000


class SessionGuard:
    def __init__(
        self,
        sessions: SessionRepository,
        clock: Clock,
        *,
        ttl_seconds: float = DEFAULT_CACHE_SECONDS,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._ttl = ttl_seconds
        self._live: dict[str, tuple[Session, float]] = {}

    async def check(self, principal: ManagementPrincipal) -> None:
        """``Unauthenticated`` unless the principal's session (if it has one) is live and
        still says what the token says."""
        session_id = principal.session_id
        if session_id is None:
            return
        session = self._cached(session_id)
        if session is None:
            session = await self._sessions.get(session_id)
            if session is None or not session.is_live(self._clock.now()):
                raise Unauthenticated(INVALID_CREDENTIALS)
            self._remember(session)
        if (
            session.user_id != principal.user_id
            or session.role != principal.role
            or session.org_id != principal.org_id
            or not session.is_live(self._clock.now())
        ):
            raise Unauthenticated(INVALID_CREDENTIALS)

    async def start(self, session: Session, *, audit: AuditRecord | None = None) -> None:
        await self._sessions.add(session, audit=audit)

    async def end(self, session_id: str, *, audit: AuditRecord | None = None) -> bool:
        """End one session (sign out); whether it was live."""
        self._live.pop(session_id, None)
        try:
            return await self._sessions.revoke(session_id, self._clock.now(), audit=audit)
        finally:
            self._live.pop(session_id, None)

    async def end_all(self, user_id: str) -> None:
        """End every session of ``user_id`` (removed, or their role changed)."""
        ended = await self._sessions.revoke_for_user(user_id, self._clock.now())
        for session_id in ended:
            self._live.pop(session_id, None)
        for session_id in [s for s, (v, _) in self._live.items() if v.user_id == user_id]:
            self._live.pop(session_id, None)

    def _cached(self, session_id: str) -> Session | None:
        entry = self._live.get(session_id)
        if entry is None:
            return None
        session, stored_at = entry
        if self._clock.time() - stored_at >= self._ttl:
            del self._live[session_id]
            return None
        return session

    def _remember(self, session: Session) -> None:
        if self._ttl <= 0:
            return
        if len(self._live) >= _MAX_ENTRIES:
            self._live.pop(next(iter(self._live)))
        self._live[session.id] = (session, self._clock.time())
