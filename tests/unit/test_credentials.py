"""API key and secret format: entropy, checksum, and constant-time verification."""

from __future__ import annotations

import hashlib
import hmac
import string

from hypothesis import given
from hypothesis import strategies as st

from pulse_core.crypto import credentials

_PRINTABLE = string.ascii_letters + string.digits + string.punctuation + " \x00é"


def test_generated_credentials_are_well_formed_and_distinct() -> None:
    keys = {credentials.generate_api_key() for _ in range(200)}
    secrets = {credentials.generate_api_secret() for _ in range(200)}
    assert len(keys) == 200 and len(secrets) == 200
    assert all(credentials.is_well_formed_key(k) for k in keys)
    assert all(credentials.is_well_formed_secret(s) for s in secrets)
    assert not any(credentials.is_well_formed_secret(k) for k in keys)
    assert not any(credentials.is_well_formed_key(s) for s in secrets)


def test_entropy_is_at_least_128_bits() -> None:
    import math

    key = credentials.generate_api_key()
    secret = credentials.generate_api_secret()
    body = lambda value, prefix: len(value) - len(prefix) - 6  # noqa: E731
    assert body(key, credentials.KEY_PREFIX) * math.log2(62) >= 128
    assert body(secret, credentials.SECRET_PREFIX) * math.log2(62) >= 128


@given(data=st.data(), is_key=st.booleans())
def test_every_single_character_change_is_rejected(data: st.DataObject, is_key: bool) -> None:
    value = credentials.generate_api_key() if is_key else credentials.generate_api_secret()
    check = credentials.is_well_formed_key if is_key else credentials.is_well_formed_secret
    position = data.draw(st.integers(0, len(value) - 1))
    replacement = data.draw(st.sampled_from(_PRINTABLE).filter(lambda c: c != value[position]))
    changed = value[:position] + replacement + value[position + 1 :]
    assert check(value)
    assert not check(changed)


@given(data=st.data())
def test_insertions_and_deletions_are_rejected(data: st.DataObject) -> None:
    value = credentials.generate_api_key()
    position = data.draw(st.integers(0, len(value) - 1))
    assert not credentials.is_well_formed_key(value[:position] + value[position + 1 :])
    char = data.draw(st.sampled_from(string.ascii_letters))
    assert not credentials.is_well_formed_key(value[:position] + char + value[position:])


@given(st.text(max_size=80))
def test_arbitrary_strings_are_not_credentials(text: str) -> None:
    assert not credentials.is_well_formed_key(text)
    assert not credentials.is_well_formed_secret(text)


def test_only_the_peppered_hmac_is_stored() -> None:
    secret = credentials.generate_api_secret()
    stored = credentials.hash_secret(secret, b"pepper")
    expected = hmac.new(b"pepper", secret.encode(), hashlib.sha256).hexdigest()
    assert stored == expected and secret not in stored
    assert credentials.secret_matches(secret, b"pepper", stored)
    assert not credentials.secret_matches(secret, b"other-pepper", stored)
    assert not credentials.secret_matches(credentials.generate_api_secret(), b"pepper", stored)


def test_the_authenticators_secret_hasher_is_hash_secret() -> None:
    hasher = credentials.SecretHasher(b"pepper")
    long_pepper = credentials.SecretHasher(b"p" * 100)  # longer than a SHA-256 block
    for _ in range(20):
        secret = credentials.generate_api_secret()
        stored = credentials.hash_secret(secret, b"pepper")
        assert hasher.hash(secret) == stored and hasher.matches(secret, stored)
        assert long_pepper.hash(secret) == credentials.hash_secret(secret, b"p" * 100)
        assert not hasher.matches(credentials.generate_api_secret(), stored)
