"""W3C Baggage: percent-encoding, properties, malformed members, size and count limits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnibase_infra.errors import InfraValidationError
from omnibase_infra.observability import (
    MAX_BAGGAGE_BYTES,
    MAX_BAGGAGE_MEMBERS,
    Baggage,
    BaggageEntry,
)


def test_parses_values_properties_and_optional_whitespace() -> None:
    baggage = Baggage.parse("userId = alice%20b ,serverNode=DF%2028;p1; p2 = v%3Bx,, isProd=false")
    assert dict(baggage) == {"userId": "alice b", "serverNode": "DF 28", "isProd": "false"}
    assert baggage.entry("serverNode") == BaggageEntry("DF 28", (("p1", None), ("p2", "v;x")))
    assert baggage.to_header() == "userId=alice%20b,serverNode=DF%2028;p1;p2=v%3Bx,isProd=false"


def test_invalid_utf8_in_percent_encoding_becomes_the_replacement_character() -> None:
    assert Baggage.parse("k=%FFok")["k"] == "\ufffdok"


@pytest.mark.parametrize(
    "member",
    [
        "bad key=1",  # a key is an HTTP token
        'k="quoted"',  # DQUOTE is not a baggage-octet
        "k=a b",
        "k=back\\slash",
        "novalue",
        "=1",
        "k=1;bad prop",
    ],
)
def test_malformed_members_are_skipped_and_the_rest_kept(member: str) -> None:
    assert dict(Baggage.parse(f"a=1,{member},b=2")) == {"a": "1", "b": "2"}


def test_an_empty_property_is_tolerated() -> None:
    assert Baggage.parse("k=v;").entry("k").properties == ()


def test_a_repeated_key_keeps_its_last_value_at_its_last_position() -> None:
    baggage = Baggage.parse("a=1,b=2,a=3")
    assert list(baggage.items()) == [("b", "2"), ("a", "3")]


def test_missing_header_is_empty() -> None:
    assert len(Baggage.parse(None)) == 0
    assert len(Baggage.parse("")) == 0
    assert Baggage().to_header() == ""


def test_parse_keeps_at_most_180_members() -> None:
    header = ",".join(f"k{i}=v" for i in range(MAX_BAGGAGE_MEMBERS + 20))
    baggage = Baggage.parse(header)
    assert len(baggage) == MAX_BAGGAGE_MEMBERS
    assert "k179" in baggage
    assert "k180" not in baggage


def test_parse_drops_whole_members_past_8192_bytes() -> None:
    value = "v" * 1000
    header = ",".join(f"k{i}={value}" for i in range(10))  # about 10 kB
    baggage = Baggage.parse(header)
    assert 0 < len(baggage) < 10
    assert all(v == value for v in baggage.values())  # never a truncated value


def test_header_stays_within_the_byte_limit_with_whole_members() -> None:
    baggage = Baggage()
    for i in range(20):
        baggage = baggage.set(f"k{i}", "é" * 300)  # 1800 bytes once percent-encoded
    header = baggage.to_header()
    assert len(header.encode()) <= MAX_BAGGAGE_BYTES
    parsed = Baggage.parse(header)
    assert 0 < len(parsed) < 20
    assert all(v == "é" * 300 for v in parsed.values())


def test_header_stays_within_the_member_limit() -> None:
    baggage = Baggage({f"k{i}": "v" for i in range(MAX_BAGGAGE_MEMBERS + 5)})
    assert len(Baggage.parse(baggage.to_header())) == MAX_BAGGAGE_MEMBERS


def test_set_delete_and_immutability() -> None:
    baggage = Baggage({"a": "1"})
    updated = baggage.set("b", "two words", [("ttl", "5"), ("flag", None)])
    assert dict(baggage) == {"a": "1"}
    assert updated.to_header() == "a=1,b=two%20words;ttl=5;flag"
    assert updated.set("a", "9").to_header().startswith("a=9,")
    assert dict(updated.delete("a")) == {"b": "two words"}
    assert baggage.delete("missing") is baggage


@pytest.mark.parametrize("key", ["bad key", "", "k,"])
def test_invalid_keys_are_rejected(key: str) -> None:
    with pytest.raises(InfraValidationError) as info:
        Baggage().set(key, "v")
    assert info.value.operation == "baggage.set"
    with pytest.raises(InfraValidationError):
        Baggage({key: "v"})


def test_invalid_property_names_are_rejected() -> None:
    with pytest.raises(InfraValidationError, match="property"):
        Baggage().set("k", "v", [("bad name", None)])


def test_entries_may_be_given_with_properties() -> None:
    baggage = Baggage({"k": BaggageEntry("v", (("p", "1"),))})
    assert baggage.to_header() == "k=v;p=1"


def test_repr_shows_keys_only_and_equality() -> None:
    baggage = Baggage({"user": "secret-ish value"})
    assert "secret-ish" not in repr(baggage)
    assert "user" in repr(baggage)
    assert baggage == Baggage.parse(baggage.to_header())
    assert hash(baggage) == hash(Baggage.parse(baggage.to_header()))
    assert baggage != Baggage({"user": "other"})
    assert baggage != {"user": "secret-ish value"}


_keys = st.from_regex(r"[A-Za-z0-9!#$&'*+.^_`|~-]{1,12}", fullmatch=True)


@given(st.dictionaries(_keys, st.text(max_size=40), max_size=10))
def test_any_text_round_trips(values: dict[str, str]) -> None:
    baggage = Baggage(values)
    assert dict(Baggage.parse(baggage.to_header())) == values
