"""Shared pydantic models: correlation context, envelopes, health, service endpoints."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote
from uuid import UUID, uuid4

import pytest
from opentelemetry.trace import INVALID_SPAN_CONTEXT, SpanContext
from pydantic import BaseModel, SecretStr, ValidationError

from omnibase_infra.enums import EnumHealthStatus, EnumTransport
from omnibase_infra.errors import InfraConfigurationError
from omnibase_infra.models import (
    DEFAULT_TIMEOUT_SECONDS,
    ModelCorrelationContext,
    ModelHealthStatus,
    ModelInfraRequest,
    ModelInfraResponse,
    ModelServiceEndpoint,
    ModelTlsSettings,
)
from omnibase_infra.models.trusted import construct_trusted

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
CAUSE = uuid4()
PASSWORD = "s3cr3t-P@ss/word"
TOKEN = "hvs.CAESIJ-token-value"
ENCODED = quote(PASSWORD, safe="")

# -- ModelCorrelationContext ----------------------------------------------------------


def test_new_keeps_the_callers_correlation_id_and_starts_a_trace() -> None:
    caller = uuid4()
    context = ModelCorrelationContext.new(caller)
    assert context.correlation_id == caller
    assert context.trace_id is not None
    assert len(context.trace_id) == 32
    assert context.span_id is not None
    assert len(context.span_id) == 16
    assert context.sampled
    assert context.traceparent == f"00-{context.trace_id}-{context.span_id}-01"


def test_new_without_trace() -> None:
    context = ModelCorrelationContext.new(with_trace=False)
    assert isinstance(context.correlation_id, UUID)
    assert (context.trace_id, context.span_id, context.traceparent) == (None, None, None)


def test_child_keeps_correlation_and_trace_with_a_new_span() -> None:
    parent = ModelCorrelationContext.new(causation_id_placeholder := uuid4())
    cause = uuid4()
    child = parent.child(causation_id=cause)
    assert child.correlation_id == parent.correlation_id == causation_id_placeholder
    assert child.trace_id == parent.trace_id
    assert child.span_id != parent.span_id
    assert child.parent_span_id == parent.span_id
    assert child.causation_id == cause
    assert child.child().causation_id == cause


def test_child_without_trace_has_no_span() -> None:
    child = ModelCorrelationContext.new(with_trace=False).child()
    assert (child.trace_id, child.span_id, child.parent_span_id) == (None, None, None)


def test_trace_ids_are_validated_and_normalised() -> None:
    context = ModelCorrelationContext(
        correlation_id=uuid4(), trace_id=TRACE_ID.upper(), span_id=SPAN_ID.upper(), trace_flags=0
    )
    assert (context.trace_id, context.span_id) == (TRACE_ID, SPAN_ID)
    assert not context.sampled
    assert context.traceparent == f"00-{TRACE_ID}-{SPAN_ID}-00"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("trace_id", "abc", "trace_id must be 32 hex characters"),
        ("trace_id", "0" * 32, "trace_id must not be all zeros"),
        ("trace_id", "g" * 32, "trace_id must be 32 hex characters"),
        ("span_id", "0" * 16, "span_id must not be all zeros"),
        ("parent_span_id", "xyz", "parent_span_id must be 16 hex characters"),
        ("trace_flags", 256, "less than or equal to 255"),
    ],
)
def test_invalid_trace_fields_are_rejected(field: str, value: object, message: str) -> None:
    data: dict[str, object] = {"correlation_id": uuid4(), "trace_id": TRACE_ID, field: value}
    with pytest.raises(ValidationError, match=message):
        ModelCorrelationContext.model_validate(data)


def test_non_string_trace_id_is_a_type_error() -> None:
    with pytest.raises(ValidationError, match="valid string"):
        ModelCorrelationContext.model_validate({"correlation_id": uuid4(), "trace_id": 5})


def test_span_requires_trace() -> None:
    with pytest.raises(ValidationError, match="require trace_id"):
        ModelCorrelationContext(correlation_id=uuid4(), span_id=SPAN_ID)


def test_tracestate_is_validated() -> None:
    context = ModelCorrelationContext(
        correlation_id=uuid4(),
        tracestate="rojo=00f067aa0ba902b7 , congo=t61rcWkgMzE,, acme@vendor=x",
    )
    assert context.tracestate == "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,acme@vendor=x"
    assert ModelCorrelationContext(correlation_id=uuid4()).tracestate is None
    for bad, message in [
        ("UPPER=1", "not a valid W3C"),
        ("novalue", "not a valid W3C"),
        ("k=a=b", "not a valid W3C"),
        (",".join(f"k{n}=v" for n in range(33)), "at most 32"),
        ("k=1,k=2", "not a valid W3C"),
        ("k=" + "v" * 600, "longer than 512"),
    ]:
        with pytest.raises(ValidationError, match=message):
            ModelCorrelationContext(correlation_id=uuid4(), tracestate=bad)


def test_from_traceparent() -> None:
    caller = uuid4()
    context = ModelCorrelationContext.from_traceparent(
        f"00-{TRACE_ID.upper()}-{SPAN_ID}-01", correlation_id=caller, tracestate="a=b"
    )
    assert (context.correlation_id, context.trace_id, context.span_id) == (
        caller,
        TRACE_ID,
        SPAN_ID,
    )
    assert context.sampled
    assert context.tracestate == "a=b"
    assert ModelCorrelationContext.from_traceparent(context.traceparent or "").trace_id == TRACE_ID
    with pytest.raises(ValueError, match="traceparent"):
        ModelCorrelationContext.from_traceparent("01-abc-def-00")


def test_from_traceparent_keeps_a_valid_tracestate_and_drops_an_invalid_one() -> None:
    header = f"00-{TRACE_ID}-{SPAN_ID}-01"
    kept = ModelCorrelationContext.from_traceparent(header, tracestate="rojo=1,congo=2")
    assert kept.tracestate == "rojo=1,congo=2"
    assert ModelCorrelationContext.from_traceparent(header, tracestate="Bad=1").tracestate is None
    too_long = ",".join(f"k{n}=" + "v" * 200 for n in range(3))
    assert ModelCorrelationContext.from_traceparent(header, tracestate=too_long).tracestate is None
    for invalid in (f"00-{'0' * 32}-{SPAN_ID}-01", f"ff-{TRACE_ID}-{SPAN_ID}-01", ""):
        with pytest.raises(ValueError, match="traceparent"):
            ModelCorrelationContext.from_traceparent(invalid)


def test_span_context_round_trip_keeps_flags_and_tracestate() -> None:
    context = ModelCorrelationContext(
        correlation_id=uuid4(),
        trace_id=TRACE_ID,
        span_id=SPAN_ID,
        parent_span_id="b7ad6b7169203331",
        trace_flags=3,
        tracestate="congo=t61rcWkgMzE,rojo=1",
    )
    span_context = context.to_span_context()
    assert span_context is not None
    assert (span_context.trace_id, span_context.span_id) == (int(TRACE_ID, 16), int(SPAN_ID, 16))
    assert span_context.is_remote
    assert span_context.trace_flags == 3
    assert span_context.trace_state.to_header() == "congo=t61rcWkgMzE,rojo=1"
    back = ModelCorrelationContext.from_span_context(
        span_context, correlation_id=context.correlation_id
    )
    assert back == context.model_copy(update={"parent_span_id": None})
    parent = context.parent_span_context()
    assert parent is not None
    assert parent.span_id == int("b7ad6b7169203331", 16)
    assert parent.trace_state == span_context.trace_state


def test_fresh_correlation_ids_are_distinct_random_uuids() -> None:
    ids = [ModelCorrelationContext.fresh().correlation_id for _ in range(2000)]
    assert len(set(ids)) == len(ids)  # across more than one batch of ids
    for value in ids[::97]:
        assert (value.version, value.variant) == (4, "specified in RFC 4122")
        assert UUID(str(value)) == value
        assert hash(UUID(str(value))) == hash(value)


def test_fresh_is_built_without_validation_but_equals_a_validated_context() -> None:
    fresh = ModelCorrelationContext.fresh()
    validated = ModelCorrelationContext(correlation_id=fresh.correlation_id)
    assert fresh == validated
    assert fresh.model_dump() == validated.model_dump()
    assert fresh.model_dump_json() == validated.model_dump_json()
    assert fresh.model_fields_set == validated.model_fields_set == {"correlation_id"}
    assert hash(fresh) == hash(validated)
    assert repr(fresh) == repr(validated)
    copied = fresh.model_copy(update={"causation_id": CAUSE})
    assert copied.causation_id == CAUSE
    assert copied.model_fields_set == {"correlation_id", "causation_id"}
    assert fresh.model_fields_set == {"correlation_id"}  # not shared with the copy
    with pytest.raises(ValidationError, match="frozen"):
        fresh.trace_flags = 0


def test_construct_trusted_equals_model_construct() -> None:
    class Model(BaseModel):
        a: int
        b: str = "x"

    built = construct_trusted(Model, {"a": 1, "b": "x"}, ("a",))
    assert built == Model.model_construct(a=1) == Model(a=1)
    assert built.model_fields_set == {"a"}
    assert construct_trusted(Model, {"a": 1, "b": "y"}).model_fields_set == {"a", "b"}


def test_span_context_conversions_without_a_trace() -> None:
    context = ModelCorrelationContext.fresh()
    assert context.to_span_context() is None
    assert context.parent_span_context() is None
    assert ModelCorrelationContext.new().parent_span_context() is None
    with pytest.raises(ValueError, match="not valid"):
        ModelCorrelationContext.from_span_context(INVALID_SPAN_CONTEXT)


def test_from_span_context_derives_the_correlation_id_from_the_trace() -> None:
    span_context = SpanContext(int(TRACE_ID, 16), int(SPAN_ID, 16), is_remote=False)
    context = ModelCorrelationContext.from_span_context(span_context, causation_id=CAUSE)
    assert context.correlation_id == UUID(hex=TRACE_ID)
    assert context.causation_id == CAUSE
    assert (context.trace_flags, context.tracestate) == (0, None)


def test_correlation_context_is_frozen_and_strict() -> None:
    context = ModelCorrelationContext.new()
    with pytest.raises(ValidationError, match="frozen"):
        context.trace_flags = 0
    with pytest.raises(ValidationError, match="Extra inputs"):
        ModelCorrelationContext.model_validate({"correlation_id": uuid4(), "traceid": TRACE_ID})


# -- envelopes ------------------------------------------------------------------------


class ModelSecretReadRequest(ModelInfraRequest):
    path: str


def test_request_defaults_and_subclassing() -> None:
    request = ModelSecretReadRequest(operation="kv_read", path="app/db")
    assert request.timeout_seconds == DEFAULT_TIMEOUT_SECONDS == 30.0
    assert request.timeout_ms == 30_000
    assert request.correlation_id == request.correlation.correlation_id
    assert request.metadata == {}
    assert request.path == "app/db"


def test_request_carries_the_callers_correlation() -> None:
    caller = uuid4()
    request = ModelInfraRequest(
        operation="query",
        correlation=ModelCorrelationContext.new(caller),
        timeout_seconds=0.0004,
        metadata={"tenant": "a"},
    )
    assert request.correlation_id == caller
    assert request.timeout_ms == 1


@pytest.mark.parametrize("timeout", [0, -1, float("inf"), float("nan"), 3601])
def test_request_timeout_must_be_positive_and_sane(timeout: float) -> None:
    with pytest.raises(ValidationError, match="timeout_seconds"):
        ModelInfraRequest(operation="x", timeout_seconds=timeout)


def test_request_is_frozen_and_forbids_extra() -> None:
    with pytest.raises(ValidationError, match="operation"):
        ModelInfraRequest(operation="")
    with pytest.raises(ValidationError, match="Extra inputs"):
        ModelInfraRequest.model_validate({"operation": "x", "timeout": 3})
    request = ModelInfraRequest(operation="x")
    with pytest.raises(ValidationError, match="frozen"):
        request.operation = "y"


def test_response_success_and_failure() -> None:
    caller = uuid4()
    ok = ModelInfraResponse(operation="kv_read", correlation_id=caller, success=True, duration_ms=3)
    assert ok.completed_at.tzinfo is UTC
    failed = ModelInfraResponse(
        operation="kv_read",
        correlation_id=caller,
        success=False,
        duration_ms=1.5,
        error_code="ONEX_INFRA_NOT_FOUND",
        error_message="secret not found",
    )
    assert failed.error_code == "ONEX_INFRA_NOT_FOUND"
    with pytest.raises(ValidationError, match="carries no error"):
        ModelInfraResponse(
            operation="x", correlation_id=caller, success=True, duration_ms=0, error_code="E"
        )
    with pytest.raises(ValidationError, match="needs an error_code"):
        ModelInfraResponse(operation="x", correlation_id=caller, success=False, duration_ms=0)
    with pytest.raises(ValidationError, match="duration_ms"):
        ModelInfraResponse(operation="x", correlation_id=caller, success=True, duration_ms=-1)


def test_response_timestamps_are_aware_utc() -> None:
    plus_two = datetime(2024, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    response = ModelInfraResponse(
        operation="x", correlation_id=uuid4(), success=True, duration_ms=0, completed_at=plus_two
    )
    assert response.completed_at == datetime(2024, 1, 1, 10, tzinfo=UTC)
    assert response.completed_at.tzinfo is UTC
    with pytest.raises(ValidationError, match="timezone"):
        ModelInfraResponse(
            operation="x",
            correlation_id=uuid4(),
            success=True,
            duration_ms=0,
            completed_at=datetime(2024, 1, 1),  # deliberately naive
        )


# -- ModelHealthStatus ----------------------------------------------------------------


def test_health_status() -> None:
    status = ModelHealthStatus(
        status=EnumHealthStatus.HEALTHY,
        target="127.0.0.1:5432",
        latency_ms=1.25,
        details={"version": "15.4", "connections": 3, "load": 0.5, "replica": False},
    )
    assert status.is_healthy
    assert status.details["replica"] is False
    assert status.details["connections"] == 3
    assert status.checked_at.tzinfo is UTC
    restored = ModelHealthStatus.model_validate_json(status.model_dump_json())
    assert restored == status
    degraded = ModelHealthStatus(status="degraded", target="vault", message="standby")  # type: ignore[arg-type]
    assert degraded.status is EnumHealthStatus.DEGRADED
    assert not degraded.is_healthy


def test_health_status_validation() -> None:
    with pytest.raises(ValidationError, match="latency_ms"):
        ModelHealthStatus(status=EnumHealthStatus.UNKNOWN, target="x", latency_ms=-1)
    with pytest.raises(ValidationError, match="timezone"):
        ModelHealthStatus(
            status=EnumHealthStatus.UNKNOWN,
            target="x",
            checked_at=datetime(2024, 1, 1),  # deliberately naive
        )
    with pytest.raises(ValidationError, match="target"):
        ModelHealthStatus(status=EnumHealthStatus.UNKNOWN, target="")
    with pytest.raises(ValidationError, match="details"):
        ModelHealthStatus.model_validate(
            {"status": "healthy", "target": "x", "details": {"nested": {"a": 1}}}
        )


# -- ModelServiceEndpoint -------------------------------------------------------------


def _leaks(endpoint: ModelServiceEndpoint, *secrets: str) -> list[str]:
    renderings = [
        repr(endpoint),
        str(endpoint),
        endpoint.target,
        endpoint.url,
        json.dumps(endpoint.model_dump(mode="json")),
        endpoint.model_dump_json(),
        repr(endpoint.model_dump()),
    ]
    return [r for r in renderings for s in secrets if s in r]


def test_from_url_moves_credentials_into_secrets() -> None:
    url = f"postgresql://app%40svc:{ENCODED}@DB.internal:6432/appdb"
    endpoint = ModelServiceEndpoint.from_url(url)
    assert endpoint.scheme == "postgresql"
    assert endpoint.host == "db.internal"
    assert endpoint.port == 6432
    assert endpoint.path == "/appdb"
    assert endpoint.username == "app@svc"
    assert endpoint.password is not None
    assert endpoint.password.get_secret_value() == PASSWORD
    assert endpoint.target == "db.internal:6432"
    assert endpoint.url == "postgresql://db.internal:6432/appdb"
    assert endpoint.has_credentials
    assert _leaks(endpoint, PASSWORD, ENCODED) == []
    assert "**********" in repr(endpoint)
    assert endpoint.model_dump(mode="json")["password"] == "**********"


def test_token_and_query_credentials_are_secret() -> None:
    endpoint = ModelServiceEndpoint.from_url(
        f"https://vault.local:8200/?token={TOKEN}&namespace=infra&password={PASSWORD}"
    )
    assert endpoint.token is not None
    assert endpoint.token.get_secret_value() == TOKEN
    assert endpoint.password is not None
    assert endpoint.password.get_secret_value() == PASSWORD
    assert endpoint.options == {"namespace": "infra"}
    assert endpoint.path == ""
    assert endpoint.url == "https://vault.local:8200?namespace=infra"
    assert _leaks(endpoint, TOKEN, PASSWORD) == []


def test_from_url_defaults_and_overrides() -> None:
    endpoint = ModelServiceEndpoint.from_url(
        "http://[::1]/realms/infra/",
        request_timeout_seconds=5,
        tls=ModelTlsSettings(verify=False),
        password="from-override",
    )
    assert endpoint.host == "::1"
    assert endpoint.port == 80
    assert endpoint.target == "[::1]:80"
    assert endpoint.url == "http://[::1]:80/realms/infra"
    assert endpoint.request_timeout_seconds == 5
    assert endpoint.connect_timeout_seconds == 5.0
    assert not endpoint.tls.verify
    assert endpoint.tls.ca_file is None
    assert endpoint.username is None
    assert isinstance(endpoint.password, SecretStr)
    assert _leaks(endpoint, "from-override") == []
    assert ModelServiceEndpoint.from_url("https://consul").port == 443
    assert not ModelServiceEndpoint.from_url("redis://cache").has_credentials


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (f"postgresql://u:{ENCODED}@db:99999/x", "port out of range"),
        (f"postgresql://u:{ENCODED}@db:abc/x", "port out of range"),
        ("http://[::1", "malformed URL"),
        ("localhost:5432", "expected scheme://host"),
        ("consul://agent", "has no default"),
        (f"https://u:{ENCODED}@host/x#frag", "fragments"),
        (f"https://u:{ENCODED}@bad_host!/x", "host is not a valid hostname"),
        (f"https://u:{ENCODED}@host/a path", "path must not contain"),
        (f"https://u:{ENCODED}@host/?api_key={TOKEN}", "must not carry credentials"),
    ],
)
def test_from_url_errors_never_contain_the_url(url: str, message: str) -> None:
    with pytest.raises(InfraConfigurationError, match=message) as caught:
        ModelServiceEndpoint.from_url(url)
    error = caught.value
    assert error.transport is EnumTransport.INTERNAL
    assert error.operation == "parse_endpoint_url"
    for rendering in (str(error), repr(error), error.to_json()):
        assert PASSWORD not in rendering
        assert ENCODED not in rendering
        assert TOKEN not in rendering


def test_validation_errors_hide_inputs() -> None:
    with pytest.raises(ValidationError) as caught:
        ModelServiceEndpoint.model_validate(
            {"scheme": "https", "host": "h", "port": 0, "password": PASSWORD, "bogus": PASSWORD}
        )
    assert PASSWORD not in str(caught.value)
    assert "port" in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("scheme", "1http", "scheme must look like"),
        ("host", "a/b", "not a valid hostname"),
        ("host", "fe80::zz", "not a valid hostname or IPv6"),
        ("path", "relative", "must be empty or start"),
        ("options", {"Password": "x"}, "Password"),
        ("connect_timeout_seconds", 0, "connect_timeout_seconds"),
    ],
)
def test_endpoint_field_validation(field: str, value: object, message: str) -> None:
    data: dict[str, object] = {"scheme": "https", "host": "example.org", "port": 443, field: value}
    with pytest.raises(ValidationError, match=message):
        ModelServiceEndpoint.model_validate(data)


def test_endpoint_normalises_and_is_frozen() -> None:
    endpoint = ModelServiceEndpoint(scheme="HTTPS", host="[2001:DB8::1]", port=8443)
    assert endpoint.scheme == "https"
    assert endpoint.host == "2001:db8::1"
    assert endpoint.target == "[2001:db8::1]:8443"
    with pytest.raises(ValidationError, match="frozen"):
        endpoint.port = 1


class ModelUsesEndpoint(BaseModel):
    endpoint: ModelServiceEndpoint


def test_nested_endpoint_never_dumps_its_secret() -> None:
    outer = ModelUsesEndpoint(
        endpoint=ModelServiceEndpoint(
            scheme="https",
            host="kc",
            port=8443,
            token=SecretStr(TOKEN),
            password=SecretStr(PASSWORD),
        )
    )
    for rendering in (
        repr(outer),
        outer.model_dump_json(),
        json.dumps(outer.model_dump(mode="json")),
    ):
        assert TOKEN not in rendering
        assert PASSWORD not in rendering
