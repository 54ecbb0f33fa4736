"""Typed configuration, requests and responses of the webhook node (Standard Webhooks).

Signing secrets are ``SecretStr`` in the ``whsec_<base64>`` form of the Standard Webhooks
specification (24 to 64 bytes once decoded) and never appear in ``repr``. The retry
schedule is a :class:`ModelRetryPolicy` whose delays come from a list, like Svix's.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
import random
import re
import uuid
from enum import StrEnum
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from omnibase_infra.models.model_infra_envelope import ModelInfraRequest, ModelInfraResponse
from omnibase_infra.resilience.model_retry_policy import ModelRetryPolicy

__all__ = [
    "NAT64_PREFIX_LENGTHS",
    "SECRET_PREFIX",
    "SVIX_SCHEDULE_SECONDS",
    "EnumWebhookOutcome",
    "ModelWebhookAttempt",
    "ModelWebhookConfig",
    "ModelWebhookDeadLetter",
    "ModelWebhookDeliveryResult",
    "ModelWebhookRetryPolicy",
    "ModelWebhookSendRequest",
    "decode_webhook_secret",
    "nat64_prefix",
    "new_message_id",
    "validate_webhook_url",
]

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix, not a secret
# Svix: now, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (docs.svix.com/retries).
SVIX_SCHEDULE_SECONDS: tuple[float, ...] = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
_MIN_SECRET_BYTES = 24
_MAX_SECRET_BYTES = 64
_MESSAGE_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")
_EVENT_TYPE = re.compile(r"^[A-Za-z0-9_.:\-]{1,200}$")
# Jitter spreads retries of many messages; it needs no cryptographic randomness.
_DEFAULT_RNG = random.Random()  # noqa: S311


def new_message_id() -> str:
    """A fresh ``webhook-id`` (``msg_`` and 32 hex digits)."""
    return f"msg_{uuid.uuid4().hex}"


def decode_webhook_secret(secret: str) -> bytes:
    """The key bytes of a ``whsec_<base64>`` secret (the prefix is optional).

    Raises ``ValueError`` (never echoing the secret) unless it is base64 of 24 to 64 bytes.
    """
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("webhook secret is not valid base64 (expected whsec_<base64>)") from None
    if not _MIN_SECRET_BYTES <= len(key) <= _MAX_SECRET_BYTES:
        msg = (
            f"webhook secret must decode to {_MIN_SECRET_BYTES}..{_MAX_SECRET_BYTES} bytes, "
            f"got {len(key)}"
        )
        raise ValueError(msg)
    return key


def validate_webhook_url(url: str) -> str:
    """Return ``url`` if it is an absolute http(s) URL with a host and no credentials."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"}:
        raise ValueError(f"webhook URL scheme must be http or https, got {parts.scheme!r}")
    if not parts.hostname:
        raise ValueError("webhook URL has no host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("webhook URL must not carry credentials")
    if parts.fragment:
        raise ValueError("webhook URL must not carry a fragment")
    _ = parts.port  # raises ValueError on a port out of range
    return url


class EnumWebhookOutcome(StrEnum):
    """Where a message ended up."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD_LETTERED = "dead_lettered"


class ModelWebhookRetryPolicy(ModelRetryPolicy):
    """A retry policy whose delays come from ``schedule_seconds`` (Svix-like), with jitter.

    The delay after failed attempt ``n`` is ``schedule_seconds[n-1]`` (the last entry
    repeats), spread by ``±jitter_fraction`` when ``jitter`` is ``full``. ``max_attempts``
    defaults to one more than the schedule (the first attempt is immediate).
    """

    schedule_seconds: tuple[float, ...] = Field(default=SVIX_SCHEDULE_SECONDS, min_length=1)
    jitter_fraction: float = Field(default=0.2, ge=0.0, le=1.0)
    max_attempts: int = Field(default=0, ge=0, description="0: len(schedule_seconds) + 1")

    @field_validator("schedule_seconds")
    @classmethod
    def _non_negative(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not math.isfinite(delay) or delay < 0 for delay in value):
            raise ValueError("schedule delays must be finite and >= 0")
        return value

    @model_validator(mode="after")
    def _default_attempts(self) -> Self:
        if self.max_attempts == 0:
            object.__setattr__(self, "max_attempts", len(self.schedule_seconds) + 1)
        return self

    def delay_cap(self, attempt: int) -> float:
        """The scheduled delay after failed attempt ``attempt`` (1-based)."""
        index = min(max(attempt, 1), len(self.schedule_seconds)) - 1
        return self.schedule_seconds[index]

    def compute_delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """The scheduled delay, spread by ``±jitter_fraction`` unless ``jitter='none'``."""
        delay = self.delay_cap(attempt)
        if self.jitter == "none" or self.jitter_fraction == 0.0:
            return delay
        spread = delay * self.jitter_fraction
        return max(0.0, (rng or _DEFAULT_RNG).uniform(delay - spread, delay + spread))

    def remaining(self, attempts_done: int) -> ModelWebhookRetryPolicy:
        """The policy for a message that already made ``attempts_done`` attempts."""
        left = max(1, self.max_attempts - attempts_done)
        schedule = self.schedule_seconds[min(attempts_done, len(self.schedule_seconds) - 1) :]
        return self.model_copy(update={"max_attempts": left, "schedule_seconds": schedule})


def _network(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"not an IP network: {value!r}") from None
    return value


NAT64_PREFIX_LENGTHS: frozenset[int] = frozenset({32, 40, 48, 56, 64, 96})  # RFC 6052 2.2


def nat64_prefix(value: str) -> ipaddress.IPv6Network:
    """A NAT64 translator's prefix (``2001:db8:64::/96``): IPv6, with one of the prefix
    lengths of RFC 6052 section 2.2, which fix where the IPv4 address sits."""
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"not an IP network: {value!r}") from None
    if not isinstance(network, ipaddress.IPv6Network):
        raise ValueError(f"a NAT64 prefix is an IPv6 network: {value!r}")
    if network.prefixlen not in NAT64_PREFIX_LENGTHS:
        raise ValueError(f"a NAT64 prefix is /32, /40, /48, /56, /64 or /96: {value!r}")
    return network


class ModelWebhookConfig(BaseModel):
    """How the node delivers: timeouts, limits, the SSRF allow-list, the outbox file."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    connect_timeout_seconds: float = Field(default=5.0, gt=0, le=600, allow_inf_nan=False)
    total_timeout_seconds: float = Field(default=15.0, gt=0, le=600, allow_inf_nan=False)
    max_payload_bytes: int = Field(default=1024 * 1024, ge=1, le=64 * 1024 * 1024)
    max_response_bytes: int = Field(default=64 * 1024, ge=0, le=16 * 1024 * 1024)
    max_retry_after_seconds: float = Field(default=3600.0, ge=0, le=86400, allow_inf_nan=False)
    allow_networks: tuple[str, ...] = Field(
        default=(), description="CIDRs allowed although private/loopback/... (e.g. 127.0.0.0/8)"
    )
    allow_hosts: tuple[str, ...] = Field(
        default=(), description="host names whose addresses are not checked"
    )
    nat64_prefixes: tuple[str, ...] = Field(
        default=(),
        description="the site's own NAT64 prefixes (RFC 6052 lengths); addresses under one "
        "are judged by the IPv4 address they embed",
    )
    outbox_path: str | None = Field(default=None, description="SQLite file; None: in memory")
    max_concurrency: int = Field(default=64, ge=1, le=4096)
    rate_limit_per_second: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    rate_limit_burst: int = Field(default=10, ge=1)
    user_agent: str = Field(default="omnibase-infra-webhook/0.1", min_length=1, max_length=200)
    retry_policy: ModelWebhookRetryPolicy = Field(default_factory=ModelWebhookRetryPolicy)

    @field_validator("allow_networks")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_network(item) for item in value)

    @field_validator("nat64_prefixes")
    @classmethod
    def _nat64(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(str(nat64_prefix(item)) for item in value)

    @field_validator("allow_hosts")
    @classmethod
    def _hosts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(item.strip().lower().rstrip(".") for item in value)

    @model_validator(mode="after")
    def _timeouts(self) -> Self:
        if self.connect_timeout_seconds > self.total_timeout_seconds:
            raise ValueError("connect_timeout_seconds must be <= total_timeout_seconds")
        return self


class ModelWebhookSendRequest(ModelInfraRequest):
    """Sign ``payload`` (a JSON value, or ``body`` as exact bytes) and deliver it to ``url``.

    ``secrets``: one or more ``whsec_`` secrets; each signs, so receivers may hold either
    during a rotation. ``message_id`` is the ``webhook-id`` (the receiver's idempotency
    key) and stays the same across every attempt.
    """

    operation: Literal["send"] = "send"
    url: str = Field(min_length=1, max_length=2048)
    secrets: tuple[SecretStr, ...] = Field(min_length=1, max_length=10)
    event_type: str = Field(default="event", min_length=1, max_length=200)
    payload: object = None
    body: bytes | None = None
    message_id: str = Field(default_factory=new_message_id)
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return validate_webhook_url(value)

    @field_validator("secrets")
    @classmethod
    def _secrets(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for secret in value:
            decode_webhook_secret(secret.get_secret_value())
        return value

    @field_validator("message_id")
    @classmethod
    def _message_id(cls, value: str) -> str:
        if not _MESSAGE_ID.match(value):
            raise ValueError("message_id: 1-128 of letters, digits, '_', '.', ':', '-'")
        return value

    @field_validator("event_type")
    @classmethod
    def _event_type(cls, value: str) -> str:
        if not _EVENT_TYPE.match(value):
            raise ValueError("event_type: letters, digits, '_', '.', ':', '-'")
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, item in value.items():
            if name.lower().startswith("webhook-") or name.lower() in {"host", "content-length"}:
                raise ValueError(f"header {name!r} is set by the node")
            if "\r" in name or "\n" in name or "\r" in item or "\n" in item:
                raise ValueError("header names and values must not contain line breaks")
        return value

    @model_validator(mode="after")
    def _one_body(self) -> Self:
        if self.body is not None and self.payload is not None:
            raise ValueError("give payload (JSON) or body (bytes), not both")
        return self


class ModelWebhookAttempt(BaseModel):
    """One delivery attempt: when, what came back, how long it took."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    attempt: int = Field(ge=1)
    at: AwareDatetime
    status_code: int | None = None
    error: str | None = Field(default=None, max_length=500)
    duration_ms: float = Field(ge=0, allow_inf_nan=False)


class ModelWebhookDeliveryResult(ModelInfraResponse):
    """Outcome of a send: delivered, dead-lettered (with why), or still pending."""

    operation: str = "send"
    message_id: str
    url: str
    outcome: EnumWebhookOutcome
    attempts: tuple[ModelWebhookAttempt, ...] = ()
    status_code: int | None = None


class ModelWebhookDeadLetter(BaseModel):
    """A message that could not be delivered, with its attempt history (replayable)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    message_id: str
    url: str
    event_type: str
    reason: str
    created_at: AwareDatetime
    dead_lettered_at: AwareDatetime
    attempts: tuple[ModelWebhookAttempt, ...] = ()
    body_bytes: int = Field(ge=0)

    @property
    def last_status_code(self) -> int | None:
        """The status of the last attempt that got an answer, if any."""
        return next((a.status_code for a in reversed(self.attempts) if a.status_code), None)
