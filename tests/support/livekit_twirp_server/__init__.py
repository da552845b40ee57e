"""A LiveKit server test double that speaks the Twirp API the ``livekit-api`` SDK calls.

Why it exists: ``LiveKitMediaEngine`` must be tested through the real SDK over real HTTP,
so that its request building, token grants and error translation run exactly as they do
in production, without a LiveKit server, Redis or egress/ingress workers.

What it mirrors (checked against livekit-server ``pkg/service``, livekit/egress and
livekit/protocol, and against the installed SDK's ``twirp_client.py``):

* Routes are ``POST /twirp/livekit.<Service>/<Method>``. Bodies are protobuf
  (``application/protobuf``, what the SDK sends) or JSON (``application/json``); the reply
  uses the request's encoding. Errors are Twirp JSON ``{"code", "msg", "meta"}`` with
  Twirp's HTTP status for the code (see ``TWIRP_HTTP_STATUS``).
* Token problems (bad signature, unknown key, expired, header not ``Bearer ...``) are
  answered like livekit-server's auth middleware: HTTP 401 with a *plain-text* body.
  The SDK cannot parse that as JSON, so it raises ``ServerError(code="unknown",
  status=401)``. Adapters must therefore look at ``status``, not only ``code``.
* A missing grant, or no token at all, is answered like livekit-server's
  ``twirpAuthError``: Twirp ``unauthenticated`` / 401 with msg ``"permissions denied"``.
  livekit-server never answers ``permission_denied`` for grants.
  Pass ``auth_errors="twirp"`` for the idealised variant instead: token problems as Twirp
  JSON ``unauthenticated`` / 401 and missing grants as ``permission_denied`` / 403.
* With ``narrow_grants=True`` (not livekit-server's behaviour) a token carrying any
  privileged grant its RPC does not need is ``permission_denied`` / 403 too, which proves
  an adapter signs each call with the narrowest token that works.
* Egress: start answers ``EGRESS_STARTING``; stop answers ``EGRESS_ENDING`` with no file
  results yet (the egress worker uploads after EOS); stopping an ended egress is
  ``failed_precondition`` (HTTP 412); unknown ids are ``not_found``. Stream keys in returned
  stream URLs and storage credentials in the echoed request are redacted, as LiveKit does.
  With ``auto_progress=True`` (default) the stored record moves on right after each reply,
  STARTING -> ACTIVE after a start and ENDING -> COMPLETE (with file/segment/stream results)
  after a stop. The *next* read (ListEgress) sees that state. ``advance_egress`` drives it by
  hand when ``auto_progress=False``.
* Ingress: RTMP/WHIP get the configured base URL and a random stream key and are reusable;
  URL pull keeps the given URL, has no stream key, and needs a room and identity.

Deliberate simplifications: rooms need not exist for egress unless ``strict_rooms=True``
(then ``not_found`` like LiveKit; otherwise the room is created implicitly); participants
exist only when added with ``add_participant``; file sizes and durations are synthetic;
``Egress/StartEgress`` (the newer unified API), SIP and agent dispatch answer ``bad_route``.

The package, by part (each module's docstring says more):

* ``twirp``: Twirp's error codes and statuses, injected faults, reply encoding;
* ``state``: what the double knows (``ServerState``) and the id/copy helpers;
* ``auth``: livekit-server's token checks and grant failures;
* ``routes``: every RPC, its request type, handler and required grant;
* ``rooms``: the RoomService RPCs;
* ``egress_outputs``: egress outputs: validation, redaction, synthetic file results;
* ``egress``: the Egress RPCs and the egress lifecycle;
* ``ingress``: the Ingress RPCs;
* ``server``: :class:`LiveKitTwirpServer`: the HTTP server, dispatch and test hooks.
"""

from __future__ import annotations

from tests.support.livekit_twirp_server.egress_outputs import redact_stream_url
from tests.support.livekit_twirp_server.routes import REQUIRED_GRANTS
from tests.support.livekit_twirp_server.server import LiveKitTwirpServer
from tests.support.livekit_twirp_server.state import RecordedCall, ServerState
from tests.support.livekit_twirp_server.twirp import TWIRP_HTTP_STATUS, TwirpFailure

__all__ = [
    "REQUIRED_GRANTS",
    "TWIRP_HTTP_STATUS",
    "LiveKitTwirpServer",
    "RecordedCall",
    "ServerState",
    "TwirpFailure",
    "redact_stream_url",
]
