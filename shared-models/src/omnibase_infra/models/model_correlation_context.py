"""Correlation and W3C trace context carried by every infra operation."""

from __future__ import annotations

import collections
import functools
import os
import re
import secrets
from typing import Final, Self
from uuid import UUID, SafeUUID, uuid4

from opentelemetry import trace
from opentelemetry.trace import SpanContext, TraceFlags, TraceState
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from omnibase_infra.models.trusted import construct_trusted

_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_SPAN_ID = re.compile(r"[0-9a-f]{16}")
MAX_TRACESTATE_LENGTH: Final = 512
"""What every vendor must be able to propagate (W3C Trace Context)."""
_TRACE_CONTEXT: Final = TraceContextTextMapPropagator()


_ID_BATCH: Final = 256
_V4_CLEAR: Final = ~((0xC000 << 48) | (0xF000 << 64))
_V4_SET: Final = (0x8000 << 48) | (0x4000 << 64)
# Version-4 ids drawn from one ``os.urandom`` read per batch: ``uuid4()`` reads 16 bytes
# (a system call) and runs ``UUID.__init__``'s checks on every defaulted request.
# ``deque.popleft`` is atomic, so threads never share an id; a forked child starts afresh.
_IDS: Final[collections.deque[int]] = collections.deque()
os.register_at_fork(after_in_child=_IDS.clear)
_new_object: Final = object.__new__
_set_slot: Final = object.__setattr__  # UUID is immutable: its own __setattr__ refuses


def new_correlation_id() -> UUID:
    """A random (version 4) UUID, as ``uuid.uuid4()`` but a fraction of its cost."""
    try:
        value = _IDS.popleft()
    except IndexError:
        data = os.urandom(16 * _ID_BATCH)
        _IDS.extend(
            int.from_bytes(data[i : i + 16]) & _V4_CLEAR | _V4_SET for i in range(16, len(data), 16)
        )
        value = int.from_bytes(data[:16]) & _V4_CLEAR | _V4_SET
    # What UUID(int=value) stores, without re-checking a value built in range.
    uid = _new_object(UUID)
    _set_slot(uid, "int", value)
    _set_slot(uid, "is_safe", SafeUUID.unknown)
    return uid


_FRESH_FIELDS_SET: Final = ("correlation_id",)


def _new_trace_id() -> str:
    return secrets.token_hex(16)


def _new_span_id() -> str:
    return secrets.token_hex(8)


@functools.lru_cache(maxsize=256)
def _trace_state(header: str) -> TraceState:
    """OpenTelemetry's parsed ``tracestate`` (immutable, so shared: a trace's spans repeat it)."""
    return TraceState.from_header([header])


class ModelCorrelationContext(BaseModel):
    """The caller's correlation id plus optional causation and W3C trace context.

    ``trace_id``/``span_id`` use the W3C Trace Context encoding (lower-case hex, not all
    zeros); upper-case input is normalised. ``trace_flags`` is the 8-bit flags field
    (bit 0 = sampled).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

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
        if len(value) > MAX_TRACESTATE_LENGTH:
            raise ValueError(f"tracestate longer than {MAX_TRACESTATE_LENGTH} characters")
        parsed = _trace_state(value)
        if not parsed and value.strip(" \t,"):  # OpenTelemetry drops an invalid header whole
            raise ValueError("tracestate is not a valid W3C list of at most 32 key=value members")
        return parsed.to_header() or None

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
        request, so it is built without validation (every value is one this method made,
        equal to ``cls(correlation_id=new_correlation_id())``)."""
        return construct_trusted(
            cls,
            {
                "correlation_id": new_correlation_id(),
                "causation_id": None,
                "trace_id": None,
                "span_id": None,
                "parent_span_id": None,
                "trace_flags": 1,
                "tracestate": None,
            },
            _FRESH_FIELDS_SET,
        )

    @classmethod
    def from_traceparent(
        cls,
        traceparent: str,
        *,
        correlation_id: UUID | None = None,
        tracestate: str | None = None,
    ) -> Self:
        """Continue a W3C ``traceparent`` header as a new context naming the same span.

        Parsed by OpenTelemetry's W3C propagator, after lower-casing (``ValueError`` when
        invalid); an invalid or over-long ``tracestate`` is dropped, as the propagator does.
        """
        # Lower-cased first: the header is often typed by a person (a CLI option).
        carrier = {"traceparent": traceparent.strip().lower()}
        if tracestate and len(tracestate) <= MAX_TRACESTATE_LENGTH:
            carrier["tracestate"] = tracestate
        span_context = trace.get_current_span(_TRACE_CONTEXT.extract(carrier)).get_span_context()
        if not span_context.is_valid:
            raise ValueError("traceparent is not a valid W3C traceparent header")
        return cls.from_span_context(
            span_context, correlation_id=correlation_id if correlation_id is not None else uuid4()
        )

    @classmethod
    def from_span_context(
        cls,
        span_context: SpanContext,
        *,
        correlation_id: UUID | None = None,
        causation_id: UUID | None = None,
    ) -> Self:
        """A context naming ``span_context``'s span (its trace, flags and ``tracestate``).

        Without ``correlation_id`` it is derived from the trace id, so that every node
        continuing the same trace agrees on it. ``ValueError`` for an invalid span context.
        """
        if not span_context.is_valid:
            raise ValueError("span context is not valid (all-zero trace or span id)")
        trace_id = format(span_context.trace_id, "032x")
        tracestate = span_context.trace_state.to_header() if span_context.trace_state else None
        return cls(
            correlation_id=correlation_id if correlation_id is not None else UUID(hex=trace_id),
            causation_id=causation_id,
            trace_id=trace_id,
            span_id=format(span_context.span_id, "016x"),
            trace_flags=int(span_context.trace_flags),
            tracestate=tracestate or None,
        )

    def to_span_context(self) -> SpanContext | None:
        """This context's span as a remote OpenTelemetry ``SpanContext`` (flags and
        ``tracestate`` kept), ``None`` without a trace and span id."""
        if self.trace_id is None or self.span_id is None:
            return None
        return self._span_context(self.trace_id, self.span_id)

    def parent_span_context(self) -> SpanContext | None:
        """The parent span (``parent_span_id``) as a remote ``SpanContext``, or ``None``."""
        if self.trace_id is None or self.parent_span_id is None:
            return None
        return self._span_context(self.trace_id, self.parent_span_id)

    def _span_context(self, trace_id: str, span_id: str) -> SpanContext:
        return SpanContext(
            trace_id=int(trace_id, 16),
            span_id=int(span_id, 16),
            is_remote=True,
            trace_flags=TraceFlags(self.trace_flags),
            trace_state=_trace_state(self.tracestate) if self.tracestate else None,
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
