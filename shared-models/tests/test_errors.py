"""Tests for omnibase_infra.errors on omnibase_core's ModelOnexError."""

from __future__ import annotations

import copy
import json
import pickle
import re
import traceback
from datetime import UTC, datetime
from enum import Enum
from typing import Any
from uuid import UUID, uuid4

import pytest
from omnibase_core.enums.enum_core_error_code import EnumCoreErrorCode
from omnibase_core.enums.enum_onex_status import EnumOnexStatus
from omnibase_core.errors import get_error_codes_for_component
from omnibase_core.models.errors.model_onex_error import ModelOnexError
from pydantic import SecretStr

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import (
    EnumInfraErrorCode,
    InfraAuthenticationError,
    InfraConfigurationError,
    InfraConflictError,
    InfraConnectionError,
    InfraError,
    InfraNotFoundError,
    InfraPermissionError,
    InfraProtocolError,
    InfraRateLimitedError,
    InfraReadOnlyError,
    InfraRejectedRequestError,
    InfraTimeoutError,
    InfraUnavailableError,
    InfraValidationError,
    error_to_safe_dict,
    to_json_safe,
)
from omnibase_infra.redaction import MASK

# (class, subclass-specific kwargs, default code, default retryable)
CLASSES: list[tuple[type[InfraError], dict[str, Any], EnumInfraErrorCode, bool]] = [
    (InfraError, {}, EnumInfraErrorCode.INFRA_ERROR, False),
    (InfraConnectionError, {}, EnumInfraErrorCode.CONNECTION_FAILED, True),
    (InfraTimeoutError, {"timeout_seconds": 2.5}, EnumInfraErrorCode.TIMEOUT, True),
    (InfraAuthenticationError, {}, EnumInfraErrorCode.AUTHENTICATION_FAILED, False),
    (InfraPermissionError, {}, EnumInfraErrorCode.PERMISSION_DENIED, False),
    (InfraReadOnlyError, {}, EnumInfraErrorCode.READ_ONLY, False),
    (InfraNotFoundError, {}, EnumInfraErrorCode.NOT_FOUND, False),
    (
        InfraConflictError,
        {"current_version": 7, "index": 42},
        EnumInfraErrorCode.CONFLICT,
        False,
    ),
    (
        InfraRateLimitedError,
        {"retry_after_seconds": 1.5},
        EnumInfraErrorCode.RATE_LIMITED,
        True,
    ),
    (
        InfraUnavailableError,
        {"reason": "maintenance"},
        EnumInfraErrorCode.UNAVAILABLE,
        True,
    ),
    (
        InfraRejectedRequestError,
        {"status": 422},
        EnumInfraErrorCode.REQUEST_REJECTED,
        False,
    ),
    (InfraProtocolError, {}, EnumInfraErrorCode.PROTOCOL_ERROR, False),
    (InfraConfigurationError, {}, EnumInfraErrorCode.CONFIGURATION_ERROR, False),
    (InfraValidationError, {}, EnumInfraErrorCode.VALIDATION_ERROR, False),
]
CLASS_IDS = [cls.__name__ for cls, *_ in CLASSES]


def _attr_name(kwarg: str) -> str:
    return "status_code" if kwarg == "status" else kwarg


def _make(cls: type[InfraError], extras: dict[str, Any], **kwargs: Any) -> InfraError:
    base: dict[str, Any] = {"transport": EnumTransport.VAULT, "operation": "kv_read"}
    return cls("it failed", **base, **extras, **kwargs)


@pytest.mark.parametrize(("cls", "extras", "code", "retryable"), CLASSES, ids=CLASS_IDS)
def test_each_class_defaults(
    cls: type[InfraError],
    extras: dict[str, Any],
    code: EnumInfraErrorCode,
    retryable: bool,
) -> None:
    cid = uuid4()
    err = _make(cls, extras, target="vault:8200", correlation_id=cid)
    assert isinstance(err, InfraError)
    assert isinstance(err, ModelOnexError)
    assert str(err) == f"[{code.value}] it failed"
    assert err.message == "it failed"
    assert err.infra_error_code is code
    assert err.error_code is code
    assert err.transport is EnumTransport.VAULT
    assert err.operation == "kv_read"
    assert err.target == "vault:8200"
    assert err.correlation_id == cid
    assert err.retryable is retryable
    assert err.status is EnumOnexStatus.ERROR
    assert err.get_exit_code() == 1
    for kwarg, value in extras.items():
        assert getattr(err, _attr_name(kwarg)) == value
    safe = err.to_safe_dict()
    assert safe["code"] == code.value
    assert safe["error_type"] == cls.__name__
    for kwarg, value in extras.items():
        assert safe[_attr_name(kwarg)] == value


