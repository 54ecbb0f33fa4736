"""Fuzz target for the Standard Webhooks verifier: it never accepts a message whose
signed content (``{webhook-id}.{webhook-timestamp}.{body}``) no holder of one of its
secrets signed, and it fails only with its typed errors.

Each case signs a message (with the verifier's secrets, another secret, or none), then
tampers with it or not: another id, timestamp or body, a timestamp written another way,
a signature flipped, truncated, re-encoded, of another version or for another message,
headers missing, renamed or recased, garbage.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from omnibase_infra.errors import InfraAuthenticationError, InfraValidationError
from omnibase_infra.nodes.node_webhook_effect.v1_0_0 import WebhookSigner, WebhookVerifier
from omnibase_infra_testing.fuzz import fuzz_target

from .conftest import make_secret

NOW = 1_750_000_000
OURS = (make_secret(), make_secret())  # the verifier's two secrets (a rotation)
OTHER = make_secret()
VERIFIER = WebhookVerifier(OURS, clock=lambda: float(NOW))


@dataclass(frozen=True)
class Signed:
    """A message and the signed contents that are genuine for the verifier."""

    headers: dict[str, str]
    body: bytes
    genuine: frozenset[bytes]  # contents signed with one of the verifier's secrets


def _content(msg_id: str, timestamp: str, body: bytes) -> bytes:
    return f"{msg_id}.{timestamp}.".encode() + body


_IDS = st.from_regex(r"\A[A-Za-z0-9_.:\-]{1,40}\Z") | st.text(min_size=1, max_size=20)
_TIMESTAMPS = st.integers(NOW - 400, NOW + 400)


@st.composite
def _signed(draw: st.DrawFn) -> Signed:
    msg_id = draw(_IDS)
    timestamp = draw(_TIMESTAMPS)
    body = draw(st.binary(max_size=64))
    signers = draw(st.sampled_from([OURS[:1], OURS[1:], OURS, (OTHER,), (OTHER, OURS[0])]))
    try:
        headers = WebhookSigner(signers).headers(msg_id, body, timestamp=timestamp)
    except UnicodeEncodeError:  # the sender cannot sign an id that is not text either
        headers = {"webhook-id": msg_id, "webhook-timestamp": str(timestamp)}
        headers["webhook-signature"] = "v1," + base64.b64encode(b"x" * 32).decode()
        return Signed(headers, body, frozenset())
    ours = any(secret in OURS for secret in signers)
    genuine = frozenset({_content(msg_id, str(timestamp), body)} if ours else ())
    return Signed(headers, body, genuine)


def _tamper(data: st.DataObject, signed: Signed) -> tuple[dict[str, str], bytes]:
    draw = data.draw
    headers, body = dict(signed.headers), signed.body
    how = draw(
        st.sampled_from(
            ["none", "id", "timestamp", "timestamp-text", "body", "signature", "version",
             "reencode", "drop", "case", "garbage"]
        )
    )  # fmt: skip
    if how == "id":
        headers["webhook-id"] = draw(_IDS)
    elif how == "timestamp":
        headers["webhook-timestamp"] = str(draw(_TIMESTAMPS))
    elif how == "timestamp-text":  # the same number written another way
        value = int(headers["webhook-timestamp"])
        headers["webhook-timestamp"] = draw(
            st.sampled_from([f" {value}", f"+{value}", f"0{value}", f"{value} ", f"{value:_}",
                             str(value).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),
                             "9" * 400, "-1", ""])
        )  # fmt: skip
    elif how == "body":
        body = draw(st.binary(max_size=64))
    elif how == "signature":
        text = headers["webhook-signature"]
        at = draw(st.integers(0, max(len(text) - 1, 0)))
        headers["webhook-signature"] = text[:at] + draw(st.text(max_size=2)) + text[at + 1 :]
    elif how == "version":
        headers["webhook-signature"] = headers["webhook-signature"].replace("v1,", "v2,")
    elif how == "reencode":  # the same bytes: still the signature the secret made
        parts = []
        for item in headers["webhook-signature"].split():
            raw = base64.b64decode(item.partition(",")[2])
            parts.append("v1," + base64.urlsafe_b64encode(raw).decode())
        headers["webhook-signature"] = " ".join(parts)
    elif how == "drop":
        headers.pop(draw(st.sampled_from(sorted(headers))))
    elif how == "case":
        headers = {key.upper(): value for key, value in headers.items()}
    elif how == "garbage":
        headers = draw(st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=4))
        body = draw(st.binary(max_size=64))
    return headers, body


@fuzz_target(examples=500)
@given(st.data())
def test_verifier_never_accepts_what_was_not_signed(data: st.DataObject) -> None:
    signed = data.draw(_signed())
    headers, body = _tamper(data, signed)
    try:
        accepted = VERIFIER.verify(headers, body)
    except (InfraAuthenticationError, InfraValidationError):
        return
    lowered = {key.lower(): value for key, value in headers.items()}
    content = _content(lowered["webhook-id"], lowered["webhook-timestamp"], body)
    assert content in signed.genuine, (headers, body)
    assert accepted == lowered["webhook-id"]
