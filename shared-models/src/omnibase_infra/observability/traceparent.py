"""The W3C Trace Context ``traceparent`` header: parsed by the spec's rules, written as 00."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = ["SAMPLED_FLAG", "TraceParent", "format_traceparent", "parse_traceparent"]

SAMPLED_FLAG: Final = 0x01
"""Bit 0 of ``trace-flags``: the caller may have recorded its span."""

# version-trace_id-parent_id-flags, then (future versions only) "-" and anything.
_HEADER: Final = re.compile(
    r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?", re.DOTALL
)
_TRACE_ID: Final = re.compile(r"[0-9a-f]{32}")
_SPAN_ID: Final = re.compile(r"[0-9a-f]{16}")
_INVALID_TRACE_ID: Final = "0" * 32
_INVALID_SPAN_ID: Final = "0" * 16
_OWS: Final = " \t"


@dataclass(frozen=True, slots=True)
class TraceParent:
    """A parsed ``traceparent``: the caller's trace id, its span id and the trace flags.

    ``version`` is the version that was received; :meth:`to_header` always writes version
    00, the only one this implementation understands (as the spec requires).
    """

    trace_id: str
    parent_id: str
    trace_flags: int
    version: int = 0

    def __post_init__(self) -> None:
        if _TRACE_ID.fullmatch(self.trace_id) is None or self.trace_id == _INVALID_TRACE_ID:
            raise ValueError("trace_id must be 32 lower-case hex characters, not all zeros")
        if _SPAN_ID.fullmatch(self.parent_id) is None or self.parent_id == _INVALID_SPAN_ID:
            raise ValueError("parent_id must be 16 lower-case hex characters, not all zeros")
        if not 0 <= self.trace_flags <= 0xFF:
            raise ValueError("trace_flags must fit in 8 bits")
        if not 0 <= self.version < 0xFF:
            raise ValueError("version must be 00..fe")

    @property
    def sampled(self) -> bool:
        """Whether the sampled flag is set."""
        return bool(self.trace_flags & SAMPLED_FLAG)

    def to_header(self) -> str:
        """The version-00 header value."""
        return format_traceparent(self.trace_id, self.parent_id, self.trace_flags)


def format_traceparent(trace_id: str, parent_id: str, trace_flags: int) -> str:
    """``00-<trace_id>-<parent_id>-<flags>``; ids must already be valid lower-case hex."""
    return f"00-{trace_id}-{parent_id}-{trace_flags:02x}"


def parse_traceparent(value: str | None) -> TraceParent | None:
    """Parse a received ``traceparent``; ``None`` when it is absent or invalid.

    Follows W3C Trace Context: lower-case hex only; all-zero trace or parent ids and
    version ``ff`` are invalid; version 00 is exactly 55 characters; a higher (future)
    version is parsed for its first four fields when they are followed by the end of the
    value or a ``-``, and only its sampled flag is kept. Surrounding spaces/tabs (HTTP
    optional whitespace) are ignored. An invalid header means: start a new trace, and
    ignore ``tracestate`` too.
    """
    if value is None:
        return None
    match = _HEADER.fullmatch(value.strip(_OWS))
    if match is None:
        return None
    version_hex, trace_id, parent_id, flags_hex, rest = match.groups()
    if version_hex == "ff" or (version_hex == "00" and rest is not None):
        return None
    if trace_id == _INVALID_TRACE_ID or parent_id == _INVALID_SPAN_ID:
        return None
    flags = int(flags_hex, 16)
    version = int(version_hex, 16)
    if version != 0:
        flags &= SAMPLED_FLAG  # other bits of a future version have no meaning to us
    return TraceParent(trace_id, parent_id, flags, version)
