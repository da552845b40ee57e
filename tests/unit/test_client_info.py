"""What the audit log keeps of a client (:func:`pulse_http.auth.client_info`): its user
agent as the text the client sent, whatever bytes those were, bounded."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pulse_http.auth import client_info


@given(st.binary(min_size=1, max_size=3000))
def test_the_user_agent_is_the_utf8_the_client_sent_cut_to_512_characters(sent: bytes) -> None:
    # ASGI servers hand header bytes over decoded as latin-1.
    info = client_info({}, {"user-agent": sent.decode("latin-1")}, "192.0.2.1")
    assert info.user_agent == sent.decode("utf-8", "replace")[:512]


def test_no_user_agent_is_none() -> None:
    assert client_info({}, {}, None).user_agent is None