@pytest.mark.parametrize(("cls", "extras", "code", "retryable"), CLASSES, ids=CLASS_IDS)
def test_each_class_overrides_and_cause(
    cls: type[InfraError],
    extras: dict[str, Any],
    code: EnumInfraErrorCode,
    retryable: bool,
) -> None:
    original = OSError("socket closed")
    raised = _make(cls, extras, retryable=not retryable, error_code=EnumInfraErrorCode.SEALED)
    with pytest.raises(cls) as caught:
        raise raised from original
    err = caught.value
    assert err is raised
    assert err.retryable is (not retryable)
    assert err.infra_error_code is EnumInfraErrorCode.SEALED
    assert err.__cause__ is original
    assert code is not EnumInfraErrorCode.SEALED


@pytest.mark.parametrize(("cls", "extras", "code", "retryable"), CLASSES, ids=CLASS_IDS)
def test_each_class_pickles_copies_and_roundtrips_json(
    cls: type[InfraError],
    extras: dict[str, Any],
    code: EnumInfraErrorCode,
    retryable: bool,
) -> None:
    err = _make(cls, extras, target="db:5432", correlation_id=uuid4(), attempt=2)
    for clone in (
        pickle.loads(pickle.dumps(err)),  # noqa: S301 - our own bytes
        copy.deepcopy(err),
        cls.from_json(err.to_json()),
        cls.from_dict(err.model_dump()),
    ):
        assert type(clone) is cls
        assert str(clone) == str(err)
        assert clone.correlation_id == err.correlation_id
        assert clone.timestamp == err.timestamp
        assert (clone.transport, clone.operation, clone.target) == (
            EnumTransport.VAULT,
            "kv_read",
            "db:5432",
        )
        assert clone.retryable is retryable
        assert clone.infra_error_code is code
        assert clone.details == {"attempt": 2}
        for kwarg, value in extras.items():
            assert getattr(clone, _attr_name(kwarg)) == value


def test_correlation_id_kept_as_given_or_generated() -> None:
    cid = UUID("9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d")
    err = InfraNotFoundError(
        "gone", transport=EnumTransport.CONSUL, operation="kv_get", correlation_id=cid
    )
    assert err.correlation_id == cid
    first = InfraNotFoundError("gone", transport=EnumTransport.CONSUL, operation="kv_get")
    second = InfraNotFoundError("gone", transport=EnumTransport.CONSUL, operation="kv_get")
    assert isinstance(first.correlation_id, UUID)
    assert first.correlation_id != second.correlation_id


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("postgresql://app:dbpw-123@db:5432/app", "postgresql://db:5432/app"),
        ("postgres://app@db/app", "postgres://db/app"),
        ("app:dbpw-123@db:5432", "db:5432"),
        ("host=db port=5432 password=dbpw-123", f"host=db port=5432 password={MASK}"),
        ("db.internal:5432", "db.internal:5432"),
        ("secret/data/service-a", "secret/data/service-a"),
        (None, None),
    ],
)
def test_target_never_holds_credentials(target: str | None, expected: str | None) -> None:
    err = InfraConnectionError(
        "down", transport=EnumTransport.POSTGRES, operation="connect", target=target
    )
    assert err.target == expected
    assert "dbpw-123" not in err.to_json()
    assert "dbpw-123" not in repr(err)


