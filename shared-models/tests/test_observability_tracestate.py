"""W3C tracestate: grammar, limits, dedupe, mutation by moving an entry left, truncation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnibase_infra.errors import InfraValidationError
from omnibase_infra.observability import MAX_TRACESTATE_MEMBERS, TraceState


def test_parses_members_in_order() -> None:
    state = TraceState.parse("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
    assert list(state) == ["rojo", "congo"]
    assert state["congo"] == "t61rcWkgMzE"
    assert len(state) == 2
    assert state.to_header() == "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
    assert str(state) == state.to_header()


def test_empty_members_and_optional_whitespace_are_skipped() -> None:
    state = TraceState.parse(" a=1 ,, \t,b=2\t, ")
    assert dict(state) == {"a": "1", "b": "2"}


def test_a_repeated_key_keeps_its_left_most_entry() -> None:
    assert dict(TraceState.parse("a=1,b=2,a=3")) == {"a": "1", "b": "2"}


def test_value_may_contain_spaces_inside_but_not_at_the_end() -> None:
    assert TraceState.parse("a=x y")["a"] == "x y"
    assert len(TraceState.parse("a=x ,b=1")) == 2  # trailing space is OWS around the member


@pytest.mark.parametrize(
    "header",
    [
        "A=1",  # upper-case key
        "1a=1",  # a simple key starts with a letter
        "a b=1",
        "a",  # no '='
        "a=",  # empty value
        "a=x=y",  # '=' inside the value
        "a=1,b",  # one bad member invalidates the header
        "tenant@SYSTEM=1",
        "tenant@abcdefghijklmno=1",  # system id longer than 14
        f"{'a' * 257}=1",  # key longer than 256
        f"a={'v' * 257}",  # value longer than 256
        "a=\x7f",
    ],
)
def test_an_invalid_member_discards_the_whole_header(header: str) -> None:
    assert len(TraceState.parse(header)) == 0


def test_keys_and_values_at_their_limits_are_valid() -> None:
    key, value = "a" * 256, "v" * 256
    assert TraceState.parse(f"{key}={value}")[key] == value
    assert TraceState.parse("0tenant@sys_-*/9=x")["0tenant@sys_-*/9"] == "x"


def test_more_than_32_members_is_invalid_but_32_is_fine() -> None:
    members = [f"k{i}=v" for i in range(MAX_TRACESTATE_MEMBERS)]
    assert len(TraceState.parse(",".join(members))) == 32
    assert len(TraceState.parse(",".join([*members, "extra=v"]))) == 0


def test_missing_header_is_empty() -> None:
    assert len(TraceState.parse(None)) == 0
    assert len(TraceState.parse("")) == 0
    assert TraceState.parse(None).to_header() == ""


def test_set_moves_the_entry_to_the_left_and_leaves_the_original_alone() -> None:
    state = TraceState.parse("a=1,b=2,c=3")
    updated = state.set("c", "9")
    assert updated.to_header() == "c=9,a=1,b=2"
    assert state.to_header() == "a=1,b=2,c=3"
    assert state.set("new", "x").to_header() == "new=x,a=1,b=2,c=3"


def test_set_on_a_full_list_drops_the_right_most_entry() -> None:
    full = TraceState([(f"k{i}", "v") for i in range(32)])
    updated = full.set("mine", "1")
    assert len(updated) == 32
    assert next(iter(updated)) == "mine"
    assert "k31" not in updated
    assert "k30" in updated


@pytest.mark.parametrize(("key", "value"), [("Bad", "1"), ("ok", ""), ("ok", "a,b")])
def test_set_rejects_invalid_keys_and_values(key: str, value: str) -> None:
    with pytest.raises(InfraValidationError) as info:
        TraceState().set(key, value)
    assert info.value.operation == "tracestate.set"


def test_delete() -> None:
    state = TraceState.parse("a=1,b=2")
    assert state.delete("a").to_header() == "b=2"
    assert state.delete("missing") is state


def test_constructor_validates() -> None:
    assert TraceState({"a": "1", "b": "2"}).to_header() == "a=1,b=2"
    with pytest.raises(InfraValidationError, match="duplicate"):
        TraceState([("a", "1"), ("a", "2")])
    with pytest.raises(InfraValidationError, match="more than 32"):
        TraceState([(f"k{i}", "v") for i in range(33)])
    with pytest.raises(InfraValidationError):
        TraceState([("UPPER", "1")])


def test_missing_key_raises_key_error() -> None:
    with pytest.raises(KeyError):
        TraceState()["nope"]


def test_truncation_drops_large_members_first_then_from_the_right() -> None:
    big = "b" * 200
    state = TraceState([("a", "1"), ("large", big), ("c", "3"), ("d", "4")])
    assert state.to_header(max_length=20) == "a=1,c=3,d=4"
    assert state.to_header(max_length=8) == "a=1,c=3"
    assert state.to_header(max_length=2) == ""
    assert len(state.to_header()) <= 512


def test_truncation_keeps_small_members_when_removing_large_ones_suffices() -> None:
    state = TraceState([("x", "y" * 150), ("z", "w" * 150), ("a", "1")])
    assert state.to_header(max_length=160) == "x=" + "y" * 150 + ",a=1"


def test_equality_hash_and_repr() -> None:
    assert TraceState.parse("a=1,b=2") == TraceState([("a", "1"), ("b", "2")])
    assert TraceState.parse("a=1,b=2") != TraceState.parse("b=2,a=1")
    assert hash(TraceState.parse("a=1")) == hash(TraceState({"a": "1"}))
    assert TraceState() != "a=1"
    assert repr(TraceState.parse("a=1")) == "TraceState('a=1')"


_keys = st.from_regex(r"[a-z][a-z0-9_\-*/]{0,20}", fullmatch=True)
_values = st.from_regex(r"[\x21-\x2b\x2d-\x3c\x3e-\x7e]{1,30}", fullmatch=True)


@given(st.dictionaries(_keys, _values, max_size=32))
def test_header_round_trips(members: dict[str, str]) -> None:
    state = TraceState(members)
    assert TraceState.parse(state.to_header(max_length=1 << 20)) == state
