"""Correlation and W3C trace context carried by every infra operation."""

from __future__ import annotations

import re
import secrets
from typing import Self
from uuid import UUID, uuid4

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_SPAN_ID = re.compile(r"[0-9a-f]{16}")
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
# W3C tracestate list member: key=value, key is simple or multi-tenant (tenant@system).
_TRACESTATE_MEMBER = re.compile(
    r"(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})"
    r"=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
)
_TRACESTATE_MAX_MEMBERS = 32
_TRACESTATE_MAX_LENGTH = 512


def _new_trace_id() -> str:
    return secrets.token_hex(16)


def _new_span_id() -> str:
    return secrets.token_hex(8)


class ModelCorrelationContext(BaseModel):
    """The caller's correlation id plus optional causation and W3C trace context.

    ``trace_id``/``span_id`` use the W3C Trace Context encoding (lower-case hex, not all
    zeros); upper-case input is normalised. ``trace_flags`` is the 8-bit flags field
    (bit 0 = sampled).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    correlation_id: UUID
    causation_id: UUID | None = None
    trace_id: str | None = None
    span_id: str | None = None
    parent_span_id: str | None = None
    trace_flags: int = Field(default=1, ge=0, le=0xFF)
    tracestate: str | None = None

    @field_validator("trace_id", mode="before")
    @classmethod
    def _check_trace_id(cls, value: object) -> object:
        return _check_hex_id(value, _TRACE_ID, "trace_id", 32)

    @field_validator("span_id", "parent_span_id", mode="before")
    @classmethod
    def _check_span_id(cls, value: object, info: ValidationInfo) -> object:
        return _check_hex_id(value, _SPAN_ID, info.field_name or "span_id", 16)

    @field_validator("tracestate")
    @classmethod
    def _check_tracestate(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if len(value) > _TRACESTATE_MAX_LENGTH:
            raise ValueError(f"tracestate longer than {_TRACESTATE_MAX_LENGTH} characters")
        members = [m.strip(" \t") for m in value.split(",")]
        members = [m for m in members if m]
        if len(members) > _TRACESTATE_MAX_MEMBERS:
            raise ValueError(f"tracestate has more than {_TRACESTATE_MAX_MEMBERS} members")
        for member in members:
            if _TRACESTATE_MEMBER.fullmatch(member) is None:
                raise ValueError("tracestate member is not a valid W3C key=value pair")
        return ",".join(members)

    @model_validator(mode="after")
    def _span_needs_trace(self) -> Self:
        if (self.span_id is not None or self.parent_span_id is not None) and self.trace_id is None:
            raise ValueError("span_id/parent_span_id require trace_id")
        return self

    @classmethod
    def new(cls, correlation_id: UUID | None = None, *, with_trace: bool = True) -> Self:
        """Start a context: the given (or a fresh) correlation id and, optionally, a new trace."""
        return cls(
            correlation_id=correlation_id if correlation_id is not None else uuid4(),
            trace_id=_new_trace_id() if with_trace else None,
            span_id=_new_span_id() if with_trace else None,
        )

    @classmethod
    def fresh(cls) -> Self:
        """A new correlation id and no trace: what a request gets when the caller gives none
        (its span then joins the current OpenTelemetry span). Runs on every defaulted
        request (pydantic's ``model_construct`` is slower than validating this one field)."""
        return cls(correlation_id=uuid4())

    @classmethod
    def from_traceparent(
        cls,
        traceparent: str,
        *,
        correlation_id: UUID | None = None,
        tracestate: str | None = None,
    ) -> Self:
        """Continue a W3C ``traceparent`` header (version 00) as a new context."""
        match = _TRACEPARENT.fullmatch(traceparent.strip().lower())
        if match is None:
            raise ValueError("traceparent is not a valid W3C version-00 header")
        trace_id, span_id, flags = match.groups()
        return cls(
            correlation_id=correlation_id if correlation_id is not None else uuid4(),
            trace_id=trace_id,
            span_id=span_id,
            trace_flags=int(flags, 16),
            tracestate=tracestate,
        )

    def child(self, *, causation_id: UUID | None = None) -> Self:
        """Context for a downstream call: same correlation id and trace, a new span.

        The current span becomes ``parent_span_id``; ``causation_id`` is the id of the
        message or operation that caused the child (kept from this context if omitted).
        """
        return self.model_copy(
            update={
                "causation_id": causation_id if causation_id is not None else self.causation_id,
                "span_id": _new_span_id() if self.trace_id is not None else None,
                "parent_span_id": self.span_id,
            }
        )

    @property
    def sampled(self) -> bool:
        """Whether the W3C sampled flag is set."""
        return bool(self.trace_flags & 0x01)

    @property
    def traceparent(self) -> str | None:
        """The W3C ``traceparent`` header value, or ``None`` without a trace and span."""
        if self.trace_id is None or self.span_id is None:
            return None
        return f"00-{self.trace_id}-{self.span_id}-{self.trace_flags:02x}"


def _check_hex_id(value: object, pattern: re.Pattern[str], name: str, length: int) -> object:
    if not isinstance(value, str):
        return value
    normalised = value.lower()
    if pattern.fullmatch(normalised) is None:
        raise ValueError(f"{name} must be {length} hex characters")
    if normalised == "0" * length:
        raise ValueError(f"{name} must not be all zeros")
    return normalised
