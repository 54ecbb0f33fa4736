"""Standard Webhooks signatures: the sender's signer and the receiver's verifier.

Signed content is ``{webhook-id}.{webhook-timestamp}.{raw body}``; each signature is
``v1,<base64 HMAC-SHA256>``; several are sent space-separated so a receiver holding either
the old or the new secret accepts the message during a rotation. The verifier compares in
constant time and refuses timestamps more than ``tolerance_seconds`` (5 min) away.
"""

from __future__ import annotations

import base64
import hmac
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final

from pydantic import SecretStr

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraAuthenticationError, InfraValidationError
from omnibase_infra.models.webhook import decode_webhook_secret
from omnibase_infra.redaction import register_secret

__all__ = [
    "DEFAULT_TOLERANCE_SECONDS",
    "HEADER_ID",
    "HEADER_SIGNATURE",
    "HEADER_TIMESTAMP",
    "WebhookSigner",
    "WebhookVerifier",
    "sign",
]

HEADER_ID: Final = "webhook-id"
HEADER_TIMESTAMP: Final = "webhook-timestamp"
HEADER_SIGNATURE: Final = "webhook-signature"
DEFAULT_TOLERANCE_SECONDS: Final = 300
_VERIFY = "webhook_verify"


def _keys(secrets: Iterable[SecretStr | str]) -> tuple[bytes, ...]:
    keys: list[bytes] = []
    for secret in secrets:
        value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        register_secret(value)
        keys.append(decode_webhook_secret(value))
    if not keys:
        raise ValueError("at least one webhook secret is needed")
    return tuple(keys)


def _prefix(msg_id: str, timestamp: int) -> bytes:
    """The signed content before the body: ``{webhook-id}.{webhook-timestamp}.``."""
    return f"{msg_id}.{timestamp}.".encode()


def _signature(key: bytes, prefix: bytes, body: bytes) -> bytes:
    return hmac.digest(key, prefix + body, "sha256")  # the one-shot C implementation


_TIMESTAMP: Final = re.compile(r"0|[1-9][0-9]{0,18}")  # seconds, canonical decimal


def sign(keys: Sequence[bytes], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one ``v1,<b64>`` per key, space-separated."""
    prefix = _prefix(msg_id, timestamp)
    return " ".join(
        "v1," + base64.b64encode(_signature(key, prefix, body)).decode("ascii") for key in keys
    )


class WebhookSigner:
    """Signs with every given secret (``whsec_<base64>``); the secrets never reach ``repr``."""

    def __init__(
        self, secrets: Iterable[SecretStr | str], *, clock: Callable[[], float] = time.time
    ) -> None:
        self._keys = _keys(secrets)
        self._clock = clock

    def __repr__(self) -> str:
        return f"WebhookSigner(secrets={len(self._keys)})"

    def headers(self, msg_id: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
        """The three Standard Webhooks headers for ``body``, timestamped now by default."""
        ts = int(self._clock()) if timestamp is None else timestamp
        return {
            HEADER_ID: msg_id,
            HEADER_TIMESTAMP: str(ts),
            HEADER_SIGNATURE: sign(self._keys, msg_id, ts, body),
        }


class WebhookVerifier:
    """For receivers: checks a request's Standard Webhooks headers against its raw body.

    Accepts when any ``v1`` signature matches any of the secrets (constant-time compare)
    and the timestamp is within ``tolerance_seconds`` of now. Raises
    :class:`InfraAuthenticationError` on a bad signature or timestamp and
    :class:`InfraValidationError` when headers are missing or malformed.
    """

    def __init__(
        self,
        secrets: Iterable[SecretStr | str],
        *,
        tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = _keys(secrets)
        self._tolerance = tolerance_seconds
        self._clock = clock

    def __repr__(self) -> str:
        return f"WebhookVerifier(secrets={len(self._keys)}, tolerance={self._tolerance}s)"

    def verify(self, headers: Mapping[str, str], body: bytes) -> str:
        """Return the verified ``webhook-id``, or raise."""
        lowered = {key.lower(): value for key, value in headers.items()}
        msg_id = lowered.get(HEADER_ID)
        raw_ts = lowered.get(HEADER_TIMESTAMP)
        raw_sig = lowered.get(HEADER_SIGNATURE)
        if not msg_id or not raw_ts or not raw_sig:
            raise InfraValidationError(
                "missing webhook-id, webhook-timestamp or webhook-signature header",
                transport=EnumTransport.HTTP,
                operation=_VERIFY,
            )
        if _TIMESTAMP.fullmatch(raw_ts) is None:
            # Only the canonical decimal: int() also takes " 17", "+17", "1_7", "017" and
            # non-ASCII digits, texts no sender signs, and a 400-digit one overflowed the
            # comparison with the float clock (OverflowError).
            raise InfraValidationError(
                "webhook-timestamp is not an integer (decimal digits, no sign or leading zero)",
                transport=EnumTransport.HTTP,
                operation=_VERIFY,
            )
        timestamp = int(raw_ts)
        try:
            prefix = _prefix(msg_id, timestamp)
        except UnicodeEncodeError:  # a lone surrogate: no sender can have signed it
            raise InfraValidationError(
                "webhook-id is not valid text", transport=EnumTransport.HTTP, operation=_VERIFY
            ) from None
        now = self._clock()
        if abs(now - timestamp) > self._tolerance:
            raise InfraAuthenticationError(
                f"webhook-timestamp is more than {self._tolerance}s away from now",
                transport=EnumTransport.HTTP,
                operation=_VERIFY,
            )
        offered: list[bytes] = []
        for item in raw_sig.split():
            version, _, value = item.partition(",")
            if version != "v1":
                continue
            try:
                offered.append(base64.b64decode(value, validate=True))
            except ValueError:
                continue
        matched = False
        for key in self._keys:
            expected = _signature(key, prefix, body)
            for candidate in offered:
                # Compare against every candidate: no early exit that would leak timing.
                matched |= hmac.compare_digest(expected, candidate)
        if not matched:
            raise InfraAuthenticationError(
                "no webhook signature matches",
                transport=EnumTransport.HTTP,
                operation=_VERIFY,
            )
        return msg_id
