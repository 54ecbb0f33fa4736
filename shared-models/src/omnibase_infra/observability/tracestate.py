"""The W3C Trace Context ``tracestate`` header: an immutable, ordered list of vendor entries."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Final

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraValidationError

__all__ = ["MAX_TRACESTATE_LENGTH", "MAX_TRACESTATE_MEMBERS", "TraceState"]

MAX_TRACESTATE_MEMBERS: Final = 32
MAX_TRACESTATE_LENGTH: Final = 512
"""What a vendor must be able to propagate; longer headers are truncated when written."""

# Members longer than this are the first to go when a header must be truncated (spec §3.3.1.5).
_LARGE_MEMBER: Final = 128
_KEY: Final = re.compile(
    r"[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13}"
)
_VALUE: Final = re.compile(r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]")
_OWS: Final = " \t"


def _invalid(message: str, operation: str) -> InfraValidationError:
    return InfraValidationError(
        message, transport=EnumTransport.INTERNAL, operation=f"tracestate.{operation}"
    )


class TraceState(Mapping[str, str]):
    """Vendor key/value entries, left-most = most recently updated.

    Keys and values follow the W3C grammar; at most 32 entries, unique keys. Every change
    returns a new instance: :meth:`set` puts the entry first (moving it if present, dropping
    the right-most entry when 32 are exceeded), :meth:`delete` removes it.
    """

    __slots__ = ("_members",)

    _members: tuple[tuple[str, str], ...]

    def __init__(self, members: Iterable[tuple[str, str]] | Mapping[str, str] = ()) -> None:
        items = members.items() if isinstance(members, Mapping) else members
        checked: dict[str, str] = {}
        for key, value in items:
            _check(key, value, "create")
            if key in checked:
                raise _invalid(f"duplicate tracestate key {key!r}", "create")
            checked[key] = value
        if len(checked) > MAX_TRACESTATE_MEMBERS:
            raise _invalid(f"more than {MAX_TRACESTATE_MEMBERS} tracestate entries", "create")
        self._members = tuple(checked.items())

    @classmethod
    def parse(cls, header: str | None) -> TraceState:
        """Parse a received header, leniently where the spec allows and strictly elsewhere.

        Empty and whitespace-only members are skipped; a repeated key keeps its first
        (left-most) entry. A malformed member or more than 32 members makes the whole header
        invalid: the result is then empty, as for a missing header.
        """
        if not header:
            return _EMPTY
        members: dict[str, str] = {}
        for raw in header.split(","):
            member = raw.strip(_OWS)
            if not member:
                continue
            key, sep, value = member.partition("=")
            if not sep or _KEY.fullmatch(key) is None or _VALUE.fullmatch(value) is None:
                return _EMPTY
            members.setdefault(key, value)
            if len(members) > MAX_TRACESTATE_MEMBERS:
                return _EMPTY
        return cls._trusted(tuple(members.items()))

    @classmethod
    def _trusted(cls, members: tuple[tuple[str, str], ...]) -> TraceState:
        state = cls.__new__(cls)
        state._members = members
        return state

    def set(self, key: str, value: str) -> TraceState:
        """A copy with ``key=value`` as the left-most entry (the spec's "update")."""
        _check(key, value, "set")
        rest = tuple(m for m in self._members if m[0] != key)
        return self._trusted(((key, value), *rest)[:MAX_TRACESTATE_MEMBERS])

    def delete(self, key: str) -> TraceState:
        """A copy without ``key`` (the same instance when it is absent)."""
        if key not in self:
            return self
        return self._trusted(tuple(m for m in self._members if m[0] != key))

    def to_header(self, max_length: int = MAX_TRACESTATE_LENGTH) -> str:
        """The header value, at most ``max_length`` characters.

        When too long, entries over 128 characters are removed first, then entries from
        the right, as the spec recommends; whole entries only.
        """
        members = [f"{key}={value}" for key, value in self._members]
        header = ",".join(members)
        if len(header) <= max_length:
            return header
        for index in reversed(range(len(members))):
            if len(members[index]) > _LARGE_MEMBER:
                del members[index]
                if _joined_length(members) <= max_length:
                    return ",".join(members)
        while members and _joined_length(members) > max_length:
            members.pop()
        return ",".join(members)

    def __getitem__(self, key: str) -> str:
        for member_key, value in self._members:
            if member_key == key:
                return value
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self._members)

    def __len__(self) -> int:
        return len(self._members)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TraceState):
            return self._members == other._members
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._members)

    def __repr__(self) -> str:
        return f"TraceState({self.to_header(max_length=1 << 16)!r})"

    def __str__(self) -> str:
        return self.to_header()


def _joined_length(members: list[str]) -> int:
    return sum(map(len, members)) + max(len(members) - 1, 0)


def _check(key: str, value: str, operation: str) -> None:
    if _KEY.fullmatch(key) is None:
        raise _invalid(f"invalid tracestate key {key!r}", operation)
    if _VALUE.fullmatch(value) is None:
        raise _invalid(f"invalid value for tracestate key {key!r}", operation)


_EMPTY: Final = TraceState._trusted(())
