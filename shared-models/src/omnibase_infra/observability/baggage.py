"""W3C Baggage: application key/value pairs (with optional properties) that travel with a trace."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, unquote

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraValidationError

__all__ = ["MAX_BAGGAGE_BYTES", "MAX_BAGGAGE_MEMBERS", "Baggage", "BaggageEntry"]

MAX_BAGGAGE_MEMBERS: Final = 180
MAX_BAGGAGE_BYTES: Final = 8192

type BaggageProperty = tuple[str, str | None]

# RFC 7230 token (baggage keys and property keys).
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# baggage-octet: printable US-ASCII except space, DQUOTE, comma, semicolon and backslash.
_OCTETS: Final = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*")
# Characters written as they are; everything else (and '%' itself) is percent-encoded UTF-8.
_SAFE: Final = "!#$&'()*+-./:<=>?@[]^_`{|}~"
_OWS: Final = " \t"


def _invalid(message: str, operation: str) -> InfraValidationError:
    return InfraValidationError(
        message, transport=EnumTransport.INTERNAL, operation=f"baggage.{operation}"
    )


def _encode(value: str) -> str:
    return quote(value, safe=_SAFE)


def _decode(value: str) -> str:
    # Percent-encoded sequences that are not valid UTF-8 become U+FFFD (spec).
    return unquote(value, errors="replace")


@dataclass(frozen=True, slots=True)
class BaggageEntry:
    """One baggage value (decoded) and its properties (``key`` or ``key=value``)."""

    value: str
    properties: tuple[BaggageProperty, ...] = ()

    def encode(self, key: str) -> str:
        """The list-member as written in the header."""
        parts = [f"{key}={_encode(self.value)}"]
        parts.extend(
            name if value is None else f"{name}={_encode(value)}" for name, value in self.properties
        )
        return ";".join(parts)


class Baggage(Mapping[str, str]):
    """Immutable, ordered baggage: ``baggage[key]`` is the decoded value.

    Values may be any text (percent-encoded on the wire). :meth:`to_header` keeps within
    180 members and 8192 bytes by dropping whole members from the end, never truncating
    one (the spec forbids partial members). Do not put secrets in baggage: it is sent to
    every downstream service.
    """

    __slots__ = ("_entries",)

    _entries: dict[str, BaggageEntry]

    def __init__(self, entries: Mapping[str, str | BaggageEntry] | None = None) -> None:
        self._entries = {}
        for key, entry in (entries or {}).items():
            self._entries[key] = _checked(key, entry, "create")

    @classmethod
    def _trusted(cls, entries: dict[str, BaggageEntry]) -> Baggage:
        baggage = cls.__new__(cls)
        baggage._entries = entries
        return baggage

    @classmethod
    def parse(cls, header: str | None) -> Baggage:
        """Parse a received header; malformed members are skipped, the rest kept.

        Members past the 180th, or past 8192 bytes of header, are dropped whole. A key that
        repeats keeps its last value.
        """
        if not header:
            return _EMPTY
        entries: dict[str, BaggageEntry] = {}
        size = 0
        for raw in header.split(","):
            member = raw.strip(_OWS)
            if not member:
                continue
            size += len(member.encode()) + (1 if size else 0)
            if size > MAX_BAGGAGE_BYTES or len(entries) >= MAX_BAGGAGE_MEMBERS:
                break
            parsed = _parse_member(member)
            if parsed is not None:
                entries.pop(parsed[0], None)
                entries[parsed[0]] = parsed[1]
        return cls._trusted(entries)

    def entry(self, key: str) -> BaggageEntry:
        """The value of ``key`` with its properties."""
        return self._entries[key]

    def set(self, key: str, value: str, properties: Iterable[BaggageProperty] = ()) -> Baggage:
        """A copy with ``key`` set (appended if new, in place if present)."""
        entry = _checked(key, BaggageEntry(value, tuple(properties)), "set")
        return self._trusted({**self._entries, key: entry})

    def delete(self, key: str) -> Baggage:
        """A copy without ``key`` (the same instance when it is absent)."""
        if key not in self._entries:
            return self
        return self._trusted({k: v for k, v in self._entries.items() if k != key})

    def to_header(self) -> str:
        """The header value within the limits (whole members dropped from the end)."""
        members: list[str] = []
        size = 0
        for key, entry in self._entries.items():
            member = entry.encode(key)
            added = len(member.encode()) + (1 if members else 0)
            if len(members) == MAX_BAGGAGE_MEMBERS or size + added > MAX_BAGGAGE_BYTES:
                break
            members.append(member)
            size += added
        return ",".join(members)

    def __getitem__(self, key: str) -> str:
        return self._entries[key].value

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Baggage):
            return list(self._entries.items()) == list(other._entries.items())
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self._entries.items()))

    def __repr__(self) -> str:
        # Keys only: values are application data that a repr may carry into logs.
        return f"Baggage(keys={list(self._entries)!r})"


def _checked(key: str, entry: str | BaggageEntry, operation: str) -> BaggageEntry:
    if _TOKEN.fullmatch(key) is None:
        raise _invalid(f"invalid baggage key {key!r}", operation)
    if isinstance(entry, str):
        return BaggageEntry(entry)
    for name, _value in entry.properties:
        if _TOKEN.fullmatch(name) is None:
            raise _invalid(f"invalid baggage property name {name!r}", operation)
    return entry


def _parse_member(member: str) -> tuple[str, BaggageEntry] | None:
    first, *raw_properties = member.split(";")
    key, sep, value = first.partition("=")
    key, value = key.strip(_OWS), value.strip(_OWS)
    if not sep or _TOKEN.fullmatch(key) is None or _OCTETS.fullmatch(value) is None:
        return None
    properties: list[BaggageProperty] = []
    for raw in raw_properties:
        if not raw.strip(_OWS):
            continue
        name, has_value, prop_value = raw.partition("=")
        name, prop_value = name.strip(_OWS), prop_value.strip(_OWS)
        if _TOKEN.fullmatch(name) is None or _OCTETS.fullmatch(prop_value) is None:
            return None
        properties.append((name, _decode(prop_value) if has_value else None))
    return key, BaggageEntry(_decode(value), tuple(properties))


_EMPTY: Final = Baggage._trusted({})
