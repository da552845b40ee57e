"""Who is calling: a project (API key and secret) or a manager (HS256 JWT).

Every failure is the same :class:`Unauthenticated` with the same message, whichever part
was wrong, so a caller cannot probe which keys exist.
"""

from __future__ import annotations

import msgspec

from pulse_core import ids
from pulse_core.crypto import credentials
from pulse_core.crypto.jwt import HS256Signer, HS256Verifier, TokenError
from pulse_core.errors import Unauthenticated
from pulse_core.models import ManagementPrincipal, Project
from pulse_core.models.keys import PRIMARY_KEY_ID, ProjectCredential
from pulse_core.models.principal import ROLES, Role
from pulse_core.ports.clock import Clock
from pulse_core.services.credential_cache import (
    CredentialCachingApiKeyRepository,
    CredentialCachingProjectRepository,
)

INVALID_CREDENTIALS = "invalid or missing credentials"
# Clock skew tolerated between the token's issuer and this server.
JWT_LEEWAY_SECONDS = 5.0
DEFAULT_MANAGEMENT_TOKEN_MAX_TTL_SECONDS = 24 * 3600
MAX_SUBJECT_LENGTH = 255


class ProjectAuthenticator:
    """Verifies project credentials, reading through the repository's credential cache.

    It takes the caching repositories, not bare ones, so that the cache it reads is the
    one every project and key write invalidates: hand the same repositories to the
    services (``ValueError`` if the two do not share one cache). A key is the project's
    own pair (and its previous pair during a rotation's grace period), or one of its
    named keys: those may carry scopes and an expiry, and a revoked one authenticates
    nothing.
    """

    def __init__(
        self,
        projects: CredentialCachingProjectRepository,
        clock: Clock,
        *,
        pepper: bytes,
        keys: CredentialCachingApiKeyRepository | None = None,
    ) -> None:
        if keys is not None and keys.cache is not projects.cache:
            # A key revoked through one would stay cached, and honoured, in the other.
            raise ValueError("projects and keys must be the caching repositories of one cache")
        self._projects = projects
        self._keys = keys
        self._cache = projects.cache
        self._clock = clock
        self._secrets = credentials.SecretHasher(pepper)

    async def authenticate(self, api_key: str, api_secret: str) -> Project:
        """The project owning this key pair, or ``Unauthenticated``."""
        return (await self.verify(api_key, api_secret)).project

    async def identify(self, api_key: str) -> Project:
        """The project owning a live key, for routes that do not need the secret."""
        return (await self.identify_key(api_key)).project

    async def verify(self, api_key: str, api_secret: str) -> ProjectCredential:
        """The credential of this key pair (which key, its scopes), or
        ``Unauthenticated``: what the HTTP shell checks scopes against."""
        # The cache hit is every request of a busy project: one dict look-up, one expiry
        # check and one HMAC. Only live keys are ever cached (well-formed by
        # construction), and a malformed secret cannot match a stored hash, so the format
        # checks, whose job is to keep made-up credentials away from the database, run
        # on a miss only.
        credential = self._cache.get(api_key)
        if credential is None:
            if not credentials.is_well_formed_secret(api_secret):
                raise Unauthenticated(INVALID_CREDENTIALS)
            credential = await self._fetch(api_key)
        expires = credential.expires_at
        if expires is not None and self._clock.time() >= expires:
            raise Unauthenticated(INVALID_CREDENTIALS)
        if not self._secrets.matches(api_secret, credential.secret_hash):
            raise Unauthenticated(INVALID_CREDENTIALS)
        return credential

    async def identify_key(self, api_key: str) -> ProjectCredential:
        """The credential of a live key, without its secret."""
        credential = self._cache.get(api_key)
        if credential is None:
            credential = await self._fetch(api_key)
        expires = credential.expires_at
        if expires is not None and self._clock.time() >= expires:
            raise Unauthenticated(INVALID_CREDENTIALS)
        return credential

    async def _fetch(self, api_key: str) -> ProjectCredential:
        """A cache miss: refuse a malformed key before any lookup, then the repositories."""
        if not credentials.is_well_formed_key(api_key):
            raise Unauthenticated(INVALID_CREDENTIALS)
        credential = None
        project = await self._projects.get_by_api_key(api_key)
        if project is not None:
            credential = _own_credential(project, api_key)
        elif self._keys is not None:
            credential = await self._named_credential(api_key)
        if credential is None:
            raise Unauthenticated(INVALID_CREDENTIALS)
        self._cache.put(api_key, credential)
        return credential

    async def _named_credential(self, api_key: str) -> ProjectCredential | None:
        assert self._keys is not None
        key = await self._keys.get_by_api_key(api_key)
        if key is None or key.revoked_at is not None:
            return None
        project = await self._projects.get(key.project_id)
        if project is None:
            return None
        return ProjectCredential(
            project=project,
            key_id=key.id,
            secret_hash=key.secret_hash,
            scopes=frozenset(key.scopes) if key.scopes else None,
            expires_at=key.expires_at.timestamp() if key.expires_at else None,
        )