def test_message_and_context_are_redacted_everywhere() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnLXNpZ25hdHVyZQ"
    err = InfraAuthenticationError(
        f"login to postgresql://app:msgpw-1@db/app failed with Bearer {jwt}",
        transport=EnumTransport.KEYCLOAK,
        operation="token",
        password="ctxpw-1",
        headers={"Authorization": "Bearer hdr-token-1", "Accept": "json"},
        client_secret=SecretStr("ctxpw-2"),
        dsn="postgres://u:ctxpw-3@h/d",
        nested=[{"token": "ctxpw-4"}],
    )
    rendered = [
        str(err),
        repr(err),
        err.to_json(),
        json.dumps(err.to_safe_dict()),
        json.dumps(err.context),
        "".join(traceback.format_exception(err)),
    ]
    for text in rendered:
        for secret in ("msgpw-1", jwt, "ctxpw-1", "hdr-token-1", "ctxpw-2", "ctxpw-3", "ctxpw-4"):
            assert secret not in text
    assert err.details == {
        "password": MASK,
        "headers": {"Authorization": MASK, "Accept": "json"},
        "client_secret": MASK,
        "dsn": f"postgres://u:{MASK}@h/d",
        "nested": [{"token": MASK}],
    }
    assert err.message == f"login to postgresql://app:{MASK}@db/app failed with Bearer {MASK}"


def test_context_is_json_safe_and_nested_like_core() -> None:
    class Color(Enum):
        RED = "red"

    stamp = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    uid = uuid4()
    err = InfraValidationError(
        "bad",
        transport=EnumTransport.INTERNAL,
        operation="validate",
        status=400,
        timestamp="t",
        when=stamp,
        uid=uid,
        color=Color.RED,
        obj=object(),
        ratio=float("inf"),
        items={1, 2},
    )
    payload = json.loads(err.to_json())
    context = payload["context"]
    assert context["transport"] == "internal"
    assert context["operation"] == "validate"
    assert context["retryable"] is False
    assert context["ctx_status"] == 400
    assert context["ctx_timestamp"] == "t"
    assert context["when"] == "2024-01-02T03:04:05+00:00"
    assert context["uid"] == str(uid)
    assert context["color"] == "red"
    assert context["obj"].startswith("<object object at")
    assert context["ratio"] == "inf"
    assert sorted(context["items"]) == [1, 2]
    assert payload["error_code"] == EnumInfraErrorCode.VALIDATION_ERROR.value
    assert err.context["additional_context"]["ctx_status"] == 400
    assert err.status is EnumOnexStatus.ERROR  # not shadowed by the status kwarg


def test_unknown_transport_and_codes_fall_back_instead_of_raising() -> None:
    err = InfraError("x", transport="carrier-pigeon", operation="op")  # type: ignore[arg-type]
    assert err.transport is EnumTransport.INTERNAL
    as_str = InfraError("x", transport="redis", operation="op")  # type: ignore[arg-type]
    assert as_str.transport is EnumTransport.REDIS
    payload = json.loads(err.to_json())
    payload["error_code"] = "SOMETHING_ELSE"
    payload["context"].pop("transport")
    payload["context"].pop("retryable")
    rebuilt = InfraError.from_json(json.dumps(payload))
    assert rebuilt.infra_error_code is EnumInfraErrorCode.INFRA_ERROR
    assert rebuilt.transport is EnumTransport.INTERNAL
    assert rebuilt.retryable is False
    payload["error_code"] = None
    assert InfraError.from_dict(payload).infra_error_code is EnumInfraErrorCode.INFRA_ERROR


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("circuit_open", EnumInfraErrorCode.CIRCUIT_OPEN),
        ("sealed", EnumInfraErrorCode.SEALED),
        ("maintenance", EnumInfraErrorCode.UNAVAILABLE),
    ],
)
def test_unavailable_reason_selects_code(reason: str, code: EnumInfraErrorCode) -> None:
    err = InfraUnavailableError(
        "no", transport=EnumTransport.VAULT, operation="read", reason=reason
    )
    assert err.reason == reason
    assert err.infra_error_code is code
    explicit = InfraUnavailableError(
        "no",
        transport=EnumTransport.VAULT,
        operation="read",
        reason=reason,
        error_code=EnumInfraErrorCode.INFRA_ERROR,
    )
    assert explicit.infra_error_code is EnumInfraErrorCode.INFRA_ERROR


def test_rejected_request_status_is_status_code_not_core_status() -> None:
    err = InfraRejectedRequestError(
        "gone", transport=EnumTransport.HTTP, operation="post", status=410
    )
    assert err.status_code == 410
    assert err.status is EnumOnexStatus.ERROR
    assert json.loads(err.to_json())["context"]["status_code"] == 410


def test_conflict_optional_fields_default_to_none() -> None:
    err = InfraConflictError("cas", transport=EnumTransport.CONSUL, operation="kv_cas")
    assert (err.current_version, err.index) == (None, None)
    assert err.to_safe_dict()["index"] is None


