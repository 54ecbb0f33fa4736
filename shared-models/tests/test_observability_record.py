"""ModelOperationRecord: safe by construction, errors summarised from our taxonomy."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from omnibase_core.enums.enum_core_error_code import EnumCoreErrorCode
from omnibase_core.models.errors.model_onex_error import ModelOnexError
from pydantic import ValidationError

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraTimeoutError
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.observability import (
    MAX_RECORD_ATTRIBUTES,
    MAX_RECORD_TEXT,
    EnumOperationOutcome,
    ModelOperationRecord,
)
from omnibase_infra.redaction import MASK, register_secret, unregister_secret

STARTED = datetime(2025, 1, 2, 3, 4, 5, 600_000, tzinfo=UTC)
SECRET = "sup3r-s3cret-value"
LEAKY_SQL = f"SELECT id FROM users WHERE password = '{SECRET}' AND id = 4242"  # noqa: S608


def _record(**fields: object) -> ModelOperationRecord:
    data: dict[str, object] = {
        "transport": EnumTransport.POSTGRES,
        "operation": "execute",
        "correlation": ModelCorrelationContext.new(),
        "started_at": STARTED,
        "duration_ms": 12.5,
        "outcome": EnumOperationOutcome.SUCCESS,
    }
    data.update(fields)
    return ModelOperationRecord.model_validate(data)


def test_success_record_and_its_derived_values() -> None:
    record = _record()
    assert record.succeeded
    assert record.ended_at == STARTED + timedelta(milliseconds=12.5)
    assert record.attributes == {}


def test_started_at_is_normalised_to_utc_and_must_be_aware() -> None:
    local = datetime(2025, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    assert _record(started_at=local).started_at == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    with pytest.raises(ValidationError):
        _record(started_at=datetime(2025, 1, 2))


@pytest.mark.parametrize("duration", [-1.0, float("nan"), float("inf")])
def test_duration_must_be_a_finite_non_negative_number(duration: float) -> None:
    with pytest.raises(ValidationError):
        _record(duration_ms=duration)


def test_target_loses_its_credentials() -> None:
    record = _record(target=f"postgresql://app:{SECRET}@db.internal:5432/app")
    assert record.target == "postgresql://db.internal:5432/app"


def test_statement_literals_are_sanitized() -> None:
    record = _record(statement=LEAKY_SQL)
    assert record.statement is not None
    assert SECRET not in record.statement
    assert "4242" not in record.statement
    assert "users" in record.statement
    assert "?" in record.statement


def test_attributes_are_redacted_and_bounded() -> None:
    record = _record(
        attributes={
            "db.namespace": "app",
            "db.password": SECRET,
            "note": f"token={SECRET}",
            "rows": 3,
            "cached": True,
            "ratio": 0.5,
            "weird": float("nan"),
            "long": "x" * (MAX_RECORD_TEXT + 10),
        }
    )
    attributes = record.attributes
    assert attributes["db.namespace"] == "app"
    assert attributes["db.password"] == MASK
    assert attributes["note"] == f"token={MASK}"
    assert (attributes["rows"], attributes["cached"], attributes["ratio"]) == (3, True, 0.5)
    assert attributes["weird"] == "nan"
    assert len(str(attributes["long"])) == MAX_RECORD_TEXT
    assert SECRET not in record.model_dump_json()


def test_registered_secrets_are_masked_anywhere() -> None:
    register_secret(SECRET)
    try:
        record = _record(
            attributes={"comment": f"value {SECRET} inside"},
            outcome=EnumOperationOutcome.ERROR,
            error_code="X",
            error_message=f"failed with {SECRET}",
        )
    finally:
        unregister_secret(SECRET)
    assert SECRET not in record.model_dump_json()


def test_attribute_limits() -> None:
    with pytest.raises(ValidationError, match="more than"):
        _record(attributes={f"k{i}": i for i in range(MAX_RECORD_ATTRIBUTES + 1)})
    with pytest.raises(ValidationError, match="names"):
        _record(attributes={"": 1})
    with pytest.raises(ValidationError):
        _record(attributes={"nested": {"a": 1}})


def test_error_fields_must_match_the_outcome() -> None:
    with pytest.raises(ValidationError, match="no error_code"):
        _record(error_code="X")
    with pytest.raises(ValidationError, match="needs an error_code"):
        _record(outcome=EnumOperationOutcome.ERROR)


def test_validation_errors_do_not_echo_input() -> None:
    with pytest.raises(ValidationError) as info:
        _record(duration_ms=SECRET)
    assert SECRET not in str(info.value)


def _outcome(error: BaseException | None) -> ModelOperationRecord:
    return ModelOperationRecord.from_outcome(
        transport=EnumTransport.VAULT,
        operation="kv_read",
        correlation=ModelCorrelationContext.new(),
        started_at=STARTED,
        duration_ms=3.0,
        error=error,
        target="vault:8200",
        attributes={"vault.mount": "secret"},
    )


def test_from_outcome_success() -> None:
    record = _outcome(None)
    assert record.outcome is EnumOperationOutcome.SUCCESS
    assert (record.error_code, record.error_type, record.error_message) == (None, None, None)
    assert record.attributes == {"vault.mount": "secret"}
    assert record.target == "vault:8200"


def _timeout() -> InfraTimeoutError:
    return InfraTimeoutError(
        f"read timed out, token={SECRET}",
        transport=EnumTransport.VAULT,
        operation="kv_read",
        timeout_seconds=1.0,
    )


def test_from_outcome_with_our_error() -> None:
    record = _outcome(_timeout())
    assert record.outcome is EnumOperationOutcome.ERROR
    assert record.error_code == "ONEX_INFRA_003_TIMEOUT"
    assert record.error_type == "InfraTimeoutError"
    assert record.error_message is not None
    assert SECRET not in record.error_message


def test_from_outcome_unwraps_cores_operation_failed() -> None:
    wrapped = ModelOnexError(
        "Effect execution failed", error_code=EnumCoreErrorCode.OPERATION_FAILED
    )
    wrapped.__cause__ = _timeout()
    record = _outcome(wrapped)
    assert (record.error_code, record.error_type) == ("ONEX_INFRA_003_TIMEOUT", "InfraTimeoutError")


def test_from_outcome_with_a_core_error() -> None:
    record = _outcome(ModelOnexError("bad", error_code=EnumCoreErrorCode.VALIDATION_ERROR))
    assert record.error_code == str(EnumCoreErrorCode.VALIDATION_ERROR.value)
    assert record.error_type == "ModelOnexError"


def test_from_outcome_with_any_other_exception() -> None:
    record = _outcome(RuntimeError(f"password={SECRET}"))
    assert record.error_code == "ONEX_INFRA_001_INFRA_ERROR"
    assert record.error_type == "RuntimeError"
    assert record.error_message == f"password={MASK}"


def test_json_round_trip() -> None:
    record = _outcome(_timeout())
    again = ModelOperationRecord.model_validate(json.loads(record.model_dump_json()))
    assert again == record
