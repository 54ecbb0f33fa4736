"""Quoting identifiers for the rare dynamic table or column name (values go in ``$n``)."""

from __future__ import annotations

from typing import Any

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraValidationError

__all__ = ["MAX_IDENTIFIER_BYTES", "quote_identifier", "quote_qualified_name"]

# NAMEDATALEN - 1 in a default build. The server silently truncates longer names, so two
# long names could end up naming the same object: refuse them instead.
MAX_IDENTIFIER_BYTES = 63


def _reject(message: str, **context: Any) -> InfraValidationError:
    return InfraValidationError(
        message, transport=EnumTransport.POSTGRES, operation="quote_identifier", **context
    )


def quote_identifier(name: str, *, max_bytes: int = MAX_IDENTIFIER_BYTES) -> str:
    """``name`` as a quoted PostgreSQL identifier: ``"`` around it, every ``"`` doubled.

    Always quoted, so the name is taken exactly as given (case included) and can never be
    read as a key word or as more SQL. Raises ``InfraValidationError`` for an empty name, a
    NUL character (PostgreSQL cannot store it), text that is not valid Unicode, or a name
    longer than ``max_bytes`` in UTF-8.
    """
    if not name:
        raise _reject("empty identifier")
    if "\x00" in name:
        raise _reject("identifier contains a NUL character")
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise _reject("identifier is not valid Unicode (lone surrogate)") from None
    if size > max_bytes:
        raise _reject(
            f"identifier is {size} bytes; PostgreSQL truncates names longer than {max_bytes}",
            identifier_bytes=size,
        )
    return '"' + name.replace('"', '""') + '"'


def quote_qualified_name(*parts: str, max_bytes: int = MAX_IDENTIFIER_BYTES) -> str:
    """``"schema"."table"`` (one to three parts, each quoted by :func:`quote_identifier`).

    A part containing a dot stays one identifier: split qualified names yourself.
    """
    if not 1 <= len(parts) <= 3:
        raise _reject(f"a qualified name has 1 to 3 parts, got {len(parts)}")
    return ".".join(quote_identifier(part, max_bytes=max_bytes) for part in parts)
