"""What an FSM context may hold: declared, JSON-safe, non-secret values.

omnibase-core copies the whole FSM context into every intent it plans, so a secret that
reaches a context reaches every effect node and every persisted snapshot. These types
and :func:`find_secret_like_keys` keep contexts to plain, non-secret data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import Field, SecretBytes, SecretStr, StrictBool, StrictFloat, StrictInt, StrictStr

from omnibase_infra.redaction import is_sensitive_key, redact_text

__all__ = [
    "CONTEXT_KEY_PATTERN",
    "MAX_CONTEXT_KEYS",
    "MAX_CONTEXT_LIST_ITEMS",
    "MAX_CONTEXT_TEXT_LENGTH",
    "FsmContext",
    "FsmContextValue",
    "find_secret_like_keys",
    "is_secret_like_value",
]

MAX_CONTEXT_TEXT_LENGTH = 1024
MAX_CONTEXT_LIST_ITEMS = 64
MAX_CONTEXT_KEYS = 64
CONTEXT_KEY_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"

_Text = Annotated[StrictStr, Field(max_length=MAX_CONTEXT_TEXT_LENGTH)]
_Number = Annotated[StrictFloat, Field(allow_inf_nan=False)]

type FsmContextValue = (
    _Text
    | StrictBool
    | StrictInt
    | _Number
    | Annotated[list[_Text], Field(max_length=MAX_CONTEXT_LIST_ITEMS)]
    | None
)
"""A context or event-data value: text, bool, int, finite float, None or a list of text."""

type FsmContext = Annotated[
    dict[Annotated[str, Field(pattern=CONTEXT_KEY_PATTERN)], FsmContextValue],
    Field(max_length=MAX_CONTEXT_KEYS),
]
"""Context keys are lower-case identifiers (at most 64 keys)."""


def is_secret_like_value(value: object) -> bool:
    """True for ``SecretStr``/``SecretBytes`` and for text (or lists of text) that the
    redaction rules would change: credentials in URLs, tokens, JWTs, ``key=secret`` pairs
    and values registered with :func:`omnibase_infra.redaction.register_secret`."""
    if isinstance(value, SecretStr | SecretBytes):
        return True
    if isinstance(value, str):
        return redact_text(value) != value
    if isinstance(value, list | tuple):
        return any(is_secret_like_value(item) for item in value)
    return False


def find_secret_like_keys(data: Mapping[str, object]) -> list[str]:
    """The keys of ``data`` whose name is sensitive (password, token, ...) or whose value
    looks secret (:func:`is_secret_like_value`), in order. Never returns values."""
    return [
        key for key, value in data.items() if is_sensitive_key(key) or is_secret_like_value(value)
    ]
