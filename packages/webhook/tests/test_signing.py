"""Signatures checked by the reference ``standardwebhooks`` library, rotation included, and
the node's own verifier checked against signatures the reference library made."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest
import standardwebhooks
from pydantic import SecretStr

from omnibase_infra.errors import InfraAuthenticationError, InfraValidationError
from omnibase_infra.nodes.node_webhook_effect.v1_0_0 import WebhookSigner, WebhookVerifier

from .conftest import make_secret

BODY = b'{"type":"invoice.paid","data":{"id":42,"note":"caf\xc3\xa9"}}'


def test_reference_library_verifies_a_signature(secret: SecretStr) -> None:
    headers = WebhookSigner([secret]).headers("msg_1", BODY)
    assert headers["webhook-id"] == "msg_1"
    assert headers["webhook-signature"].startswith("v1,")
    parsed = standardwebhooks.Webhook(secret.get_secret_value()).verify(BODY, headers)
    assert parsed["data"]["id"] == 42


def test_reference_library_refuses_a_tampered_body(secret: SecretStr) -> None:
    headers = WebhookSigner([secret]).headers("msg_1", BODY)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(secret.get_secret_value()).verify(BODY + b" ", headers)


def test_rotation_signs_with_every_secret() -> None:
    old, new, other = make_secret(), make_secret(), make_secret()
    headers = WebhookSigner([old, new]).headers("msg_rot", BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        standardwebhooks.Webhook(secret.get_secret_value()).verify(BODY, headers)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(other.get_secret_value()).verify(BODY, headers)


def test_verifier_accepts_reference_signatures_with_either_secret() -> None:
    old, new = make_secret(), make_secret()
    now = datetime.now(UTC)
    signature = standardwebhooks.Webhook(new.get_secret_value()).sign("msg_ref", now, BODY.decode())
    headers = {
        "Webhook-Id": "msg_ref",
        "Webhook-Timestamp": str(int(now.timestamp())),
        "Webhook-Signature": f"v1a,ignored v1,!!notbase64 {signature}",
    }
    assert WebhookVerifier([old, new]).verify(headers, BODY) == "msg_ref"
    with pytest.raises(InfraAuthenticationError, match="no webhook signature matches"):
        WebhookVerifier([old]).verify(headers, BODY)


def test_verifier_enforces_the_five_minute_tolerance(secret: SecretStr) -> None:
    stale = int(time.time()) - 301
    headers = WebhookSigner([secret]).headers("msg_old", BODY, timestamp=stale)
    with pytest.raises(InfraAuthenticationError, match="300s"):
        WebhookVerifier([secret]).verify(headers, BODY)
    fresh = WebhookSigner([secret]).headers("msg_ok", BODY, timestamp=int(time.time()) - 290)
    assert WebhookVerifier([secret]).verify(fresh, BODY) == "msg_ok"
    future = WebhookSigner([secret]).headers("msg_f", BODY, timestamp=int(time.time()) + 400)
    with pytest.raises(InfraAuthenticationError):
        WebhookVerifier([secret]).verify(future, BODY)


def test_verifier_refuses_missing_or_malformed_headers(secret: SecretStr) -> None:
    verifier = WebhookVerifier([secret])
    good = WebhookSigner([secret]).headers("msg_1", BODY)
    with pytest.raises(InfraValidationError, match="missing"):
        verifier.verify({k: v for k, v in good.items() if k != "webhook-signature"}, BODY)
    with pytest.raises(InfraValidationError, match="not an integer"):
        verifier.verify({**good, "webhook-timestamp": "soon"}, BODY)
    with pytest.raises(InfraAuthenticationError):
        verifier.verify({**good, "webhook-id": "msg_2"}, BODY)


def test_secrets_are_validated_and_never_shown() -> None:
    with pytest.raises(ValueError, match="base64"):
        WebhookSigner(["whsec_not base64!"])
    with pytest.raises(ValueError, match=r"24\.\.64 bytes"):
        WebhookSigner(["whsec_" + base64.b64encode(b"short").decode()])
    with pytest.raises(ValueError, match="at least one"):
        WebhookSigner([])
    secret = make_secret()
    raw = base64.b64encode(base64.b64decode(secret.get_secret_value()[6:])).decode()
    signer = WebhookSigner([raw])  # the whsec_ prefix is optional
    for text in (repr(signer), repr(WebhookVerifier([secret]))):
        assert secret.get_secret_value() not in text
        assert raw not in text