def test_error_codes_enum_contract() -> None:
    assert get_error_codes_for_component("infra") is EnumInfraErrorCode
    values = [member.value for member in EnumInfraErrorCode]
    assert len(set(values)) == len(values)
    numbers = [member.get_number() for member in EnumInfraErrorCode]
    assert numbers == list(range(1, len(values) + 1))
    for member in EnumInfraErrorCode:
        assert re.fullmatch(rf"ONEX_INFRA_\d{{3}}_{member.name}", member.value)
        assert str(member) == member.value
        assert f"{member}" == member.value
        assert member.get_component() == "INFRA"
        assert member.get_description()
        assert member.get_exit_code() == 1
    assert EnumInfraErrorCode("ONEX_INFRA_003_TIMEOUT") is EnumInfraErrorCode.TIMEOUT


def test_error_to_safe_dict_for_each_kind() -> None:
    cid = uuid4()
    try:
        try:
            raise ValueError("refused: password=causepw-1")
        except ValueError as exc:
            raise InfraTimeoutError(
                "slow",
                transport=EnumTransport.POSTGRES,
                operation="execute",
                timeout_seconds=3.0,
                target="db:5432",
                correlation_id=cid,
            ) from exc
    except InfraTimeoutError as err:
        data = error_to_safe_dict(err)
        without_cause = error_to_safe_dict(err, include_cause=False)
    assert data == {
        "error_type": "InfraTimeoutError",
        "code": "ONEX_INFRA_003_TIMEOUT",
        "transport": "postgres",
        "operation": "execute",
        "target": "db:5432",
        "correlation_id": str(cid),
        "retryable": True,
        "message": "slow",
        "timeout_seconds": 3.0,
        "cause": {"error_type": "ValueError", "message": f"refused: password={MASK}"},
    }
    assert "cause" not in without_cause
    json.dumps(data)

    core = ModelOnexError("core token=coretok", error_code=EnumCoreErrorCode.TIMEOUT)
    assert error_to_safe_dict(core) == {
        "error_type": "ModelOnexError",
        "code": EnumCoreErrorCode.TIMEOUT.value,
        "correlation_id": str(core.correlation_id),
        "message": f"core token={MASK}",
    }
    assert error_to_safe_dict(ModelOnexError("plain"))["code"] is None
    assert error_to_safe_dict(ModelOnexError("adhoc", error_code="MY_CODE"))["code"] == "MY_CODE"
    assert error_to_safe_dict(KeyError("x")) == {"error_type": "KeyError", "message": "'x'"}

    inner = InfraNotFoundError("no key", transport=EnumTransport.CONSUL, operation="kv_get")
    try:
        raise ModelOnexError("wrapped", error_code=EnumCoreErrorCode.OPERATION_FAILED) from inner
    except ModelOnexError as outer:
        wrapped = error_to_safe_dict(outer)
    assert wrapped["code"] == EnumCoreErrorCode.OPERATION_FAILED.value
    assert wrapped["cause"] == inner.to_safe_dict()


def test_to_json_safe_conversions() -> None:
    assert to_json_safe({"a": (1, 2.5, None, True)}) == {"a": [1, 2.5, None, True]}
    assert to_json_safe(EnumTransport.VAULT) == "vault"
    assert to_json_safe(float("nan")) == "nan"
    assert to_json_safe(b"password=bytespw") == f"password={MASK}"
    assert to_json_safe({1: "x"}) == {"1": "x"}


def test_summarize_validation_error_names_paths_and_never_inputs() -> None:
    from pydantic import BaseModel, ValidationError

    from omnibase_infra.errors import summarize_validation_error

    class _Inner(BaseModel):
        port: int

    class _Outer(BaseModel):
        inner: _Inner
        name: str

    with pytest.raises(ValidationError) as excinfo:
        _Outer.model_validate({"inner": {"port": "s3cr3t-value"}})
    summary = summarize_validation_error(excinfo.value)
    assert summary.startswith("inner.port: ")
    assert "name: Field required" in summary
    assert "s3cr3t-value" not in summary

    with pytest.raises(ValidationError) as root_error:
        _Inner.model_validate("not a mapping")
    assert summarize_validation_error(root_error.value, root="request").startswith("request: ")
