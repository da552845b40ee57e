"""Who is calling: a project (API key and secret) or a manager (HS256 JWT).

Every failure is the same :class:`Unauthenticated` with the same message, whichever part
was wrong, so a caller cannot probe which keys exist.
"""

from __future__ import annotations

from pulse_core import ids
from pulse_core.crypto import credentials
from pulse_core.crypto.jwt import HS256Signer, HS256Verifier, TokenError
from pulse_core.errors import Unauthenticated
from pulse_core.models import ManagementPrincipal, Project
from pulse_core.ports.clock import Clock
from pulse_core.ports.repositories import ProjectRepository
from pulse_core.services.credential_cache import CredentialCache

INVALID_CREDENTIALS = "invalid or missing credentials"
_ROLES = frozenset({"admin", "owner", "member"})
# Clock skew tolerated between the token's issuer and this server.
JWT_LEEWAY_SECONDS = 5.0


class ProjectAuthenticator:
    """Verifies project credentials, reading through a :class:`CredentialCache`."""

    def __init__(
        self,
        projects: ProjectRepository,
        cache: CredentialCache,
        clock: Clock,
        *,
        pepper: bytes,
    ) -> None:
        self._projects = projects
        self._cache = cache
        self._clock = clock
        self._secrets = credentials.SecretHasher(pepper)

    async def authenticate(self, api_key: str, api_secret: str) -> Project:
        """The project owning this key pair, or ``Unauthenticated``."""
        # The cache hit is every request of a busy project: one dict look-up and one
        # HMAC. Only keys of live projects are ever cached (well-formed by construction),
        # and a malformed secret cannot match a stored hash, so the format checks, whose
        # job is to keep made-up credentials away from the database, run on a miss only.
        project = self._cache.get(api_key)
        if project is None:
            if not credentials.is_well_formed_secret(api_secret):
                raise Unauthenticated(INVALID_CREDENTIALS)
            project = await self._fetch(api_key)
        stored_hash = self._live_hash(project, api_key)
        if not self._secrets.matches(api_secret, stored_hash):
            raise Unauthenticated(INVALID_CREDENTIALS)
        return project

    async def identify(self, api_key: str) -> Project:
        """The project owning a live key, for routes that do not need the secret."""
        project = self._cache.get(api_key)
        if project is None:
            project = await self._fetch(api_key)
        self._live_hash(project, api_key)
        return project

    async def _fetch(self, api_key: str) -> Project:
        """A cache miss: refuse a malformed key before any lookup, then the repository."""
        if not credentials.is_well_formed_key(api_key):
            raise Unauthenticated(INVALID_CREDENTIALS)
        project = await self._projects.get_by_api_key(api_key)
        if project is None:
            raise Unauthenticated(INVALID_CREDENTIALS)
        self._cache.put(api_key, project)
        return project

    def _live_hash(self, project: Project, api_key: str) -> str:
        if project.api_key == api_key:
            return project.secret_hash
        previous = project.previous
        if (
            previous is not None
            and previous.api_key == api_key
            and self._clock.time() < previous.expires_at.timestamp()
        ):
            return previous.secret_hash
        raise Unauthenticated(INVALID_CREDENTIALS)


class ManagementAuthenticator:
    """Verifies and mints management JWTs (HS256 with ``JWT_SECRET``).

    Required claims: ``sub`` (non-empty string), ``exp``, ``role`` (admin, owner,
    member) and, unless admin, ``org_id``.
    """

    def __init__(self, jwt_secret: str, clock: Clock) -> None:
        self._verifier = HS256Verifier(jwt_secret)
        self._signer = HS256Signer(jwt_secret)
        self._clock = clock

    def authenticate(self, token: str) -> ManagementPrincipal:
        try:
            claims = self._verifier.decode(token, now=self._clock.time(), leeway=JWT_LEEWAY_SECONDS)
        except TokenError as exc:
            raise Unauthenticated(INVALID_CREDENTIALS) from exc
        sub, role, org_id = claims.get("sub"), claims.get("role"), claims.get("org_id")
        if "exp" not in claims or not isinstance(sub, str) or not sub or role not in _ROLES:
            raise Unauthenticated(INVALID_CREDENTIALS)
        if role == "admin":
            return ManagementPrincipal(subject=sub, role="admin")
        if not isinstance(org_id, str) or not ids.is_valid_id(org_id, ids.ORGANIZATION):
            raise Unauthenticated(INVALID_CREDENTIALS)
        return ManagementPrincipal(subject=sub, role=role, org_id=org_id)

    def mint(
        self,
        subject: str,
        *,
        role: str = "admin",
        org_id: str | None = None,
        ttl_seconds: int = 3600,
    ) -> str:
        """A signed token for ``subject``; used by ``pulse admin-token`` and tests."""
        if role not in _ROLES:
            raise ValueError(f"role must be one of {sorted(_ROLES)}")
        if role != "admin" and org_id is None:
            raise ValueError("owner and member tokens need an org_id")
        now = int(self._clock.time())
        claims: dict[str, object] = {
            "sub": subject,
            "role": role,
            "iat": now,
            "exp": now + ttl_seconds,
        }
        if org_id is not None:
            claims["org_id"] = org_id
        return self._signer.sign(claims)
