"""What an effect node did: the record every effect emits and the tracing node turns into a span."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final, Self

from omnibase_core.models.errors.model_onex_error import ModelOnexError
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import EnumInfraErrorCode, InfraError
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.redaction import redact_mapping, redact_text, strip_userinfo

__all__ = [
    "MAX_RECORD_ATTRIBUTES",
    "MAX_RECORD_TEXT",
    "EnumOperationOutcome",
    "ModelOperationRecord",
    "RecordAttributeValue",
]

type RecordAttributeValue = str | bool | int | float

MAX_RECORD_ATTRIBUTES: Final = 128
MAX_RECORD_TEXT: Final = 4096
"""Longer strings (attribute values, error messages) are cut to this many characters."""


class EnumOperationOutcome(StrEnum):
    """How an operation ended."""

    SUCCESS = "success"
    ERROR = "error"


class ModelOperationRecord(BaseModel):
    """One finished operation: what, where, when, how long, how it ended, in which trace.

    Safe by construction: ``target`` loses any ``user:password@``; ``statement`` (SQL) is
    sanitized (literals become ``?``); ``error_message`` and string ``attributes`` are
    redacted and values under sensitive keys masked. ``attributes`` hold primitives,
    preferably under OpenTelemetry semantic-convention names (``db.namespace``,
    ``http.request.method``, ``url.full``, ``http.response.status_code``, ...) or the
    transport's own prefix (``vault.mount``, ``consul.key``). ``correlation`` is the
    operation's own context: its ``span_id`` becomes the span's id and ``parent_span_id``
    its parent.
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", hide_input_in_errors=True, defer_build=True
    )

    transport: EnumTransport
    operation: str = Field(min_length=1, max_length=200)
    target: str | None = Field(default=None, max_length=1024)
    started_at: AwareDatetime
    duration_ms: float = Field(ge=0, allow_inf_nan=False)
    outcome: EnumOperationOutcome
    error_code: str | None = Field(default=None, max_length=200)
    error_type: str | None = Field(default=None, max_length=200)
    error_message: str | None = None
    correlation: ModelCorrelationContext
    statement: str | None = None
    attributes: dict[str, RecordAttributeValue] = Field(default_factory=dict)

    @field_validator("started_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @field_validator("target")
    @classmethod
    def _strip_credentials(cls, value: str | None) -> str | None:
        return None if value is None else strip_userinfo(value)

    @field_validator("statement")
    @classmethod
    def _sanitize(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # Imported here: the SQL lexer costs import time that nodes without SQL never need.
        from omnibase_infra.sql import sanitize_sql  # noqa: PLC0415

        return sanitize_sql(value)

    @field_validator("error_message")
    @classmethod
    def _redact_message(cls, value: str | None) -> str | None:
        return None if value is None else redact_text(value)[:MAX_RECORD_TEXT]

    @field_validator("attributes")
    @classmethod
    def _safe_attributes(
        cls, value: dict[str, RecordAttributeValue]
    ) -> dict[str, RecordAttributeValue]:
        if len(value) > MAX_RECORD_ATTRIBUTES:
            raise ValueError(f"more than {MAX_RECORD_ATTRIBUTES} attributes")
        if any(not key or len(key) > 255 for key in value):
            raise ValueError("attribute names must have 1 to 255 characters")
        safe: dict[str, RecordAttributeValue] = {}
        for key, item in redact_mapping(value).items():
            if isinstance(item, bool | int) or (isinstance(item, float) and math.isfinite(item)):
                safe[key] = item
            else:  # text (redacted, maybe a mask) or a non-finite float, kept as text
                safe[key] = str(item)[:MAX_RECORD_TEXT]
        return safe

    @model_validator(mode="after")
    def _error_fields_only_on_error(self) -> Self:
        has_error_fields = any(
            v is not None for v in (self.error_code, self.error_type, self.error_message)
        )
        if self.outcome is EnumOperationOutcome.SUCCESS and has_error_fields:
            raise ValueError("a successful operation carries no error_code/type/message")
        if self.outcome is EnumOperationOutcome.ERROR and self.error_code is None:
            raise ValueError("a failed operation needs an error_code")
        return self

    @property
    def ended_at(self) -> datetime:
        """``started_at`` plus the duration."""
        return self.started_at + timedelta(milliseconds=self.duration_ms)

    @property
    def succeeded(self) -> bool:
        """Whether the outcome is ``SUCCESS``."""
        return self.outcome is EnumOperationOutcome.SUCCESS

    @classmethod
    def from_outcome(
        cls,
        *,
        transport: EnumTransport,
        operation: str,
        correlation: ModelCorrelationContext,
        started_at: datetime,
        duration_ms: float,
        error: BaseException | None = None,
        target: str | None = None,
        statement: str | None = None,
        attributes: Mapping[str, RecordAttributeValue] | None = None,
    ) -> Self:
        """The record of an operation that ended with ``error`` (or succeeded without one).

        The error's code, class and (redacted) message are taken from our ``InfraError``,
        also when core wrapped it as ``OPERATION_FAILED`` (it is then on ``__cause__``).
        """
        fields: dict[str, object] = {"outcome": EnumOperationOutcome.SUCCESS}
        if error is not None:
            fields = {"outcome": EnumOperationOutcome.ERROR, **_error_fields(error)}
        return cls.model_validate(
            {
                "transport": transport,
                "operation": operation,
                "correlation": correlation,
                "started_at": started_at,
                "duration_ms": duration_ms,
                "target": target,
                "statement": statement,
                "attributes": dict(attributes or {}),
                **fields,
            }
        )


def _error_fields(error: BaseException) -> dict[str, object]:
    cause = error.__cause__
    if not isinstance(error, InfraError) and isinstance(cause, InfraError):
        error = cause
    if isinstance(error, InfraError):
        code = error.infra_error_code.value
        message = error.message
    elif isinstance(error, ModelOnexError):
        raw = error.error_code
        code = str(getattr(raw, "value", raw)) if raw is not None else _DEFAULT_CODE
        message = error.message
    else:
        code, message = _DEFAULT_CODE, str(error)
    return {"error_code": code, "error_type": type(error).__name__, "error_message": message}


_DEFAULT_CODE: Final = EnumInfraErrorCode.INFRA_ERROR.value
