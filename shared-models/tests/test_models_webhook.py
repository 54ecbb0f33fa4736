"""The webhook node's models: secrets, URLs, the Svix-like retry policy, config, results."""

from __future__ import annotations

import base64
import random
import uuid
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr, ValidationError

from omnibase_infra.models.webhook import (
    SVIX_SCHEDULE_SECONDS,
    EnumWebhookOutcome,
    ModelWebhookAttempt,
    ModelWebhookConfig,
    ModelWebhookDeadLetter,
    ModelWebhookDeliveryResult,
    ModelWebhookRetryPolicy,
    ModelWebhookSendRequest,
    decode_webhook_secret,
    new_message_id,
    validate_webhook_url,
)
from omnibase_infra.resilience import ModelRetryPolicy

KEY = bytes(range(32))
SECRET = "whsec_" + base64.b64encode(KEY).decode()


def test_decode_secret_accepts_prefixed_and_bare() -> None:
    assert decode_webhook_secret(SECRET) == KEY
    assert decode_webhook_secret(SECRET.removeprefix("whsec_")) == KEY


@pytest.mark.parametrize(
    ("secret", "match"),
    [
        ("whsec_!!!", "base64"),
        ("whsec_" + base64.b64encode(b"x" * 23).decode(), "24..64 bytes, got 23"),
        ("whsec_" + base64.b64encode(b"x" * 65).decode(), "got 65"),
    ],
)
def test_decode_secret_refuses_bad_secrets_without_echoing(secret: str, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        decode_webhook_secret(secret)
    assert secret not in str(info.value)


def test_message_ids_are_unique() -> None:
    first, second = new_message_id(), new_message_id()
    assert first != second
    assert first.startswith("msg_")
    assert len(first) == 36


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("ftp://h/x", "scheme"),
        ("http:///x", "no host"),
        ("https://u:p@h/x", "credentials"),
        ("https://u@h/x", "credentials"),
        ("https://h/x#f", "fragment"),
        ("https://h:70000/x", "out of range|Port"),
    ],
)
def test_url_validation(url: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        validate_webhook_url(url)


def test_url_validation_accepts_http_and_https() -> None:
    assert validate_webhook_url("https://h.example:8443/p?q=1") == "https://h.example:8443/p?q=1"
    assert validate_webhook_url("http://[::1]/p") == "http://[::1]/p"


def test_retry_policy_is_a_svix_like_schedule() -> None:
    policy = ModelWebhookRetryPolicy()
    assert isinstance(policy, ModelRetryPolicy)
    assert policy.schedule_seconds == SVIX_SCHEDULE_SECONDS
    assert policy.max_attempts == len(SVIX_SCHEDULE_SECONDS) + 1
    assert policy.delay_cap(0) == 5.0
    assert policy.delay_cap(1) == 5.0
    assert policy.delay_cap(2) == 300.0
    assert policy.delay_cap(99) == 36000.0
    rng = random.Random(1)  # noqa: S311 - jitter, not crypto
    for attempt in range(1, 9):
        cap = policy.delay_cap(attempt)
        assert cap * 0.8 <= policy.compute_delay(attempt, rng) <= cap * 1.2
    assert 4.0 <= policy.compute_delay(1) <= 6.0  # the module's own rng
    exact = ModelWebhookRetryPolicy(schedule_seconds=(1.0, 2.0), jitter="none")
    assert [exact.compute_delay(n) for n in (1, 2, 3)] == [1.0, 2.0, 2.0]
    no_spread = ModelWebhookRetryPolicy(schedule_seconds=(1.0,), jitter_fraction=0.0)
    assert no_spread.compute_delay(1) == 1.0
    zero = ModelWebhookRetryPolicy(schedule_seconds=(0.0,))
    assert zero.compute_delay(1) == 0.0


def test_retry_policy_explicit_attempts_and_remaining() -> None:
    policy = ModelWebhookRetryPolicy(schedule_seconds=(1.0, 2.0, 3.0), max_attempts=10)
    assert policy.max_attempts == 10
    rest = ModelWebhookRetryPolicy(schedule_seconds=(1.0, 2.0, 3.0)).remaining(2)
    assert rest.max_attempts == 2
    assert rest.schedule_seconds == (3.0,)
    spent = ModelWebhookRetryPolicy(schedule_seconds=(1.0, 2.0)).remaining(9)
    assert spent.max_attempts == 1
    assert spent.schedule_seconds == (2.0,)


@pytest.mark.parametrize("schedule", [(), (-1.0,), (float("nan"),), (float("inf"),)])
def test_retry_policy_refuses_bad_schedules(schedule: tuple[float, ...]) -> None:
    with pytest.raises(ValidationError):
        ModelWebhookRetryPolicy(schedule_seconds=schedule)


def test_config_defaults_and_validation() -> None:
    config = ModelWebhookConfig(
        allow_networks=("127.0.0.0/8", "::1"), allow_hosts=(" LocalHost. ",)
    )
    assert config.allow_hosts == ("localhost",)
    assert config.total_timeout_seconds == 15.0
    assert config.outbox_path is None
    with pytest.raises(ValidationError, match="not an IP network"):
        ModelWebhookConfig(allow_networks=("nope",))
    with pytest.raises(ValidationError, match="connect_timeout_seconds"):
        ModelWebhookConfig(connect_timeout_seconds=10, total_timeout_seconds=5)


@pytest.mark.parametrize(
    ("prefix", "match"),
    [
        ("nope", "not an IP network"),
        ("192.0.2.0/24", "IPv6 network"),
        ("64:ff9b::/95", "/32, /40, /48, /56, /64 or /96"),
    ],
)
def test_nat64_prefixes_are_ipv6_networks_of_an_rfc6052_length(prefix: str, match: str) -> None:
    assert ModelWebhookConfig(nat64_prefixes=("64:ff9b:1:0::/96",)).nat64_prefixes == (
        "64:ff9b:1::/96",
    )
    with pytest.raises(ValidationError, match=match):
        ModelWebhookConfig(nat64_prefixes=(prefix,))


def test_send_request_validation() -> None:
    request = ModelWebhookSendRequest(
        url="https://h.example/x", secrets=(SecretStr(SECRET),), payload={"a": 1}
    )
    assert request.operation == "send"
    assert request.message_id.startswith("msg_")
    assert SECRET not in repr(request)
    assert SECRET not in str(request.model_dump())
    base: dict[str, object] = {"url": "https://h.example/x", "secrets": (SECRET,)}
    bad: list[tuple[dict[str, object], str]] = [
        ({"secrets": ()}, "at least 1"),
        ({"secrets": ("whsec_!!",)}, "base64"),
        ({"message_id": "has space"}, "message_id"),
        ({"event_type": "bad type"}, "event_type"),
        ({"headers": {"Webhook-Id": "x"}}, "set by the node"),
        ({"headers": {"Host": "x"}}, "set by the node"),
        ({"headers": {"X-A": "a\r\nb: c"}}, "line breaks"),
        ({"headers": {"X-A\n": "a"}}, "line breaks"),
        ({"payload": {"a": 1}, "body": b"x"}, "not both"),
        ({"url": "gopher://h/"}, "scheme"),
    ]
    for override, match in bad:
        with pytest.raises(ValidationError, match=match):
            ModelWebhookSendRequest.model_validate({**base, **override})
    ok = ModelWebhookSendRequest.model_validate(
        {
            **base,
            "body": b"raw",
            "headers": {"X-Trace": "1"},
            "event_type": "a.b:c-d_e",
            "message_id": "evt:1.2-3_4",
        }
    )
    assert ok.body == b"raw"
    assert ok.payload is None
    assert ok.message_id == "evt:1.2-3_4"


def test_results_and_dead_letters() -> None:
    now = datetime.now(UTC)
    attempts = (
        ModelWebhookAttempt(attempt=1, at=now, status_code=503, duration_ms=1.0),
        ModelWebhookAttempt(attempt=2, at=now, error="InfraTimeoutError: x", duration_ms=2.0),
    )
    letter = ModelWebhookDeadLetter(
        message_id="msg_1",
        url="https://h/x",
        event_type="e",
        reason="r",
        created_at=now,
        dead_lettered_at=now,
        attempts=attempts,
        body_bytes=3,
    )
    assert letter.last_status_code == 503
    assert letter.model_copy(update={"attempts": ()}).last_status_code is None
    result = ModelWebhookDeliveryResult(
        correlation_id=uuid.uuid4(),
        success=True,
        duration_ms=1.0,
        message_id="msg_1",
        url="https://h/x",
        outcome=EnumWebhookOutcome.DELIVERED,
    )
    assert result.operation == "send"
    assert result.outcome == "delivered"
