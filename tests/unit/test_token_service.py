"""TokenService: LiveKit tokens that livekit-api's own TokenVerifier accepts, per project.

livekit-api is the oracle here (tests may import it; pulse_core may not): every minted
token must verify with ``TokenVerifier`` and carry exactly the claims asked for.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt as pyjwt
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from livekit import api
from livekit.protocol.agent_dispatch import RoomAgentDispatch
from livekit.protocol.room import RoomConfiguration

from pulse_adapters.clock import ManualClock
from pulse_core import rooms
from pulse_core.crypto.jwt import HS256Signer
from pulse_core.errors import InvalidInput, NotFound, QuotaExceeded
from pulse_core.models.project import Project, ProjectSettings
from pulse_core.models.token import DEFAULT_GRANTS, TokenRequest, TokenValidation, VideoGrants
from pulse_core.services import tokens
from pulse_core.services.quotas import TokenAllowance
from pulse_core.services.tokens import TokenService
from pulse_core.services.validation import INVISIBLE
from tests.support import builders

KEY = "APIpulseUnitTest"
SECRET = "pulse-unit-test-livekit-secret-0123456789abcdef-0123456789abcdef"
URL = "wss://livekit.example.com"
REFUSED = [
    "room_create",
    "room_list",
    "room_record",
    "ingress_admin",
    "agent",
    "recorder",
    "can_manage_agent_session",
]
# Everything a Pulse token may contain at the top level (and roomConfig when its plan caps
# participants per room): no jti, kind, sip...
ALLOWED_TOP_LEVEL = {"iss", "sub", "nbf", "exp", "video", "name", "metadata", "attributes"}
# The grants a token may carry, and those of them that are plain booleans.
ROOM_GRANTS = [name for name in VideoGrants.__struct_fields__ if name not in REFUSED]
BOOL_ROOM_GRANTS = [
    name for name in ROOM_GRANTS if name not in ("can_publish_sources", "destination_room")
]


def now_clock() -> ManualClock:
    # livekit's TokenVerifier checks nbf/exp against the real time, so the oracle tests
    # start the manual clock at "now" (whole seconds, so nbf is exact).
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


def service(clock: ManualClock, *, allowance: TokenAllowance | None = None) -> TokenService:
    return TokenService(
        clock,
        livekit_api_key=KEY,
        livekit_api_secret=SECRET,
        livekit_url=URL,
        allowance=allowance,
    )


def make_project(settings: ProjectSettings | None = None) -> Project:
    project = builders.project(builders.org().id)
    if settings is not None:
        project = msgspec.structs.replace(project, settings=settings)
    return project


def payload_of(token: str) -> dict[str, Any]:
    segment = token.split(".")[1]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return data


# ---------------------------------------------------------------- strategies


def _no_edge_space(value: str) -> bool:
    return value[:1] != " " and value[-1:] != " "


def _fits(limit: int) -> Any:
    return lambda value: len(value.encode()) <= limit


_printable = st.characters(categories=("L", "M", "N", "P", "S")) | st.just(" ")
_text = st.characters(exclude_categories=("Cs",))  # anything JSON can carry
_room_chars = st.characters(
    categories=("L", "M", "N", "P", "S"), exclude_characters="/\\"
) | st.sampled_from("_ ")

identities = st.text(_printable, min_size=1, max_size=40).filter(_no_edge_space).filter(_fits(256))
room_names = st.text(_room_chars, min_size=1, max_size=30).filter(_no_edge_space).filter(_fits(225))
# Display names: no controls, nothing invisible or reordering, no line separators.
_shown = st.characters(
    exclude_categories=("Cc", "Cs", "Zl", "Zp"), exclude_characters="".join(INVISIBLE)
)
names = st.none() | st.text(_shown, max_size=40).filter(_fits(256))
metadata = st.none() | st.text(_text, max_size=300)
attribute_keys = (
    st.text(_printable, min_size=1, max_size=20)
    .filter(lambda k: not k.startswith("lk."))
    .filter(_fits(128))
)
attributes = st.dictionaries(attribute_keys, st.text(_text, max_size=50), max_size=8)
sources = st.none() | st.lists(
    st.sampled_from(["camera", "microphone", "screen_share", "screen_share_audio"]),
    min_size=1,
    unique=True,
).map(tuple)
grants = st.builds(
    VideoGrants,
    **{name: st.booleans() for name in BOOL_ROOM_GRANTS},
    can_publish_sources=sources,
    destination_room=st.none() | room_names,
)


@st.composite
def project_settings(draw: st.DrawFn) -> ProjectSettings:
    ttl_max = draw(st.none() | st.integers(60, 86_400))
    ttl_default = draw(st.none() | st.integers(60, ttl_max or 86_400))
    return ProjectSettings(token_ttl_default_seconds=ttl_default, token_ttl_max_seconds=ttl_max)


@st.composite
def requests(draw: st.DrawFn, project_settings_: ProjectSettings) -> TokenRequest:
    ttl_max = project_settings_.token_ttl_max_seconds or 86_400
    return TokenRequest(
        identity=draw(identities),
        room=draw(room_names),
        name=draw(names),
        metadata=draw(metadata),
        attributes=draw(attributes),
        ttl_seconds=draw(st.none() | st.integers(60, ttl_max)),
        grants=draw(grants),
    )


def expected_ttl(settings: ProjectSettings, ttl: int | None) -> int:
    high = settings.token_ttl_max_seconds or 86_400
    if ttl is not None:
        return ttl
    return min(settings.token_ttl_default_seconds or 3600, high)


# ---------------------------------------------------------------- the oracle


@given(st.data())
def test_livekit_accepts_every_minted_token_with_exactly_the_claims_asked(
    data: st.DataObject,
) -> None:
    settings_ = data.draw(project_settings())
    request = data.draw(requests(settings_))
    cap = data.draw(st.none() | st.integers(1, 100_000), label="plan's participant cap")
    clock = now_clock()
    project = make_project(settings_)
    allowance = TokenAllowance()
    allowance.room_caps[project.org_id] = cap
    minting = service(clock, allowance=allowance)

    minted = minting.mint(project, request)

    claims = api.TokenVerifier(KEY, SECRET).verify(minted.token)
    if cap is None:
        assert claims.room_config is None
    else:
        assert claims.room_config is not None
        # Nothing but the cap: the rest of a RoomConfiguration reaches beyond the room.
        assert claims.room_config == RoomConfiguration(max_participants=cap)
    assert claims.identity == request.identity
    assert claims.name == (request.name or "")
    assert claims.metadata == (request.metadata or "")
    assert claims.attributes == request.attributes
    assert claims.kind == ""
    video = claims.video
    assert video is not None
    g = request.grants
    assert video.room == rooms.to_livekit(project.id, request.room) == minted.livekit_room
    # Every grant, as livekit-api reads it (absent: its default, which is LiveKit's).
    for name in BOOL_ROOM_GRANTS:
        assert bool(getattr(video, name)) is getattr(g, name), name
    expected_sources = None if g.can_publish_sources is None else list(g.can_publish_sources)
    assert video.can_publish_sources == expected_sources
    expected_destination = (
        None if g.destination_room is None else rooms.to_livekit(project.id, g.destination_room)
    )
    assert video.destination_room == expected_destination
    for name in REFUSED:
        assert not getattr(video, name), name

    raw = payload_of(minted.token)
    ttl = expected_ttl(settings_, request.ttl_seconds)
    assert raw["iss"] == KEY
    assert raw["nbf"] == int(clock.time())
    assert raw["exp"] - raw["nbf"] == ttl
    assert set(raw) <= ALLOWED_TOP_LEVEL | ({"roomConfig"} if cap else set())
    # canPublishData must be explicit: LiveKit reads it absent as "same as canPublish".
    assert {"room", "roomJoin", "canPublish", "canSubscribe", "canPublishData"} <= set(raw["video"])

    assert minted.identity == request.identity
    assert minted.room == request.room
    assert minted.livekit_url == URL
    assert minted.expires_at == datetime.fromtimestamp(raw["exp"], UTC)

    # And Pulse's own validation reads back exactly the grants that were asked for.
    verdict = minting.validate(project, minted.token)
    assert verdict.valid, verdict.reason
    assert verdict.identity == request.identity
    assert verdict.room == request.room
    assert verdict.expires_at == minted.expires_at
    assert verdict.grants == request.grants


def test_default_request_gets_the_safe_default_grants() -> None:
    clock = now_clock()
    minted = service(clock).mint(make_project(), TokenRequest(identity="alice", room="demo"))
    assert payload_of(minted.token)["video"] == {
        "room": minted.livekit_room,
        "roomJoin": True,
        "canPublish": True,
        "canSubscribe": True,
        "canPublishData": True,
    }


# ---------------------------------------------------------------- tenancy


def test_two_projects_asking_for_demo_get_different_livekit_rooms() -> None:
    clock = now_clock()
    svc = service(clock)
    a, b = make_project(), make_project()
    token_a = svc.mint(a, TokenRequest(identity="alice", room="demo"))
    token_b = svc.mint(b, TokenRequest(identity="alice", room="demo"))

    assert token_a.room == token_b.room == "demo"
    assert token_a.livekit_room != token_b.livekit_room
    verifier = api.TokenVerifier(KEY, SECRET)
    assert verifier.verify(token_a.token).video.room == token_a.livekit_room  # type: ignore[union-attr]
    assert verifier.verify(token_b.token).video.room == token_b.livekit_room  # type: ignore[union-attr]
    assert rooms.from_livekit(token_a.livekit_room) == (a.id, "demo")
    assert rooms.from_livekit(token_b.livekit_room) == (b.id, "demo")


def test_a_room_named_like_another_projects_room_stays_in_its_project() -> None:
    clock = now_clock()
    a, b = make_project(), make_project()
    sneaky = rooms.to_livekit(b.id, "demo")  # "prj_<B>_demo" used as a room name by A
    minted = service(clock).mint(a, TokenRequest(identity="mallory", room=sneaky))
    assert minted.livekit_room == f"{a.id}_{b.id}_demo"
    assert rooms.from_livekit(minted.livekit_room) == (a.id, sneaky)
    assert service(clock).validate(b, minted.token).reason == "foreign_project"


# ---------------------------------------------------------------- refusals


def test_the_refused_grants_are_exactly_these() -> None:
    assert sorted(tokens.REFUSED_GRANTS) == sorted(REFUSED)


def test_refused_grants_are_grants_false_by_default() -> None:
    defaults = msgspec.structs.asdict(VideoGrants())
    assert all(defaults[name] is False for name in tokens.REFUSED_GRANTS)


@pytest.mark.parametrize("grant", REFUSED)
def test_server_wide_grants_are_refused_naming_the_grant(grant: str) -> None:
    request = TokenRequest(identity="alice", room="demo", grants=VideoGrants(**{grant: True}))
    svc, project = service(now_clock()), make_project()
    for _ in range(2):  # and again: a refusal is never remembered as a success
        with pytest.raises(InvalidInput) as info:
            svc.mint(project, request)
        assert info.value.field == f"grants.{grant}"
        assert str(info.value) == f"grants.{grant} is not allowed: {tokens.REFUSED_GRANTS[grant]}"


def test_the_first_refused_grant_is_named() -> None:
    everything = VideoGrants(**dict.fromkeys(REFUSED, True))
    with pytest.raises(InvalidInput) as info:
        service(now_clock()).mint(
            make_project(), TokenRequest(identity="a", room="r", grants=everything)
        )
    assert info.value.field == f"grants.{next(iter(tokens.REFUSED_GRANTS))}"


def test_equal_grants_sign_the_same_claim() -> None:
    svc, project = service(now_clock()), make_project()

    def video(grants: VideoGrants) -> Any:
        minted = svc.mint(project, TokenRequest(identity="alice", room="demo", grants=grants))
        return payload_of(minted.token)["video"]

    # The default grants by identity and a fresh equal value: one claim.
    assert video(VideoGrants()) == video(DEFAULT_GRANTS)
    # 1 == True (a caller ignoring the types): whichever comes first, true is signed. (Each
    # order with its own destination room: grants met before are not built again.)
    for first, second in ((1, True), (True, 1)):
        one = {"hidden": first, "room_admin": second, "can_subscribe": 0}
        two = {"hidden": second, "room_admin": first, "can_subscribe": False}
        for grants in (one, two):
            claim = video(VideoGrants(**grants, destination_room=f"after-{first!r}"))
            signed = [claim[name] for name in ("hidden", "roomAdmin", "canSubscribe")]
            assert signed == [True, True, False]
    # An unhashable value (a list where VideoGrants has a tuple) is checked all the same.
    listed = VideoGrants(can_publish_sources=["camera", "camera"])  # type: ignore[arg-type]
    assert video(listed)["canPublishSources"] == ["camera"]


@pytest.mark.parametrize(
    ("project_settings_", "ttl"),
    [
        (ProjectSettings(), 59),
        (ProjectSettings(), 0),
        (ProjectSettings(), -3600),
        (ProjectSettings(), 86_401),
        (ProjectSettings(token_ttl_max_seconds=7200), 7201),
        (ProjectSettings(token_ttl_max_seconds=60), 61),
    ],
)
def test_ttl_out_of_range_is_refused(project_settings_: ProjectSettings, ttl: int) -> None:
    request = TokenRequest(identity="alice", room="demo", ttl_seconds=ttl)
    with pytest.raises(InvalidInput) as info:
        service(now_clock()).mint(make_project(project_settings_), request)
    assert info.value.field == "ttl_seconds"


def test_boolean_ttl_is_refused() -> None:
    request = TokenRequest(identity="alice", room="demo", ttl_seconds=True)
    with pytest.raises(InvalidInput) as info:
        service(now_clock()).mint(make_project(), request)
    assert info.value.field == "ttl_seconds"


@pytest.mark.parametrize(
    ("project_settings_", "expected"),
    [
        (ProjectSettings(), 3600),
        (ProjectSettings(token_ttl_default_seconds=600), 600),
        (ProjectSettings(token_ttl_max_seconds=1800), 1800),
        (ProjectSettings(token_ttl_default_seconds=900, token_ttl_max_seconds=1800), 900),
    ],
)
def test_default_ttl(project_settings_: ProjectSettings, expected: int) -> None:
    minted = service(now_clock()).mint(
        make_project(project_settings_), TokenRequest(identity="alice", room="demo")
    )
    raw = payload_of(minted.token)
    assert raw["exp"] - raw["nbf"] == expected


@pytest.mark.parametrize(
    "identity",
    [
        "",
        "a" * 257,
        "é" * 129,  # 129 characters, 258 bytes
        "a\x00b",
        "\x00",
        "a\nb",
        "tab\t",
        "del\x7f",
        "zero\u200bwidth",
        "lone\ud800",
        " alice",
        "alice ",
    ],
)
def test_bad_identity_is_refused(identity: str) -> None:
    with pytest.raises(InvalidInput) as info:
        service(now_clock()).mint(make_project(), TokenRequest(identity=identity, room="demo"))
    assert info.value.field == "identity"


def test_identity_edges_are_accepted() -> None:
    svc, project = service(now_clock()), make_project()
    for identity in ["a", "a" * 256, "é" * 128, "user@example.com", "Ünïcødé 用户"]:
        assert svc.mint(project, TokenRequest(identity=identity, room="demo")).identity == identity


def test_bad_room_is_refused() -> None:
    with pytest.raises(InvalidInput) as info:
        service(now_clock()).mint(make_project(), TokenRequest(identity="alice", room="a/b"))
    assert info.value.field == "room"


@pytest.mark.parametrize(
    ("field", "changes"),
    [
        ("name", {"name": "x" * 257}),
        ("name", {"name": "two\nlines"}),
        ("name", {"name": "nul\x00"}),
        ("name", {"name": "Alice\u202e(nimda)"}),  # shows as "Alice(admin)"
        ("name", {"name": "\u200b"}),
        ("name", {"name": "a\u2028b"}),
        ("metadata", {"metadata": "x" * (tokens.MAX_METADATA_BYTES + 1)}),
        ("metadata", {"metadata": "\ud800"}),
        ("attributes", {"attributes": {f"k{i}": "v" for i in range(tokens.MAX_ATTRIBUTES + 1)}}),
        ("attributes", {"attributes": {"": "v"}}),
        ("attributes", {"attributes": {"lk.agent.state": "speaking"}}),
        ("attributes", {"attributes": {"a\x00": "v"}}),
        ("attributes", {"attributes": {"k" * 129: "v"}}),
        ("attributes", {"attributes": {"k": "v" * (tokens.MAX_ATTRIBUTE_VALUE_BYTES + 1)}}),
        ("attributes", {"attributes": {f"k{i}": "v" * 4000 for i in range(5)}}),
        ("attributes", {"attributes": {"k": 1}}),
        ("grants.can_publish_sources", {"grants": VideoGrants(can_publish_sources=())}),
        ("grants.can_publish_sources", {"grants": VideoGrants(can_publish_sources=("webcam",))}),  # type: ignore[arg-type]
        ("grants.can_publish_sources", {"grants": VideoGrants(can_publish_sources="camera")}),  # type: ignore[arg-type]
        ("grants.can_publish_sources", {"grants": VideoGrants(can_publish_sources=(["camera"],))}),  # type: ignore[arg-type]
        ("grants.destination_room", {"grants": VideoGrants(destination_room="")}),
        ("grants.destination_room", {"grants": VideoGrants(destination_room="a\nb")}),
    ],
)
def test_bad_fields_are_refused_naming_the_field(field: str, changes: dict[str, Any]) -> None:
    request = TokenRequest(identity="alice", room="demo", **changes)
    with pytest.raises(InvalidInput) as info:
        service(now_clock()).mint(make_project(), request)
    assert info.value.field == field


def test_limits_themselves_are_accepted() -> None:
    request = TokenRequest(
        identity="alice",
        room="demo",
        name="n" * 256,
        metadata="m" * tokens.MAX_METADATA_BYTES,
        attributes={f"k{i:03}": "v" * 250 for i in range(tokens.MAX_ATTRIBUTES)},
        grants=VideoGrants(can_publish_sources=("camera", "camera", "microphone")),
    )
    minted = service(now_clock()).mint(make_project(), request)
    claims = api.TokenVerifier(KEY, SECRET).verify(minted.token)
    assert claims.metadata == request.metadata
    assert claims.attributes == request.attributes
    assert claims.video.can_publish_sources == ["camera", "microphone"]  # type: ignore[union-attr]


def test_deleted_project_cannot_mint() -> None:
    project = msgspec.structs.replace(make_project(), is_deleted=True)
    with pytest.raises(NotFound):
        service(now_clock()).mint(project, TokenRequest(identity="alice", room="demo"))


def test_service_needs_livekit_credentials() -> None:
    with pytest.raises(ValueError, match="key and secret"):
        TokenService(now_clock(), livekit_api_key="", livekit_api_secret=SECRET, livekit_url=URL)


# ---------------------------------------------------------------- validate


@pytest.fixture
def now() -> ManualClock:
    return now_clock()


@pytest.fixture
def project() -> Project:
    return make_project()


@pytest.fixture
def minted_token(now: ManualClock, project: Project) -> str:
    request = TokenRequest(identity="alice", room="demo", ttl_seconds=600)
    return service(now).mint(project, request).token


def _replace_char(text: str, index: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    new = alphabet[(alphabet.index(text[index]) + 1) % len(alphabet)]
    return text[:index] + new + text[index + 1 :]


def test_minted_token_validates(now: ManualClock, project: Project, minted_token: str) -> None:
    verdict = service(now).validate(project, minted_token)
    assert verdict.valid
    assert verdict.reason is None
    assert (verdict.identity, verdict.room) == ("alice", "demo")
    assert verdict.expires_at == now.now() + timedelta(seconds=600)
    assert verdict.grants == VideoGrants()


def test_every_signature_character_matters(
    now: ManualClock, project: Project, minted_token: str
) -> None:
    header, payload, signature = minted_token.split(".")
    svc = service(now)
    for index in range(len(signature)):
        tampered = f"{header}.{payload}.{_replace_char(signature, index)}"
        assert svc.validate(project, tampered).reason == "bad_signature", index


def test_tampered_payload_is_a_bad_signature(
    now: ManualClock, project: Project, minted_token: str
) -> None:
    header, payload, signature = minted_token.split(".")
    svc = service(now)
    for index in range(0, len(payload), 7):
        tampered = f"{header}.{_replace_char(payload, index)}.{signature}"
        assert svc.validate(project, tampered).reason == "bad_signature", index


def test_payload_forged_with_other_claims_is_a_bad_signature(
    now: ManualClock, project: Project, minted_token: str
) -> None:
    header, _, signature = minted_token.split(".")
    claims = payload_of(minted_token)
    claims["video"]["roomList"] = True
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert service(now).validate(project, f"{header}.{forged}.{signature}").reason == (
        "bad_signature"
    )


def test_expiry_is_exact(now: ManualClock, project: Project, minted_token: str) -> None:
    svc = service(now)
    now.advance(599)
    assert svc.validate(project, minted_token).valid
    now.advance(1)
    assert svc.validate(project, minted_token).reason == "expired"
    now.advance(3600)
    assert svc.validate(project, minted_token).reason == "expired"


def test_not_yet_valid_beyond_the_leeway(
    now: ManualClock, project: Project, minted_token: str
) -> None:
    svc = service(now)
    now.advance(-tokens.NBF_LEEWAY_SECONDS)
    assert svc.validate(project, minted_token).valid  # clock skew between replicas
    now.advance(-1)
    assert svc.validate(project, minted_token).reason == "not_yet_valid"


def test_token_of_another_project_is_foreign(now: ManualClock, minted_token: str) -> None:
    assert service(now).validate(make_project(), minted_token).reason == "foreign_project"


def test_other_livekit_secret_is_a_bad_signature(now: ManualClock, project: Project) -> None:
    other = TokenService(
        now, livekit_api_key=KEY, livekit_api_secret="another-secret-" + "z" * 32, livekit_url=URL
    )
    token = other.mint(project, TokenRequest(identity="alice", room="demo")).token
    assert service(now).validate(project, token).reason == "bad_signature"


def _forge(header: dict[str, Any], claims: dict[str, Any], signature: str = "") -> str:
    def segment(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{segment(header)}.{segment(claims)}.{signature}"


def test_alg_none_is_unsupported(now: ManualClock, project: Project, minted_token: str) -> None:
    claims = payload_of(minted_token)
    svc = service(now)
    for header in ({"alg": "none", "typ": "JWT"}, {"alg": "None"}, {"typ": "JWT"}):
        assert svc.validate(project, _forge(header, claims)).reason == "unsupported_algorithm"
    # A genuinely signed HS384 token with the right secret is refused all the same.
    hs384 = pyjwt.encode(claims, SECRET, algorithm="HS384")
    assert svc.validate(project, hs384).reason == "unsupported_algorithm"


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "garbage",
        "a.b",
        "a.b.c",
        "a.b.c.d",
        "....",
        "é.é.é",
        "x" * (tokens.MAX_TOKEN_CHARS + 1),
    ],
)
def test_garbage_is_malformed(now: ManualClock, project: Project, garbage: str) -> None:
    assert service(now).validate(project, garbage) == TokenValidation(
        valid=False, reason="malformed"
    )


def test_non_string_is_malformed(now: ManualClock, project: Project) -> None:
    assert service(now).validate(project, None).reason == "malformed"  # type: ignore[arg-type]


def _signed(now: ManualClock, project: Project, **overrides: Any) -> str:
    t = int(now.time())
    claims: dict[str, Any] = {
        "iss": KEY,
        "sub": "alice",
        "nbf": t,
        "exp": t + 600,
        "video": {"room": rooms.to_livekit(project.id, "demo"), "roomJoin": True},
    }
    claims.update(overrides)
    return HS256Signer(SECRET).sign({k: v for k, v in claims.items() if v is not None})


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": None}, "malformed"),  # LiveKit's verifier requires exp too
        ({"exp": "soon"}, "malformed"),
        ({"sub": None}, "malformed"),
        ({"video": {"room": 5}}, "malformed"),
        ({"video": "demo"}, "malformed"),
        ({"iss": "APIsomeoneElse"}, "wrong_issuer"),
        ({"iss": None}, "wrong_issuer"),
        ({"video": None}, "foreign_project"),
        ({"video": {"room": "demo", "roomJoin": True}}, "foreign_project"),
        ({"sip": {"admin": True}}, "forbidden_grant"),
        ({"roomConfig": {"name": "x"}}, "forbidden_grant"),
        ({"roomConfig": {"maxParticipants": 5, "egress": {"room": {}}}}, "forbidden_grant"),
        ({"roomConfig": {"maxParticipants": 5, "agents": [{"agentName": "a"}]}}, "forbidden_grant"),
        ({"roomConfig": {"maxParticipants": -1}}, "forbidden_grant"),
        ({"roomConfig": {"maxParticipants": True}}, "forbidden_grant"),
        ({"roomConfig": {"maxParticipants": "5"}}, "forbidden_grant"),
        ({"roomConfig": "x"}, "malformed"),
        ({"kind": "agent"}, "forbidden_grant"),
    ],
)
def test_hand_made_tokens(
    now: ManualClock, project: Project, overrides: dict[str, Any], reason: str
) -> None:
    assert service(now).validate(project, _signed(now, project, **overrides)).reason == reason


def _signed_text(payload: str, header: str = '{"alg":"HS256","typ":"JWT"}') -> str:
    """A token over the JSON text given, as another signer may have written it."""

    def b64(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()

    signing_input = f"{b64(header)}.{b64(payload)}"
    mac = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def test_a_member_named_twice_is_malformed(now: ManualClock, project: Project) -> None:
    """LiveKit (Go) merges two ``video`` objects, this parser would keep the last: a token
    read one way here and another there is refused, whatever each copy holds."""
    t = int(now.time())
    room = rooms.to_livekit(project.id, "demo")
    head = f'"iss":"{KEY}","sub":"alice","nbf":{t},"exp":{t + 600}'
    granted = f'"video":{{"room":"{room}","roomJoin":true}}'
    assert service(now).validate(project, _signed_text(f"{{{head},{granted}}}")).valid
    for payload, header in (
        (f'{{{head},"video":{{"room":"{room}","roomList":true}},{granted}}}', None),
        (f'{{{head},"video":{{"room":"{room}","roomJoin":true,"roomJoin":true}}}}', None),
        (f'{{{head},"sub":"bob",{granted}}}', None),
        (f"{{{head},{granted}}}", '{"alg":"HS256","alg":"HS256"}'),
    ):
        token = _signed_text(payload) if header is None else _signed_text(payload, header)
        assert service(now).validate(project, token).reason == "malformed", payload


@pytest.mark.parametrize("room_config", [{"maxParticipants": 5}, {"maxParticipants": 0}, {}])
def test_a_room_config_holding_only_a_participant_cap_is_valid(
    now: ManualClock, project: Project, room_config: dict[str, Any]
) -> None:
    verdict = service(now).validate(project, _signed(now, project, roomConfig=room_config))
    assert verdict.valid, verdict.reason


def test_destination_room_must_be_the_projects_own(now: ManualClock, project: Project) -> None:
    other = make_project()
    video = {
        "room": rooms.to_livekit(project.id, "demo"),
        "roomAdmin": True,
        "destinationRoom": rooms.to_livekit(other.id, "demo"),
    }
    svc = service(now)
    assert svc.validate(project, _signed(now, project, video=video)).reason == "foreign_project"
    video["destinationRoom"] = rooms.to_livekit(project.id, "lobby")
    verdict = svc.validate(project, _signed(now, project, video=video))
    assert verdict.valid
    assert verdict.grants is not None
    assert verdict.grants.destination_room == "lobby"


def test_absent_permissions_read_as_livekit_defaults(now: ManualClock, project: Project) -> None:
    video = {"room": rooms.to_livekit(project.id, "demo"), "roomJoin": True, "canPublish": False}
    verdict = service(now).validate(project, _signed(now, project, video=video))
    assert verdict.grants == VideoGrants(can_publish=False, can_publish_data=False)


def test_null_reads_as_absent_only_where_livekit_has_an_optional(
    now: ManualClock, project: Project
) -> None:
    room = rooms.to_livekit(project.id, "demo")
    optional = ["canPublish", "canSubscribe", "canPublishData", "canUpdateOwnMetadata"]
    optional += ["canSubscribeMetrics", "canManageAgentSession", "canPublishSources"]
    video: dict[str, Any] = {"room": room, "roomJoin": True, **dict.fromkeys(optional)}
    verdict = service(now).validate(project, _signed(now, project, video=video))
    assert verdict.grants == VideoGrants()
    # LiveKit's plain booleans and strings are never null in a token Pulse accepts.
    for name in ["roomJoin", "hidden", "roomAdmin", "destinationRoom", "roomList", "agent"]:
        token = _signed(now, project, video={"room": room, "roomJoin": True, name: None})
        assert service(now).validate(project, token).reason == "malformed", name


# ---------------------------------------------------------------- LiveKit's own tokens


def _livekit_token(room: str, *, key: str = KEY, **grants: Any) -> str:
    return (
        api.AccessToken(key, SECRET)
        .with_identity("bob")
        .with_name("Bob")
        .with_grants(api.VideoGrants(room_join=True, room=room, **grants))
        .to_jwt()
    )


def test_livekit_sdk_token_for_our_room_is_valid(project: Project) -> None:
    token = _livekit_token(
        rooms.to_livekit(project.id, "demo"), can_publish_sources=["camera"], hidden=True
    )
    verdict = service(now_clock()).validate(project, token)
    assert verdict.valid, verdict.reason
    assert (verdict.identity, verdict.room) == ("bob", "demo")
    assert verdict.grants == VideoGrants(can_publish_sources=("camera",), hidden=True)


@pytest.mark.parametrize("grant", REFUSED)
def test_livekit_sdk_token_with_server_wide_grant_is_refused(project: Project, grant: str) -> None:
    token = _livekit_token(rooms.to_livekit(project.id, "demo"), **{grant: True})
    assert service(now_clock()).validate(project, token).reason == "forbidden_grant"


def test_livekit_sdk_token_with_only_a_participant_cap_is_valid_and_with_more_refused(
    project: Project,
) -> None:
    room = rooms.to_livekit(project.id, "demo")

    def with_config(config: RoomConfiguration) -> str:
        return (
            api.AccessToken(KEY, SECRET)
            .with_identity("bob")
            .with_grants(api.VideoGrants(room_join=True, room=room))
            .with_room_config(config)
            .to_jwt()
        )

    verdict = service(now_clock()).validate(
        project, with_config(RoomConfiguration(max_participants=8))
    )
    assert verdict.valid, verdict.reason
    dispatching = RoomConfiguration(
        max_participants=8, agents=[RoomAgentDispatch(agent_name="someone-elses")]
    )
    refused = service(now_clock()).validate(project, with_config(dispatching))
    assert refused.reason == "forbidden_grant"


# ---------------------------------------------------------------- the plan's cap


async def test_prepare_looks_an_organizations_plan_up_once_and_mint_applies_its_cap() -> None:
    project = make_project()
    other = make_project()
    allowance = TokenAllowance()
    looked_up: list[str] = []

    async def learn(org_id: str) -> None:
        looked_up.append(org_id)
        allowance.room_caps[org_id] = 25 if org_id == project.org_id else None

    allowance.learn = learn
    minting = service(now_clock(), allowance=allowance)
    request = TokenRequest(identity="alice", room="demo")

    # Not prepared: no cap yet (the periodic refresh will look the plan up).
    assert "roomConfig" not in payload_of(minting.mint(project, request).token)
    await minting.prepare(project)
    await minting.prepare(project)
    await minting.prepare(other)
    assert looked_up == [project.org_id, other.org_id]
    assert payload_of(minting.mint(project, request).token)["roomConfig"] == {"maxParticipants": 25}
    assert "roomConfig" not in payload_of(minting.mint(other, request).token)
    assert allowance.seen == {project.org_id, other.org_id}


def test_a_cap_of_zero_refuses_the_token_instead_of_lifting_the_limit() -> None:
    # LiveKit reads maxParticipants 0 as "no limit": such a token would open the room.
    project = make_project()
    allowance = TokenAllowance()
    allowance.room_caps[project.org_id] = 0
    with pytest.raises(QuotaExceeded) as refused:
        service(now_clock(), allowance=allowance).mint(
            project, TokenRequest(identity="alice", room="demo")
        )
    assert (refused.value.limit, refused.value.value) == ("max_participants_per_room", 0)


async def test_prepare_without_a_quota_service_or_an_allowance_does_nothing() -> None:
    project = make_project()
    await service(now_clock(), allowance=TokenAllowance()).prepare(project)
    await service(now_clock()).prepare(project)
    minted = service(now_clock()).mint(project, TokenRequest(identity="alice", room="demo"))
    assert "roomConfig" not in payload_of(minted.token)


def test_livekit_sdk_token_for_a_plain_room_is_foreign(project: Project) -> None:
    assert service(now_clock()).validate(project, _livekit_token("demo")).reason == (
        "foreign_project"
    )


def test_livekit_sdk_token_with_another_key_is_wrong_issuer(project: Project) -> None:
    token = _livekit_token(rooms.to_livekit(project.id, "demo"), key="APIother")
    assert service(now_clock()).validate(project, token).reason == "wrong_issuer"
