"""``jwt_check``'s base64url and JSON parsing (pure logic)."""

from __future__ import annotations

import base64
import binascii

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0 import jwt_check
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.jwt_check import (
    b64url,
    header_of,
    json_object,
)

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@given(st.binary(max_size=64))
def test_canonical_text_round_trips(data: bytes) -> None:
    assert b64url(_encode(data)) == data


@given(st.text(alphabet=ALPHABET + "=+/ .", max_size=24))
def test_accepted_exactly_when_re_encoding_gives_the_text_back(text: str) -> None:
    """The definition of canonical, against the standard library's lenient decoder."""
    try:
        lenient = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error):
        lenient = None
    canonical = lenient is not None and _encode(lenient) == text
    try:
        decoded = b64url(text)
    except ValueError:
        assert not canonical, text
    else:
        assert canonical, text
        assert decoded == lenient


@pytest.mark.parametrize(
    ("text", "ok"),
    [("", True), ("QQ", True), ("QR", False), ("QUE", True), ("QUF", False), ("Q", False)],
)
def test_unused_bits_must_be_zero(text: str, ok: bool) -> None:
    if ok:
        b64url(text)
    else:
        with pytest.raises(ValueError, match="canonical"):
            b64url(text)


def test_json_object_refuses_what_is_not_an_object() -> None:
    assert json_object(b'{"a": 1}') == {"a": 1}
    for data in (b"[]", b"1", b"{", b"\xff", b"[" * 100_000 + b"]" * 100_000):
        assert json_object(data) is None
    assert header_of(_encode(b"[" * 100_000)) is None


def test_only_short_headers_are_cached() -> None:
    short = _encode(b'{"alg": "RS256", "kid": "k"}')
    padded = _encode(b'{"alg": "RS256", "kid": "k", "x": "' + b"y" * 2000 + b'"}')
    before = jwt_check._cached_header.cache_info().currsize
    assert header_of(padded) == ("RS256", "k")
    assert jwt_check._cached_header.cache_info().currsize == before  # not kept
    assert header_of(short) == ("RS256", "k")
    assert header_of(short) == ("RS256", "k")
    assert jwt_check._cached_header.cache_info().hits >= 1
