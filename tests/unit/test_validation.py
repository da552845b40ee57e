"""The shared URL rule (:func:`pulse_core.services.validation.url`): webhook endpoints,
the project's webhook_url, web egress pages, RTMP outputs and pulled ingress streams
take a port only when it is ASCII digits naming 1 to 65535."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pulse_core.errors import InvalidInput
from pulse_core.services.validation import http_url, url

SCHEMES = ("http", "https", "rtmp")
HOSTS = ["93.184.216.34", "hooks.example.com", "[2606:2800:220:1::1]", "user:pw@example.com"]


@given(host=st.sampled_from(HOSTS), port=st.integers(min_value=-(10**6), max_value=10**6))
@example(host="93.184.216.34", port=65536)
@example(host="93.184.216.34", port=-1)
@example(host="93.184.216.34", port=99999)
@example(host="93.184.216.34", port=0)
@example(host="93.184.216.34", port=65535)
def test_a_port_is_taken_only_from_1_to_65535(host: str, port: int) -> None:
    value = f"http://{host}:{port}/hooks"
    if 1 <= port <= 65535:
        assert url(value, "url", schemes=SCHEMES) == value
    else:
        with pytest.raises(InvalidInput) as caught:
            url(value, "url", schemes=SCHEMES)
        assert caught.value.field == "url"


@pytest.mark.parametrize(
    "port", ["+80", "8o", "0x50", "٨٠", "80:80", "1_000", "00000", "99999999999999999999"]
)
def test_a_garbled_port_is_refused_naming_the_field(port: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        http_url(f"https://hooks.example.com:{port}/x", "webhook_url")
    assert caught.value.field == "webhook_url"


@pytest.mark.parametrize(
    "value",
    [
        "https://hooks.example.com/x",
        "https://hooks.example.com:/x",  # an empty port is the scheme's own (RFC 3986)
        "https://hooks.example.com:00443/x",
        "http://[2606:2800:220:1::1]:8080/",
        "rtmp://live.example.com:1935/app/key",
    ],
)
def test_urls_without_a_port_or_with_a_good_one_are_kept(value: str) -> None:
    assert url(value, "url", schemes=SCHEMES) == value


def test_text_after_an_ip_literal_is_refused() -> None:
    with pytest.raises(InvalidInput):
        url("http://[2606:2800:220:1::1]junk/", "url", schemes=SCHEMES)