def _own_credential(project: Project, api_key: str) -> ProjectCredential | None:
    """The project's own pair, or its previous pair until the grace period ends."""
    if project.api_key == api_key:
        return ProjectCredential(
            project=project, key_id=PRIMARY_KEY_ID, secret_hash=project.secret_hash
        )
    previous = project.previous
    if previous is not None and previous.api_key == api_key:
        return ProjectCredential(
            project=project,
            key_id=PRIMARY_KEY_ID,
            secret_hash=previous.secret_hash,
            expires_at=previous.expires_at.timestamp(),
        )
    return None


class ManagementClaims(msgspec.Struct, frozen=True, kw_only=True):
    """The claims of a management JWT, decoded strictly: a claim of the wrong type (a
    ``null`` ``exp``, a list as ``role``) fails the decode, and so the token."""

    sub: str
    exp: float
    role: Role
    org_id: str | None = None
    iat: float | None = None
    nbf: float | None = None
    #: A signed-in user's session (its ``sub`` is then the user id) and email.
    sid: str | None = None
    email: str | None = None


class ManagementAuthenticator:
    """Verifies and mints management JWTs (HS256 with ``JWT_SECRET``).

    Required claims: ``sub`` (a non-empty string), ``exp`` (a number), ``role`` (admin,
    owner, member) and, unless admin, ``org_id``. Pulse accepts no token that lives
    longer than ``max_ttl_seconds``: neither ``exp`` further than that from now nor, when
    ``iat`` is given, from ``iat``; ``iat`` and ``nbf`` in the future (beyond the clock
    skew leeway) are refused too. Every refusal is the same ``Unauthenticated``.
    """

    def __init__(
        self,
        jwt_secret: str,
        clock: Clock,
        *,
        max_ttl_seconds: int = DEFAULT_MANAGEMENT_TOKEN_MAX_TTL_SECONDS,
    ) -> None:
        if max_ttl_seconds <= 0:
            raise ValueError("max_ttl_seconds must be positive")
        self._verifier = HS256Verifier(jwt_secret)
        self._signer = HS256Signer(jwt_secret)
        self._clock = clock
        self._max_ttl = max_ttl_seconds

    @property
    def max_ttl_seconds(self) -> int:
        return self._max_ttl

    def authenticate(self, token: str) -> ManagementPrincipal:
        now = self._clock.time()
        try:
            raw = self._verifier.decode(token, now=now, leeway=JWT_LEEWAY_SECONDS)
            claims = msgspec.convert(raw, ManagementClaims, strict=True)
        except (TokenError, msgspec.ValidationError) as exc:
            raise Unauthenticated(INVALID_CREDENTIALS) from exc
        if not self._acceptable(claims, now):
            raise Unauthenticated(INVALID_CREDENTIALS)
        org_id = claims.org_id
        if claims.role == "admin":
            org_id = None
        elif org_id is None or not ids.is_valid_id(org_id, ids.ORGANIZATION):
            raise Unauthenticated(INVALID_CREDENTIALS)
        if claims.sid is None:
            return ManagementPrincipal(subject=claims.sub, role=claims.role, org_id=org_id)
        return ManagementPrincipal(
            subject=claims.sub,
            role=claims.role,
            org_id=org_id,
            user_id=claims.sub,
            email=claims.email,
            session_id=claims.sid,
        )

    def _acceptable(self, claims: ManagementClaims, now: float) -> bool:
        latest = now + JWT_LEEWAY_SECONDS
        if not claims.sub or len(claims.sub) > MAX_SUBJECT_LENGTH:
            return False
        if claims.exp > latest + self._max_ttl:
            return False
        if claims.iat is not None and (
            claims.iat > latest or claims.exp - claims.iat > self._max_ttl
        ):
            return False
        return claims.nbf is None or claims.nbf <= latest

    def mint(
        self,
        subject: str,
        *,
        role: str = "admin",
        org_id: str | None = None,
        ttl_seconds: int = 3600,
        session_id: str | None = None,
        email: str | None = None,
    ) -> str:
        """A signed token for ``subject``; used by ``pulse admin-token``, sign-in (with
        the session, ``subject`` the user id) and tests.

        ``ValueError`` for a subject, role, organization or lifetime this authenticator
        would refuse (``ttl_seconds`` in 1..``max_ttl_seconds``): what it mints, it
        accepts."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if not subject or len(subject) > MAX_SUBJECT_LENGTH:
            raise ValueError(f"subject must be 1 to {MAX_SUBJECT_LENGTH} characters")
        if role != "admin" and (org_id is None or not ids.is_valid_id(org_id, ids.ORGANIZATION)):
            raise ValueError("owner and member tokens need the id of an organization (org_…)")
        if not 0 < ttl_seconds <= self._max_ttl:
            raise ValueError(
                f"ttl must be between 1 and {self._max_ttl} seconds "
                "(MANAGEMENT_TOKEN_MAX_TTL_SECONDS)"
            )
        now = int(self._clock.time())
        claims: dict[str, object] = {
            "sub": subject,
            "role": role,
            "iat": now,
            "exp": now + ttl_seconds,
        }
        if org_id is not None:
            claims["org_id"] = org_id
        if session_id is not None:
            claims["sid"] = session_id
        if email is not None:
            claims["email"] = email
        return self._signer.sign(claims)
