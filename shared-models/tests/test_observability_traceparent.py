"""W3C traceparent: parsing by the spec's rules (every version) and formatting (version 00)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnibase_infra.observability import TraceParent, format_traceparent, parse_traceparent

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
VALID = f"00-{TRACE_ID}-{SPAN_ID}-01"

_hex_ids = st.integers(min_value=1, max_value=(1 << 128) - 1).map(lambda n: f"{n:032x}")
_hex_spans = st.integers(min_value=1, max_value=(1 << 64) - 1).map(lambda n: f"{n:016x}")


def test_parses_a_version_00_header() -> None:
    parsed = parse_traceparent(VALID)
    assert parsed == TraceParent(TRACE_ID, SPAN_ID, 1, 0)
    assert parsed.sampled
    assert parsed.to_header() == VALID


def test_unsampled_flags_and_other_bits_of_version_00_are_kept() -> None:
    parsed = parse_traceparent(f"00-{TRACE_ID}-{SPAN_ID}-02")
    assert parsed is not None
    assert parsed.trace_flags == 0x02
    assert not parsed.sampled
    assert parsed.to_header().endswith("-02")


def test_optional_whitespace_around_the_value_is_ignored() -> None:
    assert parse_traceparent(f" \t{VALID} ") == parse_traceparent(VALID)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "00",
        VALID.upper(),  # upper-case hex is invalid
        f"00-{TRACE_ID.upper()}-{SPAN_ID}-01",
        f"00-{TRACE_ID}-{SPAN_ID.upper()}-01",
        f"00-{'0' * 32}-{SPAN_ID}-01",  # all-zero trace id
        f"00-{TRACE_ID}-{'0' * 16}-01",  # all-zero parent id
        f"ff-{TRACE_ID}-{SPAN_ID}-01",  # version ff is forbidden
        f"00-{TRACE_ID}-{SPAN_ID}-01-extra",  # version 00 is exactly 55 characters
        f"00-{TRACE_ID}-{SPAN_ID}-01-",
        f"00-{TRACE_ID[:-1]}-{SPAN_ID}-01",
        f"00-{TRACE_ID}0-{SPAN_ID}-01",
        f"00-{TRACE_ID}-{SPAN_ID}-1",
        f"00_{TRACE_ID}-{SPAN_ID}-01",
        f"00-{TRACE_ID}_{SPAN_ID}-01",
        f"0g-{TRACE_ID}-{SPAN_ID}-01",
        f"00-{TRACE_ID[:-1]}g-{SPAN_ID}-01",
        f"00-{TRACE_ID}-{SPAN_ID}-0x",
        f"cc-{TRACE_ID}-{SPAN_ID}-01x",  # future version: field 4 must end or be followed by "-"
        f"cc-{TRACE_ID}-{SPAN_ID}",  # shorter than 55
    ],
)
def test_invalid_headers_are_ignored(header: str) -> None:
    assert parse_traceparent(header) is None


def test_none_is_no_header() -> None:
    assert parse_traceparent(None) is None


def test_a_future_version_is_read_for_its_known_fields() -> None:
    parsed = parse_traceparent(f"cc-{TRACE_ID}-{SPAN_ID}-03-what-the-future-will-be-like")
    assert parsed is not None
    assert (parsed.version, parsed.trace_id, parsed.parent_id) == (0xCC, TRACE_ID, SPAN_ID)
    assert parsed.trace_flags == 0x01  # only the sampled bit means something across versions
    assert parsed.to_header() == f"00-{TRACE_ID}-{SPAN_ID}-01"  # always re-emitted as 00


def test_a_future_version_of_exactly_55_characters_is_valid() -> None:
    parsed = parse_traceparent(f"01-{TRACE_ID}-{SPAN_ID}-00")
    assert parsed is not None
    assert not parsed.sampled


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"trace_id": "0" * 32}, "trace_id"),
        ({"trace_id": TRACE_ID.upper()}, "trace_id"),
        ({"parent_id": "0" * 16}, "parent_id"),
        ({"parent_id": "xyz"}, "parent_id"),
        ({"trace_flags": 256}, "trace_flags"),
        ({"trace_flags": -1}, "trace_flags"),
        ({"version": 0xFF}, "version"),
    ],
)
def test_the_value_object_rejects_invalid_fields(kwargs: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {"trace_id": TRACE_ID, "parent_id": SPAN_ID, "trace_flags": 1}
    fields.update(kwargs)
    with pytest.raises(ValueError, match=message):
        TraceParent(**fields)  # type: ignore[arg-type]


@given(trace_id=_hex_ids, span_id=_hex_spans, flags=st.integers(0, 255))
def test_format_then_parse_round_trips(trace_id: str, span_id: str, flags: int) -> None:
    header = format_traceparent(trace_id, span_id, flags)
    assert len(header) == 55
    assert parse_traceparent(header) == TraceParent(trace_id, span_id, flags)
